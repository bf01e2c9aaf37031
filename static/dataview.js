// The big data view: layers painted on one canvas, in the unit square with y up.
// The heatmap is painted with putImageData on a tiny canvas (one pixel per grid cell) and scaled
// up with smoothing; points, arrows and the manifold are drawn over it. Fake samples glide: each
// animation frame moves them a fraction of the way to where the latest server frame put them.

export const COLORS = {
  real: [0, 136, 55], fake: [123, 50, 148], fakeFill: [163, 62, 189], grad: [196, 20, 219],
  disc: [68, 124, 228], neutral: [247, 247, 247], ggrad: [230, 120, 20],
};
const rgb = (c, a = 1) => `rgba(${c[0]},${c[1]},${c[2]},${a})`;

/** D in [0, 1] -> heatmap colour: purple (fake) -> neutral -> green (real); paler in the middle. */
export function heatColor(d, strength = 0.62) {
  const t = Math.min(1, Math.max(0, Number.isFinite(d) ? d : 0.5));
  const end = t < 0.5 ? COLORS.fake : COLORS.real;
  const s = Math.abs(t - 0.5) * 2 * strength;
  const n = COLORS.neutral;
  return [n[0] + (end[0] - n[0]) * s, n[1] + (end[1] - n[1]) * s, n[2] + (end[2] - n[2]) * s];
}

/** Paint an h x h grid (row 0 = top) into a canvas of h x h pixels. */
export function paintGrid(canvas, grid, strength) {
  const h = grid.rows, w = grid.cols;
  if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(w, h);
  for (let i = 0; i < w * h; i++) {
    const c = heatColor(grid.data[i], strength);
    img.data[4 * i] = c[0]; img.data[4 * i + 1] = c[1]; img.data[4 * i + 2] = c[2]; img.data[4 * i + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}

/** Bilinear lookup of a grid (cell centres, row 0 at y = 1) at unit-square point (x, y). */
export function sampleGrid(grid, x, y) {
  if (!grid) return NaN;
  const n = grid.cols, m = grid.rows;
  const fx = Math.min(n - 1, Math.max(0, x * n - 0.5)), fy = Math.min(m - 1, Math.max(0, (1 - y) * m - 0.5));
  const x0 = Math.floor(fx), y0 = Math.floor(fy), x1 = Math.min(n - 1, x0 + 1), y1 = Math.min(m - 1, y0 + 1);
  const ax = fx - x0, ay = fy - y0, g = grid.data;
  const top = g[y0 * n + x0] * (1 - ax) + g[y0 * n + x1] * ax;
  const bot = g[y1 * n + x0] * (1 - ax) + g[y1 * n + x1] * ax;
  return top * (1 - ay) + bot * ay;
}

export class DataView {
  constructor(canvas, tooltip) {
    this.canvas = canvas;
    this.tooltip = tooltip;
    this.small = document.createElement("canvas"); // heatmap, one pixel per cell
    this.layers = {};          // latest arrays from the server, copied (the frame buffer is reused)
    this.fakeShown = null;     // where the fakes are drawn now (glides toward layers.fake)
    this.visible = new Set();
    this.emphasis = null;      // slow motion: the layers this stage is about
    this.strokes = () => [];   // drawn strokes, provided by draw.js
    this.showStrokes = false;
    this.manifoldT = 1;        // 0 = noise space, 1 = data space (hovering G animates it)
    this.dirty = true;
    this.last = performance.now();
    canvas.addEventListener("pointermove", (e) => this.hover(e));
    canvas.addEventListener("pointerleave", () => { this.tooltip.hidden = true; });
    new ResizeObserver(() => this.resize()).observe(canvas);
    this.resize();
    requestAnimationFrame((t) => this.tick(t));
  }

  resize() {
    const r = this.canvas.getBoundingClientRect(), dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(r.width * dpr));
    if (this.canvas.width !== w) { this.canvas.width = w; this.canvas.height = w; }
    this.dirty = true;
  }

  setVisible(names) { this.visible = new Set(names); this.dirty = true; }

  /** Take the layers of a new frame (copies: views into a message buffer must not be kept). */
  setFrame(layers) {
    for (const [name, l] of Object.entries(layers)) this.layers[name] = {rows: l.rows, cols: l.cols, data: l.data.slice()};
    const f = this.layers.fake;
    if (f && (!this.fakeShown || this.fakeShown.length !== f.data.length)) this.fakeShown = f.data.slice();
    this.dirty = true;
  }

  /** Forget everything from the server (e.g. a restart); the next frame repaints. */
  clear() { this.layers = {}; this.fakeShown = null; this.dirty = true; }

  tick(now) {
    const dt = Math.min(100, now - this.last);
    this.last = now;
    const f = this.layers.fake, s = this.fakeShown;
    if (f && s && s.length === f.data.length) {
      // Exponential approach, time constant 70 ms: smooth at any frame rate, never lagging far.
      const a = 1 - Math.exp(-dt / 70);
      let moved = 0;
      for (let i = 0; i < s.length; i++) { const d = f.data[i] - s[i]; s[i] += d * a; moved += Math.abs(d); }
      if (moved > 1e-4) this.dirty = true;
    }
    if (this.dirty) { this.dirty = false; this.draw(); }
    requestAnimationFrame((t) => this.tick(t));
  }

  shows(name) { return this.visible.has(name) || (this.emphasis && this.emphasis.includes(name)); }
  alpha(name) { return this.emphasis && !this.emphasis.includes(name) ? 0.25 : 1; }

  draw() {
    const c = this.canvas, ctx = c.getContext("2d"), W = c.width;
    const px = (x) => x * W, py = (y) => (1 - y) * W;
    const dpr = window.devicePixelRatio || 1, r = Math.max(1.5, 2.2 * dpr * (W / dpr / 400) ** 0.5);
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, W, W);

    const grid = this.shows("optimal_d") && this.layers.optimal_d ? this.layers.optimal_d
      : this.shows("heatmap") ? this.layers.heatmap : null;
    if (grid) {
      paintGrid(this.small, grid, 0.62);
      ctx.globalAlpha = this.alpha(grid === this.layers.optimal_d ? "optimal_d" : "heatmap");
      ctx.imageSmoothingEnabled = true;
      ctx.drawImage(this.small, 0, 0, W, W);
      ctx.globalAlpha = 1;
    }

    if (this.shows("manifold") && this.layers.manifold) this.drawManifold(ctx, W);

    if (this.showStrokes) {
      ctx.strokeStyle = rgb(COLORS.real, 0.35);
      ctx.lineWidth = 6 * dpr; ctx.lineCap = ctx.lineJoin = "round";
      for (const st of this.strokes()) {
        ctx.beginPath();
        st.forEach(([x, y], i) => (i ? ctx.lineTo(px(x), py(y)) : ctx.moveTo(px(x), py(y))));
        if (st.length === 1) ctx.lineTo(px(st[0][0]) + 0.1, py(st[0][1]));
        ctx.stroke();
      }
    }

    const real = this.layers.real;
    if (this.shows("real") && real) {
      ctx.fillStyle = rgb(COLORS.real, 0.75 * this.alpha("real"));
      for (let i = 0; i < real.rows; i++) {
        ctx.beginPath(); ctx.arc(px(real.data[2 * i]), py(real.data[2 * i + 1]), r, 0, 6.2832); ctx.fill();
      }
    }

    const s = this.fakeShown;
    if (this.shows("d_grad") && this.layers.d_grad && s) this.drawArrows(ctx, W, this.layers.d_grad, COLORS.grad, 0.15);
    if (this.shows("g_grad") && this.layers.g_grad && s) this.drawArrows(ctx, W, this.layers.g_grad, COLORS.ggrad, null);

    if (this.shows("fake") && s) {
      const big = this.emphasis && this.emphasis.includes("fake") ? 1.5 : 1;
      ctx.fillStyle = rgb(COLORS.fakeFill, 0.8 * this.alpha("fake"));
      ctx.strokeStyle = rgb(COLORS.fake, this.alpha("fake"));
      ctx.lineWidth = dpr;
      // tanh lets G leave the unit square: such fakes are pinned to the border as hollow rings
      // (and counted) instead of silently vanishing.
      let outside = 0;
      for (let i = 0; i < s.length / 2; i++) {
        const x = s[2 * i], y = s[2 * i + 1], out = !(x >= 0 && x <= 1 && y >= 0 && y <= 1);
        ctx.beginPath();
        ctx.arc(px(Math.min(0.995, Math.max(0.005, x))), py(Math.min(0.995, Math.max(0.005, y))), r * big, 0, 6.2832);
        if (out) { outside++; ctx.stroke(); } else { ctx.fill(); ctx.stroke(); }
      }
      if (outside) {
        ctx.font = `${12 * dpr}px system-ui, sans-serif`;
        ctx.fillStyle = rgb(COLORS.fake);
        ctx.textAlign = "right";
        ctx.fillText(`${outside} fake${outside > 1 ? "s" : ""} outside the square (rings on the border)`, W - 6 * dpr, 16 * dpr);
      }
    }
  }

  /** Arrows from each fake. scale: fixed factor (GAN Lab's 0.15 for dD/dx), or null = the longest
   * arrow gets 0.1 of the square (g_grad magnitudes differ by loss). Lengths saturate at 0.08. */
  drawArrows(ctx, W, g, color, scale) {
    const s = this.fakeShown, n = Math.min(g.rows, s.length / 2), dpr = window.devicePixelRatio || 1;
    if (scale === null) {
      let max = 1e-12;
      for (let i = 0; i < n; i++) max = Math.max(max, Math.hypot(g.data[2 * i], g.data[2 * i + 1]));
      scale = 0.1 / max;
    }
    ctx.strokeStyle = rgb(color, 0.85 * this.alpha(color === COLORS.grad ? "d_grad" : "g_grad"));
    ctx.lineWidth = 1.3 * dpr;
    ctx.beginPath();
    for (let i = 0; i < n; i++) {
      let dx = g.data[2 * i] * scale, dy = g.data[2 * i + 1] * scale;
      const raw = Math.hypot(dx, dy);
      if (!(raw > 1e-4)) continue;
      // Soft cap: short arrows keep their length, long ones saturate at 0.08 so they stay readable.
      const len = 0.08 * Math.tanh(raw / 0.08);
      dx *= len / raw; dy *= len / raw;
      const x0 = s[2 * i] * W, y0 = (1 - s[2 * i + 1]) * W, x1 = x0 + dx * W, y1 = y0 - dy * W;
      ctx.moveTo(x0, y0); ctx.lineTo(x1, y1);
      const a = Math.atan2(y1 - y0, x1 - x0), h = Math.min(5 * dpr, len * W * 0.4);
      ctx.moveTo(x1, y1); ctx.lineTo(x1 - h * Math.cos(a - 0.5), y1 - h * Math.sin(a - 0.5));
      ctx.moveTo(x1, y1); ctx.lineTo(x1 - h * Math.cos(a + 0.5), y1 - h * Math.sin(a + 0.5));
    }
    ctx.stroke();
  }

  /** The generator manifold: G on an m x m noise grid, each cell's opacity ~ density (1/area). */
  drawManifold(ctx, W) {
    const M = this.layers.manifold, A = this.layers.manifold_area, m = M.rows, t = this.manifoldT;
    const cols = M.cols / 2;
    // Position of grid node (i, j), blended from its noise-space place (a regular grid) to G's.
    const P = (i, j) => {
      const nx = cols > 1 ? j / (cols - 1) : 0.5, ny = m > 1 ? 1 - i / (m - 1) : 0.5;
      const gx = M.data[i * M.cols + 2 * j], gy = M.data[i * M.cols + 2 * j + 1];
      return [(nx + (gx - nx) * t) * W, (1 - (ny + (gy - ny) * t)) * W];
    };
    const alpha = this.alpha("manifold");
    ctx.lineWidth = 0.7 * (window.devicePixelRatio || 1);
    ctx.strokeStyle = rgb(COLORS.fake, 0.35 * alpha);
    if (m === 1) { // 1D noise: a curve
      ctx.beginPath();
      for (let j = 0; j < cols; j++) { const [x, y] = P(0, j); j ? ctx.lineTo(x, y) : ctx.moveTo(x, y); }
      ctx.lineWidth *= 3; ctx.stroke();
      return;
    }
    let mean = 0;
    if (A) { for (const a of A.data) mean += Math.abs(a); mean /= A.data.length || 1; }
    for (let i = 0; i < m - 1; i++) {
      for (let j = 0; j < cols - 1; j++) {
        const area = A ? Math.abs(A.data[i * A.cols + j]) : mean;
        // Smaller cell = more samples land there = darker (opacity scaled by the mean area).
        const op = A ? Math.min(0.55, 0.1 * (mean / Math.max(area, 1e-9)) ** 0.7) * t + 0.04 * (1 - t) : 0.1;
        const a = P(i, j), b = P(i, j + 1), c = P(i + 1, j + 1), d = P(i + 1, j);
        ctx.beginPath(); ctx.moveTo(...a); ctx.lineTo(...b); ctx.lineTo(...c); ctx.lineTo(...d); ctx.closePath();
        ctx.fillStyle = rgb(COLORS.fakeFill, op * alpha);
        ctx.fill(); ctx.stroke();
      }
    }
  }

  /** Unit-square coordinates of a pointer event. */
  toUnit(e) {
    const r = this.canvas.getBoundingClientRect();
    return [(e.clientX - r.left) / r.width, 1 - (e.clientY - r.top) / r.height];
  }

  hover(e) {
    const [x, y] = this.toUnit(e);
    const r = this.canvas.getBoundingClientRect();
    const near = (arr) => {
      if (!arr) return null;
      let best = null, bd = (8 / r.width) ** 2;
      for (let i = 0; i < arr.length / 2; i++) {
        const d = (arr[2 * i] - x) ** 2 + (arr[2 * i + 1] - y) ** 2;
        if (d < bd) { bd = d; best = [arr[2 * i], arr[2 * i + 1]]; }
      }
      return best;
    };
    const fake = this.shows("fake") ? near(this.fakeShown) : null;
    const real = !fake && this.shows("real") ? near(this.layers.real?.data) : null;
    const p = fake || real;
    const D = sampleGrid(this.layers.heatmap, x, y);
    let text = p ? `${fake ? "fake" : "real"} sample (${p[0].toFixed(3)}, ${p[1].toFixed(3)})`
      : `(${x.toFixed(3)}, ${y.toFixed(3)})`;
    if (Number.isFinite(D)) text += ` · D = ${D.toFixed(2)}`;
    this.tooltip.textContent = text;
    this.tooltip.hidden = false;
    const box = this.canvas.parentElement.getBoundingClientRect();
    const tw = this.tooltip.offsetWidth || 180; // keep the tooltip inside the view
    this.tooltip.style.left = `${Math.max(0, Math.min(e.clientX - box.left + 12, box.width - tw))}px`;
    this.tooltip.style.top = `${e.clientY - box.top + 14}px`;
  }
}

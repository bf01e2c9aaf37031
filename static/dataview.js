// The big data view: layers painted on one canvas, in data coordinates with y up. It shows the
// unit square, widened (extent.js) when G's samples lie outside it; the shown extent eases toward
// its target. The heatmap is painted with putImageData on a tiny canvas (one pixel per grid cell)
// and scaled up with smoothing onto the extent the server computed it for; points, arrows and the
// manifold are drawn over it. Fake samples glide: each animation frame moves them a fraction of
// the way to where the latest server frame put them.

import {AutoExtent, UNIT, sameExtent} from "./extent.js";

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

/** Bilinear lookup of a grid (cell centres over grid.extent, default the unit square; row 0 at
 * the top) at data point (x, y). */
export function sampleGrid(grid, x, y) {
  if (!grid) return NaN;
  const [ex0, ey0, ex1, ey1] = grid.extent || UNIT;
  x = (x - ex0) / (ex1 - ex0); y = (y - ey0) / (ey1 - ey0);
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
    this.auto = new AutoExtent(); // where the shown extent is heading (widens to show the fakes)
    this.extent = UNIT.slice();   // the extent drawn now, easing toward auto.target
    this.onExtent = null;         // called with a new target extent (the server then grids it)
    this.overlays = [];           // extra painters (ctx, view) drawn last, e.g. the mixture editor
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

  /** Take the layers of a new frame (copies: views into a message buffer must not be kept);
   * `extent` is the area the frame's grids cover (the frame's JSON says). */
  setFrame(layers, extent = UNIT) {
    for (const [name, l] of Object.entries(layers)) {
      this.layers[name] = {rows: l.rows, cols: l.cols, data: l.data.slice()};
      if (name === "heatmap" || name === "optimal_d") this.layers[name].extent = extent.slice();
    }
    const f = this.layers.fake;
    if (f && (!this.fakeShown || this.fakeShown.length !== f.data.length)) this.fakeShown = f.data.slice();
    if (f && this.auto.update(f.data, performance.now()) && this.onExtent) this.onExtent(this.target());
    this.dirty = true;
  }

  /** The extent the view is heading to (and asks the server to grid). */
  target() { return this.auto.target.slice(); }

  /** Forget everything from the server (e.g. a restart); the next frame repaints. */
  clear() { this.layers = {}; this.fakeShown = null; this.dirty = true; }

  /** Canvas pixel <-> data coordinates for the extent drawn now (square pixels: one scale). */
  px(x) { const e = this.extent; return ((x - e[0]) / (e[2] - e[0])) * this.canvas.width; }
  py(y) { const e = this.extent; return ((e[3] - y) / (e[3] - e[1])) * this.canvas.height; }
  /** Canvas pixels per data unit. */
  scale() { return this.canvas.width / (this.extent[2] - this.extent[0]); }

  tick(now) {
    const dt = Math.min(100, now - this.last);
    this.last = now;
    const goal = this.auto.target;
    if (!sameExtent(this.extent, goal)) {
      // Ease toward the target (time constant 250 ms), then land on it exactly.
      const a = 1 - Math.exp(-dt / 250);
      this.extent = this.extent.map((v, i) => (Math.abs(goal[i] - v) < 1e-3 ? goal[i] : v + (goal[i] - v) * a));
      this.dirty = true;
    }
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
    const px = (x) => this.px(x), py = (y) => this.py(y), k = this.scale();
    const dpr = window.devicePixelRatio || 1, r = Math.max(1.5, 2.2 * dpr * (W / dpr / 400) ** 0.5);
    const wide = !sameExtent(this.extent, UNIT);
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, W, W);

    const grid = this.shows("optimal_d") && this.layers.optimal_d ? this.layers.optimal_d
      : this.shows("heatmap") ? this.layers.heatmap : null;
    if (grid) {
      paintGrid(this.small, grid, 0.62);
      const [g0, g1, g2, g3] = grid.extent || UNIT;
      ctx.globalAlpha = this.alpha(grid === this.layers.optimal_d ? "optimal_d" : "heatmap");
      ctx.imageSmoothingEnabled = true;
      ctx.drawImage(this.small, px(g0), py(g3), (g2 - g0) * k, (g3 - g1) * k);
      ctx.globalAlpha = 1;
    }
    if (wide) { // the unit square, where the real data lives, outlined in the wider view
      ctx.strokeStyle = "rgba(40,40,40,.55)"; ctx.lineWidth = dpr; ctx.setLineDash([4 * dpr, 3 * dpr]);
      ctx.strokeRect(px(0), py(1), k, k);
      ctx.setLineDash([]);
      ctx.font = `${11 * dpr}px system-ui, sans-serif`; ctx.fillStyle = "rgba(40,40,40,.7)";
      ctx.textAlign = "left"; ctx.fillText("0", px(0) + 3 * dpr, py(0) - 3 * dpr);
      ctx.textAlign = "right"; ctx.fillText("1", px(1) - 3 * dpr, py(1) + 12 * dpr);
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
      // Fakes beyond the shown extent (a linear G far away, or while the view still widens) are
      // pinned to the border as hollow rings, never silently dropped.
      let outside = 0, beyond = 0;
      const lo = 0.005 * W, hi = 0.995 * W;
      for (let i = 0; i < s.length / 2; i++) {
        const x = s[2 * i], y = s[2 * i + 1];
        if (!(x >= 0 && x <= 1 && y >= 0 && y <= 1)) outside++;
        const X = px(x), Y = py(y), out = !(X >= 0 && X <= W && Y >= 0 && Y <= W);
        ctx.beginPath();
        ctx.arc(Math.min(hi, Math.max(lo, X || 0)), Math.min(hi, Math.max(lo, Y || 0)), r * big, 0, 6.2832);
        if (out) { beyond++; ctx.stroke(); } else { ctx.fill(); ctx.stroke(); }
      }
      this.outside = outside;
      if (outside) {
        ctx.font = `${12 * dpr}px system-ui, sans-serif`;
        ctx.fillStyle = rgb(COLORS.fake);
        ctx.textAlign = "right";
        const n = s.length / 2;
        ctx.fillText(`${outside} of ${n} fakes outside the unit square${beyond ? ` (${beyond} beyond the view: rings on the border)` : ""}`, W - 6 * dpr, 16 * dpr);
      }
    }
    for (const paint of this.overlays) paint(ctx, this);
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
      // Lengths are in the unit square's scale, whatever the extent shown.
      const x0 = this.px(s[2 * i]), y0 = this.py(s[2 * i + 1]), x1 = x0 + dx * W, y1 = y0 - dy * W;
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
      return [this.px(nx + (gx - nx) * t), this.py(ny + (gy - ny) * t)];
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

  /** Data coordinates of a pointer event (the unit square unless the view is widened). */
  toUnit(e) {
    const r = this.canvas.getBoundingClientRect(), [x0, y0, x1, y1] = this.extent;
    return [x0 + ((e.clientX - r.left) / r.width) * (x1 - x0), y1 - ((e.clientY - r.top) / r.height) * (y1 - y0)];
  }

  hover(e) {
    const [x, y] = this.toUnit(e);
    const r = this.canvas.getBoundingClientRect();
    const near = (arr) => {
      if (!arr) return null;
      let best = null, bd = (8 / r.width * (this.extent[2] - this.extent[0])) ** 2;
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

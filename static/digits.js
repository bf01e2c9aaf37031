// The views of image data (digits): the fixed-noise sample grid beside real samples, the latent
// walk, what D thinks (histograms of D's output on real and fake images, dD/dx on fakes as images)
// and the class histogram of the classifier metrics. Frames carry the images as uint8 rows
// (docs/protocol.md, "Binary frame layout"); every canvas is painted at the images' own resolution
// and scaled by CSS (pixelated), so a frame costs a few putImageData calls.

import {COLORS} from "./dataview.js";

export const IMAGE_LAYERS = ["fakes_grid", "reals_grid", "walk", "d_hist", "d_grad_image"];
const GRID_COLS = 8, WALK = 10;

/** Paint n uint8 images (rows of h*w, 0 = background) into a grid of `cols` columns with a
 * 1-pixel gap, ink dark on white as on paper. */
export function paintImages(canvas, data, n, h, w, cols, gap = 1) {
  const rows = Math.max(1, Math.ceil(n / cols));
  const W = cols * (w + gap) - gap, H = rows * (h + gap) - gap;
  if (canvas.width !== W || canvas.height !== H) { canvas.width = W; canvas.height = H; }
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(W, H), px = img.data;
  px.fill(255);
  for (let k = 0; k < n; k++) {
    const ox = (k % cols) * (w + gap), oy = Math.floor(k / cols) * (h + gap);
    for (let i = 0; i < h; i++) {
      for (let j = 0; j < w; j++) {
        const v = 255 - data[k * h * w + i * w + j], at = ((oy + i) * W + ox + j) * 4;
        px[at] = px[at + 1] = px[at + 2] = v;
      }
    }
  }
  // The gaps: a light grey grid so that blank images still read as cells.
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      if ((x + 1) % (w + gap) === 0 || (y + 1) % (h + gap) === 0) {
        const at = (y * W + x) * 4;
        px[at] = px[at + 1] = px[at + 2] = 225;
      }
    }
  }
  ctx.putImageData(img, 0, 0);
}

/** Paint signed images (float32 rows, e.g. dD/dx): green where raising the pixel raises D ("more
 * real"), purple where it lowers it; each image scaled by its own largest |value|. */
export function paintSigned(canvas, data, n, h, w, cols, gap = 1) {
  const rows = Math.max(1, Math.ceil(n / cols));
  const W = cols * (w + gap) - gap, H = rows * (h + gap) - gap;
  if (canvas.width !== W || canvas.height !== H) { canvas.width = W; canvas.height = H; }
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(W, H), px = img.data;
  px.fill(255);
  const pos = COLORS.real, neg = COLORS.fakeFill;
  for (let k = 0; k < n; k++) {
    let m = 1e-12;
    for (let q = 0; q < h * w; q++) m = Math.max(m, Math.abs(data[k * h * w + q]));
    const ox = (k % cols) * (w + gap), oy = Math.floor(k / cols) * (h + gap);
    for (let i = 0; i < h; i++) {
      for (let j = 0; j < w; j++) {
        const v = data[k * h * w + i * w + j] / m, c = v >= 0 ? pos : neg, a = Math.min(1, Math.abs(v));
        const at = ((oy + i) * W + ox + j) * 4;
        for (let ch = 0; ch < 3; ch++) px[at + ch] = Math.round(255 * (1 - a) + c[ch] * a);
      }
    }
  }
  ctx.putImageData(img, 0, 0);
}

export class DigitsView {
  constructor(root, {onReroll}) {
    this.root = root;
    root.innerHTML = `
      <div class="digit-grids">
        <figure><figcaption title="G on the same noise vectors every frame: watch them turn from grey fog into digits">Generated <span class="muted">(fixed noise)</span></figcaption><canvas id="digit-fakes" role="img" aria-label="Generated images from fixed noise" class="pix"></canvas></figure>
        <figure><figcaption>Real samples</figcaption><canvas id="digit-reals" role="img" aria-label="Real images" class="pix"></canvas></figure>
      </div>
      <figure class="digit-walk"><figcaption title="G along a path between two noise vectors: linear (top) and spherical (bottom). Click the row for new ends.">Latent walk <span class="muted">linear · spherical</span> <button id="walk-reroll" type="button" title="Draw two new end points">new ends</button></figcaption>
        <canvas id="digit-walk" role="img" aria-label="Latent walk: linear and spherical paths between two noise vectors; click for new ends" class="pix" title="Click for new ends"></canvas></figure>
      <div class="digit-d">
        <figure><figcaption title="Histograms of D's output on the 64 fakes of the grid (purple) and as many real images (green): the image analogue of the heatmap">What D thinks <span class="muted">D(x), 0 = fake … 1 = real</span></figcaption><canvas id="digit-dhist" role="img" aria-label="Histograms of D's output on real and fake images"></canvas></figure>
        <figure><figcaption title="dD/dx on the first fakes of the grid: green pixels would look more real with more ink, purple with less. This is where G is pushed.">Where G is pushed <span class="muted">dD/dx</span></figcaption><canvas id="digit-dgrad" role="img" aria-label="D's gradient on fake images" class="pix"></canvas></figure>
      </div>
      <figure class="digit-classes"><figcaption id="digit-summary">Classes: waiting for the classifier…</figcaption><canvas id="digit-classes" role="img" aria-label="Class histogram of the generated images"></canvas></figure>
      <p id="capped-notice" class="capped" role="status" hidden></p>`;
    this.$ = (id) => root.querySelector(`#${id}`);
    const reroll = () => onReroll();
    this.$("digit-walk").addEventListener("click", reroll);
    this.$("walk-reroll").addEventListener("click", reroll);
    this.frame = null;
    this.counts = null;   // the latest class histogram (metrics come on some frames only)
    this.classNames = null;
    this.dirty = false;
    for (const c of [this.$("digit-dhist"), this.$("digit-classes")]) new ResizeObserver(() => { this.dirty = true; }).observe(c);
    const loop = () => { if (this.dirty && !root.hidden) { this.dirty = false; this.draw(); } requestAnimationFrame(loop); };
    requestAnimationFrame(loop);
  }

  clear() { this.counts = null; this.metrics = null; this.frame = null; this.dirty = true; }

  setFrame(meta, layers) {
    // The real grid comes once per data set (and after a view message): keep the last one.
    if (layers.reals_grid) this.reals = layers.reals_grid;
    this.frame = {meta, layers: {...layers, reals_grid: this.reals}};
    const m = meta.metrics || {};
    if (m.class_counts) { this.counts = m.class_counts; this.metrics = m; }
    const notice = this.$("capped-notice");
    notice.hidden = !meta.capped;
    notice.textContent = meta.capped || "";
    this.dirty = true;
  }

  draw() {
    if (!this.frame) return;
    const {meta, layers} = this.frame;
    const [h, w] = meta.image;
    const grid = (name, id) => {
      const l = layers[name];
      if (l) paintImages(this.$(id), l.data, l.rows, h, w, GRID_COLS);
    };
    grid("fakes_grid", "digit-fakes");
    grid("reals_grid", "digit-reals");
    if (layers.walk) paintImages(this.$("digit-walk"), layers.walk.data, layers.walk.rows, h, w, WALK);
    if (layers.d_grad_image) paintSigned(this.$("digit-dgrad"), layers.d_grad_image.data, layers.d_grad_image.rows, h, w, 4);
    if (layers.d_hist) this.histogram(this.$("digit-dhist"), layers.d_hist);
    this.classes(this.$("digit-classes"));
  }

  /** D's output on real (green) and fake (purple) images: two overlaid histograms over [0, 1]. */
  histogram(c, l) {
    const {ctx, W, H, dpr} = fit(c);
    const bins = l.cols, max = Math.max(1, ...l.data);
    const pad = 14 * dpr, bw = W / bins;
    ctx.clearRect(0, 0, W, H);
    for (const [row, color] of [[0, COLORS.real], [1, COLORS.fakeFill]]) {
      ctx.fillStyle = `rgba(${color},0.55)`;
      for (let b = 0; b < bins; b++) {
        const v = l.data[row * bins + b], bh = (v / max) * (H - pad - 2 * dpr);
        ctx.fillRect(b * bw + dpr, H - pad - bh, bw - 2 * dpr, bh);
      }
    }
    ctx.fillStyle = "#888"; ctx.font = `${10 * dpr}px system-ui, sans-serif`; ctx.textBaseline = "bottom";
    ctx.textAlign = "left"; ctx.fillText("0 fake", 0, H);
    ctx.textAlign = "center"; ctx.fillText("0.5", W / 2, H);
    ctx.textAlign = "right"; ctx.fillText("real 1", W, H);
  }

  /** Confident samples per class (the classifier's histogram): captured classes dark, the others
   * light, the capture threshold dashed. A GAN that writes only 1s shows one bar. */
  classes(c) {
    const {ctx, W, H, dpr} = fit(c);
    ctx.clearRect(0, 0, W, H);
    const m = this.metrics, counts = this.counts;
    const summary = this.root.querySelector("#digit-summary");
    if (!counts) { summary.textContent = "Classes: waiting for the classifier…"; return; }
    const fd = m.fd == null ? "" : ` · FD ${m.fd.toFixed(1)} (floor ${m.fd_floor.toFixed(1)})`;
    summary.innerHTML = `Classes captured <b id="classes-captured">${m.classes_captured}/${m.classes_total}</b> · ${(100 * m.confident).toFixed(0)}% confident · digit score ${m.digit_score.toFixed(2)}${fd}`;
    const K = counts.length, max = Math.max(1, ...counts, m.class_min || 1), pad = 13 * dpr, bw = W / K;
    const Y = (v) => H - pad - (v / max) * (H - pad - 2 * dpr);
    ctx.font = `${10 * dpr}px system-ui, sans-serif`; ctx.textAlign = "center"; ctx.textBaseline = "bottom";
    for (let k = 0; k < K; k++) {
      const captured = counts[k] >= (m.class_min || 1);
      ctx.fillStyle = captured ? "rgb(0,136,55)" : "rgba(0,136,55,0.3)";
      ctx.fillRect(k * bw + 2 * dpr, Y(counts[k]), bw - 4 * dpr, H - pad - Y(counts[k]));
      ctx.fillStyle = "#666";
      const name = this.classNames?.[k] ?? String(k);
      ctx.fillText(name.length > 6 ? name.slice(0, 5) + "…" : name, k * bw + bw / 2, H);
    }
    if (m.class_min) {
      ctx.strokeStyle = "rgba(0,0,0,.4)"; ctx.setLineDash([4 * dpr, 3 * dpr]); ctx.lineWidth = dpr;
      ctx.beginPath(); ctx.moveTo(0, Y(m.class_min)); ctx.lineTo(W, Y(m.class_min)); ctx.stroke(); ctx.setLineDash([]);
    }
  }
}

/** Size a canvas's backing store to its CSS box at the device pixel ratio. */
function fit(c) {
  const dpr = window.devicePixelRatio || 1, r = c.getBoundingClientRect();
  const W = Math.max(1, Math.round(r.width * dpr)), H = Math.max(1, Math.round(r.height * dpr));
  if (c.width !== W || c.height !== H) { c.width = W; c.height = H; }
  return {ctx: c.getContext("2d"), W, H, dpr};
}

/** The model graph's thumbnails for image data: one fake, one real, the noise vector, dD/dx and
 * D's output histograms, each on the graph's own small canvases. */
export function paintGraphThumbs(thumbs, meta, layers) {
  const [h, w] = meta.image, n = h * w;
  const one = (c, l) => {
    if (!c || !l) return;
    const t = document.createElement("canvas");
    paintImages(t, l.data.subarray(0, n), 1, h, w, 1);
    const ctx = c.getContext("2d");
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, c.width, c.height);
    ctx.imageSmoothingEnabled = false;
    const s = Math.min(c.width, c.height);
    ctx.drawImage(t, (c.width - s) / 2, (c.height - s) / 2, s, s);
  };
  one(thumbs.fake, layers.fakes_grid);
  one(thumbs.real, layers.reals_grid);
  if (thumbs.discriminator && layers.d_grad_image) {
    const t = document.createElement("canvas");
    paintSigned(t, layers.d_grad_image.data.subarray(0, n), 1, h, w, 1);
    const c = thumbs.discriminator, ctx = c.getContext("2d");
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(t, 0, 0, c.width, c.height);
  }
  if (thumbs.predictions && layers.d_hist) {
    const c = thumbs.predictions, ctx = c.getContext("2d"), l = layers.d_hist, bins = l.cols;
    const max = Math.max(1, ...l.data), bw = c.width / bins;
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, c.width, c.height);
    for (const [row, color] of [[0, COLORS.real], [1, COLORS.fakeFill]]) {
      ctx.fillStyle = `rgba(${color},0.55)`;
      for (let b = 0; b < bins; b++) {
        const bh = (l.data[row * bins + b] / max) * (c.height - 4);
        ctx.fillRect(b * bw, c.height - bh, bw - 1, bh);
      }
    }
  }
  if (thumbs.generator && layers.walk) {
    // G's thumbnail: the start, middle and end of the latent walk (what G does along a path).
    const t = document.createElement("canvas");
    paintImages(t, layers.walk.data.subarray(0, 10 * n), 10, h, w, 10);
    const c = thumbs.generator, ctx = c.getContext("2d");
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, c.width, c.height);
    ctx.imageSmoothingEnabled = false;
    const s = c.width / 3;
    for (const [k, j] of [[0, 0], [1, 5], [2, 9]]) ctx.drawImage(t, j * (w + 1), 0, w, h, k * s, (c.height - s) / 2, s - 2, s - 2);
  }
  if (thumbs.noise) {
    // No picture of a 100-dimensional z: its size, as the graph's G shape says.
    const c = thumbs.noise, ctx = c.getContext("2d");
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, c.width, c.height);
    ctx.fillStyle = "#555"; ctx.font = `${Math.round(c.width / 3.2)}px system-ui, sans-serif`;
    ctx.textAlign = "center"; ctx.textBaseline = "middle";
    ctx.fillText(`z: ${meta.noise_dim ?? "?"}`, c.width / 2, c.height / 2);
  }
}

/** "100 → 256 → 784" from the config (dotted keys), for the graph's G and D nodes. */
export function shapes(cfg, dim, classes) {
  const cond = cfg.conditional ? classes || 0 : 0;
  const hidden = (net) => Array(cfg[`${net}.layers`] ?? 0).fill(cfg[`${net}.units`]);
  const g = [cfg.noise_dim + (cond ? ` + ${cond}` : ""), ...hidden("generator"), dim];
  const d = [dim + (cond ? ` + ${cond}` : ""), ...hidden("discriminator"), 1];
  return {generator: g.join(" → "), discriminator: d.join(" → ")};
}

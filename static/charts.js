// Metrics over epochs: D and G loss, KL and JS divergence (bits, log scale, with the estimator's
// floor), and for mixture presets the modes captured and the share of high-quality samples (two
// labelled axes). One record per new training state; when the history grows past MAX records
// every other one is dropped, so memory and drawing stay bounded. Epoch ticks run along the x
// axis; hovering a chart reads out every series of that chart at the nearest epoch and marks the
// epoch on all charts.

const MAX = 2000;
const COLS = ["epoch", "d_steps", "g_steps", "d_loss", "g_loss", "kl", "js", "modes_captured", "modes_total",
  "high_quality", "kl_floor", "js_floor", "fd", "fd_floor"];

const KL = "rgb(230,120,20)", JS = "rgb(40,40,40)";
// name: [[key, label, colour, axis]], axis "left" (default) or "right" (the modes chart's %).
const CHARTS = {
  loss: [["d_loss", "D loss", "rgb(68,124,228)"], ["g_loss", "G loss", "rgb(163,62,189)"]],
  div: [["kl", "KL", KL], ["js", "JS", JS]],
  modes: [["modes_captured", "modes captured", "rgb(0,136,55)"], ["high_quality", "% high quality", "rgb(163,62,189)", "right"]],
};
// Image data (digits): the same three charts hold the losses, the Frechet distance on the
// classifier's features (log axis) and classes captured / % confidently classified samples (the
// modes chart's keys carry them).
const IMAGE_CHARTS = {
  loss: CHARTS.loss,
  div: [["fd", "FD", KL]],
  modes: [["modes_captured", "classes captured", "rgb(0,136,55)"], ["high_quality", "% confident", "rgb(163,62,189)", "right"]],
};
// The KL/JS chart also draws each divergence's floor: the same estimator on two independent real
// samples of the current sizes, which the curves cannot go below except by chance. FD likewise.
const FLOORS = {kl: "kl_floor", js: "js_floor", fd: "fd_floor"};
const LOG_MIN = 1e-4; // bits: the bottom of the log axis at most

export class Charts {
  constructor(canvases, legends) {
    this.canvases = canvases;  // {loss, div, modes}
    this.legends = legends;
    this.rows = [];
    this.dirty = false;
    this.cursor = null;        // epoch under the pointer (shown on every chart)
    this.scales = {};          // per chart, as last drawn: axes and plot box (device pixels)
    for (const [name, c] of Object.entries(canvases)) {
      new ResizeObserver(() => { this.dirty = true; }).observe(c);
      const tip = document.createElement("div");
      tip.className = "chart-tip";
      tip.hidden = true;
      tip.id = `chart-tip-${name}`;
      c.parentElement.appendChild(tip);
      c.addEventListener("pointermove", (e) => this.hover(name, e));
      c.addEventListener("pointerleave", () => { this.cursor = null; tip.hidden = true; this.dirty = true; });
    }
    const loop = () => { if (this.dirty) { this.dirty = false; this.draw(); } requestAnimationFrame(loop); };
    requestAnimationFrame(loop);
  }

  clear() { this.rows = []; this.dirty = true; }

  /** "points" (2D data) or "images": which series the charts show. */
  setKind(kind) {
    if (kind === this.kind) return;
    this.kind = kind;
    this.rows = [];
    this.dirty = true;
  }

  series() { return this.kind === "images" ? IMAGE_CHARTS : CHARTS; }

  /** Record a frame if training moved since the last record. */
  add(meta) {
    const last = this.rows[this.rows.length - 1];
    const m = meta.metrics || {}, L = meta.losses || {};
    const row = {
      epoch: meta.epoch, d_steps: meta.d_steps, g_steps: meta.g_steps, d_loss: L.d ?? null, g_loss: L.g ?? null,
      kl: m.kl ?? null, js: m.js ?? null, modes_captured: m.modes_captured ?? m.classes_captured ?? null,
      modes_total: m.modes_total ?? m.classes_total ?? null,
      high_quality: m.high_quality != null ? 100 * m.high_quality : m.confident != null ? 100 * m.confident : null,
      kl_floor: m.kl_floor ?? null, js_floor: m.js_floor ?? null, fd: m.fd ?? null, fd_floor: m.fd_floor ?? null,
    };
    if (last && last.epoch === meta.epoch && last.d_steps === meta.d_steps && last.g_steps === meta.g_steps) {
      // The same state again: metrics that came later for it (image metrics are computed in a
      // thread and ride on a later frame) complete its record.
      for (const [k, v] of Object.entries(row)) if (v != null && last[k] == null) { last[k] = v; this.dirty = true; }
      return;
    }
    if (last && meta.epoch < last.epoch) this.rows = []; // a restart or reset
    this.rows.push(row);
    if (this.rows.length > MAX) this.rows = this.rows.filter((_, i) => i % 2 === 0 || i === this.rows.length - 1);
    this.dirty = true;
  }

  /** The modes chart shows while the current distribution has modes (the latest record says). */
  hasModes() {
    // The latest row that carries metrics decides: frames in between carry none.
    const key = this.kind === "images" ? "modes_total" : "kl";
    for (let i = this.rows.length - 1; i >= 0; i--) if (this.rows[i][key] != null) return this.rows[i].modes_total != null;
    return false;
  }

  /** The latest value of `key` (metrics arrive on a fraction of frames). */
  latest(key) {
    for (let i = this.rows.length - 1; i >= 0; i--) if (this.rows[i][key] != null) return this.rows[i][key];
    return null;
  }

  /** The row nearest to `epoch` that has a value for `key`. */
  at(key, epoch) {
    let best = null, bd = Infinity;
    for (const r of this.rows) {
      if (r[key] == null) continue;
      const d = Math.abs(r.epoch - epoch);
      if (d < bd) { bd = d; best = r; }
    }
    return best;
  }

  toCSV() {
    const fmt = (v, k) => (v == null ? "" : k === "high_quality" ? String(v / 100) : String(v));
    return [COLS.join(","), ...this.rows.map((r) => COLS.map((k) => fmt(r[k], k)).join(","))].join("\n") + "\n";
  }

  draw() {
    const modes = this.hasModes();
    this.canvases.modes.parentElement.hidden = !modes;
    for (const [name, series] of Object.entries(this.series())) {
      if (name === "modes" && !modes) continue;
      this.plot(name, this.canvases[name], series, this.legends[name]);
    }
  }

  /** Epoch range of the history. */
  span() {
    const rows = this.rows;
    const e0 = rows.length ? rows[0].epoch : 0, e1 = rows.length ? rows[rows.length - 1].epoch : 1;
    return [e0, Math.max(e1, e0 + 1)];
  }

  /** The plot area of a canvas of w x h device pixels: [left, top, right, bottom]. */
  frame(name, canvas, w, h) {
    const dpr = window.devicePixelRatio || 1, fs = this.fontSize(canvas) * dpr;
    return [fs * 4.4, fs * 0.6, w - (name === "modes" ? fs * 4 : fs * 0.8), h - fs * 1.6];
  }

  fontSize(canvas) { return parseFloat(getComputedStyle(canvas).fontSize) || 11; }

  hover(name, e) {
    const canvas = this.canvases[name], r = canvas.getBoundingClientRect(), dpr = window.devicePixelRatio || 1;
    if (!this.rows.length) return;
    const [L, , R] = this.frame(name, canvas, r.width * dpr, r.height * dpr);
    const [e0, e1] = this.span();
    const t = Math.min(1, Math.max(0, ((e.clientX - r.left) * dpr - L) / (R - L)));
    const want = e0 + t * (e1 - e0);
    const row = this.rows.reduce((b, x) => (Math.abs(x.epoch - want) < Math.abs(b.epoch - want) ? x : b), this.rows[0]);
    this.cursor = row.epoch;
    const tip = document.getElementById(`chart-tip-${name}`);
    const lines = [`epoch ${row.epoch}`];
    for (const [key, label, color] of this.series()[name]) {
      const hit = this.at(key, row.epoch);
      const v = hit ? hit[key] : null;
      let text = v == null ? "–" : show(key, v, this.latest("modes_total"));
      if (hit && hit.epoch !== row.epoch) text += ` <span style="opacity:.7">(epoch ${hit.epoch})</span>`;
      lines.push(`<span style="color:${color === JS ? "#ccc" : color}">■</span> ${label} ${text}`);
      if (FLOORS[key]) {
        const f = this.at(FLOORS[key], row.epoch);
        if (f) lines.push(`<span style="opacity:.8">&nbsp;&nbsp;${label} floor ${fmtBits(f[FLOORS[key]])}</span>`);
      }
    }
    tip.innerHTML = lines.join("<br>");
    tip.hidden = false;
    const box = canvas.parentElement.getBoundingClientRect();
    const x = e.clientX - box.left, tw = tip.offsetWidth;
    tip.style.left = `${x + 12 + tw > box.width ? Math.max(0, x - 12 - tw) : x + 12}px`;
    tip.style.top = `${canvas.offsetTop + 4}px`;
    this.dirty = true;
  }

  plot(name, canvas, series, legend) {
    const dpr = window.devicePixelRatio || 1, r = canvas.getBoundingClientRect();
    const w = Math.max(1, Math.round(r.width * dpr)), h = Math.max(1, Math.round(r.height * dpr));
    if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, w, h);
    const rows = this.rows, fs = this.fontSize(canvas) * dpr;
    const [L, T, R, B] = this.frame(name, canvas, w, h);
    const [e0, e1] = this.span();
    const X = (e) => L + ((e - e0) / (e1 - e0)) * (R - L);
    const log = name === "div";
    const axes = {left: this.range(name, series.filter((s) => s[3] !== "right"), log)};
    if (name === "modes") axes.right = [0, 100];
    const Yof = ([a, b]) => (log
      ? (v) => B - ((Math.log10(v) - Math.log10(a)) / (Math.log10(b) - Math.log10(a))) * (B - T)
      : (v) => B - ((v - a) / (b - a)) * (B - T));

    // Frame, epoch ticks along the bottom, value ticks on the left (and right).
    ctx.font = `${fs}px system-ui, sans-serif`;
    ctx.strokeStyle = "#ddd"; ctx.lineWidth = dpr;
    ctx.strokeRect(L, T, R - L, B - T);
    ctx.textBaseline = "top";
    // "epoch" at the right end of the axis; tick labels that would run into it are left out.
    const title = ctx.measureText("epoch").width;
    ctx.textAlign = "right"; ctx.fillStyle = "#888"; ctx.fillText("epoch", R, B + 3 * dpr);
    for (const e of niceTicks(e0, e1, Math.max(2, Math.floor((R - L) / (fs * 7))), 1)) { // whole epochs
      const x = X(e), label = fmtEpoch(e), half = ctx.measureText(label).width / 2;
      ctx.strokeStyle = "#eee"; ctx.beginPath(); ctx.moveTo(x, T); ctx.lineTo(x, B); ctx.stroke();
      ctx.strokeStyle = "#999"; ctx.beginPath(); ctx.moveTo(x, B); ctx.lineTo(x, B + 3 * dpr); ctx.stroke();
      if (x + half > R - title - 6 * dpr) continue;
      ctx.fillStyle = "#666"; ctx.textAlign = "center"; ctx.fillText(label, Math.max(x, L + half), B + 3 * dpr);
    }
    ctx.textBaseline = "middle"; ctx.textAlign = "right";
    const leftTicks = log ? logTicks(...axes.left) : name === "modes" ? intTicks(axes.left[1]) : niceTicks(...axes.left, 3);
    const YL = Yof(axes.left);
    for (const v of leftTicks) {
      const y = YL(v);
      if (y < T - 1 || y > B + 1) continue;
      ctx.strokeStyle = "#f0f0f0"; ctx.beginPath(); ctx.moveTo(L, y); ctx.lineTo(R, y); ctx.stroke();
      ctx.fillStyle = name === "modes" ? series[0][2] : "#666";
      ctx.fillText(log ? fmtBits(v) : name === "modes" ? String(v) : fmt(v), L - 4 * dpr, y);
    }
    if (axes.right) {
      ctx.textAlign = "left"; ctx.fillStyle = series[1][2];
      for (const v of [0, 50, 100]) ctx.fillText(`${v}%`, R + 4 * dpr, Yof(axes.right)(v));
    }
    // Axis titles: what is on each scale.
    ctx.save(); ctx.fillStyle = "#888"; ctx.textAlign = "center"; ctx.textBaseline = "top";
    ctx.translate(1 * dpr, (T + B) / 2); ctx.rotate(-Math.PI / 2);
    const images = this.kind === "images";
    ctx.fillText(name === "loss" ? "loss" : name === "div" ? (images ? "FD (log)" : "bits (log)") : images ? "classes" : "modes", 0, 0);
    ctx.restore();
    if (axes.right) {
      ctx.save(); ctx.fillStyle = series[1][2]; ctx.textAlign = "center"; ctx.textBaseline = "bottom";
      ctx.translate(w - 1 * dpr, (T + B) / 2); ctx.rotate(-Math.PI / 2);
      ctx.fillText(images ? "% confident" : "% high quality", 0, 0);
      ctx.restore();
    }

    // Series. Old values beyond a linear axis's range are drawn on its edge and marked there.
    const clipped = [];
    for (const [key, , color, axis] of series) {
      const range = axis === "right" ? axes.right : axes.left, [a, b] = range, Y = Yof(range);
      if (FLOORS[key]) this.line(ctx, rows, FLOORS[key], X, Y, a, b, color, dpr, [5 * dpr, 4 * dpr], 0.8);
      this.line(ctx, rows, key, X, Y, a, b, color, dpr, null, 1.6, clipped);
    }
    if (clipped.length) {
      // Small red ticks on the edge where values were cut, and what they mean.
      ctx.fillStyle = "rgb(200,40,40)";
      let lastX = -Infinity;
      for (const [x, y] of clipped) {
        if (x - lastX < 5 * dpr) continue;
        lastX = x;
        const up = y <= T + 1;
        ctx.beginPath(); ctx.moveTo(x - 3 * dpr, y + (up ? 5 : -5) * dpr); ctx.lineTo(x + 3 * dpr, y + (up ? 5 : -5) * dpr); ctx.lineTo(x, y); ctx.fill();
      }
      ctx.textAlign = "left"; ctx.textBaseline = "top"; ctx.font = `${fs * 0.9}px system-ui, sans-serif`;
      const note = "▲ older values off the scale", nw = ctx.measureText(note).width;
      ctx.fillStyle = "rgba(255,255,255,.8)"; ctx.fillRect(L + 2 * dpr, T + 5 * dpr, nw + 4 * dpr, fs);
      ctx.fillStyle = "rgb(200,40,40)"; ctx.fillText(note, L + 4 * dpr, T + 6 * dpr);
    }
    this.scales[name] = {log, left: axes.left, right: axes.right || null, box: [L, T, R, B], epochs: [e0, e1],
      clipped: clipped.length, y: (v) => YL(v)};
    if (this.cursor !== null && rows.length) {
      const x = X(this.cursor);
      ctx.strokeStyle = "rgba(0,0,0,.45)"; ctx.lineWidth = dpr; ctx.setLineDash([3 * dpr, 3 * dpr]);
      ctx.beginPath(); ctx.moveTo(x, T); ctx.lineTo(x, B); ctx.stroke(); ctx.setLineDash([]);
    }

    const parts = [];
    for (const [key, label, color] of series) {
      const v = this.latest(key);
      let text = `<span style="color:${color}">■</span> ${label} <b>${v == null ? "–" : show(key, v, this.latest("modes_total"))}</b>`;
      if (FLOORS[key] && this.latest(FLOORS[key]) != null) text += ` <span class="muted">(floor ${fmtBits(this.latest(FLOORS[key]))})</span>`;
      parts.push(text);
    }
    if (legend) legend.innerHTML = parts.join(" &nbsp; ");
  }

  /** One series as a polyline; missing values (metrics come on some frames only) are bridged. */
  line(ctx, rows, key, X, Y, a, b, color, dpr, dash, width, clipped = null) {
    ctx.strokeStyle = color; ctx.lineWidth = width * dpr; ctx.setLineDash(dash || []);
    ctx.beginPath();
    let pen = false;
    for (const r of rows) {
      const v = r[key];
      if (v == null || !Number.isFinite(v)) continue;
      const c = Math.min(b, Math.max(a, v)), x = X(r.epoch), y = Y(c);
      if (clipped && c !== v) clipped.push([x, y]);
      pen ? ctx.lineTo(x, y) : ctx.moveTo(x, y);
      pen = true;
    }
    ctx.stroke();
    ctx.setLineDash([]);
  }

  /** [lo, hi] of the left axis. Log (KL/JS): every value and floor, down to LOG_MIN bits. Linear:
   * fits the recent half of the history, so the first frames' values (large while G covers
   * nothing) do not flatten the rest; older values beyond it are clipped and marked. */
  range(name, series, log) {
    const rows = this.rows;
    if (name === "modes") return [0, Math.max(1, ...rows.map((r) => r.modes_total ?? 0))];
    let lo = Infinity, hi = -Infinity;
    const recent = log ? 0 : rows.length >> 1;
    for (const [key] of series) {
      for (const k of FLOORS[key] ? [key, FLOORS[key]] : [key]) {
        rows.forEach((r, i) => {
          const v = r[k];
          if (v == null || !Number.isFinite(v) || (log && v <= 0)) return;
          if (i >= recent) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
        });
      }
    }
    if (log) {
      if (!Number.isFinite(lo)) return [0.01, 1];
      const a = Math.max(LOG_MIN, 10 ** Math.floor(Math.log10(Math.max(lo, LOG_MIN)) - 1e-9));
      return [a, Math.max(a * 10, 10 ** Math.ceil(Math.log10(hi) + 1e-9))];
    }
    if (!Number.isFinite(lo)) return [0, 1];
    if (hi - lo < 1e-6) { hi += 0.5; lo -= 0.5; }
    return [Math.min(0, lo), hi + (hi - lo) * 0.1];
  }
}

/** About n round ticks (1, 2, 5 x 10^k steps) within [a, b]. */
export function niceTicks(a, b, n = 5, minStep = 0) {
  const span = b - a;
  if (!(span > 0)) return [a];
  const raw = span / n, p = 10 ** Math.floor(Math.log10(raw));
  const step = Math.max(minStep, [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw) || 10 * p);
  const out = [];
  for (let v = Math.ceil(a / step - 1e-9) * step; v <= b + 1e-9 * step; v += step) out.push(Math.round(v / step) * step);
  return out;
}

export function logTicks(a, b) {
  const out = [];
  for (let k = Math.round(Math.log10(a)); k <= Math.round(Math.log10(b)); k++) out.push(10 ** k);
  return out.length > 5 ? out.filter((_, i) => i % 2 === (out.length - 1) % 2) : out;
}

function intTicks(top) { const step = Math.max(1, Math.ceil(top / 4)); const out = []; for (let v = 0; v <= top; v += step) out.push(v); return out; }

function show(key, v, total) {
  if (key === "modes_captured") return `${v}/${total ?? "?"}`;
  if (key === "high_quality") return `${v.toFixed(0)}%`;
  if (key === "kl" || key === "js") return `${fmtBits(v)} bits`;
  if (key === "fd") return fmtBits(v);
  return v.toFixed(3);
}

export function fmtEpoch(e) { return e >= 1e6 ? `${+(e / 1e6).toFixed(1)}M` : e >= 1e4 ? `${+(e / 1e3).toFixed(1)}k` : String(e); }

export function fmtBits(v) { return v >= 10 ? v.toFixed(1) : v >= 0.1 ? v.toFixed(2) : v >= 0.001 ? v.toFixed(3) : v.toExponential(0); }

export function fmt(v) {
  const a = Math.abs(v);
  return a >= 100 ? v.toFixed(0) : a >= 1 ? v.toFixed(1) : v.toFixed(2);
}

// Metrics over epochs: D and G loss, KL and JS divergence (bits), and for mixture presets the
// modes captured and the share of high-quality samples. One record per new training state; when the
// history grows past MAX records every other one is dropped, so memory and drawing stay bounded.

const MAX = 2000;
const COLS = ["epoch", "d_steps", "g_steps", "d_loss", "g_loss", "kl", "js", "modes_captured", "modes_total", "high_quality"];

const CHARTS = {
  loss: [["d_loss", "D loss", "rgb(68,124,228)"], ["g_loss", "G loss", "rgb(163,62,189)"]],
  div: [["kl", "KL (bits)", "rgb(230,120,20)"], ["js", "JS (bits)", "rgb(40,40,40)"]],
  modes: [["modes_captured", "modes captured", "rgb(0,136,55)"], ["high_quality", "% high quality", "rgb(163,62,189)"]],
};

export class Charts {
  constructor(canvases, legends) {
    this.canvases = canvases;  // {loss, div, modes}
    this.legends = legends;
    this.rows = [];
    this.dirty = false;
    for (const c of Object.values(canvases)) new ResizeObserver(() => { this.dirty = true; }).observe(c);
    const loop = () => { if (this.dirty) { this.dirty = false; this.draw(); } requestAnimationFrame(loop); };
    requestAnimationFrame(loop);
  }

  clear() { this.rows = []; this.dirty = true; }

  /** Record a frame if training moved since the last record. */
  add(meta) {
    const last = this.rows[this.rows.length - 1];
    if (last && last.epoch === meta.epoch && last.d_steps === meta.d_steps && last.g_steps === meta.g_steps) return;
    if (last && meta.epoch < last.epoch) this.rows = []; // a restart or reset
    const m = meta.metrics || {}, L = meta.losses || {};
    this.rows.push({
      epoch: meta.epoch, d_steps: meta.d_steps, g_steps: meta.g_steps, d_loss: L.d ?? null, g_loss: L.g ?? null,
      kl: m.kl ?? null, js: m.js ?? null, modes_captured: m.modes_captured ?? null, modes_total: m.modes_total ?? null,
      high_quality: m.high_quality != null ? 100 * m.high_quality : null,
    });
    if (this.rows.length > MAX) this.rows = this.rows.filter((_, i) => i % 2 === 0 || i === this.rows.length - 1);
    this.dirty = true;
  }

  /** The modes chart shows while the current distribution has modes (the latest record says). */
  hasModes() {
    // The latest row that carries metrics decides: frames in between carry none.
    for (let i = this.rows.length - 1; i >= 0; i--) if (this.rows[i].kl != null) return this.rows[i].modes_total != null;
    return false;
  }

  toCSV() {
    const fmt = (v, k) => (v == null ? "" : k === "high_quality" ? String(v / 100) : String(v));
    return [COLS.join(","), ...this.rows.map((r) => COLS.map((k) => fmt(r[k], k)).join(","))].join("\n") + "\n";
  }

  draw() {
    const modes = this.hasModes();
    this.canvases.modes.parentElement.hidden = !modes;
    for (const [name, series] of Object.entries(CHARTS)) {
      if (name === "modes" && !modes) continue;
      this.plot(this.canvases[name], series, this.legends[name], name === "modes");
    }
  }

  plot(canvas, series, legend, isModes) {
    const dpr = window.devicePixelRatio || 1, r = canvas.getBoundingClientRect();
    const w = Math.max(1, Math.round(r.width * dpr)), h = Math.max(1, Math.round(r.height * dpr));
    if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, w, h);
    const rows = this.rows, pad = 4 * dpr, left = 34 * dpr;
    // Modes chart: two scales (count on the left, % on the right) normalised to their maxima.
    const scaleOf = (key) => {
      if (isModes) {
        const top = key === "high_quality" ? 100 : Math.max(1, ...rows.map((r) => r.modes_total ?? 0));
        return [0, top];
      }
      // The range fits the recent half of the history: the first frames' KL (tens of bits while
      // G covers nothing) would otherwise flatten the rest of the curve. Older values beyond it
      // run along the top edge.
      let lo = Infinity, hi = -Infinity;
      const recent = rows.length >> 1;
      for (const s of series) rows.forEach((r, i) => {
        const v = r[s[0]];
        if (v == null || !Number.isFinite(v)) return;
        lo = Math.min(lo, v);
        if (i >= recent) hi = Math.max(hi, v);
      });
      if (!Number.isFinite(lo)) return [0, 1];
      if (!Number.isFinite(hi)) hi = lo;
      if (hi - lo < 1e-6) { hi += 0.5; lo -= 0.5; }
      return [Math.min(0, lo), hi + (hi - lo) * 0.1];
    };
    const e0 = rows.length ? rows[0].epoch : 0, e1 = rows.length ? rows[rows.length - 1].epoch : 1;
    const X = (e) => left + ((e - e0) / Math.max(1, e1 - e0)) * (w - left - pad);
    ctx.strokeStyle = "#ddd"; ctx.lineWidth = dpr;
    ctx.strokeRect(left, pad, w - left - pad, h - 2 * pad);
    const [lo, hi] = scaleOf(series[0][0]);
    ctx.fillStyle = "#777"; ctx.font = `${10 * dpr}px system-ui, sans-serif`; ctx.textAlign = "right";
    ctx.fillText(fmt(hi), left - 3 * dpr, pad + 9 * dpr);
    ctx.fillText(fmt(lo), left - 3 * dpr, h - pad);
    const parts = [];
    for (const [key, label, color] of series) {
      const [a, b] = isModes ? scaleOf(key) : [lo, hi];
      const Y = (v) => pad + (1 - (v - a) / (b - a)) * (h - 2 * pad);
      ctx.strokeStyle = color; ctx.lineWidth = 1.5 * dpr;
      ctx.beginPath();
      let pen = false;
      for (const r of rows) {
        const v = r[key];
        // Metrics arrive on a fraction of frames (the server throttles them): a missing value
        // is "not measured here", so the line runs on to the next measured point.
        if (v == null || !Number.isFinite(v)) continue;
        const x = X(r.epoch), y = Y(Math.min(b, Math.max(a, v)));
        pen ? ctx.lineTo(x, y) : ctx.moveTo(x, y);
        pen = true;
      }
      ctx.stroke();
      const lastV = [...rows].reverse().find((r) => r[key] != null)?.[key];
      const shown = lastV == null ? "–" : key === "modes_captured" ? `${lastV}/${[...rows].reverse().find((r) => r.modes_total != null)?.modes_total ?? "?"}` : key === "high_quality" ? `${lastV.toFixed(0)}%` : lastV.toFixed(3);
      parts.push(`<span style="color:${color}">■</span> ${label} <b>${shown}</b>`);
    }
    if (legend) legend.innerHTML = parts.join(" &nbsp; ") + (rows.length ? ` <span class="muted">· epoch ${e0}–${e1}</span>` : "");
  }
}

function fmt(v) {
  const a = Math.abs(v);
  return a >= 100 ? v.toFixed(0) : a >= 1 ? v.toFixed(1) : v.toFixed(2);
}

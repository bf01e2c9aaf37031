// Comparing 2-4 runs: their curves of one metric overlaid on shared axes (charts.js's ticks and
// number formats) with a hover readout of every run at an epoch, a table of only the settings
// that differ between them, and their thumbnails side by side at the same epoch, moved together
// by one slider.

import {niceTicks, logTicks, fmtEpoch, fmtBits, fmt} from "../charts.js";
import {flatten} from "../controls.js";

export const COLORS = ["rgb(68,124,228)", "rgb(230,120,20)", "rgb(0,136,55)", "rgb(163,62,189)"];
export const METRICS = [["kl", "KL (bits)", true], ["js", "JS (bits)", true], ["d_loss", "D loss", false],
  ["g_loss", "G loss", false], ["modes_captured", "modes captured", false], ["high_quality", "high quality (share)", false],
  ["fd", "FD", true]];

/** Dotted settings whose values are not the same in all configs (data included), as
 * ganlab/runs/compare.py differing_between: {key: [value per config]}. */
export function differingBetween(configs) {
  const flats = configs.map((c) => flatten(c));
  const keys = [...new Set(flats.flatMap((f) => Object.keys(f)))].sort();
  const out = {};
  for (const k of keys) {
    const vals = flats.map((f) => f[k]);
    if (vals.some((v) => JSON.stringify(v) !== JSON.stringify(vals[0]))) out[k] = vals;
  }
  return out;
}

const show = (v) => (v === undefined ? "–" : typeof v === "object" ? JSON.stringify(v).slice(0, 60) : String(v));
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c]));

export class Compare {
  /** el: the container; runs: [{name, manifest, rows, thumbs: Map epoch -> object URL}]. */
  constructor(el) {
    this.el = el;
    this.runs = [];
    this.metric = "kl";
    this.cursor = null;
    el.innerHTML = `<h3>Settings that differ</h3><table id="compare-diff" class="compare-diff"></table>
      <h3>Curves <select id="compare-metric" aria-label="Metric">${METRICS.map(([k, l]) => `<option value="${k}">${l}</option>`).join("")}</select></h3>
      <div class="compare-chart"><div id="compare-legend" class="legend"></div><canvas id="compare-chart"></canvas><div id="compare-tip" class="chart-tip" hidden></div></div>
      <h3>Side by side at epoch <output id="compare-epoch-label">0</output></h3>
      <input id="compare-epoch" type="range" min="0" max="0" step="1" value="0" aria-label="Epoch shown for every run">
      <div id="compare-thumbs" class="compare-thumbs"></div>`;
    this.$ = (id) => el.querySelector(`#${id}`);
    this.$("compare-metric").addEventListener("change", (e) => { this.metric = e.target.value; this.draw(); });
    this.$("compare-epoch").addEventListener("input", () => this.showThumbs());
    const c = this.$("compare-chart");
    c.addEventListener("pointermove", (e) => this.hover(e));
    c.addEventListener("pointerleave", () => { this.cursor = null; this.$("compare-tip").hidden = true; this.draw(); });
    new ResizeObserver(() => this.draw()).observe(c);
  }

  set(runs) {
    for (const r of this.runs) for (const u of r.thumbs.values()) URL.revokeObjectURL(u);
    this.runs = runs;
    // The metric shown first: the first one every run has.
    const has = (k) => runs.every((r) => r.rows.some((x) => typeof x[k] === "number"));
    if (!has(this.metric)) this.metric = (METRICS.find(([k]) => has(k)) || METRICS[2])[0];
    this.$("compare-metric").value = this.metric;
    this.diff();
    const epochs = [...new Set(runs.flatMap((r) => [...r.thumbs.keys()]))].sort((a, b) => a - b);
    const s = this.$("compare-epoch");
    this.epochs = epochs.length ? epochs : [0];
    s.max = String(this.epochs.length - 1);
    s.value = s.max;
    this.showThumbs();
    this.draw();
  }

  diff() {
    const d = differingBetween(this.runs.map((r) => r.manifest.config));
    const head = `<tr><th>setting</th>${this.runs.map((r, i) => `<th style="color:${COLORS[i]}">${esc(r.name)}</th>`).join("")}</tr>`;
    const rows = Object.entries(d).map(([k, vals]) => `<tr data-key="${esc(k)}"><td>${esc(k)}</td>${vals.map((v) => `<td>${esc(show(v))}</td>`).join("")}</tr>`);
    this.$("compare-diff").innerHTML = head + (rows.length ? rows.join("") : `<tr><td colspan="${this.runs.length + 1}" class="muted">the same settings</td></tr>`);
  }

  /** Each run's thumbnail at the slider's epoch: its latest at or before it (else its first). */
  showThumbs() {
    const e = this.epochs[Number(this.$("compare-epoch").value)] ?? 0;
    this.$("compare-epoch-label").textContent = String(e);
    this.$("compare-thumbs").innerHTML = this.runs.map((r, i) => {
      const have = [...r.thumbs.keys()].sort((a, b) => a - b);
      const at = have.filter((x) => x <= e).pop() ?? have[0];
      const img = at === undefined ? `<div class="muted">no thumbnails</div>` : `<img src="${r.thumbs.get(at)}" alt="${esc(r.name)} at epoch ${at}" data-epoch="${at}">`;
      return `<figure data-run="${i}">${img}<figcaption style="color:${COLORS[i]}">${esc(r.name)}<br><span class="muted">epoch ${at ?? "–"}</span></figcaption></figure>`;
    }).join("");
  }

  scale() {
    const [key, , log] = METRICS.find(([k]) => k === this.metric);
    let e0 = Infinity, e1 = -Infinity, lo = Infinity, hi = -Infinity;
    for (const r of this.runs) {
      for (const x of r.rows) {
        e0 = Math.min(e0, x.epoch); e1 = Math.max(e1, x.epoch);
        const v = x[key];
        if (typeof v !== "number" || !Number.isFinite(v) || (log && v <= 0)) continue;
        lo = Math.min(lo, v); hi = Math.max(hi, v);
      }
    }
    if (!Number.isFinite(e0)) { e0 = 0; e1 = 1; }
    if (e1 <= e0) e1 = e0 + 1;
    if (!Number.isFinite(lo)) { lo = log ? 0.01 : 0; hi = 1; }
    if (log) { lo = 10 ** Math.floor(Math.log10(lo) - 1e-9); hi = Math.max(lo * 10, 10 ** Math.ceil(Math.log10(hi) + 1e-9)); }
    else { if (hi - lo < 1e-6) { hi += 0.5; lo -= 0.5; } lo = Math.min(0, lo); hi += (hi - lo) * 0.05; }
    return {key, log, e0, e1, lo, hi};
  }

  draw() {
    const c = this.$("compare-chart"), dpr = window.devicePixelRatio || 1, r = c.getBoundingClientRect();
    const w = Math.max(1, Math.round(r.width * dpr)), h = Math.max(1, Math.round(r.height * dpr));
    if (c.width !== w || c.height !== h) { c.width = w; c.height = h; }
    const ctx = c.getContext("2d"), fs = 11 * dpr;
    ctx.clearRect(0, 0, w, h);
    const {key, log, e0, e1, lo, hi} = this.s = this.scale();
    const L = fs * 4.4, T = fs * 0.6, R = w - fs * 0.8, B = h - fs * 1.6;
    this.box = [L, T, R, B];
    const X = (e) => L + ((e - e0) / (e1 - e0)) * (R - L);
    const Y = log ? (v) => B - ((Math.log10(v) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * (B - T)
      : (v) => B - ((v - lo) / (hi - lo)) * (B - T);
    ctx.font = `${fs}px system-ui, sans-serif`;
    ctx.strokeStyle = "#ddd"; ctx.lineWidth = dpr; ctx.strokeRect(L, T, R - L, B - T);
    ctx.textBaseline = "top"; ctx.textAlign = "center"; ctx.fillStyle = "#666";
    for (const e of niceTicks(e0, e1, Math.max(2, Math.floor((R - L) / (fs * 7))), 1)) {
      const label = fmtEpoch(e), half = ctx.measureText(label).width / 2;
      ctx.fillText(label, Math.min(X(e), w - half - 1), B + 3 * dpr); // the last label stays inside
    }
    ctx.textBaseline = "middle"; ctx.textAlign = "right";
    for (const v of log ? logTicks(lo, hi) : niceTicks(lo, hi, 3)) {
      const y = Y(v);
      if (y < T - 1 || y > B + 1) continue;
      ctx.strokeStyle = "#f0f0f0"; ctx.beginPath(); ctx.moveTo(L, y); ctx.lineTo(R, y); ctx.stroke();
      ctx.fillText(log ? fmtBits(v) : fmt(v), L - 4 * dpr, y);
    }
    this.drawn = [];
    this.runs.forEach((run, i) => {
      ctx.strokeStyle = COLORS[i]; ctx.lineWidth = 1.6 * dpr; ctx.beginPath();
      let pen = false, n = 0;
      for (const x of run.rows) {
        const v = x[key];
        if (typeof v !== "number" || !Number.isFinite(v) || (log && v <= 0)) continue;
        const yy = Y(Math.min(hi, Math.max(lo, v)));
        pen ? ctx.lineTo(X(x.epoch), yy) : ctx.moveTo(X(x.epoch), yy);
        pen = true; n++;
      }
      ctx.stroke();
      this.drawn.push(n);
    });
    if (this.cursor !== null) {
      const x = X(this.cursor);
      ctx.strokeStyle = "rgba(0,0,0,.45)"; ctx.setLineDash([3 * dpr, 3 * dpr]);
      ctx.beginPath(); ctx.moveTo(x, T); ctx.lineTo(x, B); ctx.stroke(); ctx.setLineDash([]);
    }
    this.$("compare-legend").innerHTML = this.runs.map((run, i) => `<span style="color:${COLORS[i]}">■</span> ${esc(run.name)}`).join(" &nbsp; ");
  }

  /** Every run's value of the metric at the epoch under the pointer (its nearest row). */
  hover(e) {
    if (!this.s) return;
    const c = this.$("compare-chart"), r = c.getBoundingClientRect(), dpr = window.devicePixelRatio || 1;
    const [L, , R] = this.box, {key, e0, e1} = this.s;
    const t = Math.min(1, Math.max(0, ((e.clientX - r.left) * dpr - L) / (R - L)));
    const epoch = Math.round(e0 + t * (e1 - e0));
    this.cursor = epoch;
    const label = METRICS.find(([k]) => k === key)[1];
    const lines = [`epoch ${epoch} · ${label}`];
    this.runs.forEach((run, i) => {
      let best = null;
      for (const x of run.rows) if (typeof x[key] === "number" && (!best || Math.abs(x.epoch - epoch) < Math.abs(best.epoch - epoch))) best = x;
      const v = best ? (this.s.log ? fmtBits(best[key]) : fmt(best[key])) : "–";
      lines.push(`<span style="color:${COLORS[i]}">■</span> ${esc(run.name)} <b>${v}</b>${best && best.epoch !== epoch ? ` <span style="opacity:.7">(epoch ${best.epoch})</span>` : ""}`);
    });
    const tip = this.$("compare-tip");
    tip.innerHTML = lines.join("<br>");
    tip.hidden = false;
    const x = e.clientX - c.parentElement.getBoundingClientRect().left;
    tip.style.left = `${x + 12 + tip.offsetWidth > c.parentElement.clientWidth ? Math.max(0, x - 12 - tip.offsetWidth) : x + 12}px`;
    tip.style.top = "4px";
    this.draw();
  }
}

// The Gaussian mixture, edited on the data view: drag a component's centre (round handle) to
// move it, drag its square handles to change its spread along x or y, double-click empty space
// to add a component; the panel beside the picker lists the components with a weight slider and
// a remove button each. Every finished gesture sends the new parameters (ganlab/data/mixture.py:
// {"means": [[x, y]], "weights": [w], "sds": [[sx, sy]] | "covs": [[[a, b], [b, c]]]}); full
// covariances keep their correlation while a spread handle rescales a variance. The JSON editor
// stays as the advanced path.

import {COLORS} from "./dataview.js";

const HIT = 11;               // CSS px around a handle that grab it
const SD_MIN = 0.005, SD_MAX = 0.5;
const NEW_SD = 0.05;
const clamp = (v, a, b) => Math.min(b, Math.max(a, v));
const rgb = (c, a = 1) => `rgba(${c[0]},${c[1]},${c[2]},${a})`;
const round = (v) => Math.round(v * 1e4) / 1e4;

/** Per-axis sds of component k (from sds, or the diagonal of covs). */
export function sdsOf(p, k) {
  if (p.covs) return [Math.sqrt(p.covs[k][0][0]), Math.sqrt(p.covs[k][1][1])];
  return p.sds ? p.sds[k].slice() : [NEW_SD, NEW_SD];
}

/** Set component k's sd along axis a (0 = x, 1 = y); a full covariance keeps its correlation. */
export function setSd(p, k, a, sd) {
  sd = clamp(sd, SD_MIN, SD_MAX);
  if (p.covs) {
    const c = p.covs[k], s = [Math.sqrt(c[0][0]), Math.sqrt(c[1][1])];
    const rho = c[0][1] / (s[0] * s[1]);
    s[a] = sd;
    const off = round(rho * s[0] * s[1] * 1e2) / 1e2;
    p.covs[k] = [[round(s[0] ** 2 * 1e2) / 1e2, off], [off, round(s[1] ** 2 * 1e2) / 1e2]];
  } else {
    p.sds[k][a] = round(sd);
  }
}

export class MixtureEditor {
  /** dv: the DataView; panel: the element that lists the components; apply(params): send them. */
  constructor(dv, panel, apply) {
    this.dv = dv;
    this.panel = panel;
    this.apply = apply;
    this.params = null;   // the edited parameters, or null while another distribution is shown
    this.selected = 0;
    this.drag = null;     // {k, what: "mean" | 0 | 1, id}
    dv.overlays.push((ctx) => this.paint(ctx));
    const c = dv.canvas;
    c.addEventListener("pointerdown", (e) => this.down(e));
    c.addEventListener("pointermove", (e) => this.move(e));
    c.addEventListener("pointerup", (e) => this.up(e));
    c.addEventListener("pointercancel", (e) => this.up(e));
    c.addEventListener("dblclick", (e) => { if (this.params && !this.hit(e)) this.add(...dv.toUnit(e)); });
  }

  /** Show the editor for `params` (the mixture's current parameters), or hide it (null). */
  sync(params) {
    if (this.drag) return; // the server's echo of an earlier gesture must not undo this one
    if (!params) {
      this.params = null;
      this.panel.hidden = true;
      this.dv.canvas.style.touchAction = this.dv.canvas.classList.contains("drawing") ? "none" : "";
      this.dv.dirty = true;
      return;
    }
    const p = JSON.parse(JSON.stringify(params));
    const k = p.means.length;
    p.weights = p.weights || Array(k).fill(1 / k);
    if (!p.covs && !p.sds) p.sds = Array.from({length: k}, () => [NEW_SD, NEW_SD]);
    this.params = p;
    this.selected = Math.min(this.selected, k - 1);
    this.panel.hidden = false;
    this.dv.canvas.style.touchAction = "none"; // a finger drags handles instead of scrolling
    this.render();
    this.dv.dirty = true;
  }

  send() { if (this.params) this.apply(JSON.parse(JSON.stringify(this.params))); }

  /** Handles of component k in data coordinates: the mean, then the x and y spread handles (2 sd). */
  handles(k) {
    const [mx, my] = this.params.means[k], [sx, sy] = sdsOf(this.params, k);
    return [["mean", mx, my], [0, mx + 2 * sx, my], [1, mx, my + 2 * sy]];
  }

  hit(e) {
    if (!this.params) return null;
    const [x, y] = this.dv.toUnit(e), r = this.dv.canvas.getBoundingClientRect();
    const perPx = (this.dv.extent[2] - this.dv.extent[0]) / r.width;
    let best = null, bd = HIT * perPx;
    // The selected component first: its handles win when components overlap.
    const order = [this.selected, ...this.params.means.keys()].filter((k, i, a) => a.indexOf(k) === i);
    for (const k of order) {
      for (const [what, hx, hy] of this.handles(k)) {
        const d = Math.hypot(hx - x, hy - y);
        if (d < bd) { bd = d; best = {k, what}; }
      }
    }
    return best;
  }

  down(e) {
    if (!this.params || (e.pointerType === "mouse" && e.button !== 0)) return;
    const h = this.hit(e);
    if (!h) return;
    e.preventDefault();
    try { this.dv.canvas.setPointerCapture(e.pointerId); } catch { /* synthetic pointer */ }
    this.drag = {...h, id: e.pointerId, moved: false};
    this.selected = h.k;
    this.render();
    this.dv.dirty = true;
  }

  move(e) {
    const d = this.drag;
    if (!d || e.pointerId !== d.id) {
      if (this.params) this.dv.canvas.style.cursor = this.hit(e) ? "grab" : "";
      return;
    }
    const [x, y] = this.dv.toUnit(e), p = this.params;
    if (d.what === "mean") p.means[d.k] = [round(clamp(x, 0, 1)), round(clamp(y, 0, 1))];
    else setSd(p, d.k, d.what, Math.abs((d.what === 0 ? x : y) - p.means[d.k][d.what]) / 2);
    d.moved = true;
    this.render();
    this.dv.dirty = true;
  }

  up(e) {
    const d = this.drag;
    if (!d || e.pointerId !== d.id) return;
    this.drag = null;
    if (d.moved) this.send();
  }

  add(x, y) {
    const p = this.params;
    if (!p || p.means.length >= 100) return;
    p.means.push([round(clamp(x, 0, 1)), round(clamp(y, 0, 1))]);
    p.weights.push(p.weights.reduce((a, b) => a + b, 0) / p.weights.length);
    if (p.covs) p.covs.push([[NEW_SD ** 2, 0], [0, NEW_SD ** 2]]);
    else p.sds.push([NEW_SD, NEW_SD]);
    this.selected = p.means.length - 1;
    this.render();
    this.send();
  }

  remove(k) {
    const p = this.params;
    if (!p || p.means.length <= 1) return;
    for (const key of ["means", "weights", "sds", "covs"]) if (p[key]) p[key].splice(k, 1);
    this.selected = Math.max(0, Math.min(this.selected, p.means.length - 1));
    this.render();
    this.send();
  }

  setWeight(k, w) {
    const p = this.params, total = p.weights.reduce((a, b) => a + b, 0);
    // The others keep their proportions; k gets share w of the total.
    const rest = total - p.weights[k];
    p.weights = p.weights.map((v, i) => (i === k ? w : rest > 0 ? (v / rest) * (1 - w) : (1 - w) / (p.weights.length - 1)));
    p.weights = p.weights.map((v) => round(Math.max(0, v)));
    this.send();
  }

  /** The component list: a weight slider and a remove button each, and "add". */
  render() {
    const p = this.params;
    if (!p) return;
    const total = p.weights.reduce((a, b) => a + b, 0) || 1;
    const rows = p.means.map(([x, y], k) => {
      const [sx, sy] = sdsOf(p, k);
      return `<div class="mix-row${k === this.selected ? " sel" : ""}" data-k="${k}">
        <button class="mix-pick" data-k="${k}" title="Select (its handles are drawn on top)">${k + 1}</button>
        <span class="mix-at" title="centre and spread (sd)">(${x.toFixed(2)}, ${y.toFixed(2)}) ± ${sx.toFixed(3)}, ${sy.toFixed(3)}</span>
        <input type="range" class="mix-weight" id="mix-weight-${k}" data-k="${k}" min="0" max="1" step="0.01" value="${(p.weights[k] / total).toFixed(2)}" title="weight" aria-label="weight of component ${k + 1}">
        <button class="mix-remove" id="mix-remove-${k}" data-k="${k}" title="Remove this component" ${p.means.length <= 1 ? "disabled" : ""}>&times;</button>
      </div>`;
    }).join("");
    this.panel.innerHTML = `<p class="muted mix-help">Drag a centre ● or a spread handle ■ on the data view; double-click the view to add a component.</p>
      ${rows}<button id="mix-add" title="Add a component at the centre">+ Add component</button>`;
    this.panel.querySelector("#mix-add").addEventListener("click", () => this.add(0.5, 0.5));
    for (const b of this.panel.querySelectorAll(".mix-remove")) b.addEventListener("click", () => this.remove(Number(b.dataset.k)));
    for (const b of this.panel.querySelectorAll(".mix-pick")) b.addEventListener("click", () => { this.selected = Number(b.dataset.k); this.render(); this.dv.dirty = true; });
    for (const s of this.panel.querySelectorAll(".mix-weight")) s.addEventListener("change", () => this.setWeight(Number(s.dataset.k), Number(s.value)));
  }

  /** Components on the data view: a 2-sd ellipse, the centre and the two spread handles. */
  paint(ctx) {
    const p = this.params, dv = this.dv;
    if (!p) return;
    const dpr = window.devicePixelRatio || 1, k0 = dv.scale();
    for (let k = 0; k < p.means.length; k++) {
      const sel = k === this.selected, [mx, my] = p.means[k], X = dv.px(mx), Y = dv.py(my);
      ctx.save();
      ctx.translate(X, Y);
      if (p.covs) { // the ellipse of a full covariance: its eigenvectors and eigenvalues
        const [[a, b], [, c]] = p.covs[k], tr = (a + c) / 2, det = Math.sqrt(((a - c) / 2) ** 2 + b * b);
        const l1 = tr + det, l2 = Math.max(1e-12, tr - det), ang = 0.5 * Math.atan2(2 * b, a - c);
        ctx.rotate(-ang);
        ctx.beginPath(); ctx.ellipse(0, 0, 2 * Math.sqrt(l1) * k0, 2 * Math.sqrt(l2) * k0, 0, 0, 6.2832);
      } else {
        const [sx, sy] = p.sds[k];
        ctx.beginPath(); ctx.ellipse(0, 0, 2 * sx * k0, 2 * sy * k0, 0, 0, 6.2832);
      }
      ctx.setLineDash([5 * dpr, 4 * dpr]);
      ctx.strokeStyle = rgb(COLORS.real, sel ? 0.95 : 0.55); ctx.lineWidth = (sel ? 2 : 1.3) * dpr;
      ctx.stroke();
      ctx.restore();
      ctx.setLineDash([]);
      for (const [what, hx, hy] of this.handles(k)) {
        const x = dv.px(hx), y = dv.py(hy), s = (what === "mean" ? 7 : 5) * dpr;
        ctx.fillStyle = "#fff"; ctx.strokeStyle = rgb(COLORS.real); ctx.lineWidth = (sel ? 2.2 : 1.5) * dpr;
        ctx.beginPath();
        if (what === "mean") ctx.arc(x, y, s, 0, 6.2832); else ctx.rect(x - s, y - s, 2 * s, 2 * s);
        ctx.fill(); ctx.stroke();
      }
      ctx.font = `600 ${11 * dpr}px system-ui, sans-serif`; ctx.fillStyle = rgb(COLORS.real); ctx.textAlign = "left";
      const total = p.weights.reduce((a, b) => a + b, 0) || 1;
      ctx.fillText(`${k + 1} · w ${(p.weights[k] / total).toFixed(2)}`, X + 10 * dpr, Y - 9 * dpr);
    }
  }
}

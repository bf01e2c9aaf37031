// The model overview graph (GAN Lab's top-middle view): HTML nodes with canvas thumbnails over an
// SVG of edges, both in one 700 x 300 coordinate system scaled uniformly. Dashed edges march while
// training (CSS animation); slow motion highlights the nodes and edges of one stage at a time.

import {COLORS, paintGrid, sampleGrid} from "./dataview.js";

const W = 700, H = 300;
const NODES = [
  // id, label, centre x, y, layer toggled from the node (or null), tooltip
  ["noise", "Random noise z", 48, 70, null, "The noise vectors fed to the generator (first two dimensions)."],
  ["generator", "Generator", 160, 70, "manifold", "G maps noise to 2D points. Hover it to watch noise space bend into data space."],
  ["fake", "Fake samples", 275, 70, "fake", "G(z): the samples the generator makes from fixed noise."],
  ["real", "Real samples", 275, 215, "real", "Samples from the real distribution."],
  ["discriminator", "Discriminator", 395, 142, "heatmap", "D scores every point: green = looks real, purple = looks fake."],
  ["predictions", "Predictions", 512, 142, null, "D's outputs on real (green) and fake (purple) samples, from 0 (fake) to 1 (real)."],
  ["dloss", "D loss", 640, 70, null, "How badly D separates real from fake; D descends it."],
  ["gloss", "G loss", 640, 215, null, "How well D spots G's fakes; G descends it."],
];
const EDGES = [
  // id, path, gradient?
  ["noise-generator", "M80 70 L126 70", false],
  ["generator-fake", "M194 70 L241 70", false],
  ["fake-discriminator", "M309 80 C340 95 345 130 361 136", false],
  ["real-discriminator", "M309 205 C340 190 345 155 361 148", false],
  ["discriminator-predictions", "M429 142 L474 142", false],
  ["predictions-dloss", "M550 130 C575 100 585 75 600 72", false],
  ["predictions-gloss", "M550 154 C575 184 585 210 600 213", false],
  ["dloss-discriminator", "M640 40 C600 8 430 8 400 100", true],
  ["gloss-generator", "M640 248 C600 292 180 292 162 110", true],
];
// Slow-motion stages (protocol.md): the nodes and edges each one is about, and the data-view layers
// that show what it changes.
export const STAGES = [
  {nodes: ["noise", "generator", "fake"], edges: ["noise-generator", "generator-fake"], view: ["fake"]},
  {nodes: ["real", "fake", "discriminator", "predictions"], edges: ["fake-discriminator", "real-discriminator", "discriminator-predictions"], view: ["heatmap", "real", "fake"]},
  {nodes: ["predictions", "dloss"], edges: ["predictions-dloss"], view: ["heatmap"]},
  {nodes: ["dloss", "discriminator"], edges: ["dloss-discriminator"], view: ["heatmap"]},
  {nodes: ["discriminator"], edges: [], view: ["heatmap"]},
  {nodes: ["noise", "generator", "fake"], edges: ["noise-generator", "generator-fake"], view: ["fake"]},
  {nodes: ["fake", "discriminator", "predictions"], edges: ["fake-discriminator", "discriminator-predictions"], view: ["heatmap", "fake"]},
  {nodes: ["predictions", "gloss"], edges: ["predictions-gloss"], view: ["fake"]},
  {nodes: ["gloss", "discriminator", "generator"], edges: ["gloss-generator"], view: ["fake", "g_grad"]},
  {nodes: ["generator"], edges: [], view: ["fake"]},
];

const SVG = "http://www.w3.org/2000/svg";

export class Graph {
  constructor(root, {onToggle, onGeneratorHover}) {
    this.root = root;
    this.thumbs = {};
    this.checks = {};
    this.lastDraw = 0;
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    svg.innerHTML = `<defs>
      <marker id="arrow" viewBox="0 0 10 10" refX="8" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse"><path d="M0 0 L10 5 L0 10 z" fill="#777"/></marker>
      <marker id="arrow-grad" viewBox="0 0 10 10" refX="8" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse"><path d="M0 0 L10 5 L0 10 z" fill="rgb(196,20,219)"/></marker></defs>`;
    this.edges = {};
    for (const [id, d, grad] of EDGES) {
      const p = document.createElementNS(SVG, "path");
      p.setAttribute("d", d);
      p.setAttribute("class", grad ? "edge grad" : "edge");
      p.setAttribute("marker-end", grad ? "url(#arrow-grad)" : "url(#arrow)");
      p.id = `edge-${id}`;
      svg.appendChild(p);
      this.edges[id] = p;
    }
    root.appendChild(svg);
    this.nodes = {};
    for (const [id, label, x, y, layer, tip] of NODES) {
      const n = document.createElement("div");
      n.className = `node node-${id}`;
      n.id = `node-${id}`;
      n.title = tip;
      n.style.left = `${(x / W) * 100}%`;
      n.style.top = `${(y / H) * 100}%`;
      const head = document.createElement("label");
      head.className = "node-label";
      if (layer) {
        const cb = document.createElement("input");
        cb.type = "checkbox";
        cb.id = `graph-layer-${layer}`;
        cb.addEventListener("change", () => onToggle(layer, cb.checked));
        this.checks[layer] = cb;
        head.appendChild(cb);
      }
      head.append(label);
      n.appendChild(head);
      if (id === "dloss" || id === "gloss") {
        n.insertAdjacentHTML("beforeend", `<div class="loss-value" id="${id}-value">–</div><div class="loss-bar"><span id="${id}-bar"></span></div>`);
      } else {
        const c = document.createElement("canvas");
        c.className = "thumb";
        c.width = c.height = 112; // 56 CSS px at 2x
        if (id === "predictions") { c.width = 140; c.height = 84; }
        n.appendChild(c);
        this.thumbs[id] = c;
      }
      root.appendChild(n);
      this.nodes[id] = n;
    }
    // Gradient arrows are toggled from the D-loss -> D gradient edge.
    const g = document.createElement("label");
    g.className = "edge-toggle";
    g.style.left = `${(520 / W) * 100}%`;
    g.style.top = `${(2 / H) * 100}%`;
    g.title = "Show the gradients that push each fake sample (arrows in the data view)";
    g.innerHTML = `<input type="checkbox" id="graph-layer-d_grad"> gradients`;
    this.checks.d_grad = g.querySelector("input");
    this.checks.d_grad.addEventListener("change", () => onToggle("d_grad", this.checks.d_grad.checked));
    root.appendChild(g);
    const gen = this.nodes.generator;
    gen.addEventListener("pointerenter", () => onGeneratorHover(true));
    gen.addEventListener("pointerleave", () => onGeneratorHover(false));
    this.caption = document.getElementById("stage-caption");
  }

  setChecked(layers) { for (const [l, cb] of Object.entries(this.checks)) cb.checked = layers.includes(l); }

  setRunning(on) { this.root.classList.toggle("running", on); }

  /** Image data: the networks' layer widths under G and D (`{generator, discriminator}`, e.g.
   * "100 → 256 → 784"); null removes them (2D data). */
  setShapes(sh) {
    for (const id of ["generator", "discriminator"]) {
      const n = this.nodes[id];
      let el = n.querySelector(".shape");
      if (!sh) { el?.remove(); continue; }
      if (!el) { el = document.createElement("div"); el.className = "shape"; el.id = `shape-${id}`; n.appendChild(el); }
      el.textContent = sh[id];
    }
  }

  /** Highlight one slow-motion stage ({index, name, caption}) or none (null). */
  setStage(stage) {
    const st = stage && STAGES[stage.index];
    this.root.classList.toggle("stage-on", !!st);
    for (const [id, n] of Object.entries(this.nodes)) n.classList.toggle("hl", !!st && st.nodes.includes(id));
    for (const [id, e] of Object.entries(this.edges)) e.classList.toggle("hl", !!st && st.edges.includes(id));
    if (this.caption) {
      this.caption.hidden = !st;
      if (st) {
        const phase = stage.index < 5 ? "Discriminator phase" : "Generator phase";
        this.caption.textContent = `${stage.index + 1}/10 · ${phase}: ${stage.caption || stage.name}`;
        this.caption.dataset.stage = String(stage.index);
      }
    }
  }

  /** Redraw thumbnails and loss readouts (at most ~12 times a second: they are small). */
  update(layers, losses, force = false) {
    const now = performance.now();
    clearTimeout(this.trailing);
    if (!force && now - this.lastDraw < 80) {
      // The last frame of a burst (e.g. the one before a pause) must still be drawn.
      this.trailing = setTimeout(() => this.update(layers, losses, true), 80 - (now - this.lastDraw));
      return;
    }
    this.lastDraw = now;
    // Thumbnails in data space share the heatmap's extent (the data view widens it to show fakes
    // outside the unit square), so fakes, reals and D's map line up as in the big view.
    const e = layers.heatmap?.extent || [0, 0, 1, 1], box = [e[0], e[2], e[1], e[3]];
    this.points(this.thumbs.real, layers.real, COLORS.real, box);
    this.points(this.thumbs.fake, layers.fake, COLORS.fakeFill, box);
    this.noise(this.thumbs.noise, layers.noise);
    if (layers.heatmap) paintGrid(this.thumbs.discriminator, layers.heatmap, 0.8);
    this.manifold(this.thumbs.generator, layers.manifold, box);
    this.predictions(this.thumbs.predictions, layers);
    for (const k of ["d", "g"]) {
      const v = losses ? losses[k] : null;
      document.getElementById(`${k}loss-value`).textContent = Number.isFinite(v) ? v.toFixed(3) : "–";
      // Bar: loss relative to log 4 (D's loss when D is at chance) / log 2 (G's), capped.
      const ref = k === "d" ? 1.386 : 0.693;
      document.getElementById(`${k}loss-bar`).style.width = `${Number.isFinite(v) ? Math.min(100, (Math.abs(v) / ref) * 50) : 0}%`;
    }
  }

  points(c, l, color, bounds = [0, 1, 0, 1]) {
    if (!c || !l) return;
    const ctx = c.getContext("2d"), w = c.width, [x0, x1, y0, y1] = bounds;
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, w, w);
    ctx.fillStyle = `rgba(${color},0.7)`;
    const n = Math.min(l.rows, 300);
    for (let i = 0; i < n; i++) {
      const x = (l.data[i * l.cols] - x0) / (x1 - x0);
      const y = l.cols > 1 ? (l.data[i * l.cols + 1] - y0) / (y1 - y0) : 0.5;
      ctx.fillRect(x * w - 2, (1 - y) * w - 2, 4, 4);
    }
  }

  noise(c, l) {
    if (!c || !l) return;
    // Noise can be U[0,1], U[-1,1] or N(0,1): frame it by its own range.
    let lo = Infinity, hi = -Infinity;
    for (const v of l.data) { if (v < lo) lo = v; if (v > hi) hi = v; }
    const pad = (hi - lo) * 0.08 || 0.5;
    this.points(c, l, [90, 90, 90], [lo - pad, hi + pad, lo - pad, hi + pad]);
  }

  manifold(c, M, [x0, x1, y0, y1] = [0, 1, 0, 1]) {
    if (!c || !M) return;
    const ctx = c.getContext("2d"), w = c.width, m = M.rows, cols = M.cols / 2;
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, w, w);
    ctx.strokeStyle = `rgba(${COLORS.fake},0.7)`; ctx.lineWidth = 1.2;
    const at = (i, j) => [(M.data[i * M.cols + 2 * j] - x0) / (x1 - x0) * w, (1 - (M.data[i * M.cols + 2 * j + 1] - y0) / (y1 - y0)) * w];
    ctx.beginPath();
    for (let i = 0; i < m; i++) for (let j = 0; j < cols; j++) (j ? ctx.lineTo(...at(i, j)) : ctx.moveTo(...at(i, j)));
    for (let j = 0; j < cols && m > 1; j++) for (let i = 0; i < m; i++) (i ? ctx.lineTo(...at(i, j)) : ctx.moveTo(...at(i, j)));
    ctx.stroke();
  }

  /** D's output at each real and fake sample (read from the heatmap) on a 0..1 axis. */
  predictions(c, L) {
    if (!c || !L.heatmap) return;
    const ctx = c.getContext("2d"), w = c.width, h = c.height;
    const grad = ctx.createLinearGradient(0, 0, w, 0);
    grad.addColorStop(0, `rgb(${COLORS.fakeFill})`); grad.addColorStop(0.5, "#f4f4f4"); grad.addColorStop(1, `rgb(${COLORS.real})`);
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, w, h);
    ctx.fillStyle = grad; ctx.fillRect(0, h - 10, w, 10);
    const row = (l, y, color) => {
      if (!l) return;
      ctx.fillStyle = `rgba(${color},0.45)`;
      const n = Math.min(l.rows, 150);
      for (let i = 0; i < n; i++) {
        const d = sampleGrid(L.heatmap, l.data[2 * i], l.data[2 * i + 1]);
        const jitter = ((i * 7919) % 17) - 8; // fixed per point, so dots do not flicker
        if (Number.isFinite(d)) ctx.fillRect(d * (w - 6) + 1, y + jitter * 1.3, 4, 4);
      }
    };
    row(L.real, h * 0.3, COLORS.real);
    row(L.fake, h * 0.62, COLORS.fakeFill);
  }
}

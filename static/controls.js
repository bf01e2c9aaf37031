// Hyperparameter controls and the distribution picker, built from GET /api/schema so that the page
// never repeats a range or a choice the server defines. Fields that restart training carry a ↻
// badge; main.js asks for confirmation before sending them.

import {parseBinary} from "./socket.js";

const LR_STOPS = [0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1];
const HIDDEN = new Set(["data", "data_params"]); // edited through the picker
const GROUPS = [
  ["Noise", /^noise/],
  ["Generator", /^(generator\.|g_optimizer\.(kind|lr)$)/],
  ["Discriminator", /^(discriminator\.|d_optimizer\.(kind|lr)$)/],
  ["Training", /^(loss|k_d|k_g|batch_size|seed|init)$/],
  ["Advanced", /./],
];
const LABELS = {
  noise: "Noise type", noise_dim: "Noise dimension", layers: "Hidden layers", units: "Units per layer",
  activation: "Activation", output: "Output", kind: "Optimizer", lr: "Learning rate", loss: "Loss",
  k_d: "k_D (D updates / epoch)", k_g: "k_G (G updates / epoch)", batch_size: "Batch size", seed: "Seed",
  init: "Initialisation", gp_weight: "Gradient penalty weight", clip: "Weight clip", precision: "Precision",
  r1: "R1 penalty γ", r1_every: "R1 every k D steps", g_ema: "G weight average (EMA decay)",
  leaky_slope: "Leaky ReLU slope", dropout: "Dropout", decay: "Learning-rate decay",
  label_smoothing: "Label smoothing", conditional: "Class-conditional",
};

export const fieldId = (path) => `cfg-${path.replace(/\./g, "-")}`;

/** Flatten a nested config to {dotted.path: value}; data_params stays one value. */
export function flatten(obj, prefix = "", out = {}) {
  for (const [k, v] of Object.entries(obj || {})) {
    const p = prefix ? `${prefix}.${k}` : k;
    if (v && typeof v === "object" && !Array.isArray(v) && p !== "data_params") flatten(v, p, out);
    else out[p] = v;
  }
  return out;
}

/** The schema's fields as a flat list, whatever its shape: a list of fields, or a JSON Schema. */
export function normaliseSchema(schema) {
  // /api/schema gives {config: {fields: [...]}}; a raw pydantic JSON Schema is accepted as well.
  const root = schema.config_schema || schema.config || schema.schema || schema;
  const defs = root.$defs || root.definitions || {};
  if (Array.isArray(root.fields)) schema = {...schema, fields: root.fields};
  const deref = (p) => {
    const ref = p.$ref || p.allOf?.[0]?.$ref;
    return ref ? defs[ref.split("/").pop()] : p;
  };
  const fields = [];
  if (Array.isArray(schema.fields)) {
    for (const f of schema.fields) fields.push(normaliseField(f.path || f.name, f));
  } else {
    const walk = (props, prefix) => {
      for (const [k, p0] of Object.entries(props || {})) {
        const p = deref(p0);
        const path = prefix ? `${prefix}.${k}` : k;
        if (p && p.properties && k !== "data_params") walk(p.properties, path);
        else fields.push(normaliseField(path, {...p, ...p0, $ref: undefined}));
      }
    };
    walk(root.properties, "");
  }
  const losses = asList(schema.losses);
  const loss = fields.find((f) => f.path === "loss");
  if (loss && losses.length) loss.choices = losses.map((l) => ({value: l.name, label: l.label || l.name, title: l.description}));
  return {fields, distributions: asList(schema.distributions || schema.data || schema.datasets), losses};
}

function asList(x) {
  if (!x) return [];
  if (Array.isArray(x)) return x.map((v) => (typeof v === "string" ? {name: v} : v));
  return Object.entries(x).map(([name, v]) => (typeof v === "object" ? {name, ...v} : {name, label: String(v)}));
}

function normaliseField(path, p) {
  let type = p.type;
  if (!type && p.anyOf) type = p.anyOf.find((a) => a.type !== "null")?.type;
  const choices = p.choices || p.enum || (p.anyOf && p.anyOf.flatMap((a) => a.enum || []));
  return {
    path, type: type || (choices && choices.length ? "string" : "number"),
    title: p.title, description: p.description || "",
    min: p.minimum ?? p.exclusive_minimum ?? p.exclusiveMinimum ?? p.min,
    max: p.maximum ?? p.exclusive_maximum ?? p.exclusiveMaximum ?? p.max,
    exclusiveMin: p.minimum === undefined && (p.exclusive_minimum ?? p.exclusiveMinimum) !== undefined,
    choices: choices && choices.length ? choices.map((c) => (typeof c === "object" ? c : {value: c, label: String(c)})) : null,
    restart: !!(p.restart || p.json_schema_extra?.restart || p.live === false), default: p.default,
    // Caps that depend on the kind of data (schema: `maximum` for 2D, `maximum_images`).
    maxPoints: p.maximum, maxImages: p.maximum_images,
  };
}

export class Controls {
  /** onRefuse(f, text, why): a value the page refuses before sending (out of range, not a number). */
  constructor(root, fields, onChange, onRefuse = () => {}) {
    this.root = root;
    this.fields = fields.filter((f) => !HIDDEN.has(f.path));
    this.onChange = onChange;
    this.onRefuse = onRefuse;
    this.inputs = {};
    this.values = {};           // the values in force (the server's), shown again after a refusal
    root.innerHTML = "";
    const used = new Set();
    for (const [name, re] of GROUPS) {
      const group = this.fields.filter((f) => !used.has(f.path) && re.test(f.path));
      if (!group.length) continue;
      group.forEach((f) => used.add(f.path));
      const box = document.createElement(name === "Advanced" ? "details" : "fieldset");
      box.className = "group";
      box.innerHTML = name === "Advanced" ? `<summary>${name}</summary>` : `<legend>${name}</legend>`;
      for (const f of group) box.appendChild(this.build(f));
      root.appendChild(box);
    }
  }

  build(f) {
    const wrap = document.createElement("div");
    wrap.className = "field" + (f.restart ? " restart" : "");
    const leaf = f.path.split(".").pop();
    // The two optimizers share leaf names (lr, beta1, ...): say whose each one is.
    const who = f.path.startsWith("g_optimizer.") ? "G " : f.path.startsWith("d_optimizer.") ? "D " : "";
    const label = document.createElement("label");
    label.htmlFor = fieldId(f.path);
    label.textContent = who + (LABELS[leaf] || f.title || leaf);
    label.title = `${f.path}: ${f.description}`;
    if (f.restart) label.insertAdjacentHTML("beforeend", ' <span class="badge" title="Changing this restarts training">&#x21BB;</span>');
    let input;
    if (f.choices) {
      input = document.createElement("select");
      for (const c of f.choices) input.add(new Option(c.label ?? String(c.value), String(c.value)));
    } else if (f.type === "boolean") {
      input = document.createElement("input");
      input.type = "checkbox";
    } else if (leaf === "lr") {
      input = document.createElement("select"); // GAN Lab's log-spaced choices; others are kept if set
      for (const v of LR_STOPS) input.add(new Option(String(v), String(v)));
    } else {
      input = document.createElement("input");
      input.type = "number";
      if (f.min !== undefined) input.min = f.exclusiveMin ? "" : f.min;
      if (f.max !== undefined) input.max = f.max;
      input.step = f.type === "integer" ? "1" : "any";
    }
    input.id = fieldId(f.path);
    input.dataset.path = f.path;
    input.addEventListener("change", () => {
      const v = this.read(f, input);
      if (v === undefined) {
        const text = input.value;
        this.refuse(f.path, `${text === "" ? "an empty value" : text} refused: ${this.allowed(f)}`);
        this.onRefuse(f, text, this.inputs[f.path].reason.textContent);
        return;
      }
      input.classList.remove("invalid");
      this.onChange(f, v);
    });
    const reason = document.createElement("small");
    reason.className = "reason";
    reason.id = `${fieldId(f.path)}-reason`;
    reason.hidden = true;
    reason.style.cssText = "grid-column: 1 / -1; color: #8a1c13; font-size: 12px;";
    this.inputs[f.path] = {f, input, wrap, reason};
    const range = f.choices || leaf === "lr" ? "" : rangeText(f);
    wrap.append(label, input);
    if (range) wrap.insertAdjacentHTML("beforeend", `<small class="range">${range}</small>`);
    wrap.append(reason);
    return wrap;
  }

  /** Image data allow wider networks and more noise dimensions than 2D data: the fields whose
   * schema entry has `maximum_images` take that cap while the data is an image set. */
  setKind(images) {
    for (const {f, input, wrap} of Object.values(this.inputs)) {
      if (f.maxImages === undefined) continue;
      f.max = images ? f.maxImages : f.maxPoints;
      input.max = f.max;
      const r = wrap.querySelector(".range");
      if (r) r.textContent = rangeText(f);
    }
  }

  /** What the field accepts, in words. */
  allowed(f) {
    if (f.choices) return `choose one of ${f.choices.map((c) => c.value).join(", ")}`;
    const kind = f.type === "integer" ? "a whole number" : "a number";
    const lo = f.min === undefined ? "" : f.exclusiveMin ? ` > ${f.min}` : ` ≥ ${f.min}`;
    const hi = f.max === undefined ? "" : `${lo ? " and" : ""} ≤ ${f.max}`;
    return `must be ${kind}${lo}${hi}`;
  }

  /** Refused (by the page or the server): the reason beside the field, and the value in force
   * back in it. */
  refuse(path, why) {
    const c = this.inputs[path];
    if (!c) return;
    const now = this.values[path];
    c.reason.textContent = `${why}; ${now === undefined ? "unchanged" : `${JSON.stringify(now)} is in force`}`;
    c.reason.hidden = false;
    if (now !== undefined) this.set({[path]: now});
    this.mark(path, "error", c.reason.textContent);
  }

  read(f, input) {
    if (f.type === "boolean") return input.checked;
    if (f.choices) {
      const c = f.choices.find((x) => String(x.value) === input.value);
      return c ? c.value : undefined;
    }
    if (f.type === "string") return input.value;
    const v = Number(input.value);
    if (input.value === "" || !Number.isFinite(v)) return undefined;
    if (f.type === "integer" && !Number.isInteger(v)) return undefined;
    if (f.min !== undefined && (f.exclusiveMin ? v <= f.min : v < f.min)) return undefined;
    if (f.max !== undefined && v > f.max) return undefined;
    return v;
  }

  /** Show values (dotted path -> value) without firing change events. */
  set(values) {
    for (const [path, v] of Object.entries(values)) {
      const c = this.inputs[path];
      if (!c) continue;
      this.values[path] = v;
      const {input, f} = c;
      if (f.type === "boolean") input.checked = !!v;
      else {
        if (input.tagName === "SELECT" && ![...input.options].some((o) => o.value === String(v))) input.add(new Option(String(v), String(v)));
        input.value = String(v);
      }
      input.classList.remove("invalid");
    }
  }

  /** Mark a control as pending (restart), acknowledged or refused, for a moment. */
  mark(path, state, message = "") {
    const c = this.inputs[path];
    if (!c) return;
    c.wrap.dataset.state = state;
    c.wrap.title = message;
    if (state !== "error") c.reason.hidden = true;
    clearTimeout(c.timer);
    if (state === "acked") c.timer = setTimeout(() => { if (c.wrap.dataset.state === "acked") c.wrap.dataset.state = ""; }, 2500);
  }
}

function rangeText(f) {
  if (f.min === undefined && f.max === undefined) return "";
  const lo = f.min === undefined ? "" : f.exclusiveMin ? `>${f.min}` : f.min;
  return `${lo}–${f.max ?? ""}`;
}

/** The distribution picker: one button per distribution, with an icon drawn from its samples. */
export class Picker {
  constructor(root, distributions, onPick) {
    this.root = root;
    this.buttons = {};
    this.onPick = onPick;
    root.innerHTML = "";
    for (const d of distributions) this.add(d);
  }

  /** A button for distribution `d` (also for an image set uploaded later). */
  add(d) {
    const root = this.root, onPick = this.onPick;
    this.buttons[d.name]?.b.remove();
    const b = document.createElement("button");
    b.className = "dist";
    b.id = `data-${d.name}`;
    b.title = d.description || d.label || d.name;
    b.dataset.name = d.name;
    const c = document.createElement("canvas");
    c.width = c.height = 96;
    b.appendChild(c);
    b.insertAdjacentHTML("beforeend", `<span>${escapeHtml(d.label || d.name)}</span>`);
    b.addEventListener("click", () => onPick(d.name));
    root.appendChild(b);
    this.buttons[d.name] = {b, c};
    const pts = d.preview || d.samples || cachedIcon(d.name);
    if (d.kind === "images") {
      // Image sets: four real images from the schema; a set that is not installed says why.
      drawDigits(c, d.preview_images, d.image_shape);
      this.buttons[d.name].preset = true;
      if (!d.available) { b.disabled = true; b.classList.add("unavailable"); b.title = d.unavailable || "not available"; }
    } else if (d.name === "drawn") drawPencil(c);
    else if (d.name === "points") drawUpload(c);
    else if (Array.isArray(pts) && pts.length) { drawIcon(c, pts); this.buttons[d.name].preset = true; }
    else drawUnknown(c);
  }

  select(name) { for (const [n, {b}] of Object.entries(this.buttons)) b.classList.toggle("selected", n === name); }

  /** Distributions whose icon still needs samples. */
  missing() { return Object.entries(this.buttons).filter(([n, x]) => !x.done && !x.preset && n !== "drawn" && n !== "points").map(([n]) => n); }

  /** Draw an icon from the live real samples of a distribution (when the schema has no preview)
   * and remember them, so that each icon shows its distribution once it has been seen. */
  icon(name, points) {
    const x = this.buttons[name];
    if (!x || x.done || name === "drawn" || name === "points") return;
    const pts = [];
    for (let i = 0; i < Math.min(points.length / 2, 300); i++) pts.push([+points[2 * i].toFixed(3), +points[2 * i + 1].toFixed(3)]);
    drawIcon(x.c, pts);
    x.done = true;
    try { localStorage.setItem(`ganlab.icon.${name}`, JSON.stringify(pts)); } catch { /* storage full or off */ }
  }
}

function drawIcon(c, pts) {
  const ctx = c.getContext("2d"), w = c.width;
  ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, w, w);
  ctx.fillStyle = "rgba(0,136,55,0.55)";
  const n = pts.length / (Array.isArray(pts[0]) ? 1 : 2);
  for (let i = 0; i < Math.min(n, 600); i++) {
    const [x, y] = Array.isArray(pts[0]) ? pts[i] : [pts[2 * i], pts[2 * i + 1]];
    ctx.beginPath(); ctx.arc(x * w, (1 - y) * w, 2.2, 0, 6.2832); ctx.fill();
  }
}

/** Up to four images (rows of h*w uint8 values, 0 = background) in a 2 x 2 grid, ink on white. */
function drawDigits(c, images, shape) {
  const ctx = c.getContext("2d"), w = c.width;
  ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, w, w);
  if (!Array.isArray(images) || !shape) return;
  const [ih, iw] = shape, cell = w / 2;
  images.slice(0, 4).forEach((img, k) => {
    const ox = (k % 2) * cell, oy = Math.floor(k / 2) * cell, s = cell / Math.max(ih, iw);
    for (let i = 0; i < ih; i++) {
      for (let j = 0; j < iw; j++) {
        const v = img[i * iw + j];
        if (!v) continue;
        const g = 255 - v;
        ctx.fillStyle = `rgb(${g},${g},${g})`;
        ctx.fillRect(ox + j * s, oy + i * s, s + 0.5, s + 0.5);
      }
    }
  });
}

function cachedIcon(name) {
  try { return JSON.parse(localStorage.getItem(`ganlab.icon.${name}`) || "null"); } catch { return null; }
}

/** Not seen yet: a faint dotted square, replaced by the real samples once the data is loaded. */
function drawUnknown(c) {
  const ctx = c.getContext("2d"), w = c.width;
  ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, w, w);
  ctx.fillStyle = "rgba(0,136,55,0.25)";
  for (let i = 1; i < 8; i++) for (let j = 1; j < 8; j++) ctx.fillRect(i * w / 8 - 1.5, j * w / 8 - 1.5, 3, 3);
}

function drawPencil(c) {
  const ctx = c.getContext("2d"), w = c.width;
  ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, w, w);
  ctx.strokeStyle = "rgba(0,136,55,0.7)"; ctx.lineWidth = 6; ctx.lineCap = "round";
  ctx.beginPath(); ctx.moveTo(16, 70); ctx.bezierCurveTo(30, 10, 55, 95, 80, 26); ctx.stroke();
}

function drawUpload(c) {
  const ctx = c.getContext("2d"), w = c.width;
  ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, w, w);
  ctx.strokeStyle = "#888"; ctx.lineWidth = 5; ctx.lineCap = "round";
  ctx.beginPath(); ctx.moveTo(48, 70); ctx.lineTo(48, 26); ctx.moveTo(32, 42); ctx.lineTo(48, 26); ctx.lineTo(64, 42);
  ctx.moveTo(24, 78); ctx.lineTo(72, 78); ctx.stroke();
}

export function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
}

/** Icons drawn from the distributions themselves: a short-lived second session (public protocol
 * only) switches through the distributions not yet cached and takes 300 real samples of each;
 * the user's session is untouched. Runs once per browser (icons are kept in localStorage). */
export function loadPreviews(url, names, onIcon) {
  if (!names.length) return;
  const ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  let i = -1, acked = false, framed = false;
  const next = () => {
    i += 1;
    acked = framed = false;
    if (i >= names.length) { ws.close(1000); return; }
    ws.send(JSON.stringify({type: "data", id: `icon-${i}`, name: names[i]}));
  };
  ws.onmessage = (ev) => {
    if (typeof ev.data !== "string") {
      // Only a frame that follows the ack shows the new distribution.
      if (!acked || !framed) return;
      const {layers} = parseBinary(ev.data);
      if (layers.real) onIcon(names[i], layers.real.data);
      next();
      return;
    }
    const m = JSON.parse(ev.data);
    if (m.type === "hello") ws.send(JSON.stringify({type: "view", id: "view", layers: ["real"], samples: 300, fps: 60}));
    else if (m.type === "ack" && m.id === "view") next();
    else if (m.type === "ack" && m.id === `icon-${i}`) acked = true;
    else if (m.type === "error") next(); // a distribution that needs parameters keeps its placeholder
    else if (m.type === "frame") framed = acked;
  };
  ws.onerror = () => {};
}

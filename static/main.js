// Glue: loads the schema, builds the views and controls, keeps the URL hash in step with the
// experiment, and turns clicks, keys and server messages into updates of the views.

import {Session, socketUrl} from "./socket.js";
import {State, SETTINGS, LAYERS, SPEEDS, DEFAULT_SPEED, addConfigFields, quantise} from "./state.js";
import {DataView} from "./dataview.js";
import {Graph, STAGES} from "./graph.js";
import {Charts} from "./charts.js";
import {Controls, Picker, normaliseSchema, flatten, loadPreviews} from "./controls.js";
import {Drawing} from "./draw.js";
import {Experiment, REPLAY_SETTINGS, MAX_EDITS, MAX_LINK, configDiff} from "./replay.js";
import {Presenter, trackHeader} from "./presenter.js";
import {Hints} from "./hints.js";
import {MixtureEditor} from "./mixture.js";
import {TrainedButton} from "./trained.js";
import {DigitsView, IMAGE_LAYERS, paintGraphThumbs, shapes} from "./digits.js";
import {RecordControl} from "./record.js";

const $ = (id) => document.getElementById(id);
const USER_DATA = new Set(["drawn", "points"]);   // distributions whose data lives in the page
const THUMB_LAYERS = ["real", "fake", "heatmap", "noise", "manifold"]; // the graph always needs these
const STAGE_SECONDS = [0.3, 0.75, 1.5, 3];
const IMAGE_FPS = 20; // frames per second the page asks for on image data

const app = window.ganlab = {
  state: new State(), session: null, running: false, slowmo: false, stage: null,
  server: {}, pending: {}, fields: [], dists: [], frames: 0,
  counts: {epoch: 0, d_steps: 0, g_steps: 0}, exp: new Experiment(),
};

// Opened by Jupyter's sign-in link (`<jupyter>/ganlab/?token=...`), the page was served after
// Jupyter set its sign-in cookie: the token, a key to the user's whole Jupyter, leaves the
// address so that no Link, bookmark or shared screen carries it.
{
  const url = new URL(location.href);
  if (url.searchParams.has("token")) {
    url.searchParams.delete("token");
    history.replaceState(null, "", url.href);
  }
}
const {state} = app;

// --- views ---------------------------------------------------------------------------------------
const dv = app.dataView = new DataView($("data-view"), $("data-tooltip"));
const charts = app.charts = new Charts(
  {loss: $("chart-loss"), div: $("chart-div"), modes: $("chart-modes")},
  {loss: $("legend-loss"), div: $("legend-div"), modes: $("legend-modes")});
const graph = app.graph = new Graph($("model-graph"), {
  onToggle: (layer, on) => toggleLayer(layer, on),
  onGeneratorHover: (on) => animateManifold(on),
});
const drawing = app.drawing = new Drawing($("data-view"), (e) => dv.toUnit(e), sendDrawing, () => { dv.dirty = true; });
dv.strokes = () => drawing.strokes;

// Image data (digits): sample grids, latent walk, D's histograms and gradients, class histogram.
const digits = app.digits = new DigitsView($("digits"), {onReroll: rerollWalk});
app.walk = {walk_seed: 0, walk_class: 0};
/** The latent walk's ends, drawn anew (and, for a conditional G, another class to write). */
function rerollWalk() {
  app.walk = {walk_seed: Math.floor(Math.random() * 2 ** 31), walk_class: Math.floor(Math.random() * (app.classes || 10))};
  if (app.session?.connected) ask("view", app.walk).catch(() => {});
}
/** Whether a distribution is an image set (the schema's `kind`). */
const isImageData = (name) => app.dists.find((d) => d.name === name)?.kind === "images" || /^upload-[0-9a-f]{12}$/.test(name);

const presenter = app.presenter = new Presenter($("presenter"));
trackHeader($("bar"));
const hints = app.hints = new Hints($("hints"));
// The Gaussian mixture is edited on the data view; each finished gesture sends the parameters.
const mixture = app.mixture = new MixtureEditor(dv, $("mixture-editor"), (params) =>
  sendData("mixture", params).then(() => say(`Mixture: ${params.means.length} component${params.means.length > 1 ? "s" : ""} applied`)).catch(() => mixture.sync(mixtureParams())));
/** The mixture's parameters in force ({} stands for the schema's defaults), or null. */
function mixtureParams() {
  if (app.server.data !== "mixture") return null;
  const p = app.server.data_params;
  return p && p.means ? p : app.dists.find((d) => d.name === "mixture")?.default_params ?? null;
}

// --- status line -----------------------------------------------------------------------------------
let statusTimer = 0;
function say(text, kind = "info") {
  const el = $("status");
  el.textContent = text;
  el.className = kind;
  clearTimeout(statusTimer);
  if (kind === "info") statusTimer = setTimeout(() => { el.textContent = ""; el.className = ""; }, 6000);
}

/** A passing message (kind "info") about an earlier action is stale once training moves on. */
function clearStale() {
  const el = $("status");
  if (el.className === "info") { el.textContent = ""; el.className = ""; }
}

function setConn(text, cls) {
  const c = $("conn"); c.textContent = text; c.className = `conn ${cls}`;
  // Offline: no rate, no running icon (the server is not training for this page now).
  const offline = cls === "bad";
  document.body.classList.toggle("offline", offline);
  if (offline) { setRunning(false); $("eps").textContent = "–"; }
}

// --- URL -----------------------------------------------------------------------------------------
function writeHash() {
  const h = linkState().toHash();
  history.replaceState(null, "", h ? `#${h}` : location.pathname + location.search);
}

/** The settings a link holds: the experiment's start config (not the current one) and page
 * settings, plus its live edits and the epoch now (docs/page.md, URL). */
function linkState() {
  const {exp} = app, s = new State();
  s.values = {...state.values, edits: [], at: null};
  if (exp.fromFile) return s; // loaded from a file: the link can only start this config afresh
  Object.assign(s.values, exp.start, {edits: exp.edits, at: app.counts.epoch || null});
  return s;
}

/** The start of a new experiment (epoch 0): its config, as the state holds it now. */
function startValues() {
  const out = {};
  for (const x of SETTINGS) if (x.kind === "config" || x.key === "pts" || x.key === "spread") out[x.key] = structuredClone(state.get(x.key));
  return out;
}

/** Training starts again from epoch 0 (reset, a restart, new data): charts, counters, link.
 * `run`: a stored run that this experiment continues (the Runs panel's "open"). */
function newExperiment(fromFile = false, run = null) {
  const wasReplaying = app.exp.replaying;
  app.exp.begin(startValues(), fromFile);
  app.recorder?.cancel("training started again");
  showReplay();
  if (wasReplaying) say("Replay stopped: training started again.");
  charts.clear();
  digits.clear();
  if (!fromFile) showCounts({epoch: 0, d_steps: 0, g_steps: 0});
  writeHash();
  // Every experiment is a run (runs/recorder.js): its start state is asked for at once.
  if (run) { app.runs.recorder.adopt(run); return; }
  app.runs.recorder.begin({epoch: app.counts.epoch});
  if (app.session?.connected) app.session.refreshSnapshot().catch(() => {});
}

const nothingTrained = () => !app.counts.epoch && !app.counts.d_steps && !app.counts.g_steps;

/** A change that did not restart: before any training it is part of the start config; after,
 * a live edit at this epoch, which the link replays at the same epoch. */
function recordEdit(edit) {
  const {exp} = app;
  if (nothingTrained() && !exp.edits.length && !edit.step) {
    app.runs.recorder.onStartChanged();
    if (!exp.fromFile) { exp.start = startValues(); writeHash(); }
    return;
  }
  if (exp.replaying) cancelReplay(app.runs.recorder.retrace ? "your change branches off the rewound run" : "your change departs from the link");
  app.runs.recorder.onEdit(edit); // the run's record of it (a change after a rewind: a branch)
  exp.edits.push(edit);
  if (exp.fromFile) return; // a state file: the link cannot replay it
  if (exp.edits.length === MAX_EDITS + 1) offerSave(`More than ${MAX_EDITS} live edits: a link can no longer replay this experiment.`);
  writeHash();
}

/** Take the server's config (from hello or an ack) as the truth: controls, state, URL. */
function adoptConfig(config) {
  app.server = flatten(config);
  for (const [k, v] of Object.entries(app.server)) {
    if (!SETTINGS.some((s) => s.key === k)) continue;
    // Drawn / uploaded points live compressed in "pts"; do not write them twice.
    state.set(k, k === "data_params" && USER_DATA.has(app.server.data) ? {} : v);
  }
  app.controls?.set(app.server);
  for (const p of Object.keys(app.pending)) if (app.server[p] === app.pending[p]) delete app.pending[p];
  showPending();
  // An empty drawing is page state only: the server keeps the previous distribution meanwhile.
  const drawMode = app.server.data === "drawn" || !!app.emptyDrawing;
  if (app.emptyDrawing) state.set("data", "drawn");
  app.picker?.select(drawMode ? "drawn" : app.server.data);
  const userData = USER_DATA.has(app.server.data);
  drawing.setEnabled(drawMode);
  dv.showStrokes = drawMode;
  $("draw-tools").hidden = !drawMode;
  if (!userData) state.set("pts", []);
  // Distributions with parameters (e.g. the Gaussian mixture) get a small JSON editor.
  const dist = app.dists.find((d) => d.name === app.server.data);
  $("data-params-box").hidden = userData || !dist?.takes_params;
  if (document.activeElement !== $("data-params")) $("data-params").value = JSON.stringify(app.server.data_params || {});
  mixture.sync(mixtureParams());
  app.trained?.show(dist);
  showImageMode(isImageData(app.server.data), dist);
  writeHash();
}

const VIEW_TEXT = {title: $("view-title").textContent, explain: $("view-explain").innerHTML};
const IMAGE_TEXT = {title: "Digits: samples and what D thinks",
  explain: "Left: G's images for the same 64 noise vectors every frame (with the conditional option one row per class), beside real images: they start as grey fog and sharpen as G learns. Latent walk: G along a straight and a spherical path between two noise vectors; click it for new ends. What D thinks: histograms of D's output on real (green) and fake (purple) images, the image analogue of the heatmap, and dD/dx on the first fakes: green pixels would look more real with more ink, purple with less, which is where G is pushed. Classes: a small classifier trained on the real data sorts 500 fakes; a class is captured when G writes it confidently at a tenth of its fair share (a GAN that writes only 1s shows one bar). FD is the Frechet distance on the classifier's features, dashed its floor: real images against real images at the same sample size."};

/** Image data shows the digits views instead of the 2D data view; snapshots go binary. */
function showImageMode(on, dist) {
  const was = !!app.imageMode;
  const text = on ? IMAGE_TEXT : VIEW_TEXT;
  $("view-title").textContent = text.title;
  $("view-explain").innerHTML = text.explain;
  app.imageMode = on;
  document.body.classList.toggle("images", on);
  $("digits").hidden = !on;
  charts.setKind(on ? "images" : "points");
  app.controls?.setKind(on);
  if (app.session) app.session.binarySnapshots = on;
  if (on) {
    digits.classNames = dist?.classes || null;
    app.classes = dist?.classes?.length || app.lastMeta?.classes || 10;
    const shape = dist?.image_shape || app.lastMeta?.image;
    graph.setShapes(shapes(app.server, shape ? shape[0] * shape[1] : "?", app.classes));
  } else graph.setShapes(null);
  showImagePresets(on ? dist?.presets : null);
  if (on !== was) sendView();
}

const PRESET_LABELS = {recommended: ["Recommended settings", "The settings that capture every class on this set (measured)"],
  collapse: ["Settings that collapse", "For teaching: G's learning rate far above D's, so G writes only a few classes (watch the class histogram)"]};
/** The image set's named presets as buttons: each loads its settings (and restarts). */
function showImagePresets(presets) {
  const box = $("image-presets");
  const names = Object.keys(presets || {});
  box.hidden = !names.length;
  box.innerHTML = names.length ? '<span class="muted">Load:</span> ' : "";
  for (const name of names) {
    const [label, title] = PRESET_LABELS[name] || [name, ""];
    const b = document.createElement("button");
    b.id = `preset-${name}`;
    b.textContent = label;
    b.title = title;
    b.addEventListener("click", () => sendConfig(flatten(presets[name])));
    box.appendChild(b);
  }
}

$("data-params-apply").addEventListener("click", () => {
  let params;
  try { params = JSON.parse($("data-params").value || "{}"); } catch (e) { say(`parameters: ${e.message}`, "error"); return; }
  sendData(app.server.data, params).then(() => say(`Parameters of ${app.server.data} applied`)).catch(() => {});
});

// --- requests --------------------------------------------------------------------------------------
async function ask(type, fields = {}) {
  try {
    return await app.session.request(type, fields);
  } catch (e) {
    if (e.code !== "disconnected") say(e.message.startsWith(`${type}`) ? e.message : `${type}: ${e.message}`, "error");
    throw e;
  }
}

let snapTimer = 0;
/** Keep a fresh snapshot for reconnection (debounced: many acks come in bursts). */
function refreshSnapshotSoon() {
  clearTimeout(snapTimer);
  snapTimer = setTimeout(() => app.session.connected && app.session.refreshSnapshot().catch(() => {}), 300);
}
setInterval(() => { if (app.running && app.session?.connected) app.session.refreshSnapshot().catch(() => {}); }, 5000);

function showCounts(m) {
  if (m.epoch === undefined) return;
  app.counts.epoch = m.epoch;
  $("epoch").textContent = String(m.epoch);
  if (m.d_steps !== undefined) {
    app.counts.d_steps = m.d_steps; app.counts.g_steps = m.g_steps;
    $("updates").textContent = `D ${m.d_steps} · G ${m.g_steps}`;
  }
}

function setRunning(on) {
  if (app.running === on) return;
  app.running = on;
  document.body.classList.toggle("running", on);
  $("play").setAttribute("aria-pressed", String(on));
  $("play").setAttribute("aria-label", on ? "Pause" : "Run");
  graph.setRunning(on);
}

async function play() { if (needData()) return; clearStale(); const a = await ask("play"); setRunning(!!a.running); }
async function pause() {
  const a = await ask("pause");
  setRunning(!!a.running);
  showCounts(a);
  // The ack may be all that tells the stop: no frame follows when the last one, built while
  // running, already showed this epoch. The run's snapshot and thumbnail where it stopped.
  if (!a.running) app.runs.recorder.onStopped(a.epoch);
  writeHash();
  refreshSnapshotSoon();
}
async function togglePlay() { return app.running ? pause() : play(); }

let queued = 0; // step requests sent and not answered yet: every press is one update or epoch
function showQueue() {
  const el = $("status"), waiting = queued - 1;
  if (waiting > 0) say(`Stepping: ${waiting} more step${waiting > 1 ? "s" : ""} queued (every press is one).`, "sticky");
  else if (el.textContent.startsWith("Stepping:")) { el.textContent = ""; el.className = ""; }
}

async function step(mode) {
  if (needData()) return;
  clearStale();
  queued++;
  showQueue();
  let a;
  try { a = await ask("step", {mode}); } finally { queued--; showQueue(); }
  setRunning(false);
  // A single D or G update changes what follows: the link replays it at this epoch.
  if (mode !== "both") recordEdit({epoch: a.epoch, step: mode});
  showCounts(a);
  writeHash();
  refreshSnapshotSoon();
}

async function reset() {
  await ask("reset");
  newExperiment();
  say("Reset to epoch 0" + (app.server.data === "drawn" ? " (your drawing is kept)" : ""));
  refreshSnapshotSoon();
}

async function sendConfig(changes) {
  const paths = Object.keys(changes);
  try {
    const before = app.server;
    const a = await ask("config", {changes});
    adoptConfig(a.config);
    for (const p of paths) app.controls.mark(p, "acked", "applied");
    if (a.restarted) newExperiment();
    else {
      const diff = configDiff(before, app.server);
      if (Object.keys(diff).length) recordEdit({epoch: a.epoch, changes: diff});
    }
    const notes = (a.notes || []).join("; ");
    say(`${paths.map((p) => `${p} = ${JSON.stringify(changes[p])}`).join(", ")} ✓${notes ? ` — ${notes}` : ""}`);
    refreshSnapshotSoon();
  } catch (e) {
    app.controls.set(app.server); // back to what the server has, and the reason beside each field
    for (const p of paths) app.controls.refuse(p, e.message);
  }
}

/** Change the data. New data starts a new experiment (epoch 0, charts cleared) unless "keep the
 * networks" is ticked: then it is a live edit and training goes on. */
async function sendData(name, params, applyPreset = false) {
  const fields = {name, apply_preset: applyPreset, keep: $("keep-networks").checked};
  if (params) fields.params = params;
  const before = app.server;
  const a = await ask("data", fields);
  adoptConfig(a.config);
  if (a.restarted) newExperiment();
  else if (before.data !== name || JSON.stringify(before.data_params) !== JSON.stringify(app.server.data_params)) {
    recordEdit({epoch: a.epoch, changes: {...configDiff(before, app.server), data: name, data_params: params || {}}});
  }
  if (a.notes?.length) say(a.notes.join("; "));
  refreshSnapshotSoon();
  return a;
}

// --- controls ------------------------------------------------------------------------------------
function onControl(f, v) {
  if (f.restart) {
    if (app.server[f.path] === v) delete app.pending[f.path];
    else app.pending[f.path] = v;
    showPending();
  } else {
    sendConfig({[f.path]: v});
  }
}

/** Restart-needed changes wait in a bar that says so until the user applies or cancels them. */
function showPending() {
  const keys = Object.keys(app.pending);
  $("restart-bar").hidden = !keys.length;
  for (const {wrap} of Object.values(app.controls?.inputs || {})) if (wrap.dataset.state === "pending") wrap.dataset.state = "";
  for (const k of keys) app.controls?.mark(k, "pending", "restart needed");
  $("restart-text").textContent = keys.length
    ? `Restart needed: ${keys.map((k) => `${k} ${JSON.stringify(app.server[k])} → ${JSON.stringify(app.pending[k])}`).join(", ")}. Training will start again from epoch 0.`
    : "";
}

$("restart-apply").addEventListener("click", () => { const ch = app.pending; app.pending = {}; showPending(); sendConfig(ch); });
$("restart-cancel").addEventListener("click", () => { app.pending = {}; showPending(); app.controls.set(app.server); });

function pickDistribution(name) {
  if (name === "points") return $("file-points").click();
  if (name === "drawn") {
    app.picker.select("drawn");
    drawing.setEnabled(true);
    dv.showStrokes = true;
    $("draw-tools").hidden = false;
    if (drawing.strokes.length) sendDrawing();
    else showEmptyDrawing(true);
    return;
  }
  showEmptyDrawing(false);
  state.set("pts", []);
  sendData(name, null, $("apply-preset").checked).catch(() => {});
}

/** Drawing mode without a stroke: the server still holds the previous distribution, so the view
 * shows an empty canvas with a hint (not the old samples), and play / step wait for a shape. */
function showEmptyDrawing(on) {
  app.emptyDrawing = on;
  $("draw-hint").hidden = !on;
  showLayers();
  graph.update(graphLayers(), app.lastMeta?.losses || {}, true);
  if (on) {
    if (app.running) pause().catch(() => {});
    if (!$("keep-networks").checked) {
      // The first stroke starts a new experiment: the old data's curves and numbers, and a view
      // widened for its fakes, mean nothing for a drawing (drawn in the unit square).
      charts.clear();
      dv.auto.reset();
      dv.onExtent?.(dv.target());
    }
    state.set("data", "drawn");
    state.set("pts", []);
    Object.assign(app.exp.start, {data: "drawn", data_params: {}, pts: []}); // the link: an empty drawing
    writeHash();
    say("Draw a shape on the data view (mouse, pen or finger): it becomes the real data.", "sticky");
  }
}

/** The graph's thumbnails: no real samples while the drawing is empty (the server's are stale). */
const NO_POINTS = {rows: 0, cols: 2, data: new Float32Array(0)};
function graphLayers() { return app.emptyDrawing ? {...dv.layers, real: NO_POINTS} : dv.layers; }

/** Play and the step keys refuse to train while the drawing is empty, and say why. */
function needData() {
  if (!app.emptyDrawing) return false;
  say("Nothing to learn yet: draw a shape on the data view first.", "error");
  return true;
}

function sendDrawing() {
  dv.dirty = true;
  state.set("pts", drawing.strokes);
  if (!drawing.strokes.length) { showEmptyDrawing(true); return; }
  const spread = Number($("draw-spread").value);
  state.set("spread", spread);
  // Entering drawing mode is picking a distribution: with the box ticked it loads the drawing's
  // preset. Later strokes edit the data and keep the hyperparameters.
  const entering = app.server.data !== "drawn";
  sendData("drawn", {strokes: drawing.strokes, spread}, entering && $("apply-preset").checked)
    .then(() => { showEmptyDrawing(false); say(`Data: your drawing (${drawing.count()} points)`); })
    .catch(() => {});
}

$("draw-undo").addEventListener("click", () => drawing.undo());
$("draw-clear").addEventListener("click", () => drawing.clear());
$("draw-spread").addEventListener("change", () => { if (drawing.strokes.length) sendDrawing(); });

// --- layers --------------------------------------------------------------------------------------
function toggleLayer(layer, on) {
  const set = new Set(state.get("layers"));
  on ? set.add(layer) : set.delete(layer);
  state.set("layers", LAYERS.filter((l) => set.has(l)));
  showLayers();
  sendView();
  writeHash();
}

function showLayers() {
  const layers = state.get("layers");
  for (const l of LAYERS) $(`layer-${l}`).checked = layers.includes(l);
  graph.setChecked(layers);
  dv.setVisible(app.emptyDrawing ? [] : app.manifoldHover ? [...layers, "manifold"] : layers);
}

function sendView() {
  if (!app.session?.connected) return;
  const want = new Set([...state.get("layers"), ...THUMB_LAYERS]);
  if (app.slowmo) want.add("g_grad");
  // Image frames cost about a training update each (mostly G's passes): 20 a second are smooth
  // and leave the session's share to training; 2D frames keep the server's default rate.
  if (app.imageMode) {
    for (const l of IMAGE_LAYERS) want.add(l);
    ask("view", {layers: [...want], ...app.walk, fps: Math.min(IMAGE_FPS, app.defaultFps)}).catch(() => {});
    return;
  }
  ask("view", {layers: [...want], extent: dv.target(), fps: app.defaultFps}).catch(() => {});
}
// The view widened or narrowed (extent.js): the server grids the heatmap for the new extent.
dv.onExtent = (extent) => { if (app.session?.connected) ask("view", {extent}).catch(() => {}); };

for (const l of LAYERS) $(`layer-${l}`).addEventListener("change", (e) => toggleLayer(l, e.target.checked));

let manifoldAnim = 0;
/** Hovering the generator plays noise space -> data space over 2 s (GAN Lab's animation). */
function animateManifold(on) {
  app.manifoldHover = on;
  cancelAnimationFrame(manifoldAnim);
  showLayers();
  if (!on) { dv.manifoldT = 1; dv.dirty = true; return; }
  const t0 = performance.now();
  const frame = (now) => {
    const t = Math.min(1, (now - t0) / 2000);
    dv.manifoldT = t < 0.5 ? 2 * t * t : 1 - (-2 * t + 2) ** 2 / 2; // ease in-out
    dv.dirty = true;
    if (t < 1 && app.manifoldHover) manifoldAnim = requestAnimationFrame(frame);
  };
  manifoldAnim = requestAnimationFrame(frame);
}

// --- speed and slow motion ----------------------------------------------------------------------------
function speedIndex(v) { const i = SPEEDS.indexOf(v); return i < 0 ? SPEEDS.length - 1 : i; }
function showSpeed() {
  const v = state.get("speed");
  $("speed").value = String(speedIndex(v));
  $("speed-label").textContent = v === null ? "max" : `${v}/s`;
  $("speed-max").setAttribute("aria-pressed", String(v === null));
}
// "max" is one click away from the class pace, and one click back.
$("speed-max").addEventListener("click", () => {
  state.set("speed", state.get("speed") === null ? app.lastPace ?? DEFAULT_SPEED : (app.lastPace = state.get("speed"), null));
  showSpeed(); writeHash(); sendSpeed();
});
function sendSpeed() { if (app.session?.connected) ask("speed", {epochs_per_sec: state.get("speed")}).catch(() => {}); }
$("speed").addEventListener("input", () => { state.set("speed", SPEEDS[Number($("speed").value)]); showSpeed(); writeHash(); sendSpeed(); });
function nudgeSpeed(d) {
  const i = Math.min(SPEEDS.length - 1, Math.max(0, speedIndex(state.get("speed")) + d));
  state.set("speed", SPEEDS[i]); showSpeed(); writeHash(); sendSpeed();
}

async function setSlowmo(on) {
  const a = await ask("slowmo", {on, stage_seconds: state.get("stage_seconds")});
  app.slowmo = a.slowmo === undefined ? on : !!(a.slowmo.on ?? a.slowmo);
  $("slowmo").setAttribute("aria-pressed", String(app.slowmo));
  $("stage-seconds-wrap").hidden = !app.slowmo;
  if (!app.slowmo) { app.stage = null; graph.setStage(null); dv.emphasis = null; dv.dirty = true; }
  else say("Slow motion: press run to walk through the ten stages of each epoch.");
  sendView();
}
$("slowmo").addEventListener("click", () => setSlowmo(!app.slowmo).catch(() => {}));

// A small select for the stage duration, shown next to the slow-motion button while it is on.
$("slowmo").insertAdjacentHTML("afterend", `<label id="stage-seconds-wrap" class="muted" hidden title="Seconds per stage">
  <select id="stage-seconds">${STAGE_SECONDS.map((s) => `<option value="${s}">${s} s</option>`).join("")}</select></label>`);
$("stage-seconds").addEventListener("change", () => {
  state.set("stage_seconds", Number($("stage-seconds").value));
  writeHash();
  if (app.slowmo) setSlowmo(true).catch(() => {});
});

// --- buttons and keys ----------------------------------------------------------------------------
const guard = (f) => () => { f().catch(() => {}); };
$("play").addEventListener("click", guard(togglePlay));
$("reset").addEventListener("click", guard(reset));
$("step-both").addEventListener("click", guard(() => step("both")));
$("step-generator").addEventListener("click", guard(() => step("generator")));
$("step-discriminator").addEventListener("click", guard(() => step("discriminator")));

function help(show) { $("help").hidden = !show; if (show) $("help-close").focus(); }
$("help-button").addEventListener("click", () => help(true));
$("help-close").addEventListener("click", () => help(false));
$("help").addEventListener("click", (e) => { if (e.target === $("help")) help(false); });

for (const b of document.querySelectorAll("button.info")) {
  b.addEventListener("click", () => { const p = b.parentElement.nextElementSibling; p.hidden = !p.hidden; b.setAttribute("aria-expanded", String(!p.hidden)); });
}

document.addEventListener("keydown", (e) => {
  if (e.key === "Escape") { help(false); return; }
  const t = e.target;
  if (e.ctrlKey || e.metaKey || e.altKey || (t && /^(INPUT|SELECT|TEXTAREA)$/.test(t.tagName) && t.type !== "checkbox")) return;
  const keys = {
    " ": togglePlay, s: () => step("both"), g: () => step("generator"), d: () => step("discriminator"),
    r: reset, m: () => setSlowmo(!app.slowmo), "?": async () => help($("help").hidden),
    "+": async () => nudgeSpeed(1), "=": async () => nudgeSpeed(1), "-": async () => nudgeSpeed(-1),
    u: async () => drawing.undo(), p: async () => presenter.toggle(),
  };
  let f = keys[e.key];
  if (!f && /^[1-7]$/.test(e.key)) { const l = LAYERS[Number(e.key) - 1]; f = async () => toggleLayer(l, !state.get("layers").includes(l)); }
  if (!f) return;
  e.preventDefault();
  if (t && t.blur && t.tagName === "BUTTON") t.blur(); // space must not also click a focused button
  f().catch(() => {});
});

// --- files ---------------------------------------------------------------------------------------
function download(name, blob) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}
const stamp = () => `${app.server.data || "ganlab"}-epoch${$("epoch").textContent}`;

$("save-state").addEventListener("click", guard(async () => {
  const snap = await app.session.refreshSnapshot();
  if (snap instanceof ArrayBuffer) { // an image model: the binary snapshot as it is (megabytes)
    download(`ganlab-${stamp()}.ganlab`, new Blob([snap], {type: "application/octet-stream"}));
    say(`State saved (${(snap.byteLength / 1048576).toFixed(1)} MB: config, weights, optimizer state, random streams).`);
    return;
  }
  const file = {...snap, page: {hash: state.toHash()}};
  download(`ganlab-${stamp()}.json`, new Blob([JSON.stringify(file)], {type: "application/json"}));
  say("State saved (config, weights, optimizer state, random streams).");
}));
$("load-state").addEventListener("click", () => $("file-state").click());
$("file-state").addEventListener("change", guard(async () => {
  const f = $("file-state").files[0];
  $("file-state").value = "";
  if (!f) return;
  let snap;
  const head = new Uint8Array(await f.slice(0, 1).arrayBuffer());
  if (head.length && head[0] !== 0x7b && head[0] > 0x20) { // not "{" nor white space: a binary snapshot
    await restoreState(await f.arrayBuffer(), f.name);
    return;
  }
  try { snap = JSON.parse(await f.text()); } catch { say(`${f.name} is neither a JSON nor a binary ganlab state`, "error"); return; }
  const page = snap.page;
  delete snap.page;
  if (page?.hash) { // page-side settings (layers, speed, drawing) saved with the state
    state.fromHash(page.hash);
    drawing.set(state.get("pts"));
    showLayers(); showSpeed(); sendView(); sendSpeed();
  }
  await restoreState(snap, f.name);
}));

/** Restore a snapshot (a saved file, a trained state) through the `restore` message. */
async function restoreState(snap, label) {
  let a;
  try { a = await app.session.restore(snap); } catch (e) {
    if (e.code !== "disconnected") say(`restore: ${e.message}`, "error");
    throw e;
  }
  app.session.snapshot = snap;
  adoptConfig(a.config);
  showCounts({epoch: a.epoch, d_steps: a.d_steps ?? snap.d_steps ?? 0, g_steps: a.g_steps ?? snap.g_steps ?? 0});
  newExperiment(a.epoch > 0); // past epoch 0 the link cannot rebuild these weights: the file can
  say(`Loaded ${label} at epoch ${a.epoch}`);
}
const trained = app.trained = new TrainedButton($("load-trained"), restoreState, say);

$("export-png").addEventListener("click", guard(async () => {
  const c = charts, bits = (k) => (c.latest(k) == null ? null : `${c.latest(k).toFixed(3)} bits`);
  const metrics = [["KL", bits("kl")], ["KL floor", bits("kl_floor")], ["JS", bits("js")], ["JS floor", bits("js_floor")],
    ["modes", c.latest("modes_total") == null ? null : `${c.latest("modes_captured")}/${c.latest("modes_total")}`],
    ["high quality", c.latest("high_quality") == null ? null : `${c.latest("high_quality").toFixed(0)}%`]].filter((m) => m[1] !== null);
  const {exportPNG} = await import("./export.js"); // on first use: keeps the first load small
  const blob = await exportPNG($("data-view"), {
    epoch: $("epoch").textContent, updates: $("updates").textContent, config: app.server, metrics,
    dist: app.dists.find((d) => d.name === app.server.data)?.label ?? app.server.data,
    layers: [...dv.visible], wide: dv.extent.join() !== "0,0,1,1",
  });
  download(`ganlab-${stamp()}.png`, blob);
}));
app.recorder = new RecordControl($("record"), {
  session: () => app.session, edits: () => app.exp.edits, epoch: () => app.counts.epoch,
  canvas: () => (app.imageMode ? $("digit-fakes") : $("data-view")), name: () => `ganlab-${app.server.data || "ganlab"}`,
  say, download,
});
$("export-csv").addEventListener("click", () => download(`ganlab-${stamp()}-metrics.csv`, new Blob([charts.toCSV()], {type: "text/csv"})));
$("copy-link").addEventListener("click", async () => {
  writeHash();
  const {exp} = app;
  // A notebook's lab page (?lab=) links to the experiment, not to the lab: opened elsewhere, the
  // link must not become the lab's page that the notebook reads.
  const link = new URL(location.href);
  link.searchParams.delete("lab");
  const href = link.href;
  if (exp.fromFile) { offerSave("This experiment was loaded from a state file: a link would start its config from epoch 0 and cannot rebuild the weights."); return; }
  if (exp.edits.length > MAX_EDITS || href.length > MAX_LINK) {
    offerSave(`This experiment is too big for a link (${exp.edits.length} live edits, ${(href.length / 1024).toFixed(1)} kB; at most ${MAX_EDITS} edits and ${MAX_LINK / 1024} kB).`);
    return;
  }
  const what = app.counts.epoch ? ` up to epoch ${app.counts.epoch}` : "";
  const edits = exp.edits.length ? ` with its ${exp.edits.length} live edit${exp.edits.length > 1 ? "s" : ""}` : "";
  try { await navigator.clipboard.writeText(href); say(`Link copied: it replays this experiment${edits}${what}.`); }
  catch { say(`Link: ${href}`, "sticky"); }
});

/** Say why a link will not do, with a button that saves the state file instead. */
function offerSave(text) {
  say(`${text} Save the state to a file instead: `, "sticky");
  const b = document.createElement("button");
  b.textContent = "Save state";
  b.addEventListener("click", () => $("save-state").click());
  $("status").appendChild(b);
}

// --- link replay ---------------------------------------------------------------------------------

/** The "Replay to epoch E" button: shown while a link's schedule waits for its pause epoch. */
function showReplay() {
  const {exp} = app, b = $("replay");
  b.hidden = exp.pauseAt === null;
  if (!b.hidden) b.textContent = `Replay to epoch ${exp.pauseAt}`;
}

async function sendSchedule({edits, pause_at: pauseAt}) {
  const a = await ask("schedule", {edits, pause_at: pauseAt});
  app.exp.applied = 0;
  app.exp.appliedUpTo(a.applied);
  app.runs.recorder.onEditsApplied();
  app.exp.pauseAt = a.pause_at;
  adoptConfig(a.config);
  showReplay();
}

function cancelReplay(why) {
  const {exp} = app;
  exp.pending = [];
  exp.pauseAt = null;
  showReplay();
  ask("schedule", {edits: [], pause_at: null}).catch(() => {});
  say(`Replay stopped: ${why}.`);
}

$("replay").addEventListener("click", guard(async () => {
  // As fast as the server goes; the server pauses at the link's epoch and says so (status).
  await ask("speed", {epochs_per_sec: null});
  await play();
  say(`Replaying to epoch ${app.exp.pauseAt} at full speed…`, "sticky");
}));

function onScheduled(m) {
  app.exp.appliedUpTo(m.applied);
  app.runs.recorder.onEditsApplied();
  adoptConfig(m.config);
  showCounts(m);
}

/** The server reached the schedule's pause epoch: the page now shows what the link's maker saw. */
function onReplayed(m) {
  app.exp.pauseAt = null;
  showReplay();
  sendSpeed(); // back to the page's own pace
  writeHash();
  refreshSnapshotSoon();
  if (app.runs.recorder.retrace) say(`Back at epoch ${m.epoch}, where the run had got to: continued unchanged, it retraced the run exactly. Play goes on from here.`);
  else say(`Replayed to epoch ${m.epoch}: this is the state the link was copied at.`);
}
$("import-points").addEventListener("click", () => $("file-points").click());
$("file-points").addEventListener("change", guard(async () => {
  const f = $("file-points").files[0];
  $("file-points").value = "";
  if (!f) return;
  // The server's parser (the CLI's): the same rules and the same messages, line and column named.
  let reply;
  try {
    const r = await fetch(`api/points?name=${encodeURIComponent(f.name)}`, {method: "POST", body: f});
    reply = await r.json();
    if (!r.ok) { say(reply.error || `${f.name}: HTTP ${r.status}`, "error"); return; }
  } catch (e) { say(`${f.name}: ${e.message}`, "error"); return; }
  // 12 bits per axis, as the link stores them, so that a link replays exactly this data.
  const pts = quantise(reply.points);
  drawing.setEnabled(false);
  showEmptyDrawing(false);
  state.set("pts", [pts]);
  await sendData("points", {points: pts}, $("apply-preset").checked);
  say(`Imported ${pts.length} points from ${f.name}${reply.note ? `. ${reply.note}` : ""}`);
}));

// An image set of the user's own (IDX or NPZ), read by the server's image loaders (POST
// /api/images): the same rules and messages as `load_images`. Two files = IDX images + labels.
$("import-images").addEventListener("click", () => $("file-images").click());
$("file-images").addEventListener("change", guard(async () => {
  const files = [...$("file-images").files];
  $("file-images").value = "";
  if (!files.length) return;
  if (files.length > 2) { say("Choose one .npz file, or an IDX images file with its IDX labels file.", "error"); return; }
  // The labels file of an IDX pair: the one named like labels (else the smaller).
  files.sort((a, b) => (/label/i.test(a.name) - /label/i.test(b.name)) || (b.size - a.size));
  const [images, labels] = files;
  const q = new URLSearchParams({name: images.name});
  if (labels) { q.set("labels", labels.name); q.set("split", String(images.size)); }
  say(`Reading ${images.name}${labels ? ` and ${labels.name}` : ""}…`, "sticky");
  let reply;
  try {
    const r = await fetch(`api/images?${q}`, {method: "POST", body: labels ? new Blob([images, labels]) : images});
    reply = await r.json();
    if (!r.ok) { say(reply.error || `${images.name}: HTTP ${r.status}`, "error"); return; }
  } catch (e) { say(`${images.name}: ${e.message}`, "error"); return; }
  const d = {...reply, description: `${reply.label}: ${reply.n} images of ${reply.image_shape.join(" x ")}, ${reply.classes.length} classes (your file)`};
  app.dists = [...app.dists.filter((x) => x.name !== d.name), d];
  app.picker.add(d);
  showEmptyDrawing(false);
  await sendData(d.name, null, $("apply-preset").checked);
  say(`Imported ${reply.n} images of ${reply.image_shape.join(" x ")} from ${images.name}${labels ? ` with ${labels.name}` : ""}`);
}));

// --- runs: kept in this browser, compared, rewound (runs/) ---------------------------------------
/** Rewind the current run to its snapshot at `epoch`: restored paused, the run's later edits
 * scheduled at their epochs and a pause where it had got to, so that playing on unchanged
 * retraces it exactly; a change on the way makes a branch (runs/recorder.js). */
let rewinding = Promise.resolve();
function rewindTo(epoch) { // one at a time: a second waits for the first's schedule
  const p = rewinding.then(() => rewindNow(epoch));
  rewinding = p.catch(() => {});
  return p;
}
async function rewindNow(epoch) {
  const {rewindPoint, startRetrace, chartRow} = await import("./runs/rewind.js");
  const rec = app.runs.recorder, pt = rewindPoint(rec, epoch);
  if (!pt) return;
  if (app.running) await pause();
  let a;
  try { a = await app.session.restore(pt.snapshot); } catch (e) {
    if (e.code !== "disconnected") say(`rewind: ${e.message}`, "error");
    throw e;
  }
  // The retrace begins with the ack: a frame before it shows the state the rewind leaves (the
  // paced sender's, possibly at the run's end), which must not count as the retrace's end.
  startRetrace(rec, epoch);
  app.session.snapshot = pt.snapshot;
  adoptConfig(a.config);
  showCounts(a);
  const {exp} = app;
  exp.edits = exp.edits.slice(0, rec.editBase).concat(pt.done);
  exp.snapEdits = exp.edits.length;
  exp.pending = pt.later.slice();
  await sendSchedule({edits: pt.later, pause_at: pt.end > epoch ? pt.end : null});
  charts.rows = pt.rows.map(chartRow);
  charts.dirty = true;
  writeHash();
  say(pt.end > epoch ? `Rewound to epoch ${epoch} (paused). Play retraces the run up to epoch ${pt.end}; change something to branch off as a new run.` : `Rewound to epoch ${epoch} (paused).`);
}
/** Continue a stored run (the panel's "open"): a new experiment (its start is the run's, not a
 * link's) whose run is that one, rewound to its last snapshot. */
async function openRun(run) {
  if (app.running) await pause();
  newExperiment(true, run);
  const last = run.m.snapshots[run.m.snapshots.length - 1].epoch;
  await rewindTo(last);
  say(`Opened run "${run.m.name}" at epoch ${last} (paused): play continues it; the timeline rewinds it.`);
}

// The runs code (runs/index.js) loads when training first moves or the Runs button is pressed,
// so the page's first load stays small; until then the recorder's calls wait here, a run's start
// with the moment and the config it was made at (frames without metrics: only the latest).
const runsEarly = {calls: [], first: null, version: null};
app.runs = {host: runsEarly, recorder: new Proxy({retrace: null, run: null, editBase: 0},
  {get: (t, k) => (k in t ? t[k] : (...args) => waitRuns(k, args))})};
function waitRuns(name, args) {
  const {calls} = runsEarly, last = calls[calls.length - 1];
  if (name === "begin") { calls.length = 0; runsEarly.first = null; }
  if (name === "onFrame" && last?.name === "onFrame" && !last.args[0].metrics) calls.pop();
  calls.push({name, args, since: performance.now(), when: new Date(), edits: app.exp.edits.length,
    server: name === "begin" ? {...app.server} : null});
  const meta = name === "onFrame" ? args[0] : null, state = meta && `${meta.epoch},${meta.d_steps},${meta.g_steps}`;
  if (meta) runsEarly.first ??= state;
  const moved = (meta && (meta.running || state !== runsEarly.first)) || // or a stop told by status alone
    (name === "onStopped" && args[0] > Number((runsEarly.first ?? "0").split(",")[0]));
  if (name === "onEdit" || name === "adopt" || moved) loadRuns().catch(() => {});
}
let runsLoading = null;
const loadRuns = app.loadRuns = () => (runsLoading ??= import("./runs/index.js").then(({setupRuns}) =>
  setupRuns({app, say, download: (n, b) => download(n, b), rewind: rewindTo, open: openRun, timeline: $("timeline")}, runsEarly))
  .catch((e) => { say(`Runs: ${e.message}`, "error"); throw e; }));
$("runs-button").addEventListener("click", () => loadRuns().then((r) => r.openPanel()).then((p) => (p.el.hidden ? p.show() : p.hide())).catch(() => {}));

// --- session -------------------------------------------------------------------------------------
function onFrame({meta, layers}) {
  app.frames++;
  app.lastMeta = meta;
  showCounts(meta);
  app.runs.recorder.onFrame(meta);
  setRunning(!!meta.running);
  const eps = meta.epochs_per_sec;
  $("eps").textContent = !Number.isFinite(eps) ? "0" : eps >= 100 ? eps.toFixed(0) : eps.toFixed(1);
  if (meta.image) { // image data: the digits views
    if (!app.imageMode) return; // a frame of image data sent before the page switched views
    if (!app.dists.some((d) => d.name === app.server.data) && !$("shape-generator")?.textContent.endsWith(String(meta.image[0] * meta.image[1]))) {
      app.classes = meta.classes; // an uploaded set named by a link: its shape comes with the frames
      graph.setShapes(shapes(app.server, meta.image[0] * meta.image[1], meta.classes));
    }
    digits.setFrame(meta, layers);
    graph.update({}, meta.losses);
    paintGraphThumbs(graph.thumbs, {...meta, noise_dim: app.server.noise_dim}, digits.frame.layers);
    charts.add(meta);
    if (meta.stage && app.slowmo) { app.stage = meta.stage; graph.setStage(meta.stage); }
    return;
  }
  if (app.imageMode) return; // a 2D frame sent before the switch to image data
  if (app.emptyDrawing) {
    // The server still holds the previous distribution until the first stroke: none of its
    // samples, numbers or extent belong to the (empty) drawing.
    graph.update(graphLayers(), {});
    return;
  }
  dv.setFrame(layers, meta.extent);
  if (layers.real && app.picker) app.picker.icon(app.server.data, layers.real.data);
  graph.update(graphLayers(), meta.losses);
  charts.add(meta);
  hints.update(meta);
  if (meta.stage && app.slowmo) {
    app.stage = meta.stage;
    graph.setStage(meta.stage);
    dv.emphasis = STAGES[meta.stage.index]?.view || null;
  }
}

async function onHello(msg) {
  app.runs.host.version = msg.version ?? null;
  app.defaultFps = msg.view?.fps ?? 30; // the server's frame rate for 2D views
  app.ready = false; // true once the URL's experiment is in place (tests wait for it)
  setConn("connected", "ok");
  say("");
  // A non-empty hash is an experiment to reproduce: its config (defaults + the hash) replaces the
  // server's, then a reset makes it start from epoch 0 exactly as it would from scratch.
  // A notebook's lab (ganlab.show) opens with the notebook's trainer: its state wins over a hash
  // (an iframe reloaded after the page wrote one).
  const lab = msg.lab ?? null;
  const fromUrl = location.hash.length > 1 && !lab?.restored;
  const server = flatten(msg.config);
  app.server = server;
  showCounts(msg);
  setRunning(!!msg.running);
  sendView(); sendSpeed();
  if (fromUrl) {
    const want = state.config();
    const data = want.data ?? server.data;
    const pts = state.get("pts");
    let changed = false;
    if (USER_DATA.has(data) && pts.length) {
      drawing.set(data === "drawn" ? pts : []);
      const params = data === "drawn" ? {strokes: pts, spread: state.get("spread")} : {points: pts.flat()};
      await sendData(data, params).catch(() => {});
      changed = true;
    } else if (data === "drawn") {
      app.emptyDrawing = true; // an empty canvas with a hint, not the server's default data
    } else if (USER_DATA.has(data)) {
      say("The link names a point set but holds no points: import a file to set the data.", "sticky");
    } else if (data !== server.data || JSON.stringify(want.data_params ?? {}) !== JSON.stringify(server.data_params ?? {})) {
      await sendData(data, want.data_params && Object.keys(want.data_params).length ? want.data_params : null).catch(() => {});
      changed = true;
    }
    const changes = {};
    for (const [k, v] of Object.entries(want)) if (k !== "data" && k !== "data_params" && v !== undefined && JSON.stringify(v) !== JSON.stringify(app.server[k])) changes[k] = v;
    if (Object.keys(changes).length) {
      try { const a = await ask("config", {changes}); adoptConfig(a.config); changed = true; } catch { /* said */ }
    }
    if (changed) await ask("reset").catch(() => {});
  } else {
    adoptConfig(msg.config);
  }
  adoptConfig(app.server);
  newExperiment(!fromUrl && msg.epoch > 0); // a lab past epoch 0: a link cannot rebuild its weights
  if (lab?.restored) say(`Opened the notebook's experiment at epoch ${msg.epoch}.`);
  else if (lab?.message) say(lab.message, "sticky");
  if (app.emptyDrawing) showEmptyDrawing(true);
  // The link's live edits, applied by the server at their epochs; it pauses where the link was copied.
  const edits = state.get("edits"), at = state.get("at");
  state.set("edits", []); // from here on the experiment (app.exp) holds them
  state.set("at", null);
  if (fromUrl && (edits.length || at)) {
    app.exp.pending = edits;
    await sendSchedule({edits, pause_at: at}).catch(() => { app.exp.pending = []; });
    if (at) say(`This link was copied at epoch ${at}: press "Replay to epoch ${at}" to get there (or play at your pace).`, "sticky");
  }
  refreshSnapshotSoon();
  app.ready = true;
  if (!app.previewsLoaded) { // after the experiment is in place: first paint and setup come first
    app.previewsLoaded = true;
    loadPreviews(socketUrl(location, false), app.picker.missing(), (name, pts) => app.picker.icon(name, pts));
  }
}

async function onReconnected(e) {
  setConn("connected", "ok");
  say("Reconnected: session restored from the last snapshot.");
  adoptConfig(e.detail.config);
  showCounts(e.detail);
  sendView(); sendSpeed();
  // The restored server holds no schedule: edits made since the snapshot and the link's pending
  // ones go back to it, at their epochs.
  const rest = app.exp.resume();
  if (rest.edits.length || rest.pause_at !== null) await sendSchedule(rest);
  if (app.slowmo) setSlowmo(true).catch(() => {});
  const was = app.wasRunning;
  app.wasRunning = false;
  if (was) play().catch(() => {});
}

function connect() {
  const s = app.session = new Session(socketUrl(location));
  s.addEventListener("hello", (e) => onHello(e.detail).catch((err) => say(String(err), "error")));
  s.addEventListener("frame", (e) => onFrame(e.detail));
  s.addEventListener("reconnected", (e) => onReconnected(e).catch(() => {}));
  s.addEventListener("ack", (e) => {
    if (e.detail.type !== "snapshot") return;
    app.exp.snapEdits = app.exp.edits.length;
    const snap = e.detail.msg.snapshot ?? e.detail.msg.bytes; // JSON, or an image model's binary one
    app.runs.recorder.onSnapshot(snap, performance.now() - (e.detail.ms || 0));
    app.recorder?.keep(snap, app.exp.edits.length); // "Save since" (record.js)
  });
  s.addEventListener("scheduled", (e) => onScheduled(e.detail));
  s.addEventListener("disconnected", () => { app.wasRunning = app.running || app.wasRunning; setConn("offline", "bad"); });
  s.addEventListener("reconnecting", (e) => say(`Connection lost; reconnecting in ${(e.detail.in / 1000).toFixed(1)} s…`, "sticky"));
  s.addEventListener("fatal", (e) => say(e.detail.message, "error"));
  s.addEventListener("notice", (e) => say(e.detail.message, "error"));
  s.addEventListener("status", (e) => {
    const m = e.detail;
    setRunning(!!m.running);
    showCounts(m);
    if (!m.running) app.runs.recorder.onStopped(m.epoch);
    if (m.state === "diverged") app.runs.recorder.onDiverged(m.message);
    if (m.state === "diverged") say(`Training diverged: ${m.message} Change a hyperparameter or reset.`, "error");
    else if (m.state === "ok" && !m.running && app.exp.pauseAt === m.epoch) onReplayed(m);
    else if (m.message) say(m.message);
  });
  s.addEventListener("server-error", (e) => say(`${e.detail.code}: ${e.detail.message}`, "error"));
  s.connect();
}

async function start() {
  showLayers();
  showSpeed();
  let schema = {};
  try {
    const r = await fetch("api/schema");
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    schema = await r.json();
  } catch (e) {
    say(`Could not load api/schema (${e.message}); controls are unavailable.`, "error");
  }
  const {fields, distributions} = normaliseSchema(schema);
  app.fields = fields;
  app.dists = distributions;
  addConfigFields(fields);
  for (const x of REPLAY_SETTINGS) if (!SETTINGS.includes(x)) SETTINGS.push(x);
  state.fill();
  const ignored = state.fromHash(location.hash);
  if (ignored.length) say(`Ignored unknown URL settings: ${ignored.join(", ")}`);
  drawing.set(state.get("pts"));
  $("draw-spread").value = String(state.get("spread"));
  $("stage-seconds").value = String(state.get("stage_seconds"));
  app.controls = new Controls($("controls"), fields, onControl,
    (f, text, why) => say(`${f.path}: ${why}`, "error"));
  app.picker = new Picker($("dist-picker"), distributions, pickDistribution);
  showLayers();
  showSpeed();
  connect();
}

start();

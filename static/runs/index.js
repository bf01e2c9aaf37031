// Runs on the page (docs/page.md, Runs): the recorder, the store, the panel and the timeline,
// wired to the page through a small host object so that main.js holds only hooks. Only this
// module loads with the page: the recorder when training first moves (until then `Pending` holds
// what it must know: the run's start and its first snapshot), the store at the first save, the
// timeline once there is something to rewind to, the panel (list, compare, import / export, with
// the run file's reader and writer) and rewinding when first used. The page's first load stays
// small (docs/page.md).

import {flatten} from "../controls.js";

/** {"a.b": 1} -> {a: {b: 1}} (data_params stays whole). */
export function nest(flat) {
  const out = {};
  for (const [k, v] of Object.entries(flat)) {
    const parts = k.split(".");
    let o = out;
    for (const p of parts.slice(0, -1)) o = o[p] ??= {};
    o[parts[parts.length - 1]] = v;
  }
  return out;
}

/** A metric row of a run as the page's charts keep it (charts.js add()). */
export function chartRow(r) {
  const n = (v) => (typeof v === "number" ? v : null);
  return {epoch: r.epoch, d_steps: null, g_steps: null, d_loss: n(r.d_loss), g_loss: n(r.g_loss), kl: n(r.kl), js: n(r.js),
    modes_captured: n(r.modes_captured ?? r.classes_captured), modes_total: n(r.modes_total ?? r.classes_total),
    high_quality: typeof r.high_quality === "number" ? 100 * r.high_quality : typeof r.confident === "number" ? 100 * r.confident : null,
    kl_floor: n(r.kl_floor), js_floor: n(r.js_floor), fd: n(r.fd), fd_floor: n(r.fd_floor)};
}

/** The recorder's stand-in until training first moves: it keeps the calls that matter (the
 * run's start with its moment, snapshots, edits, frames with metrics) and loads the recorder
 * (`load`) at the first frame of training that moved, or at an edit; they replay in order. */
class Pending {
  constructor(load) {
    this.load = load;
    this.calls = [];
    this.listeners = new Set();
    this.run = null;
    this.retrace = null;
    this.first = null; // the state of the first frame: training moved once it differs
  }

  queue(name, ...args) {
    // Frames with metrics are the run's first rows: all kept (a few while the recorder loads);
    // of the others only the latest matters.
    const last = this.calls[this.calls.length - 1];
    if (name === "onFrame" && last?.[0] === "onFrame" && !last[1][0].metrics) this.calls.pop();
    if (this.calls.length < 2000) this.calls.push([name, args]);
  }

  begin(opts = {}) {
    const at = {cfg: this.host.config(), when: new Date(), since: performance.now(), editBase: this.host.editsInForce()};
    this.calls = [];
    this.first = null;
    this.queue("begin", {...opts, at});
  }

  onFrame(meta) {
    const state = `${meta.epoch},${meta.d_steps},${meta.g_steps}`;
    this.first ??= state;
    this.queue("onFrame", meta);
    if (meta.running || state !== this.first) this.load();
  }

  onSnapshot(snap, sentAt = performance.now()) { this.queue("onSnapshot", snap, sentAt); }
  onStartChanged() { this.queue("onStartChanged"); }
  onEditsApplied() { this.queue("onEditsApplied"); }
  onDiverged(message) { this.queue("onDiverged", message); }
  onEdit(edit) { this.queue("onEdit", edit); this.load(); }
  adopt(run) { this.queue("adopt", run); this.load(); }
  flush() { return Promise.resolve(); }
}

/** page: {app, say, download, rewind(epoch), open(run), button, timeline} (main.js). */
export function setupRuns(page) {
  const {app, say} = page;
  const runs = {store: null, recorder: null, panel: null, timeline: null};
  /** The store (IndexedDB), loaded at the first save or the panel's first opening. */
  runs.loadStore = async () => {
    if (!runs.store) {
      const {Store} = await import("./store.js");
      runs.store ??= new Store();
    }
    return runs.store;
  };
  const host = {
    loadStore: runs.loadStore, say,
    version: null,
    config: () => nest(app.server),
    thumbSource: () => (app.imageMode ? document.getElementById("digit-fakes") : document.getElementById("data-view")),
    editsInForce: () => app.exp.edits.length,
    edits: () => app.exp.edits,
    epoch: () => app.counts.epoch,
    replaying: () => app.exp.replaying,
    /** A snapshot for the run's timeline (2D only: an image model's is megabytes). */
    askSnapshot() {
      const s = app.session;
      if (s?.connected && !s.snapshotAsked && !app.imageMode) s.refreshSnapshot().catch(() => {});
    },
    showing: (text) => document.getElementById("status").textContent.includes(text),
    offerExport(run, text) {
      say(text, "sticky");
      const b = document.createElement("button");
      b.textContent = "Export run";
      b.addEventListener("click", async () => page.download(`${run.m.name.replace(/[^A-Za-z0-9._-]+/g, "-") || "run"}.zip`, await run.toFile()));
      document.getElementById("status").appendChild(b);
    },
    /** Keep the store within its bounds; say which runs went. */
    async enforce(keep, prefix = "") {
      let dropped = [];
      const store = await runs.loadStore();
      try { dropped = await store.enforce(keep); } catch { return []; }
      if (dropped.length) {
        const names = dropped.map((r) => `"${r.name}"`).join(", ");
        say(`${prefix}Dropped the oldest unpinned run${dropped.length > 1 ? "s" : ""} ${names}: this browser keeps at most ${store.maxRuns} runs and ${Math.round(store.maxBytes / 1048576)} MB (pin a run to keep it).`, "sticky");
      }
      return dropped;
    },
  };
  runs.host = host;
  /** The recorder, loaded once; the calls `Pending` kept are replayed into it in order. */
  runs.loadRecorder = () => (runs.loadingRecorder ??= import("./recorder.js").then(({Recorder}) => {
    const real = new Recorder(host), stub = runs.recorder;
    for (const f of stub.listeners) real.listeners.add(f);
    for (const [name, args] of stub.calls) real[name](...args);
    runs.recorder = real;
    real.changed();
    return real;
  }));
  const stub = runs.recorder = new Pending(() => { runs.loadRecorder().catch((e) => say(`Runs: ${e.message}`, "error")); });
  stub.host = host;
  const recorder = {listeners: stub.listeners}; // listeners go with the recorder when it loads
  /** The panel, loaded on first use (its module, the run file's checks and its style sheet). */
  runs.openPanel = async () => {
    if (!runs.panel) {
      const link = document.createElement("link");
      link.rel = "stylesheet";
      link.href = "/static/runs/runs.css";
      document.head.appendChild(link);
      const [{RunsPanel}, store, recorder] = await Promise.all([import("./panel.js"), runs.loadStore(), runs.loadRecorder()]);
      runs.panel ??= new RunsPanel({
        store, recorder, say, download: page.download, enforce: host.enforce, open: page.open,
        defaults(data) {
          const base = {};
          for (const f of app.fields) base[f.path] = f.default;
          const dist = app.dists.find((d) => d.name === data);
          return {...base, ...flatten(dist?.preset || {})};
        },
      });
    }
    return runs.panel;
  };
  page.button.addEventListener("click", () => runs.openPanel().then((p) => (p.el.hidden ? p.show() : p.hide()))
    .catch((e) => say(`Runs: ${e.message}`, "error")));
  // The timeline, once the run has two recorded epochs to move between.
  recorder.listeners.add(() => {
    if (runs.timeline || runs.loadingTimeline || (runs.recorder.run?.m.snapshots.length ?? 0) < 2) return;
    runs.loadingTimeline = import("./timeline.js").then(({Timeline}) => {
      runs.timeline = new Timeline(page.timeline, runs.recorder, {rewind: page.rewind, epoch: () => app.counts.epoch, say});
    }).catch((e) => say(`Runs: ${e.message}`, "error"));
  });
  return runs;
}

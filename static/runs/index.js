// Runs on the page (docs/page.md, Runs): the recorder, the store, the panel and the timeline,
// wired to the page through a small host object so that main.js holds only hooks. main.js loads
// this module when training first moves (or the Runs button is pressed) and hands over the calls
// it kept until then; the store loads at the first save, the timeline once there is something to
// rewind to, the panel (list, compare, import / export, with the run file's reader and writer)
// and rewinding when first used. The page's first load stays small (docs/page.md).

import {flatten} from "../controls.js";
import {Recorder} from "./recorder.js";

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

/** page: {app, say, download, rewind(epoch), open(run), timeline} (main.js); early: the calls
 * main.js kept until now ({calls: [{name, args, since, when, edits, server}], version}), replayed
 * into the recorder in order. Sets and returns app.runs. */
export function setupRuns(page, early) {
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
    /** A snapshot for the run's timeline (an image model's comes binary: socket.js); `now`:
     * even while another is on its way (that one may be from before training stopped). */
    askSnapshot(now = false) {
      const s = app.session;
      if (s?.connected && (now || !s.snapshotAsked)) s.refreshSnapshot().catch(() => {});
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
  host.version = early.version;
  const recorder = runs.recorder = new Recorder(host);
  for (const c of early.calls) {
    if (c.name === "begin") recorder.begin({...c.args[0], at: {cfg: nest(c.server), when: c.when, since: c.since, editBase: c.edits}});
    else recorder[c.name](...c.args);
  }
  early.calls = [];
  page.app.runs = runs;
  /** The panel, loaded on first use (its module, the run file's checks and its style sheet). */
  runs.openPanel = async () => {
    if (!runs.panel) {
      const link = document.createElement("link");
      link.rel = "stylesheet";
      link.href = new URL("./runs.css", import.meta.url).href; // relative: the page may sit under a prefix
      document.head.appendChild(link);
      const [{RunsPanel}, store] = await Promise.all([import("./panel.js"), runs.loadStore()]);
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
  // The timeline, once the run has two recorded epochs to move between.
  recorder.listeners.add(() => {
    if (runs.timeline || runs.loadingTimeline || (recorder.run?.m.snapshots.length ?? 0) < 2) return;
    runs.loadingTimeline = import("./timeline.js").then(({Timeline}) => {
      runs.timeline = new Timeline(page.timeline, recorder, {rewind: page.rewind, epoch: () => app.counts.epoch, say});
    }).catch((e) => say(`Runs: ${e.message}`, "error"));
  });
  recorder.changed();
  return runs;
}

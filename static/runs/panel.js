// The Runs panel: the runs kept in this browser (and the one being recorded): name, data, the
// settings that differ from the default, final metrics, epochs, duration; rename, pin, delete,
// export, import; pick 2-4 to compare (compare.js).

import {flatten} from "../controls.js";
import {fromFile} from "./format.js";
import {Run} from "./recorder.js";
import {Compare} from "./compare.js";

const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c]));
const HIDDEN = new Set(["data", "data_params"]);

function duration(s) {
  if (!(s >= 0)) return "–";
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min ${Math.round(s % 60)} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

function finalText(f) {
  if (!f) return "–";
  const parts = [];
  if (typeof f.kl === "number") parts.push(`KL ${f.kl.toFixed(3)}`);
  if (typeof f.js === "number") parts.push(`JS ${f.js.toFixed(3)}`);
  if (typeof f.modes_captured === "number") parts.push(`modes ${f.modes_captured}/${f.modes_total ?? "?"}`);
  if (typeof f.high_quality === "number") parts.push(`HQ ${(100 * f.high_quality).toFixed(0)}%`);
  if (typeof f.fd === "number") parts.push(`FD ${f.fd.toFixed(1)}`);
  if (!parts.length && typeof f.d_loss === "number") parts.push(`D ${f.d_loss.toFixed(3)} · G ${(f.g_loss ?? NaN).toFixed(3)}`);
  return parts.join(" · ");
}

function dataLabel(cfg) {
  const p = cfg?.data_params || {};
  if (Array.isArray(p.points)) return `${cfg.data} (${p.points.length} points)`;
  if (Array.isArray(p.strokes)) return `${cfg.data} (${p.strokes.length} strokes)`;
  return cfg?.data ?? "?";
}

export class RunsPanel {
  /** host: {store, recorder, say(text, kind), defaults(data) (flat), download(name, blob), enforce()}. */
  constructor(host) {
    this.host = host;
    const el = this.el = document.createElement("div");
    el.id = "runs";
    el.className = "overlay runs-overlay";
    el.hidden = true;
    el.setAttribute("role", "dialog");
    el.setAttribute("aria-label", "Runs");
    el.innerHTML = `<div class="card runs-card">
      <div class="runs-head"><h2>Runs <span id="runs-count" class="muted"></span></h2>
        <span class="right"><button id="runs-import" title="Import a run file (.zip: exported here or by ganlab runs export)">Import…</button>
        <button id="runs-compare" class="primary" disabled title="Pick 2 to 4 runs">Compare</button>
        <button id="runs-close">Close</button></span></div>
      <p class="muted runs-note">Kept in this browser only (IndexedDB), at most <span id="runs-bound"></span>; the oldest unpinned runs go first.</p>
      <div class="runs-scroll"><table id="runs-list" class="runs-list"><thead><tr><th></th><th>name</th><th>data</th><th>settings not default</th><th>final</th><th>epochs</th><th>time</th><th></th></tr></thead><tbody></tbody></table></div>
      <div id="runs-compare-view" class="runs-compare" hidden></div>
    </div><input type="file" id="runs-file" accept=".zip,application/zip" hidden>`;
    document.body.appendChild(el);
    this.$ = (id) => el.querySelector(`#${id}`);
    this.picked = new Set();
    this.compare = new Compare(this.$("runs-compare-view"));
    this.$("runs-close").addEventListener("click", () => this.hide());
    el.addEventListener("click", (e) => { if (e.target === el) this.hide(); });
    this.$("runs-import").addEventListener("click", () => this.$("runs-file").click());
    this.$("runs-file").addEventListener("change", () => {
      const f = this.$("runs-file").files[0];
      this.$("runs-file").value = "";
      if (f) this.importFile(f).catch(() => {});
    });
    this.$("runs-compare").addEventListener("click", () => this.showCompare().catch((e) => host.say(`compare: ${e.message}`, "error")));
    host.recorder.listeners.add(() => { if (!this.el.hidden) this.refreshSoon(); });
  }

  async show() {
    this.el.hidden = false;
    await this.refresh();
  }

  hide() { this.el.hidden = true; }

  /** Refresh while the run being recorded changes, but never under a rename being typed. */
  refreshSoon() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      if (this.el.querySelector(".run-name-input")) return;
      this.refresh().catch(() => {});
    }, 300);
  }

  /** The stored runs and the current one (even if not stored yet). */
  async records() {
    let stored = [];
    try { stored = await this.host.store.list(); } catch (e) { this.host.say(`Runs: the browser's store is not available (${e.message})`, "error"); }
    const cur = this.host.recorder.run;
    const out = stored.filter((r) => r.id !== cur?.id);
    if (cur && (cur.m.epochs > cur.m.start_epoch || cur.stored)) out.push({...cur.record(), current: true});
    return out;
  }

  async refresh() {
    const recs = this.recs = await this.records();
    const {store} = this.host;
    this.$("runs-count").textContent = `(${recs.length})`;
    this.$("runs-bound").textContent = `${store.maxRuns} runs and ${Math.round(store.maxBytes / 1048576)} MB`;
    for (const id of [...this.picked]) if (!recs.some((r) => r.id === id)) this.picked.delete(id);
    this.$("runs-list").tBodies[0].innerHTML = recs.slice().reverse().map((r) => this.rowHTML(r)).join("")
      || `<tr><td colspan="8" class="muted">No runs yet: train, and the run is kept here.</td></tr>`;
    for (const tr of this.$("runs-list").tBodies[0].rows) {
      const id = tr.dataset.id;
      if (!id) continue;
      tr.querySelector(".run-pick").addEventListener("change", (e) => { e.target.checked ? this.picked.add(id) : this.picked.delete(id); this.showPicked(); });
      tr.querySelector(".run-rename").addEventListener("click", () => this.rename(tr, id));
      tr.querySelector(".run-pin").addEventListener("click", () => this.pin(id).catch(() => {}));
      tr.querySelector(".run-export").addEventListener("click", () => this.exportRun(id).catch((e) => this.host.say(`export: ${e.message}`, "error")));
      tr.querySelector(".run-open")?.addEventListener("click", () => this.openRun(id).catch((e) => this.host.say(`open: ${e.message}`, "error")));
      tr.querySelector(".run-delete").addEventListener("click", () => this.remove(id).catch(() => {}));
    }
    this.showPicked();
  }

  rowHTML(r) {
    const m = r.manifest, cfg = m.config || {}, base = this.host.defaults(cfg.data);
    const diff = Object.entries(flatten(cfg)).filter(([k, v]) => !HIDDEN.has(k) && k in base && JSON.stringify(base[k]) !== JSON.stringify(v))
      .map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`);
    const badges = [r.current ? `<span class="badge cur" title="being recorded now">current</span>` : "",
      m.parent ? `<span class="badge" title="a branch of ${esc(m.parent.name)} at epoch ${m.parent.epoch}">↳ ${esc(m.parent.name)} @ ${m.parent.epoch}</span>` : "",
      r.pinned ? `<span class="badge pin">pinned</span>` : ""].join("");
    return `<tr class="run-row${r.current ? " current" : ""}" data-id="${esc(r.id)}" data-name="${esc(m.name)}">
      <td><input type="checkbox" class="run-pick" aria-label="Pick ${esc(m.name)} to compare"${this.picked.has(r.id) ? " checked" : ""}></td>
      <td><button class="run-rename link" title="Rename">${esc(m.name)}</button> ${badges}</td>
      <td class="run-data" data-label="data">${esc(dataLabel(cfg))}</td>
      <td class="run-diff" data-label="not default" title="${esc(diff.join(", "))}">${diff.length ? esc(diff.slice(0, 5).join(", ")) + (diff.length > 5 ? ` <span class="muted">+${diff.length - 5} more</span>` : "") : '<span class="muted">defaults</span>'}</td>
      <td class="run-final" data-label="final">${esc(finalText(m.final))}</td>
      <td class="run-epochs" data-label="epochs">${m.start_epoch ? `${m.start_epoch}–` : ""}${m.epochs}</td>
      <td class="run-time" data-label="time">${duration(m.duration_seconds)}</td>
      <td class="run-actions">${r.current || !m.snapshots.length ? "" : `<button class="run-open" title="Continue this run here: its last snapshot restored (paused), its timeline to rewind on">open</button> `}<button class="run-pin" aria-pressed="${r.pinned}" title="Pinned runs are never dropped">pin</button>
        <button class="run-export" title="Download as a run file (.zip), the format ganlab runs export writes">export</button>
        <button class="run-delete" title="${r.current ? "Being recorded: start a new run (reset) to delete it" : "Delete this run"}"${r.current ? " disabled" : ""}>delete</button></td></tr>`;
  }

  showPicked() {
    const n = this.picked.size, b = this.$("runs-compare");
    b.disabled = n < 2 || n > 4;
    b.textContent = n ? `Compare ${n}` : "Compare";
    b.title = n > 4 ? "Pick at most 4 runs" : "Pick 2 to 4 runs";
  }

  rename(tr, id) {
    const cell = tr.querySelector(".run-rename"), rec = this.recs.find((r) => r.id === id);
    const input = document.createElement("input");
    input.className = "run-name-input";
    input.value = rec.manifest.name;
    input.maxLength = 200;
    cell.replaceWith(input);
    input.focus();
    input.select();
    let done = false;
    const finish = async (save) => {
      if (done) return;
      done = true;
      const name = input.value.trim();
      if (save && name && name !== rec.manifest.name) await this.edit(id, (m) => { m.name = name; });
      await this.refresh();
    };
    input.addEventListener("keydown", (e) => { if (e.key === "Enter") finish(true); if (e.key === "Escape") finish(false); });
    input.addEventListener("blur", () => finish(true));
  }

  /** Change a run's manifest: the current run in memory (saved soon), a stored one in place. */
  async edit(id, f) {
    const cur = this.host.recorder.run;
    if (cur?.id === id) { f(cur.m); cur.dirty = true; await this.host.recorder.flush(); return; }
    const rec = await this.host.store.get(id);
    if (!rec) return;
    f(rec.manifest);
    await this.host.store.update(id, {manifest: rec.manifest, name: rec.manifest.name, pinned: !!rec.manifest.notes?.pinned});
  }

  async pin(id) {
    await this.edit(id, (m) => { m.notes = {...(m.notes || {}), pinned: !m.notes?.pinned}; });
    await this.refresh();
  }

  async remove(id) {
    const rec = this.recs.find((r) => r.id === id);
    await this.host.store.remove(id);
    this.picked.delete(id);
    this.host.say(`Deleted run "${rec?.manifest.name}".`);
    await this.refresh();
  }

  /** A run (stored or current) with its files: {manifest, rows, files}; `snapshots` false:
   * without them (an image run's are megabytes; comparing needs only the thumbnails). */
  async load(id, snapshots = true) {
    const cur = this.host.recorder.run;
    if (cur?.id === id) return {manifest: cur.manifest(), rows: cur.rows, files: cur.files, run: cur};
    const rec = await this.host.store.get(id);
    const m = rec.manifest;
    const names = [...(snapshots ? m.snapshots.map((s) => s.file) : []), ...m.thumbs.map((t) => t.file), ...m.media.map((x) => x.file)];
    const files = await this.host.store.files(id, names);
    return {manifest: m, rows: rec.rows, files, run: new Run(m, rec.rows, files, id)};
  }

  /** Make a stored run the current one (page.js restores its last snapshot, as a rewind). */
  async openRun(id) {
    const {run} = await this.load(id);
    run.stored = true;
    for (const n of run.files.keys()) run.saved.add(n);
    run.dirty = false;
    this.hide();
    await this.host.open(run);
  }

  async exportRun(id) {
    const {run} = await this.load(id);
    const name = run.m.name.replace(/[^A-Za-z0-9._-]+/g, "-").replace(/^[-.]+|-+$/g, "") || "run";
    this.host.download(`${name}.zip`, await run.toFile());
    this.host.say(`Exported run "${run.m.name}" (${run.m.epochs} epochs).`);
  }

  /** Import a run file: checked whole first (the Python reader's rules and words); a refused
   * file leaves the stored runs as they were. */
  async importFile(f) {
    let got;
    try {
      if (f.size > 256 * 1048576) throw new Error(`${f.name}: ${f.size.toLocaleString("en-US")} bytes; a run file holds at most ${(256 * 1048576).toLocaleString("en-US")} bytes (256 MiB)`);
      got = fromFile(new Uint8Array(await f.arrayBuffer()), f.name);
    } catch (e) {
      this.host.say(`Import refused: ${e.message}`, "error");
      throw e;
    }
    const run = new Run(got.manifest, got.rows, got.files);
    if (run.m.status === "running") run.m.status = "ok";
    try {
      await this.host.store.save(run.record(), run.files);
    } catch (e) {
      this.host.say(`Import: could not store the run in this browser (${e.name}: ${e.message})`, "error");
      throw e;
    }
    const dropped = await this.host.enforce(this.host.recorder.run?.id, `Imported run "${run.m.name}" (${run.m.epochs} epochs). `);
    if (!dropped.length) this.host.say(`Imported run "${run.m.name}" (${run.m.epochs} epochs, ${run.rows.length} metric rows).`);
    await this.refresh();
  }

  async showCompare() {
    const ids = [...this.picked];
    const runs = [];
    for (const id of ids) {
      const {manifest, rows, files} = await this.load(id, false);
      const thumbs = new Map();
      for (const t of manifest.thumbs) {
        const data = files.get(t.file);
        if (data) thumbs.set(t.epoch, URL.createObjectURL(new Blob([data], {type: "image/png"})));
      }
      runs.push({id, name: manifest.name, manifest, rows, thumbs});
    }
    this.$("runs-compare-view").hidden = false;
    this.compare.set(runs);
    this.$("runs-compare-view").scrollIntoView({block: "nearest"});
  }
}


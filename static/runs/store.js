// Runs kept in the browser (IndexedDB): private to the person, surviving reloads and server
// restarts; the server stores nothing. Two object stores: "runs" (one record per run: manifest,
// metric rows, pinned, bytes, updated) and "files" (key "<run id>/<file name>": the bytes of a
// snapshot, a thumbnail or a medium), so saving a growing run writes only its new files.
//
// Bounded (docs/page.md, Runs): at most MAX_RUNS runs and MAX_BYTES bytes; past either, the
// oldest unpinned runs go (never the one being recorded) and the caller is told which.

export const MAX_RUNS = 50;
export const MAX_BYTES = 200 * 1024 * 1024;
const DB = "ganlab-runs";
const sep = "/";

const req = (r) => new Promise((res, rej) => { r.onsuccess = () => res(r.result); r.onerror = () => rej(r.error); });
const done = (tx) => new Promise((res, rej) => {
  tx.oncomplete = () => res();
  tx.onerror = () => rej(tx.error);
  tx.onabort = () => rej(tx.error || new Error("transaction aborted"));
});

export class Store {
  constructor() {
    this.maxRuns = MAX_RUNS;
    this.maxBytes = MAX_BYTES;
    this.db = null;
  }

  async open() {
    if (this.db) return this.db;
    const r = indexedDB.open(DB, 1);
    r.onupgradeneeded = () => {
      const db = r.result;
      db.createObjectStore("runs", {keyPath: "id"});
      db.createObjectStore("files");
    };
    this.db = await req(r);
    // Runs a closed page left "running" ended with it (the page's own current run is stored
    // only after the store first opens).
    const tx = this.db.transaction("runs", "readwrite"), st = tx.objectStore("runs");
    for (const rec of await req(st.getAll())) {
      if (rec.manifest.status === "running") st.put({...rec, manifest: {...rec.manifest, status: "ok"}});
    }
    await done(tx);
    return this.db;
  }

  /** Every run's record (no file bytes), oldest first. */
  async list() {
    const db = await this.open();
    const all = await req(db.transaction("runs").objectStore("runs").getAll());
    return all.sort((a, b) => a.created - b.created);
  }

  async get(id) {
    const db = await this.open();
    return req(db.transaction("runs").objectStore("runs").get(id));
  }

  /** The bytes of one file of a run. */
  async file(id, name) {
    const db = await this.open();
    return req(db.transaction("files").objectStore("files").get(id + sep + name));
  }

  /** Every file of a run: name -> Uint8Array. */
  async files(id, names) {
    const db = await this.open();
    const st = db.transaction("files").objectStore("files");
    const out = new Map();
    await Promise.all(names.map(async (n) => { const v = await req(st.get(id + sep + n)); if (v) out.set(n, v); }));
    return out;
  }

  /** Write a run's record, the files not stored yet (`put`: name -> bytes) and drop `gone`
   * (file names), in one transaction: a failure (quota) leaves the store as it was. */
  async save(record, put = new Map(), gone = []) {
    const db = await this.open();
    const tx = db.transaction(["runs", "files"], "readwrite");
    tx.objectStore("runs").put(record);
    const fs = tx.objectStore("files");
    for (const [n, data] of put) fs.put(data, record.id + sep + n);
    for (const n of gone) fs.delete(record.id + sep + n);
    await done(tx);
  }

  async update(id, fields) {
    const db = await this.open();
    const tx = db.transaction("runs", "readwrite");
    const st = tx.objectStore("runs");
    const rec = await req(st.get(id));
    if (rec) st.put({...rec, ...fields});
    await done(tx);
  }

  async remove(id) {
    const db = await this.open();
    const tx = db.transaction(["runs", "files"], "readwrite");
    tx.objectStore("runs").delete(id);
    tx.objectStore("files").delete(IDBKeyRange.bound(id + sep, id + sep + "\uffff"));
    await done(tx);
  }

  /** Drop the oldest unpinned runs (never `keep`) while over the count or byte bound; returns
   * the records dropped. */
  async enforce(keep) {
    const runs = await this.list();
    const dropped = [];
    let count = runs.length, bytes = runs.reduce((s, r) => s + (r.bytes || 0), 0);
    for (const r of runs) {
      if (count <= this.maxRuns && bytes <= this.maxBytes) break;
      if (r.pinned || r.id === keep) continue;
      await this.remove(r.id);
      dropped.push(r);
      count -= 1;
      bytes -= r.bytes || 0;
    }
    return dropped;
  }
}

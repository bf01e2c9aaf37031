// The protocol client (docs/protocol.md): one websocket = one training session.
// Requests get a promise resolved by the ack (or rejected by the error) carrying the same id.
// A JSON `frame` is paired with the binary message that follows it (same seq) and the layers are
// exposed as Float32Array views, never copied. The connection comes back by itself: on a drop we
// reconnect (bounded backoff with jitter, or at once when the server says it is going away) and
// `restore` the last snapshot we hold, which any replica behind a load balancer can take.

const LAYER_NAMES = {1: "real", 2: "fake", 3: "heatmap", 4: "d_grad", 5: "g_grad",
  6: "manifold", 7: "manifold_area", 8: "optimal_d", 9: "noise",
  10: "fakes_grid", 11: "reals_grid", 12: "walk", 13: "d_hist", 14: "d_grad_image"};
const MAX_SNAPSHOT = 16 << 20; // bytes of a binary restore (docs/protocol.md, Snapshots)
const U8 = 1; // payload type in an entry id's high 16 bits: 0 float32, 1 uint8 (images)
const MAGIC = 0x31464c47; // "GLF1" read as a little-endian uint32

// Close codes of a server that is going away (docs/protocol.md): ours after a `moving` message
// (4012), and uvicorn's own on shutdown (1012). Another replica can take the session: go now.
export const MOVE_CODES = new Set([4012, 1012]);
// Reconnect attempt n waits up to min(CAP, BASE * 2^n) ms, half of it at random so that a
// classroom of pages does not come back in lockstep. The cap keeps every page trying at least
// every 2 s while no replica answers (an uncapped backoff left pages offline for 30 s and more).
export const BACKOFF_BASE = 250, BACKOFF_CAP = 2000;
// A handshake that has not produced a `hello` by then is dropped and tried again: a replica
// that vanished from the network can leave a connect hanging for minutes (behind nginx,
// proxy_connect_timeout moves on after 2 s; this is for direct connections). Generous, so that
// a slow but working server under load is not abandoned and hit again.
export const HELLO_TIMEOUT = 10000;

// While training, the snapshot we hold is at most this old (ms): what a crashed server can cost
// a session. Frames, not a timer, trigger the refresh: a hidden tab's timers may be throttled to
// once a minute, its websocket messages are not.
export const SNAPSHOT_EVERY = 5000;

/** The websocket URL of the page at `loc` (a Location or URL): `ws` beside the page, so that a page
 * served under a path prefix (/proxy/8000/, /ganlab/) reaches its own server, with the page's
 * `lab` (a notebook's experiment, ganlab.show) unless `withLab` is false. */
export function socketUrl(loc, withLab = true) {
  const url = new URL("ws", loc.href);
  url.protocol = loc.protocol === "https:" ? "wss:" : "ws:";
  url.search = "";
  url.hash = "";
  const lab = new URLSearchParams(loc.search).get("lab");
  if (lab && withLab) url.searchParams.set("lab", lab);
  return url.href;
}

/** Milliseconds to wait before reconnect attempt `attempt` (0, 1, ...). */
export function backoffDelay(attempt, random = Math.random) {
  const ceiling = Math.min(BACKOFF_CAP, BACKOFF_BASE * 2 ** Math.min(attempt, 16));
  return Math.round(ceiling * (0.5 + 0.5 * random()));
}

/** Parse a binary frame: header, layer table, then float32 or uint8 payloads viewed in place. */
export function parseBinary(buf) {
  const dv = new DataView(buf);
  if (buf.byteLength < 16 || dv.getUint32(0, true) !== MAGIC) throw new Error("bad binary frame");
  const seq = dv.getUint32(4, true), count = dv.getUint32(8, true);
  const layers = {};
  for (let i = 0; i < count; i++) {
    const at = 16 + 16 * i;
    const ident = dv.getUint32(at, true), rows = dv.getUint32(at + 4, true);
    const cols = dv.getUint32(at + 8, true), offset = dv.getUint32(at + 12, true);
    const name = LAYER_NAMES[ident & 0xffff], type = ident >>> 16;
    const bytes = type === U8 ? 1 : 4;
    if (!name || type > U8 || offset + rows * cols * bytes > buf.byteLength) continue; // unknown: skip
    const data = type === U8 ? new Uint8Array(buf, offset, rows * cols) : new Float32Array(buf, offset, rows * cols);
    layers[name] = {rows, cols, data};
  }
  return {seq, layers};
}

export class Session extends EventTarget {
  constructor(url) {
    super();
    this.url = url;
    this.ws = null;
    this.nextId = 1;
    this.pending = new Map();   // id -> {resolve, reject, type}
    this.frameMeta = null;      // the JSON half of a frame, waiting for its binary half
    this.snapshot = null;       // last full state we hold (restored after a reconnect)
    this.hello = null;
    this.attempt = 0;           // reconnect attempts since the last hello
    this.helloTimer = 0;
    this.retry = 0;             // `rebalance` refusals in a row (docs/protocol.md, Connection)
    this.closedByUs = false;
    this.connected = false;
    this.restoring = false;
    this.snapshotAt = -Infinity; // performance.now() when the snapshot we hold arrived
    this.snapshotEvery = SNAPSHOT_EVERY;
    this.snapshotAsked = false;
    this.awaitBinary = null;    // {p, msg}: a snapshot ack whose binary half is on its way
    this.binarySnapshots = false; // image models: snapshots travel as binary messages
  }

  emit(type, detail) { this.dispatchEvent(new CustomEvent(type, {detail})); }

  connect() {
    this.closedByUs = false;
    // After a `rebalance` refusal the kernel picks a worker afresh; ?retry=n tells the server how
    // often we were sent on, so that from the 4th try any worker admits us.
    const url = this.retry ? `${this.url}${this.url.includes("?") ? "&" : "?"}retry=${this.retry}` : this.url;
    const ws = new WebSocket(url);
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    // Events of a socket we already gave up on must not start a second connection.
    ws.onmessage = (ev) => { if (ws === this.ws) this.onMessage(ev.data); };
    ws.onclose = (ev) => { if (ws === this.ws) this.onClose(ev); };
    ws.onerror = () => {}; // onclose follows and handles it; an error event carries no detail
    clearTimeout(this.helloTimer);
    this.helloTimer = setTimeout(() => { if (ws === this.ws && !this.connected) ws.close(); }, HELLO_TIMEOUT);
  }

  close() { this.closedByUs = true; this.ws?.close(1000); }

  /** Drop the connection without telling the server (tests use it to exercise reconnection). */
  drop() { this.ws?.close(4000, "client drop"); }

  onClose(ev) {
    clearTimeout(this.helloTimer);
    if (ev.code === 1013 && ev.reason === "rebalance" && !this.closedByUs) {
      // A worker process with more sessions than another sent us on: not a drop, reconnect now.
      this.frameMeta = null;
      this.retry += 1;
      this.emit("rebalanced", {retry: this.retry});
      this.connect();
      return;
    }
    const wasConnected = this.connected;
    this.connected = false;
    this.frameMeta = null;
    if (this.awaitBinary) this.pending.set(-1, this.awaitBinary.p); // its binary half never came
    this.awaitBinary = null;
    for (const p of this.pending.values()) p.reject(Object.assign(new Error("disconnected"), {code: "disconnected"}));
    this.pending.clear();
    this.emit("disconnected", {code: ev.code, reason: ev.reason});
    if (this.closedByUs) return;
    // 1008: refused by origin policy; retrying cannot help.
    if (ev.code === 1008) { this.emit("fatal", {message: "connection refused by the server (origin)"}); return; }
    let wait;
    if (MOVE_CODES.has(ev.code)) {
      // The server is shutting down (it sent our final state first): reconnect now; the load
      // balancer hands us to another replica. A few ms of jitter spread a class's reconnects.
      this.attempt = 0;
      wait = Math.round(100 * Math.random());
    } else {
      if (wasConnected) this.attempt = 0;
      wait = backoffDelay(this.attempt);
      this.attempt += 1;
    }
    this.emit("reconnecting", {in: wait, code: ev.code});
    setTimeout(() => this.connect(), wait);
  }

  async onHello(msg) {
    const first = this.hello === null;
    this.hello = msg;
    this.connected = true;
    this.retry = 0;
    this.attempt = 0;
    clearTimeout(this.helloTimer);
    if (!first && this.snapshot) {
      // A new server session: bring back where we were before the drop.
      this.restoring = true;
      try {
        const ack = await this.restore(this.snapshot);
        // the restored state, not the fresh one
        msg = {...msg, config: ack.config, epoch: ack.epoch, d_steps: ack.d_steps, g_steps: ack.g_steps};
      } catch (e) { this.emit("notice", {message: `could not restore the session: ${e.message}`}); }
      this.restoring = false;
    }
    this.emit(first ? "hello" : "reconnected", msg);
  }

  onMessage(data) {
    if (typeof data !== "string") {
      if (this.awaitBinary) { // a binary snapshot: it follows its ack directly (protocol.md)
        const {p, msg} = this.awaitBinary;
        this.awaitBinary = null;
        this.snapshot = data;
        this.snapshotAt = performance.now();
        p.resolve({...msg, bytes: data});
        return;
      }
      const meta = this.frameMeta;
      this.frameMeta = null;
      let bin;
      try { bin = parseBinary(data); } catch (e) { this.emit("notice", {message: e.message}); return; }
      if (!meta || meta.seq !== bin.seq) return; // unpaired half: drop it, the next frame is coming
      if (this.restoring) return; // the fresh session's state, which the restore replaces
      this.emit("frame", {meta, layers: bin.layers});
      if (meta.running && !this.restoring && !this.snapshotAsked &&
          performance.now() - this.snapshotAt >= this.snapshotEvery) {
        this.refreshSnapshot().catch(() => {});
      }
      return;
    }
    let msg;
    try { msg = JSON.parse(data); } catch { return; }
    switch (msg.type) {
      case "hello": this.onHello(msg); break;
      case "frame": this.frameMeta = msg; break;
      case "ack": case "error": {
        const p = msg.id !== undefined ? this.pending.get(msg.id) : undefined;
        if (p) {
          this.pending.delete(msg.id);
          if (msg.type === "ack" && Number.isInteger(msg.binary)) this.awaitBinary = {p, msg};
          else if (msg.type === "ack") p.resolve(msg);
          else p.reject(Object.assign(new Error(msg.message || msg.code), {code: msg.code, reply: msg}));
        } else if (msg.type === "error" && msg.code !== "rebalance") { // the close that follows says it all
          this.emit("server-error", msg);
        }
        if (msg.type === "ack" && msg.snapshot) { this.snapshot = msg.snapshot; this.snapshotAt = performance.now(); }
        break;
      }
      case "moving":
        // The server is shutting down and sent the session's final state: restore exactly this
        // on the next server (announced as a snapshot ack, so the page's bookkeeping of what the
        // snapshot holds stays right), then it closes with 4012 and we reconnect at once.
        if (msg.snapshot) {
          this.snapshot = msg.snapshot;
          this.snapshotAt = performance.now();
          this.emit("ack", {type: "snapshot", msg, ms: 0});
        }
        this.emit("moving", msg);
        break;
      case "status": this.emit("status", msg); break;
      case "scheduled": this.emit("scheduled", msg); break;
      default: break;
    }
  }

  /** Send one message; resolves with its ack, rejects with its error (err.code = protocol code). */
  request(type, fields = {}) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN || !this.connected) {
      return Promise.reject(Object.assign(new Error("not connected"), {code: "disconnected"}));
    }
    const id = this.nextId++;
    const t0 = performance.now();
    return new Promise((resolve, reject) => {
      this.pending.set(id, {
        resolve: (m) => { this.emit("ack", {type, msg: m, ms: performance.now() - t0}); resolve(m); },
        reject: (e) => { this.emit("request-error", {type, error: e}); reject(e); },
      });
      this.ws.send(JSON.stringify({...fields, type, id}));
    });
  }

  /** Ask for the full state and keep it for a later restore: JSON, or with `binarySnapshots`
   * (image models, megabytes of weights) the binary snapshot as an ArrayBuffer. */
  async refreshSnapshot() {
    this.snapshotAsked = true;
    try {
      const ack = await this.request("snapshot", this.binarySnapshots ? {binary: true} : {});
      this.snapshot = ack.snapshot ?? ack.bytes;
      return this.snapshot;
    } finally { this.snapshotAsked = false; }
  }

  /** Restore a snapshot: a JSON object, or an ArrayBuffer (a binary snapshot, announced by a
   * `restore` with its byte length and sent as the next message). A JSON one too big for a text
   * message (the largest 2D models) goes as binary (runs/snapbin.js, loaded then). */
  async restore(snap) {
    if (!(snap instanceof ArrayBuffer)) {
      const limit = (this.hello?.limits?.max_message_bytes ?? 4 << 20) - 256, text = JSON.stringify(snap);
      if (3 * text.length <= limit || new Blob([text]).size <= limit) return this.request("restore", {snapshot: snap});
      snap = (await import("./runs/snapbin.js")).toBinary(snap).buffer;
    }
    if (snap.byteLength > MAX_SNAPSHOT) { // the websocket layer would close the connection
      return Promise.reject(Object.assign(new Error(`the state is ${(snap.byteLength / 1048576).toFixed(1)} MB; a restore takes at most 16 MiB`), {code: "too_large"}));
    }
    const p = this.request("restore", {binary: snap.byteLength});
    if (this.connected && this.ws?.readyState === WebSocket.OPEN) this.ws.send(snap);
    return p;
  }
}

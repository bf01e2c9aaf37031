// Every setting of the page in one table, serialised to and from the URL hash so that a link
// reproduces an experiment. Config fields are added to the table from GET /api/schema; only values
// that differ from their defaults are written, so a fresh page has an empty hash.

export const LAYERS = ["heatmap", "real", "fake", "d_grad", "g_grad", "manifold", "optimal_d"];
export const DEFAULT_LAYERS = ["heatmap", "real", "fake", "d_grad"];

// Speeds offered by the speed slider (epochs per second); the last stop, null, is "max".
export const SPEEDS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, null];
export const DEFAULT_SPEED = 50;

/** The table. kind: "page" (the page's own) or "config" (a server config field, dotted path). */
export const SETTINGS = [
  {key: "layers", kind: "page", default: DEFAULT_LAYERS,
    parse: (s) => s.split(",").filter((l) => LAYERS.includes(l)), format: (v) => v.join(",")},
  // A pace a room can follow (see docs/page.md); "max" is one click away.
  {key: "speed", kind: "page", default: DEFAULT_SPEED,
    parse: (s) => (s === "max" ? null : Number(s)), format: (v) => (v === null ? "max" : String(v))},
  {key: "stage_seconds", kind: "page", default: 1.5, parse: Number, format: String},
  {key: "spread", kind: "page", default: 0.02, parse: Number, format: String}, // drawn data
  // Drawn strokes (data "drawn") or an imported point set (data "points"), compressed (below).
  {key: "pts", kind: "page", default: [], parse: decodeStrokes, format: encodeStrokes},
];

export function addConfigFields(fields) {
  for (const f of fields) {
    if (SETTINGS.some((s) => s.key === f.path)) continue;
    SETTINGS.push({key: f.path, kind: "config", default: f.default, field: f,
      parse: (s) => parseValue(f, s), format: (v) => (typeof v === "object" ? JSON.stringify(v) : String(v))});
  }
}

function parseValue(f, s) {
  if (f.type === "integer") return parseInt(s, 10);
  if (f.type === "number") return Number(s);
  if (f.type === "boolean") return s === "true" || s === "1";
  if (f.type === "object") { try { return JSON.parse(s); } catch { return f.default; } }
  return s;
}

const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

/** The page state: `values` holds every setting by key. */
export class State {
  constructor() { this.values = {}; for (const s of SETTINGS) this.values[s.key] = clone(s.default); }

  get(key) { return key in this.values ? this.values[key] : SETTINGS.find((s) => s.key === key)?.default; }
  set(key, value) { this.values[key] = value; }

  /** Fill missing config keys with their defaults (after fields were added). */
  fill() { for (const s of SETTINGS) if (!(s.key in this.values)) this.values[s.key] = clone(s.default); }

  /** The config values (dotted path -> value) of this state. */
  config() {
    const out = {};
    for (const s of SETTINGS) if (s.kind === "config") out[s.key] = this.values[s.key];
    return out;
  }

  toHash() {
    const parts = [];
    for (const s of SETTINGS) {
      const v = this.values[s.key];
      if (v === undefined || same(v, s.default)) continue;
      parts.push(`${encodeURIComponent(s.key)}=${encodeURIComponent(s.format(v))}`);
    }
    return parts.join("&");
  }

  /** Read settings from a hash; unknown keys and unparsable values are ignored (returned). */
  fromHash(hash) {
    const ignored = [];
    for (const part of hash.replace(/^#/, "").split("&")) {
      if (!part) continue;
      const [k, v = ""] = part.split("=");
      const key = decodeURIComponent(k);
      const s = SETTINGS.find((x) => x.key === key);
      const value = s ? s.parse(decodeURIComponent(v)) : undefined;
      if (!s || value === undefined || Number.isNaN(value)) { ignored.push(key); continue; }
      this.values[key] = value;
    }
    return ignored;
  }
}

function clone(v) { return v === undefined ? v : JSON.parse(JSON.stringify(v)); }

// --- point compression -------------------------------------------------------------------------
// Each point is quantised to 12 bits per axis (1/4095 of the unit square, far below the 0.02
// spread of drawn data) and packed in 3 bytes, i.e. 4 base64url characters; strokes are
// separated by ".". 500 drawn points cost 2 kB of URL.

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/** Points on the link's 12-bit grid (q / 4095): data sent in this form replays exactly. */
export function quantise(points) {
  const q = (v) => Math.round(Math.min(1, Math.max(0, v)) * 4095) / 4095;
  return points.map(([x, y]) => [q(x), q(y)]);
}

export function encodeStrokes(strokes) {
  return strokes.map((stroke) => {
    let out = "";
    for (const [x, y] of stroke) {
      const qx = Math.round(Math.min(1, Math.max(0, x)) * 4095);
      const qy = Math.round(Math.min(1, Math.max(0, y)) * 4095);
      const n = (qx << 12) | qy; // 24 bits = 4 characters of 6 bits
      out += B64[(n >> 18) & 63] + B64[(n >> 12) & 63] + B64[(n >> 6) & 63] + B64[n & 63];
    }
    return out;
  }).join(".");
}

export function decodeStrokes(s) {
  if (!s) return [];
  return s.split(".").map((chunk) => {
    const stroke = [];
    for (let i = 0; i + 4 <= chunk.length; i += 4) {
      let n = 0;
      for (let j = 0; j < 4; j++) {
        const d = B64.indexOf(chunk[i + j]);
        if (d < 0) return stroke;
        n = (n << 6) | d;
      }
      stroke.push([(n >> 12) / 4095, (n & 4095) / 4095]);
    }
    return stroke;
  }).filter((st) => st.length);
}

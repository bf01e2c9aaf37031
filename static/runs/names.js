// The run format's names (docs/runs.md): what the recorder needs at once; the checks and the
// zip (format.js, zip.js) load with the Runs panel.

export const FORMAT = "ganlab-run", VERSION = 1;
const te = new TextEncoder(), td = new TextDecoder("utf-8", {fatal: true});
export const snapshotName = (e) => `snapshots/${String(e).padStart(9, "0")}.json`;
export const thumbName = (e) => `thumbs/${String(e).padStart(9, "0")}.png`;
export const encode = (obj) => te.encode(JSON.stringify(obj));
export const decode = (u8) => JSON.parse(td.decode(u8));

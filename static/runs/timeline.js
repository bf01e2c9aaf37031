// The rewind timeline under the data view: the current run's recorded epochs (its snapshots).
// Dragging shows the epoch; letting go restores that snapshot, paused, with the run's later edits
// scheduled at their epochs and a pause where the run had got to ("Replay to epoch N"): playing
// on unchanged retraces the run bit for bit (the engine is deterministic); a change on the way
// makes a branch (recorder.js). The label says how much of the run's snapshot bound is used and
// whether older snapshots were thinned to stay within it.

import {MAX_SNAPSHOTS} from "./recorder.js";

export class Timeline {
  /** host: {rewind(epoch) -> Promise, epoch() (shown now), say(text, kind)}. */
  constructor(el, recorder, host) {
    this.el = el;
    this.recorder = recorder;
    this.host = host;
    el.innerHTML = `<label for="timeline-range" class="muted">Rewind</label>
      <input id="timeline-range" type="range" min="0" max="0" step="1" value="0" aria-label="Rewind to a recorded epoch">
      <output id="timeline-label" class="muted"></output>`;
    this.range = el.querySelector("#timeline-range");
    this.label = el.querySelector("#timeline-label");
    this.busy = false;
    this.range.addEventListener("input", () => { this.dragging = true; this.showLabel(); });
    this.range.addEventListener("change", () => { this.dragging = false; this.go().catch(() => {}); });
    recorder.listeners.add(() => this.refresh());
    this.refresh();
  }

  epochs() { return (this.recorder.run?.m.snapshots || []).map((s) => s.epoch); }

  refresh() {
    const ep = this.epochs();
    this.el.hidden = ep.length < 1;
    if (this.dragging) return;
    this.range.max = String(Math.max(0, ep.length - 1));
    const now = this.host.epoch();
    let i = ep.length - 1;
    while (i > 0 && ep[i] > now) i--;
    this.range.value = String(Math.max(0, i));
    this.showLabel();
  }

  /** The epoch, how many snapshots and bytes the run keeps of its bound, and whether it thinned. */
  showLabel() {
    const r = this.recorder.run, ep = this.epochs(), e = ep[Number(this.range.value)];
    if (e === undefined) { this.label.textContent = ""; return; }
    const mb = (n) => (n / 1048576).toFixed(n < 1048576 ? 2 : 1);
    const bytes = r.m.snapshots.reduce((n, s) => n + (r.files.get(s.file)?.length || 0), 0);
    this.label.textContent = `epoch ${e} (${ep.length} ${r.thinned ? "kept" : "recorded"}, ${mb(bytes)} of ${mb(this.recorder.budget)} MB${r.thinned ? ": older ones thinned, log-spaced" : ""})`;
    this.label.title = `A run keeps at most ${MAX_SNAPSHOTS} snapshots and ${mb(this.recorder.budget)} MB of them (an image model's are megabytes, so fewer); past either, the one whose neighbours are closest on a log scale of epochs goes (never the first nor the last): dense near now, sparse early.`;
  }

  async go() {
    const e = this.epochs()[Number(this.range.value)];
    if (e === undefined || this.busy) return;
    this.busy = true;
    try { await this.host.rewind(e); } finally { this.busy = false; this.refresh(); }
  }
}

// Drawing a distribution on the data view with mouse, pen or finger (pointer events).
// Strokes are kept as lists of unit-square points; a point is only added when it is at least
// STEP away from the previous one, so fast and slow strokes give similar densities and the URL
// stays short. Undo removes the last stroke; the drawing survives reset (it is page state).

const STEP = 0.008;
const MAX_POINTS = 3000;

export class Drawing {
  constructor(canvas, toUnit, onChange, onStroke) {
    this.canvas = canvas;
    this.toUnit = toUnit;
    this.onChange = onChange;   // called when a stroke ends, on undo and on clear
    this.onStroke = onStroke;   // called while drawing (repaint)
    this.strokes = [];
    this.enabled = false;
    this.active = null;         // the stroke being drawn, and its pointer id
    canvas.addEventListener("pointerdown", (e) => this.down(e));
    canvas.addEventListener("pointermove", (e) => this.move(e));
    canvas.addEventListener("pointerup", (e) => this.up(e));
    canvas.addEventListener("pointercancel", (e) => this.up(e));
  }

  setEnabled(on) {
    this.enabled = on;
    // While drawing, a finger must draw rather than scroll the page.
    this.canvas.style.touchAction = on ? "none" : "";
    this.canvas.classList.toggle("drawing", on);
  }

  count() { return this.strokes.reduce((n, s) => n + s.length, 0); }
  points() { return this.strokes.flat(); }

  add(x, y) {
    if (x < 0 || x > 1 || y < 0 || y > 1 || this.count() >= MAX_POINTS) return;
    // On the link's 12-bit grid (state.js), so that a link replays exactly the data drawn here.
    x = Math.round(x * 4095) / 4095;
    y = Math.round(y * 4095) / 4095;
    const s = this.active.stroke, last = s[s.length - 1];
    if (last && Math.hypot(x - last[0], y - last[1]) < STEP) return;
    s.push([x, y]);
  }

  down(e) {
    if (!this.enabled || (e.pointerType === "mouse" && e.button !== 0)) return;
    e.preventDefault();
    try { this.canvas.setPointerCapture(e.pointerId); } catch { /* synthetic or already-gone pointer */ }
    this.active = {id: e.pointerId, stroke: []};
    this.strokes.push(this.active.stroke);
    this.add(...this.toUnit(e));
    this.onStroke();
  }

  move(e) {
    if (!this.active || e.pointerId !== this.active.id) return;
    // Coalesced events keep a fast pen stroke smooth (several samples per animation frame).
    const evs = e.getCoalescedEvents ? e.getCoalescedEvents() : [e];
    for (const ev of evs.length ? evs : [e]) this.add(...this.toUnit(ev));
    this.onStroke();
  }

  up(e) {
    if (!this.active || e.pointerId !== this.active.id) return;
    if (!this.active.stroke.length) this.strokes.pop();
    this.active = null;
    this.onChange();
  }

  undo() { if (this.strokes.pop()) this.onChange(); }
  clear() { if (this.strokes.length) { this.strokes = []; this.onChange(); } }
  set(strokes) { this.strokes = strokes.map((s) => s.map((p) => [p[0], p[1]])); }
}

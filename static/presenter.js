// Presenter mode for a projector: the data view and the charts take the screen, fonts grow, the
// hyperparameter column steps aside (the header keeps play, step and speed). One key (p) or the
// "Present" button toggles it; style.css does the layout (body.presenter).

/** Keep the CSS variable --header equal to the top bar's real height (it wraps differently at
 * each width and font), so the columns below fill exactly the rest of the screen. */
export function trackHeader(bar) {
  const set = () => document.documentElement.style.setProperty("--header", `${Math.ceil(bar.getBoundingClientRect().height)}px`);
  new ResizeObserver(set).observe(bar);
  set();
}

export class Presenter {
  constructor(button, onChange = () => {}) {
    this.button = button;
    this.onChange = onChange;
    button.addEventListener("click", () => this.toggle());
  }

  get on() { return document.body.classList.contains("presenter"); }

  set(on) {
    document.body.classList.toggle("presenter", on);
    this.button.setAttribute("aria-pressed", String(on));
    this.onChange(on);
  }

  toggle() { this.set(!this.on); }
}

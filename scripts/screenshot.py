"""Refresh docs/screenshot.png: the page at 1440 x 900 in headless Chromium after a few seconds of
training at the page's default pace.

    python scripts/screenshot.py                       # docs/screenshot.png, default experiment
    python scripts/screenshot.py --hash '#data=ring' --seconds 8 --out /tmp/ring.png
    python scripts/screenshot.py --size 390x844 --out /tmp/phone.png

Needs playwright and the system chromium (/usr/bin/chromium), like tests/test_page.py.
"""

from __future__ import annotations

import argparse
import socket
import threading
import time
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "docs" / "screenshot.png"))
    ap.add_argument("--size", default="1440x900", help="viewport WIDTHxHEIGHT (default 1440x900)")
    ap.add_argument("--hash", default="", help="URL hash of the experiment, e.g. '#data=ring&seed=3'")
    ap.add_argument("--seconds", type=float, default=10.0, help="seconds of training before the shot")
    ap.add_argument("--hover", action="store_true", help="hover the KL/JS chart (shows its read-out)")
    ap.add_argument("--pause", action="store_true", help="pause before the shot (default: shot while it trains)")
    args = ap.parse_args()

    import uvicorn
    from playwright.sync_api import sync_playwright

    from ganlab.server.app import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=srv.run, daemon=True).start()
    while not srv.started:
        time.sleep(0.05)
    w, h = (int(v) for v in args.size.split("x"))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": w, "height": h}, has_touch=w < 500, is_mobile=w < 500)
        page.goto(f"http://127.0.0.1:{port}/{args.hash}")
        page.wait_for_function("window.ganlab && window.ganlab.ready && window.ganlab.frames > 0")
        if args.seconds > 0:
            page.click("#play")
            page.wait_for_timeout(args.seconds * 1000)
            if args.pause:
                page.click("#play")
                page.wait_for_function("document.getElementById('play').getAttribute('aria-pressed') === 'false'")
                page.wait_for_timeout(600)  # the last frame lands, gliding fakes settle
        if args.hover:
            b = page.locator("#chart-div").bounding_box()
            page.mouse.move(b["x"] + 0.6 * b["width"], b["y"] + 0.4 * b["height"])
            page.wait_for_timeout(200)
        page.screenshot(path=args.out)
        print(f"{args.out}: {w} x {h}, epoch {page.text_content('#epoch')}")
        browser.close()
    srv.should_exit = True


if __name__ == "__main__":
    main()

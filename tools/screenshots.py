"""Screenshots of every widget app's first screen, as a person sees it: ``make screenshots``.

Serves ``widgets/[a-z]*.py`` with ``panel serve`` (and the index page of
``make serve``) on a free localhost port, opens each app in Debian's headless
Chromium through Playwright, waits until the page has settled (no Panel loading
spinner for a few seconds, or ``--settle`` seconds at most), and writes

- ``<out>/<app>.png``: the first screen, 1400x1000 CSS pixels;
- ``<out>/index.png``: the ``/`` page;
- ``<out>/console.txt``: each page's console errors and uncaught exceptions.

``<out>`` is ``reports/screenshots/`` by default, which git ignores.  With
``--thumbnails`` it also writes the small committed pictures of the index page,
``widgets/index/thumbnails/<app>.png``.  Nothing is fetched from the internet;
Chromium runs with ``--headless --no-sandbox --disable-gpu --disable-background-networking``.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("DAWNLAB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
VIEWPORT = {"width": 1400, "height": 1000}
THUMBNAIL = (480, 300)  # pixels of a committed thumbnail: the screen's top part, scaled down


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(apps: list[Path], port: int) -> subprocess.Popen:
    """``panel serve`` with the same options as ``make serve``; returns once ``/`` answers."""
    process = subprocess.Popen(
        [sys.executable, "-m", "panel", "serve", *map(str, apps), "--address", "127.0.0.1", "--port", str(port),
         "--index", "widgets/index/index.html", "--static-dirs", "thumbnails=widgets/index/thumbnails",
         f"--allow-websocket-origin=127.0.0.1:{port}"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, env={**os.environ, "TQDM_DISABLE": "1"})
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"panel serve exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10):
                return process
        except OSError:
            time.sleep(0.5)
    process.terminate()
    raise SystemExit("panel serve did not answer within 120 s")


def settle(page, limit: float, quiet: float = 3.0) -> float:
    """Wait for the first plot to draw, then until no Panel loading spinner has shown for ``quiet``
    seconds; ``limit`` seconds at most.  (Playwright's CSS locators see into Bokeh's shadow roots.)"""
    start = time.monotonic()
    try:
        page.locator("canvas").first.wait_for(state="visible", timeout=limit * 1000)
    except Exception:  # an app without a plot, or one that never drew: take what is there
        return time.monotonic() - start
    calm_since = None
    while time.monotonic() - start < limit:
        busy = page.locator(".pn-loading, .pn-busy").count()
        now = time.monotonic()
        if busy:
            calm_since = None
        elif calm_since is None:
            calm_since = now
        elif now - calm_since >= quiet:
            break
        page.wait_for_timeout(500)
    return time.monotonic() - start


def thumbnail(png: Path, target: Path) -> None:
    """The top of a screenshot at the index card's aspect ratio, scaled down, as a small palette PNG."""
    from PIL import Image

    with Image.open(png) as image:
        w = image.width
        h = round(w * THUMBNAIL[1] / THUMBNAIL[0])
        small = image.convert("RGB").crop((0, 0, w, min(h, image.height))).resize(THUMBNAIL, Image.LANCZOS)
        small.quantize(colors=128).save(target, optimize=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "screenshots",
                        help="folder for the screenshots (default reports/screenshots, ignored by git)")
    parser.add_argument("--settle", type=float, default=60.0,
                        help="seconds at most to wait for an app's first screen to finish computing")
    parser.add_argument("--thumbnails", action="store_true",
                        help="also write widgets/index/thumbnails/<app>.png for the index page")
    parser.add_argument("apps", nargs="*", help="app names (default: every widgets/[a-z]*.py)")
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"Chromium is not at {CHROMIUM}: run `make system-deps`.")
    from playwright.sync_api import sync_playwright

    apps = sorted(p for p in (ROOT / "widgets").glob("[a-z]*.py") if not args.apps or p.stem in args.apps)
    args.out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    server = serve(apps, port)
    log = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            for name in ["index"] + [a.stem for a in apps]:
                page = browser.new_page(viewport=VIEWPORT)
                errors = []
                page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
                page.on("pageerror", lambda exc: errors.append(str(exc)))
                url = f"http://127.0.0.1:{port}/" + ("" if name == "index" else name)
                start = time.monotonic()
                page.goto(url, wait_until="load", timeout=180_000)
                waited = 0.0 if name == "index" else settle(page, args.settle)
                target = args.out / f"{name}.png"
                page.screenshot(path=str(target))
                if args.thumbnails and name != "index":
                    thumbnail(target, ROOT / "widgets" / "index" / "thumbnails" / f"{name}.png")
                line = f"{name}: {time.monotonic() - start:.1f} s to a settled first screen (settling {waited:.1f} s)"
                print(line, "->", target.relative_to(ROOT) if target.is_relative_to(ROOT) else target, flush=True)
                log += [line] + [f"  console: {e}" for e in errors]
                page.close()
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=20)
    (args.out / "console.txt").write_text("\n".join(log) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

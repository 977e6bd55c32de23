"""Benchmark the web app: what a browser transfers, and how soon the first page shows content.

    make run                                      # in another terminal: cinelibre serve on :8000
    .venv/bin/python bench/bench_web.py           # or --url http://127.0.0.1:PORT --runs 10

Sizes: every file of web/ except the fonts, gzipped at level 6 (what CloudFront's automatic compression
and most servers send), and the fonts (woff2, already compressed; a browser fetches one only when a page
shows its script). Timing: headless Debian Chromium (Playwright, fresh profile each run, so nothing is
cached) loads the first page; first contentful paint comes from the Paint Timing API, "search form" is when
the form is on screen (it is in the HTML itself), "popular titles" is when the first cards from the API are.
Nothing leaves this machine.
"""

from __future__ import annotations

import argparse
import gzip
import platform
import statistics
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
WEB = REPO_ROOT / "web"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]


def sizes() -> None:
    rows = []
    for path in sorted(WEB.rglob("*")):
        if path.is_file() and path.parent.name != "fonts":
            raw = path.read_bytes()
            rows.append((str(path.relative_to(WEB)), len(raw), len(gzip.compress(raw, compresslevel=6))))
    print("| file | bytes | gzipped |\n| --- | ---: | ---: |")
    for name, raw, packed in rows:
        print(f"| {name} | {raw:,} | {packed:,} |")
    print(f"| **app without fonts** | **{sum(r[1] for r in rows):,}** | **{sum(r[2] for r in rows):,}** |")
    fonts = sorted((WEB / "fonts").glob("*.woff2"))
    print(f"\nfonts: {len(fonts)} woff2 files, {sum(f.stat().st_size for f in fonts):,} bytes in all; "
          f"largest {max(f.stat().st_size for f in fonts):,} ({max(fonts, key=lambda f: f.stat().st_size).name})")


def timings(url: str, runs: int) -> None:
    from playwright.sync_api import sync_playwright

    paint, cards, transferred = [], [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        for _ in range(runs):
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            # Note the moment the first result card is in the page (rendered from the API's answer).
            context.add_init_script("""new MutationObserver((changes, observer) => {
                if (!document.querySelector('.card')) return;
                window.__firstCardsAt = performance.now();
                observer.disconnect();
            }).observe(document, {childList: true, subtree: true});""")
            page = context.new_page()
            page.goto(url, wait_until="commit")
            page.locator("form.search").wait_for()
            page.locator(".card").first.wait_for(timeout=30000)
            marks = page.evaluate("""() => {
                const start = performance.timeOrigin;
                const fcp = performance.getEntriesByName('first-contentful-paint')[0];
                const resources = performance.getEntriesByType('resource');
                return {fcp: fcp ? fcp.startTime : null, now: performance.now(),
                        bytes: resources.reduce((sum, r) => sum + r.transferSize, 0)
                             + performance.getEntriesByType('navigation')[0].transferSize};
            }""")
            paint.append(marks["fcp"])
            cards.append(page.evaluate("window.__firstCardsAt"))
            transferred.append(marks["bytes"])
            context.close()
        browser.close()
    median = statistics.median
    print(f"\nfirst page at {url}, {runs} cold loads (fresh profile each), medians:")
    print(f"  first contentful paint (the search form): {median(paint):.0f} ms (max {max(paint):.0f})")
    print(f"  popular titles on screen (after the API answers): {median(cards):.0f} ms (max {max(cards):.0f})")
    print(f"  bytes transferred, uncompressed local server, API answers included: {median(transferred):,.0f}")
    print(f"machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000/")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sizes-only", action="store_true")
    args = parser.parse_args()
    sizes()
    if not args.sizes_only:
        timings(args.url, args.runs)


if __name__ == "__main__":
    main()

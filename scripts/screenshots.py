"""README's pictures, made from the zoo and the demo net: `python scripts/screenshots.py`.

Writes docs/resnet50-collapsed.svg (`netspec draw`), and screenshots taken
in headless chromium of the live view of GoogLeNet with a layer clicked, of the live view of the
broken demo net with its error clicked, and of AlexNet's report charts.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from browser import launch  # noqa: E402
from test_view import serving  # noqa: E402

from netspec import cli  # noqa: E402

DOCS = ROOT / "docs"


@contextlib.contextmanager
def tab(browser, width: int, height: int):
    context = browser.new_context(viewport={"width": width, "height": height})
    yield context.new_page()
    context.close()


def live_view(browser, scratch: Path, spec: Path, size: tuple[int, int], click: str, out: str) -> None:
    """A screenshot of `netspec view` on a copy of `spec`, after clicking `click`."""
    copy = scratch / spec.name
    copy.write_text(spec.read_text())
    with serving(copy, "--port", "0") as (_, port), tab(browser, *size) as page:
        page.goto(f"http://127.0.0.1:{port}/")
        page.click(click)
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(DOCS / out))


def main() -> None:
    from playwright.sync_api import sync_playwright

    cli.main(["draw", "zoo:resnet50", "--collapse", "-o", str(DOCS / "resnet50-collapsed.svg")])
    with tempfile.TemporaryDirectory() as folder, sync_playwright() as playwright:
        scratch = Path(folder)
        browser = launch(playwright)
        zoo_net = ROOT / "netspec/zoo/googlenet.prototxt"
        live_view(
            browser,
            scratch,
            zoo_net,
            (1600, 860),
            '#picture [data-layer="inception_3a/3x3"]',
            "view-googlenet.png",
        )
        clicked = ".diagnostic:has-text('kernal_size')"
        live_view(browser, scratch, DOCS / "demo.prototxt", (1300, 640), clicked, "view-broken.png")
        report = scratch / "alexnet.html"
        cli.main(["report", "zoo:alexnet", "-o", str(report)])
        with tab(browser, 1100, 800) as page:
            page.goto(report.as_uri())
            page.locator("#charts").screenshot(path=str(DOCS / "report-alexnet.png"))
        browser.close()


if __name__ == "__main__":
    main()

"""Make docs/backprop.png, the README's picture of the backprop page.

Run: .venv/bin/python docs/screenshot.py  (needs Playwright and Debian's chromium, as the tests)
It writes the chapter's page with ``chainrule show``, opens it in headless chromium, steps to
the gradient of h with the arrow key, and saves a screenshot beside this file.
"""

from __future__ import annotations

import io
import os
import shutil
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from chainrule.cli import main

HERE = Path(__file__).resolve().parent


def run() -> Path:
    folder = Path(tempfile.mkdtemp())
    page_path = folder / "backprop.html"
    if main(["show", "--out", str(page_path), "--steps", "50"]) != 0:
        sys.exit("chainrule show failed")
    out = HERE / "backprop.png"
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=args)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(page_path.resolve().as_uri())
        page.check("#cr-nograd")
        while "h" not in page.evaluate("window.chainrule.state()")["grads"]:
            page.keyboard.press("ArrowRight")           # to the step that completes dJ/dh
        png = page.screenshot()
        browser.close()
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    image = image.resize((image.width * 3 // 4, image.height * 3 // 4), Image.LANCZOS)
    image.quantize(colors=128).save(out, optimize=True)
    return out


if __name__ == "__main__":
    print(run())

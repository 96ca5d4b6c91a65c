"""Headless Debian chromium, driven by Playwright: what the page tests and scripts/screenshots.py
open pages in.  Never Playwright's own browser download: the one the system has, or a clear failure."""

from __future__ import annotations

import shutil

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    path = shutil.which("chromium")
    assert path, "Debian's chromium is not installed: apt-get install chromium (.ci/run installs it)"
    return path


def launch(playwright):
    """A fresh headless chromium (Playwright gives it a new, empty profile directory)."""
    return playwright.chromium.launch(executable_path=chromium_path(), args=FLAGS)

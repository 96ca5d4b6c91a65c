"""Diagnostic codes are stable and documented: every code the source can emit is in
docs/diagnostics.md, and every documented code is one the source emits."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def emitted() -> set[str]:
    codes = set()
    for path in (ROOT / "netspec").rglob("*.py"):
        codes |= set(re.findall(r'"(NS\d{4})"', path.read_text()))
    return codes


def documented() -> set[str]:
    text = (ROOT / "docs" / "diagnostics.md").read_text()
    return set(re.findall(r"^\| (NS\d{4}) \|", text, re.M))


def test_every_emitted_code_is_documented():
    assert sorted(emitted() - documented()) == []


def test_every_documented_code_is_emitted():
    assert sorted(documented() - emitted()) == []

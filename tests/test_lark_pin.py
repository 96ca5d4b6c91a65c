"""netspec reads lark's LALR(1) tables out of lark's internals (frontend/text.py's _lalr:
`Lark(...).parser.parser.parser.parse_table`, its Shift/Reduce actions, its Rule objects) and drives
them with a parser loop of its own, because lark's lexer and parser objects alone cost as much as
netspec's whole parse of a file.  Those internals are not lark's public API, so pyproject.toml pins
lark to the releases netspec is tested with, and this test says at once, in lark's words, when a
lark release moves them (rather than every spec failing to parse)."""

from __future__ import annotations

import re
from importlib import metadata, resources
from pathlib import Path

from netspec import zoo
from netspec.diagnostics import Diagnostics
from netspec.frontend import text
from netspec.source import SourceFile

ROOT = Path(__file__).resolve().parents[1]


def _version(value: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", value)[:3])


def test_the_installed_lark_is_within_the_pin():
    pin = re.search(r'"lark>=([\d.]+),<([\d.]+)"', (ROOT / "pyproject.toml").read_text())
    assert pin, "pyproject.toml pins lark to a range: netspec reads lark's internal LALR tables"
    installed = _version(metadata.version("lark"))
    assert _version(pin.group(1)) <= installed < _version(pin.group(2))


def test_lark_internals_give_the_tables_netspec_drives(tmp_path, monkeypatch):
    """Built afresh through lark (no cached tables), the tables parse every zoo spec as the cached
    ones do: each action is a shift to a state or a reduce by one of lark's rules."""
    grammar = resources.files("netspec.grammars").joinpath("prototxt.lark").read_text()
    data = text._lalr(grammar)
    rules = len(data["rules"])
    for actions in data["states"].values():
        for shift, target in actions.values():
            assert (str(target) in data["states"]) if shift else (0 <= target < rules)
    expected = {name: _fields(name) for name in zoo.names()}
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    text._tables.cache_clear()
    try:
        assert {name: _fields(name) for name in zoo.names()} == expected
        assert list(tmp_path.glob("netspec/prototxt-lalr-*.marshal"))  # built through lark, then cached
    finally:
        text._tables.cache_clear()


def _fields(name: str):
    diagnostics = Diagnostics()
    with open(zoo.path(name), encoding="utf-8") as handle:
        fields = text.parse(SourceFile(name, handle.read()), diagnostics)
    assert not diagnostics.has_errors and fields
    return repr(fields)

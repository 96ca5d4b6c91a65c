"""The registry's class data: each layer type's family (what it does) and dialect (who defined it),
and the docs that list the dialects' types agreeing with them."""

from __future__ import annotations

import marshal
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from netspec.layers import REGISTRY
from netspec.layers.base import FAMILIES, LayerType, register

DOCS = Path(__file__).resolve().parents[1] / "docs"


def documented_dialects() -> dict[str, str]:
    """{type: dialect} from docs/dialects.md's tables, each under a heading naming its dialect."""
    out, dialect = {}, None
    for line in (DOCS / "dialects.md").read_text().splitlines():
        if line.startswith("## "):
            found = re.search(r"dialect `(\w+)`", line)
            dialect = found.group(1) if found else None
        elif dialect and (row := re.match(r"\| `(\w+)` \|", line)):
            out[row.group(1)] = dialect
    return out


def test_every_fork_type_is_in_its_dialects_table_and_only_there():
    forks = {name: kind.dialect for name, kind in REGISTRY.items() if kind.dialect not in (None, "netspec")}
    assert documented_dialects() == forks


def test_docs_dialects_md_tables_are_generated_from_the_layer_classes():
    """After changing a fork type's class data: python -m netspec.dialects --write"""
    from netspec.dialects import render

    text = (DOCS / "dialects.md").read_text()
    assert text.count("<!-- end of generated table -->") == 8
    assert render(text) == text


def test_a_stale_dialects_table_is_made_again_from_the_classes():
    from netspec.dialects import render

    text = (DOCS / "dialects.md").read_text()
    row = next(line for line in text.splitlines() if line.startswith("| `PriorBox` |"))
    assert render(text.replace(row + "\n", "")) == text
    assert render(text.replace(row, row.replace("(0.5)", "(0.25)"))) == text


def test_a_bvlc_type_given_a_fork_field_is_in_that_fork_s_table():
    from netspec.dialects import table

    assert "| `Dropout` (BVLC's type, the fork's field) | `dropout_param.scale_train`" in table("rcnn", False)
    assert "Dropout" not in table("ssd", False) + table("ssd", True)


def test_every_netspec_type_has_its_section_in_extensions_md():
    text = (DOCS / "extensions.md").read_text()
    ours = [name for name, kind in REGISTRY.items() if kind.dialect == "netspec"]
    assert ours and all(f'`type: "{name}"`' in text for name in ours)


def test_every_family_has_a_type():
    assert {kind.family for kind in REGISTRY.values()} == set(FAMILIES)


def test_a_type_without_a_family_is_refused():
    with pytest.raises(ValueError, match="needs a family of"):

        @register
        class Nameless(LayerType):
            type = "Nameless"

    assert "Nameless" not in REGISTRY


def test_no_layer_module_branches_on_the_opset():
    """Operators whose signature changed across opsets are built by LowerContext's helpers
    (reduce, resize, maxpool_clips_ceil), in one place, not by each layer."""
    layers = Path(__file__).resolve().parents[1] / "netspec" / "layers"
    assert [p.name for p in sorted(layers.glob("*.py")) if "ctx.opset" in p.read_text()] == []


def test_docs_architecture_md_lists_each_family_in_its_modules():
    """Each row of its family table: the modules, the families, and every type they hold."""
    rows = re.findall(
        r"^\| (`[\w.]+`(?:, `[\w.]+`)*) \| ([\w, ]+) \| (.+) \|$",
        (DOCS / "architecture.md").read_text(),
        re.M,
    )
    documented, listed = {}, {}
    for modules, families, types in rows:
        for module in re.findall(r"`(\w+)\.py`", modules):
            documented[module] = set(families.replace(" ", "").split(","))
            listed[module] = set(re.findall(r"\w+", types))
    found: dict[str, set[str]] = {}
    for name, kind in REGISTRY.items():
        module = type(kind).__module__.rsplit(".", 1)[1]
        found.setdefault(module, set()).add(kind.family)
        assert name in listed[module], f"{name} is not in the row of {module}.py"
    assert found == documented


def test_netspec_layers_lists_each_type_with_its_family_dialect_and_role(capsys):
    from netspec.cli import main

    assert main(["layers"]) == 0
    rows = {line.split()[0]: line.split(maxsplit=3)[1:] for line in capsys.readouterr().out.splitlines()[1:]}
    assert rows["ConvolutionDepthwise"] == ["convolution", "forks", "deploy"]
    assert rows["Convolution"] == ["convolution", "BVLC", "deploy"]
    assert rows["MultiBoxLoss"] == ["loss", "ssd", "training only"]
    assert rows["Input"] == ["data", "BVLC", "data"]
    assert set(rows) == set(REGISTRY)


def _in_a_fresh_process(code: str, cache: Path) -> str:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout


ASK = (
    "import sys\nfrom netspec.layers import REGISTRY\n"
    "print([type(REGISTRY[t]).__module__ for t in ('Convolution', 'ReLU', 'MultiBoxLoss')])\n"
    "print(sorted(m for m in sys.modules if m.startswith('netspec.layers.')))"
)


def test_a_type_asked_for_imports_its_family_and_not_the_others(tmp_path):
    _in_a_fresh_process(ASK, tmp_path)  # builds the index
    families, modules = _in_a_fresh_process(ASK.replace(", 'MultiBoxLoss'", ""), tmp_path).splitlines()
    assert families == "['netspec.layers.conv', 'netspec.layers.activation']"
    assert "netspec.layers.conv" in modules and "netspec.layers.recurrent" not in modules


def test_the_index_names_each_type_s_module():
    index = REGISTRY.index()
    assert index == {name: type(kind).__module__.rsplit(".", 1)[1] for name, kind in REGISTRY.items()}


def test_a_stale_index_still_finds_every_type(tmp_path):
    """An index that names the wrong module, or lacks a type (one added since), costs time only."""
    _in_a_fresh_process(ASK, tmp_path)
    (cached,) = (tmp_path / "netspec").glob("layer-types*")
    kept = marshal.loads(cached.read_bytes())
    stale = {**kept["data"], "Convolution": "loss"}
    del stale["ReLU"], stale["MultiBoxLoss"]
    cached.write_bytes(marshal.dumps({"key": kept["key"], "data": stale}))
    families = _in_a_fresh_process(ASK, tmp_path).splitlines()[0]
    assert families == "['netspec.layers.conv', 'netspec.layers.activation', 'netspec.layers.loss']"
    assert "Nonesuch" not in REGISTRY and REGISTRY.get("Nonesuch") is None


def test_only_files_an_import_could_name_are_families(tmp_path, monkeypatch):
    from netspec.layers import base

    for name in ("conv.py", ".#conv.py", "conv 2.py", "__init__.py", "base.py", "notes.txt"):
        (tmp_path / name).write_text("")
    monkeypatch.setattr(base, "__file__", str(tmp_path / "base.py"))
    assert list(base._family_files()) == ["conv.py"]

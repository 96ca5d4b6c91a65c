"""The shortcuts that keep `netspec check` and `netspec compile` fast give the same results as the
long way round: the cached parser tables, the spliced model encoding, the lazy imports."""

from __future__ import annotations

import marshal
import os
import subprocess
import sys

import pytest
from oracles import compile_text

from netspec.diagnostics import Diagnostics
from netspec.frontend import text
from netspec.proto.wire import serialize
from netspec.source import SourceFile

SPEC = """name: "tiny"
input: "data" input_shape { dim: 2 dim: 3 dim: 8 dim: 8 }
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
        convolution_param { num_output: 4 kernel_size: 3 pad: 1 } }
layer { name: "bn" type: "BatchNorm" bottom: "conv" top: "conv" }
layer { name: "relu" type: "ReLU" bottom: "conv" top: "conv" }
layer { name: "fc" type: "InnerProduct" bottom: "conv" top: "fc" inner_product_param { num_output: 5 } }
layer { name: "prob" type: "Softmax" bottom: "fc" top: "prob" }
"""


@pytest.fixture
def fresh_tables(monkeypatch, tmp_path):
    """Parser tables built or read anew, with the cache in a directory of the test's own."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    text._tables.cache_clear()
    yield tmp_path / "cache" / "netspec"
    text._tables.cache_clear()


def _tree(source: str = SPEC):
    return text.parse(SourceFile("x.prototxt", source), Diagnostics())


def _cached(folder) -> dict:
    """The cache file's content: {"key": the grammar's text, "data": the tables}."""
    (cached,) = folder.glob("prototxt-lalr-*")
    return marshal.loads(cached.read_bytes())


def test_parser_tables_are_cached_and_read_back_without_lark(fresh_tables, monkeypatch):
    built = _tree()
    assert _cached(fresh_tables)["data"]["states"]
    text._tables.cache_clear()
    monkeypatch.setattr(text, "_lalr", lambda grammar: pytest.fail("rebuilt the tables despite the cache"))
    assert _tree() == built


def test_an_unwritable_cache_directory_is_done_without(fresh_tables, tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache directory would go")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    assert _tree() is not None
    assert list(tmp_path.glob("**/prototxt-lalr-*")) == []


def test_a_corrupt_or_stale_cache_file_is_rebuilt(fresh_tables):
    expected = _tree()
    (cached,) = fresh_tables.glob("prototxt-lalr-*")
    good = _cached(fresh_tables)
    grammar, tables = good["key"], good["data"]
    for junk in (
        marshal.dumps({"key": grammar, "data": {**tables, "patterns": 3}}),
        b"not marshal",
        marshal.dumps(3),
        marshal.dumps({"key": grammar, "data": {**tables, "states": {"0": {"NAME": [False, 99]}}}}),
        marshal.dumps({"key": grammar.replace("NAME", "NOM"), "data": tables}),  # another grammar's
        marshal.dumps(tables),
    ):
        cached.write_bytes(junk)
        text._tables.cache_clear()
        assert _tree() == expected
        rebuilt = _cached(fresh_tables)
        assert rebuilt["key"] == grammar and rebuilt["data"]["states"]


def test_serialize_is_byte_for_byte_serialize_to_string():
    model, _, _ = compile_text(SPEC)
    assert len(model.graph.initializer) >= 4
    assert serialize(model) == model.SerializeToString()


def test_serialize_of_a_model_without_initializers():
    model, _, _ = compile_text(SPEC)
    del model.graph.initializer[:]
    assert serialize(model) == model.SerializeToString()


def _modules_after(argv: list[str], tmp_path) -> set[str]:
    path = tmp_path / "net.prototxt"
    path.write_text(SPEC)
    code = (
        "import sys\nfrom netspec.cli import main\n"
        f"main({[*argv, str(path)]!r})\nprint(' '.join(sorted(sys.modules)))"
    )
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return set(done.stdout.splitlines()[-1].split())  # the last line: after what `main` printed


def test_check_imports_neither_onnx_nor_onnxruntime_nor_lark_nor_numpy_once_tables_are_cached(tmp_path):
    _modules_after(["check"], tmp_path)  # builds the tables
    modules = _modules_after(["check"], tmp_path)
    assert "netspec.infer" in modules and "netspec.layers.conv" in modules
    assert (
        not {
            "onnx",
            "onnxruntime",
            "lark",
            "numpy",
            "tempfile",
            "csv",
            "json",
            "hashlib",
            "difflib",
            "shutil",
        }
        & modules
    )
    assert "netspec.layers.recurrent" not in modules  # only the families of the net's types
    assert not {"netspec.codes", "netspec.stubs"} & modules  # a file without errors, a check without --stub


def test_compile_at_the_default_opset_does_not_probe_onnxruntime(tmp_path):
    modules = _modules_after(["compile", "-o", str(tmp_path / "net.onnx")], tmp_path)
    assert (tmp_path / "net.onnx").exists()
    assert "onnxruntime" not in modules

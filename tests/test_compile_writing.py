"""compile writes a model straight from its weights' memory (lower.Lowered, proto.wire.write): the
same bytes as the model serialized, checked by ONNX before it appears, and on a terminal a progress
line for any step that takes over a second."""

from __future__ import annotations

import io
import time

import onnx

from netspec import pipeline, progress
from netspec.cli import OK, main
from netspec.lower import lower_apart
from netspec.pipeline import check
from netspec.proto import wire
from netspec.weights import bind


def test_a_model_written_from_its_weights_apart_is_the_model_serialized():
    checked = check("zoo:squeezenet1_1")
    blobs = bind(checked.analysis, None, checked.diagnostics, seed=3)
    done = lower_apart(checked.analysis, blobs, checked.diagnostics)
    out = io.BytesIO()
    wire.write(out, done.model, done.values)
    model = done.inline()
    assert out.getvalue() == model.SerializeToString() == wire.serialize(model)
    assert not done.values  # inlining lets go of every array


def test_compile_writes_the_bytes_the_api_model_has(tmp_path, capsys):
    out = tmp_path / "m.onnx"
    assert main(["compile", "zoo:mobilenet_v1", "-o", str(out)]) == OK
    model = pipeline.compile(check("zoo:mobilenet_v1"))
    assert out.read_bytes() == model.SerializeToString()
    onnx.checker.check_model(str(out), full_check=True)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_slow_step_shows_a_progress_line_on_a_terminal_and_clears_it(monkeypatch):
    monkeypatch.setattr(progress, "AFTER_S", 0.05)
    monkeypatch.setattr(progress, "EVERY_S", 0.02)
    screen = Terminal()
    with progress.Progress(screen).stage("reading weights"):
        time.sleep(0.2)
    shown = screen.getvalue()
    assert "\r\x1b[Knetspec: reading weights... " in shown and shown.endswith("\r\x1b[K")
    with progress.Progress(screen).stage("quick"):
        pass
    assert "quick" not in screen.getvalue()


def test_no_progress_line_where_stderr_is_not_a_terminal(monkeypatch):
    monkeypatch.setattr(progress, "AFTER_S", 0.0)
    plain = io.StringIO()
    with progress.Progress(plain).stage("reading weights"):
        time.sleep(0.05)
    assert plain.getvalue() == ""


def test_compile_on_a_terminal_says_which_step_is_slow(monkeypatch, tmp_path):
    import sys

    from netspec import weights

    monkeypatch.setattr(progress, "AFTER_S", 0.05)
    slow_bind = weights.bind

    def bind_slowly(*args, **kwargs):
        time.sleep(0.2)
        return slow_bind(*args, **kwargs)

    monkeypatch.setattr(weights, "bind", bind_slowly)
    screen = Terminal()
    monkeypatch.setattr(sys, "stderr", screen)
    assert main(["compile", "zoo:lenet", "-o", str(tmp_path / "m.onnx")]) == OK
    assert "netspec: drawing weights from the spec's fillers... " in screen.getvalue()

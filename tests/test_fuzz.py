"""A seeded slice of fuzzing: mutated zoo specs end in diagnostics, never in a traceback.

Each mutant (tokens or lines deleted, duplicated or swapped, the text cut short, a number
made 0, -1, huge, nan or fractional, a layer given another known type, a top renamed, a
field inserted) goes through check; one that checks clean must compile to a model that
ONNX's full checker accepts and onnxruntime runs.  The same seeds give the same mutants.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import onnx
import pytest
from oracles import CORPUS, needs_corpus

from netspec import zoo
from netspec.diagnostics import render_all
from netspec.layers import REGISTRY
from netspec.pipeline import check, compile, run
from netspec.runtime import RunError

SEEDS = ("lenet", "lenet5", "deepbind", "squeezenet1_1", "dilated_context")
LEGACY = ("BVLC__caffe@rc/examples/mnist/lenet.prototxt", "BVLC__caffe@v0.99/examples/lenet/lenet.prototxt")
MUTANTS_PER_SEED = 60
TOKEN = re.compile(r'"[^"\n]*"|#[^\n]*|[-+]?\d+\.?\d*(?:[eE][-+]?\d+)?|\w+|\s+|.', re.S)
NUMBER = re.compile(r"(?<=: )[-+]?\d+\.?\d*(?:[eE][-+]?\d+)?")
NUMBERS = ("0", "-1", "1099511627776", "1e40", "nan", "-inf", "1.5", "4294967296", "3")
FIELDS = (
    "kernel_size: 1000",
    "stride: 0",
    "group: 3",
    "num_output: 0",
    "pad: -1",
    "dim: 0",
    "axis: 7",
    "global_pooling: true",
    "local_size: 4",
    'weight_filler { type: "nope" }',
    "include { phase: TRAIN }",
    'top: "data"',
    'bottom: "data"',
)
BUGS = ("NS0399", "NS0499")  # netspec's own failures, reported instead of a traceback


def _tokens(rng: random.Random, text: str) -> str:
    tokens = TOKEN.findall(text)
    i, j = rng.randrange(len(tokens)), rng.randrange(len(tokens))
    how = rng.choice(("delete", "duplicate", "swap"))
    if how == "delete":
        del tokens[i]
    elif how == "duplicate":
        tokens.insert(i, tokens[i])
    else:
        tokens[i], tokens[j] = tokens[j], tokens[i]
    return "".join(tokens)


def _lines(rng: random.Random, text: str) -> str:
    lines = text.split("\n")
    i = rng.randrange(len(lines))
    if rng.random() < 0.5:
        del lines[i]
    else:
        lines.insert(i, lines[i])
    return "\n".join(lines)


def _truncate(rng: random.Random, text: str) -> str:
    return text[: rng.randrange(len(text))]


def _number(rng: random.Random, text: str) -> str:
    found = list(NUMBER.finditer(text))
    m = rng.choice(found)
    return text[: m.start()] + rng.choice(NUMBERS) + text[m.end() :]


def _retype(rng: random.Random, text: str) -> str:
    found = list(re.finditer(r'type: "(\w+)"', text))
    m = rng.choice(found)
    return text[: m.start(1)] + rng.choice(sorted(REGISTRY)) + text[m.end(1) :]


def _rename_top(rng: random.Random, text: str) -> str:
    found = list(re.finditer(r'top: "(\w*)"', text))
    m = rng.choice(found)
    return text[: m.start(1)] + rng.choice(("", "renamed", "data")) + text[m.end(1) :]


def _insert_field(rng: random.Random, text: str) -> str:
    opening = rng.choice([m.end() for m in re.finditer(r"\{", text)])
    return text[:opening] + f" {rng.choice(FIELDS)} " + text[opening:]


MUTATIONS = (_tokens, _lines, _truncate, _number, _number, _retype, _retype, _rename_top, _insert_field)


def mutants(name: str, text: str) -> list[str]:
    rng = random.Random(f"fuzz:{name}")
    return [rng.choice(MUTATIONS)(rng, text) for _ in range(MUTANTS_PER_SEED)]


def checked_mutants(name: str, text: str):
    """(description, Checked) of each mutant, after asserting it ended in diagnostics alone."""
    for index, mutant in enumerate(mutants(name, text)):
        where = f"{name} mutant {index}:\n{mutant}\n"
        checked = check("mutant.prototxt", content=mutant)
        bugs = [d for d in checked.diagnostics if d.code in BUGS]
        assert not bugs, where + render_all(bugs)
        assert all(d.span is None or d.span.line >= 1 for d in checked.diagnostics), where
        yield where, checked


@needs_corpus
@pytest.mark.parametrize("path", LEGACY)
def test_mutated_v0_and_v1_specs_end_in_diagnostics(path):
    for _ in checked_mutants(path, (CORPUS / path).read_text()):
        pass


@pytest.mark.parametrize("name", SEEDS)
def test_mutated_specs_end_in_diagnostics_and_clean_ones_compile_and_run(name):
    text = Path(zoo.path(name)).read_text()
    body = text[text.index("\nname:") :]  # past the header comment: mutate the net, not the prose
    for where, checked in checked_mutants(name, body):
        diagnostics = checked.diagnostics
        if diagnostics.has_errors:
            continue
        model = compile(checked)
        assert model is not None, where + render_all(diagnostics)  # what check accepts compiles
        onnx.checker.check_model(model, full_check=True)
        try:
            run(model, provider="cpu")
        except RunError as problem:
            pytest.fail(f"{where}\nchecked clean but does not run: {problem.message}")

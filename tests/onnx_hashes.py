"""The byte-identity guard's nets and hashes: the sha256 of the ONNX bytes netspec writes for every
zoo net (at the default opset and at the oldest, where the opset-dependent lowerings take their other
branch) and every corpus net that compiles, weights from the spec's fillers at seed 0.

A change meant to be a pure refactoring leaves every hash as it is.  A change that alters output on
purpose re-records them, and its commit says which change altered which net:

    PYTHONPATH=. python tests/onnx_hashes.py

rewrites tests/data/onnx_hashes.json (the corpus nets only where the shared corpus is present).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from oracles import CORPUS

from netspec import lower, zoo
from netspec import weights as binding
from netspec.opsets import DEFAULT_OPSET, MIN_OPSET
from netspec.pipeline import check

RECORD = Path(__file__).resolve().parent / "data" / "onnx_hashes.json"
ZOO_OPSETS = (DEFAULT_OPSET, MIN_OPSET)


def corpus_paths() -> list[str]:
    """Every net of the shared corpus (solvers left out), by its path under the corpus."""
    if not (CORPUS / "MANIFEST.tsv").is_file():
        return []
    with open(CORPUS / "MANIFEST.tsv") as handle:
        return [r["local_path"] for r in csv.DictReader(handle, delimiter="\t") if r["format"] != "solver"]


def nets() -> dict[str, tuple[str, tuple[int, ...]]]:
    """{key: (path, opsets)} of every net the guard compiles; a key is 'zoo:NAME' or 'corpus:PATH'."""
    out = {f"zoo:{name}": (zoo.path(name), ZOO_OPSETS) for name in zoo.names()}
    out.update({f"corpus:{p}": (str(CORPUS / p), (DEFAULT_OPSET,)) for p in corpus_paths()})
    return out


def digests(path: str, opsets: tuple[int, ...]) -> dict[str, str | None]:
    """{opset: sha256 of the model netspec writes} for `path`, None where it does not compile.
    The weights are bound once and lowered at each opset, as `netspec compile` would."""
    checked = check(path)
    if checked.analysis is None or checked.diagnostics.has_errors:
        return {str(o): None for o in opsets}
    blobs = binding.bind(checked.analysis, None, checked.diagnostics, seed=0)
    out = {}
    for opset in opsets:
        options = lower.Options(opset=opset, source=os.path.basename(path))
        model = lower.lower(checked.analysis, blobs, checked.diagnostics, options)
        out[str(opset)] = hashlib.sha256(model.SerializeToString()).hexdigest() if model is not None else None
    return out


def recorded() -> dict[str, dict[str, str | None]]:
    return json.loads(RECORD.read_text())


def record() -> dict[str, dict[str, str | None]]:
    hashes = {key: digests(path, opsets) for key, (path, opsets) in nets().items()}
    if not corpus_paths():  # keep the corpus's hashes where the corpus is absent
        hashes.update({k: v for k, v in recorded().items() if k.startswith("corpus:")})
    RECORD.write_text(json.dumps(hashes, indent=1, sort_keys=True) + "\n")
    return hashes


if __name__ == "__main__":
    written = [h for v in record().values() for h in v.values()]
    print(
        f"{RECORD}: {sum(h is not None for h in written)} models, {written.count(None)} that do not compile"
    )

"""No change in any output unless meant: the ONNX bytes of every zoo net and every corpus net that
compiles hash as recorded (tests/onnx_hashes.py says how to re-record after a change meant to alter
them)."""

from __future__ import annotations

import pytest
from onnx_hashes import corpus_paths, digests, nets, recorded

NETS = nets()
RECORDED = recorded()


def test_every_net_has_recorded_hashes():
    """A net added to the zoo (or the corpus) is recorded too; the corpus is compared where present."""
    kinds = ("zoo:", "corpus:") if corpus_paths() else ("zoo:",)
    assert sorted(NETS) == sorted(k for k in RECORDED if k.startswith(kinds))


@pytest.mark.parametrize("key", sorted(NETS))
def test_onnx_bytes_are_as_recorded(key):
    path, opsets = NETS[key]
    assert digests(path, opsets) == RECORDED[key]

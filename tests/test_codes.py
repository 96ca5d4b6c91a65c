"""The diagnostic codes' one catalogue (netspec/codes.py): docs/diagnostics.md is generated from it,
and `netspec explain CODE` prints an entry."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from netspec.cli import main
from netspec.codes import CODES, markdown
from netspec.pipeline import check

ROOT = Path(__file__).resolve().parents[1]


def test_docs_diagnostics_md_is_generated_from_the_catalogue():
    """After adding a code: python -m netspec.codes > docs/diagnostics.md"""
    assert (ROOT / "docs" / "diagnostics.md").read_text() == markdown()


def test_codes_are_in_order_within_their_ranges():
    codes = list(CODES)
    assert codes == sorted(codes) and len(codes) == len(set(codes))


def test_explain_prints_the_entry_of_a_code(capsys):
    assert main(["explain", "NS0320"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("NS0320 (warning/info (lint `tiling`)): A window that does not tile its input")
    assert "`--allow tiling` turns it off." in out


def test_explain_reads_a_code_as_people_type_it():
    done = subprocess.run(
        [sys.executable, "-m", "netspec", "explain", "ns203"], capture_output=True, text=True, check=True
    )
    assert done.stdout.startswith("NS0203 (warning/error): A layer name used twice")


def test_explain_of_an_unknown_code_is_a_usage_error(capsys):
    assert main(["explain", "NS9999"]) == 2
    assert "no diagnostic code 'NS9999'" in capsys.readouterr().err


def test_a_solver_without_a_net_stops_the_check_as_its_catalogue_entry_says(tmp_path):
    solver = tmp_path / "solver.prototxt"
    solver.write_text('net: "missing.prototxt"\nbase_lr: 0.01\n')
    checked = check(str(solver))
    assert [d.code for d in checked.diagnostics.errors] == ["NS0001"]
    assert checked.diagnostics.errors[0].stops_check and checked.net is None

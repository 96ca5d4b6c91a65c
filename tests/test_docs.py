"""The docs say what the code does: every diagnostic code the source can emit is in
docs/diagnostics.md and every documented code is one the source emits; README's tour is what
`netspec check docs/demo.prototxt` prints."""

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


def test_readme_tour_is_what_check_prints(monkeypatch, capsys):
    from netspec.cli import SPEC_ERRORS, main

    readme = (ROOT / "README.md").read_text()
    tour = re.search(r"```text\n\$ netspec check docs/demo.prototxt\n(.*?)```", readme, re.S)
    assert tour, "README's tour runs `netspec check docs/demo.prototxt`"
    monkeypatch.chdir(ROOT)
    assert main(["check", "docs/demo.prototxt"]) == SPEC_ERRORS
    assert capsys.readouterr().err == tour.group(1)


def test_readme_fmt_tour_is_what_fmt_prints(monkeypatch, capsysbinary):
    import io

    from netspec.cli import main

    readme = (ROOT / "README.md").read_text()
    tour = re.search(r"```text\n\$ printf '(.*?)' \| netspec fmt -\n(.*?)```", readme, re.S)
    assert tour, "README's tour shows `netspec fmt -`"
    given = tour.group(1).replace("\\n", "\n").encode()
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(given)))
    assert main(["fmt", "-"]) == 0
    assert capsysbinary.readouterr().out.decode() == tour.group(2)

"""Secondary places as rustc draws them: a second excerpt under the first, underlined with '-' and
labelled, rather than "first used at line N" in a note."""

from __future__ import annotations

from netspec.diagnostics import render
from netspec.pipeline import check

HEAD = 'name: "t"\nlayer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 } } }\n'


def rendered(text: str, code: str) -> tuple[dict, str]:
    checked = check("t.prototxt", content=text)
    found = next(d for d in checked.diagnostics if d.code == code)
    return found.to_json(), render(found, checked.spec.sources)


def test_a_layer_name_used_twice_labels_its_first_use():
    record, text = rendered(HEAD + 'layer { name: "data" type: "ReLU" bottom: "data" top: "r" }\n', "NS0203")
    assert text.splitlines()[1:5] == [
        ' 3 | layer { name: "data" type: "ReLU" bottom: "data" top: "r" }',
        "   |               ^^^^^^",
        ' 2 | layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 } } }',
        "   |               ------ first used here",
    ]
    assert record["labels"] == [{"file": "t.prototxt", "line": 2, "column": 15, "label": "first used here"}]
    assert "notes" not in record


def test_a_field_given_twice_labels_where_it_was_first_given():
    spec = HEAD + 'layer { name: "r" type: "ReLU" bottom: "data" top: "r"\n  top: "s" name: "again" }\n'
    _, text = rendered(spec, "NS0106")
    assert text.splitlines()[1:5] == [
        ' 4 |   top: "s" name: "again" }',
        "   |            ^^^^",
        ' 3 | layer { name: "r" type: "ReLU" bottom: "data" top: "r"',
        "   |         ---- first given here",
    ]

"""`netspec fmt`: one canonical layout that keeps every comment and never changes a net's meaning."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from oracles import CORPUS

from netspec import zoo
from netspec.builder import L, NetSpec
from netspec.cli import main
from netspec.fmt import format_source
from netspec.frontend.load import load_text
from netspec.source import SourceFile

CORPUS_FILES = sorted(CORPUS.rglob("*.prototxt")) if CORPUS.is_dir() else []


def fmt(text: str) -> str:
    result, diagnostics = format_source(SourceFile("t.prototxt", text))
    assert result is not None, [d.message for d in diagnostics]
    return result


def read_back(path: str, text: str) -> tuple[bytes, list[tuple[str, str]]]:
    """The net a text means: its NetParameter and its diagnostics (codes and messages)."""
    spec = load_text(path, text)
    return spec.param.SerializeToString(), [(d.code, d.message) for d in spec.diagnostics]


def comments(text: str) -> list[str]:
    return [c.rstrip() for c in re.findall(r"#[^\n]*", re.sub(r'"(?:[^"\\\n]|\\.)*"', '""', text))]


MESSY = """\
name: "messy"   # the net's name
input: "data"  input_shape { dim: 1 dim: 3 dim: 8 dim: 8 }
# the first layer


layer <
  name: "conv1", type: "Convolution" ; bottom: "data" top: "conv1"
  convolution_param: { num_output: 4 kernel_size: 3   # a trailing note
    weight_filler { type: "xavier" } }
  param: { lr_mult: 1 }   param { lr_mult: 2 }
>
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }  # in place
# the end
"""

CANONICAL = """\
name: "messy"  # the net's name
input: "data"
input_shape { dim: 1 dim: 3 dim: 8 dim: 8 }
# the first layer

layer {
  name: "conv1"
  type: "Convolution"
  bottom: "data"
  top: "conv1"
  convolution_param {
    num_output: 4
    kernel_size: 3  # a trailing note
    weight_filler { type: "xavier" }
  }
  param { lr_mult: 1 }
  param { lr_mult: 2 }
}
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }  # in place
# the end
"""


def test_layout_is_protobufs_with_comments_blank_lines_and_one_line_messages_kept():
    assert fmt(MESSY) == CANONICAL


def test_formatting_is_a_fixed_point():
    assert fmt(CANONICAL) == CANONICAL


def test_crlf_line_endings_become_lf_and_the_layout_is_the_lf_files():
    assert fmt(CANONICAL.replace("\n", "\r\n")) == CANONICAL


def test_a_one_line_message_too_wide_for_a_line_is_split_and_stays_split():
    wide = 'layer { name: "a_rather_long_layer_name" type: "Convolution" bottom: "data" top: "a_rather_long_layer_name" }\n'
    once = fmt(wide)
    assert once.splitlines()[0] == "layer {" and len(once.splitlines()) == 6
    assert fmt(once) == once


def test_strings_keep_their_escapes_and_quotes_and_numbers_their_spelling():
    text = 'name: \'it\\\'s\' source: "a\\tb" "c"\nbase_lr: 1e-3 momentum: .9 gamma: 0x10 x: -inf\n'
    out = fmt(text)
    assert "name: 'it\\'s'\n" in out and 'source: "a\\tb" "c"\n' in out
    assert "base_lr: 1e-3\nmomentum: .9\ngamma: 0x10\nx: -inf\n" in out


def test_a_comment_inside_a_field_moves_to_its_own_line_before_the_field():
    """A comment between a field's name and its value (or inside a [list]) has no place of its own
    in the layout: it goes on the line before the field, kept, in order, the net unchanged."""
    text = (
        'name: # the name\n  "x"\ninput_shape { dim: # batch\n 1 }\ninput_dim: [1, # one\n 3]\n'
        "layer: # a layer\n{ }\n"
    )
    out = fmt(text)
    assert out == (
        '# the name\nname: "x"\ninput_shape {\n  # batch\n  dim: 1\n}\n# one\ninput_dim: [1, 3]\n'
        "# a layer\nlayer {}\n"
    )
    assert read_back("t.prototxt", out) == read_back("t.prototxt", text)
    assert fmt(out) == out


def test_a_negative_number_written_apart_from_its_sign_is_joined_to_it():
    """`power: -` then `2` on the next line is the number -2 (protobuf reads it so): written as
    one token, the layout keeps its lines, and the net reads the same."""
    text = "layer { power_param { power: -\n  2 scale: - inf } }\n"
    out = fmt(text)
    assert out == "layer {\n  power_param {\n    power: -2\n    scale: -inf\n  }\n}\n"
    assert read_back("t.prototxt", out) == read_back("t.prototxt", text)


def test_builder_text_is_already_canonical():
    n = NetSpec("tiny")
    n.data = L.Input(shape=dict(dim=[1, 3, 32, 32]))
    n.conv1 = L.Convolution(n.data, kernel_size=3, num_output=16, weight_filler=dict(type="msra"))
    n.relu1 = L.ReLU(n.conv1, in_place=True)
    text = n.to_text(header="A tiny net.\nTwo lines of header.")
    assert fmt(text) == text


@pytest.mark.parametrize("name", zoo.names())
def test_zoo_specs_are_formatted(name):
    path = zoo.path(name)
    with open(path) as handle:
        text = handle.read()
    assert fmt(text) == text


V1_NET = """\
name: "v1"  # V1 layers, upgraded by `netspec upgrade`, not by fmt
input: "data" input_dim: 1 input_dim: 1 input_dim: 8 input_dim: 8
layers { name: "ip" type: INNER_PRODUCT bottom: "data" top: "ip"
  blobs_lr: 1 blobs_lr: 2 inner_product_param { num_output: 2 } }
"""
V0_NET = """\
name: "v0"
input: "data" input_dim: 1 input_dim: 1 input_dim: 8 input_dim: 8
layers { layer { name: "ip" type: "innerproduct" num_output: 2 } bottom: "data" top: "ip" }
"""


def test_a_net_with_mistakes_keeps_the_same_diagnostics():
    """An unknown field and a misspelt enum value are read back the same after formatting."""
    demo = (Path(__file__).resolve().parents[1] / "docs" / "demo.prototxt").read_text()
    text = demo.replace("pool: MAX", "pool: MAXX")
    before, after = read_back("d.prototxt", text), read_back("d.prototxt", fmt(text))
    assert after == before
    assert {"NS0103", "NS0104"} <= {code for code, _ in before[1]}


@pytest.mark.parametrize("text", [V1_NET, V0_NET], ids=["V1", "V0"])
def test_old_formats_keep_their_meaning_and_are_not_upgraded(text):
    out = fmt(text)
    assert read_back("t.prototxt", out) == read_back("t.prototxt", text)
    assert "layers {" in out


@pytest.mark.skipif(not CORPUS_FILES, reason=f"the shared corpus is absent ({CORPUS})")
@pytest.mark.parametrize("path", CORPUS_FILES, ids=[str(p.relative_to(CORPUS)) for p in CORPUS_FILES])
def test_corpus_file_means_the_same_keeps_its_comments_and_formats_to_a_fixed_point(path):
    text = path.read_bytes().decode("utf-8", "surrogateescape")
    out = fmt(text)
    assert read_back(str(path), out) == read_back(str(path), text)
    assert comments(out) == comments(text)
    assert fmt(out) == out


def test_cli_prints_the_formatted_text(tmp_path, capsysbinary):
    spec = tmp_path / "net.prototxt"
    spec.write_text(MESSY)
    assert main(["fmt", str(spec)]) == 0
    assert capsysbinary.readouterr().out.decode() == CANONICAL
    assert spec.read_text() == MESSY  # printed, not rewritten


def test_cli_in_place_rewrites_only_files_that_change_and_keeps_non_utf8_comments(tmp_path):
    messy, tidy = tmp_path / "messy.prototxt", tmp_path / "tidy.prototxt"
    messy.write_bytes(MESSY.encode().replace(b"# the end", b"# \xb5\xc4 gbk"))
    tidy.write_text(CANONICAL)
    before = tidy.stat().st_mtime_ns
    assert main(["fmt", "-i", str(messy), str(tidy)]) == 0
    assert messy.read_bytes() == CANONICAL.encode().replace(b"# the end", b"# \xb5\xc4 gbk")
    assert tidy.stat().st_mtime_ns == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["messy.prototxt", "tidy.prototxt"]


def test_cli_in_place_rewrites_the_file_a_link_points_to_and_keeps_its_permissions(tmp_path):
    """-i formats the file the user keeps: through a symbolic link (the link stays a link), and
    with the file's own permissions (a private file stays private)."""
    real, link = tmp_path / "real.prototxt", tmp_path / "link.prototxt"
    real.write_text(MESSY)
    real.chmod(0o600)
    link.symlink_to(real.name)
    assert main(["fmt", "-i", str(link)]) == 0
    assert link.is_symlink() and real.read_text() == CANONICAL
    assert real.stat().st_mode & 0o777 == 0o600


def test_cli_check_lists_the_files_that_would_change_and_exits_1(tmp_path, capsys):
    messy, tidy = tmp_path / "messy.prototxt", tmp_path / "tidy.prototxt"
    messy.write_text(MESSY)
    tidy.write_text(CANONICAL)
    assert main(["fmt", "--check", str(messy), str(tidy)]) == 1
    assert capsys.readouterr().out == f"{messy}\n"
    assert main(["fmt", "--check", str(tidy)]) == 0
    assert messy.read_text() == MESSY


def test_cli_diff_shows_a_unified_diff(tmp_path, capsys):
    spec = tmp_path / "net.prototxt"
    spec.write_text('name: "x"\nlayer < name: "a" >\n')
    assert main(["fmt", "--diff", str(spec)]) == 0
    out = capsys.readouterr().out
    assert '-layer < name: "a" >\n+layer { name: "a" }\n' in out and out.startswith(f"--- {spec}\n")


def test_cli_reads_standard_input(monkeypatch, capsysbinary):
    import io

    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(MESSY.encode())))
    assert main(["fmt", "-"]) == 0
    assert capsysbinary.readouterr().out.decode() == CANONICAL


def test_cli_leaves_a_file_that_does_not_parse_untouched_with_its_syntax_error(tmp_path, capsys):
    broken, fine = tmp_path / "broken.prototxt", tmp_path / "fine.prototxt"
    broken.write_text('layer { name: "a"\n')
    fine.write_text(MESSY)
    assert main(["fmt", "-i", str(broken), str(fine)]) == 1
    assert "error[NS0101]" in capsys.readouterr().err
    assert broken.read_text() == 'layer { name: "a"\n'
    assert fine.read_text() == CANONICAL


def test_cli_refuses_several_files_without_a_mode_and_in_place_on_stdin(tmp_path, capsys):
    spec = tmp_path / "net.prototxt"
    spec.write_text(MESSY)
    assert main(["fmt", str(spec), str(spec)]) == 2
    assert main(["fmt", "-i", "-"]) == 2
    assert "standard input" in capsys.readouterr().err

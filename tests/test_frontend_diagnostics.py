"""A catalogue of broken specs: each pins its diagnostic's code, line and column.

The expected position is computed from the text itself (the line holding a
marker and the column where the offending token starts), so each case reads
as "this token, here, is the problem".
"""

from __future__ import annotations

import pytest
from oracles import diagnostic, position

from netspec.diagnostics import Diagnostics, Severity
from netspec.frontend.load import LoadError
from netspec.frontend.upgrade import upgrade
from netspec.pipeline import check, load
from netspec.source import SourceMap

HEAD = 'name: "t"\nlayer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } } }\n'


def conv(body: str, extra: str = "") -> str:
    return (
        HEAD + f'layer {{ name: "conv1" type: "Convolution" bottom: "data" top: "conv1" {extra}\n'
        f"  convolution_param {{ {body} }}\n}}\n"
    )


def diagnose(text: str):
    return list(check("t.prototxt", content=text).diagnostics)


CASES = [
    # (id, text, code, token the caret points at, occurrence, words the message or help must contain)
    (
        "misspelt_field_suggests_nearest",
        conv("num_output: 4 kernal_size: 3"),
        "NS0103",
        "kernal_size",
        1,
        ["unknown field 'kernal_size' in ConvolutionParameter", "did you mean 'kernel_size'?"],
    ),
    (
        "param_field_written_in_layer_says_where_it_belongs",
        HEAD + 'layer { name: "c" type: "Convolution" bottom: "data" top: "c" kernel_size: 3 }\n',
        "NS0103",
        "kernel_size",
        1,
        ["belongs inside convolution_param"],
    ),
    (
        "unknown_top_level_field",
        HEAD + "layerz { }\n",
        "NS0103",
        "layerz",
        1,
        ["unknown field 'layerz' in NetParameter", "'layer'"],
    ),
    (
        "unknown_enum_value_lists_valid_ones",
        HEAD
        + 'layer { name: "p" type: "Pooling" bottom: "data" top: "p" pooling_param { pool: MAXX kernel_size: 2 } }\n',
        "NS0104",
        "MAXX",
        1,
        ["not a value of PoolMethod", "MAX, AVE, STOCHASTIC", "did you mean MAX?"],
    ),
    (
        "v2_only_type_in_a_v1_net_says_to_write_it_in_v2_form",
        'name: "t"\ninput: "data" input_dim: 1 input_dim: 3 input_dim: 8 input_dim: 8\n'
        'layers { name: "c" type: CONVOLUTION bottom: "data" top: "c" convolution_param { num_output: 2 kernel_size: 3 } }\n'
        'layers { name: "crop" type: CROP bottom: "c" bottom: "data" top: "crop" }\n',
        "NS0104",
        "CROP",
        1,
        [
            "not a value of LayerType",
            "newer types (Crop, BatchNorm",
            'V2 `layer { type: "..." }`',
            "netspec upgrade",
        ],
    ),
    (
        "enum_value_in_lower_case_suggests_upper",
        HEAD
        + 'layer { name: "p" type: "Pooling" bottom: "data" top: "p" pooling_param { pool: max kernel_size: 2 } }\n',
        "NS0104",
        "max",
        1,
        ["did you mean MAX?"],
    ),
    (
        "enum_number_out_of_range",
        HEAD
        + 'layer { name: "p" type: "Pooling" bottom: "data" top: "p" pooling_param { pool: 7 kernel_size: 2 } }\n',
        "NS0104",
        "7",
        1,
        ["7 is not a value of PoolMethod"],
    ),
    (
        "quoted_number_for_integer_field",
        conv('num_output: "4" kernel_size: 3'),
        "NS0105",
        '"4"',
        1,
        ["expects an unsigned integer, found a string"],
    ),
    (
        "fraction_for_integer_field_suggests_whole",
        conv("num_output: 4.0 kernel_size: 3"),
        "NS0105",
        "4.0",
        1,
        ["expects an unsigned integer, found 4.0", "write a whole number, e.g. 4"],
    ),
    (
        "identifier_for_integer_field",
        conv("num_output: four kernel_size: 3"),
        "NS0105",
        "four",
        1,
        ["expects an unsigned integer, found an identifier (four)"],
    ),
    (
        "negative_for_unsigned_field",
        conv("num_output: -4 kernel_size: 3"),
        "NS0105",
        "-4",
        1,
        ["out of range"],
    ),
    (
        "integer_overflow",
        conv("num_output: 99999999999 kernel_size: 3"),
        "NS0105",
        "99999999999",
        1,
        ["out of range for an unsigned integer"],
    ),
    (
        "unquoted_string_says_quote_it",
        HEAD + "layer { name: conv9 }\n",
        "NS0105",
        "conv9",
        1,
        ["expects a string", 'quote it: "conv9"'],
    ),
    (
        "bool_spelt_yes",
        conv("num_output: 4 kernel_size: 3 bias_term: yes"),
        "NS0105",
        "yes",
        1,
        ["expects true or false"],
    ),
    (
        "number_for_float_field_accepts_but_string_does_not",
        HEAD + 'layer { name: "l" type: "LRN" bottom: "data" top: "l" lrn_param { alpha: "0.1" } }\n',
        "NS0105",
        '"0.1"',
        1,
        ["expects a number, found a string"],
    ),
    (
        "block_for_scalar_field",
        conv("num_output { } kernel_size: 3"),
        "NS0105",
        "num_output",
        1,
        ["expects an unsigned integer, not a message block", "write num_output: <value>"],
    ),
    (
        "scalar_for_message_field",
        HEAD + 'layer { name: "c" type: "Convolution" convolution_param: 5 }\n',
        "NS0105",
        "convolution_param",
        1,
        ["is a message (ConvolutionParameter)", "write convolution_param { ... }"],
    ),
    (
        "list_for_singular_field",
        conv("num_output: [4, 5] kernel_size: 3"),
        "NS0105",
        "num_output",
        1,
        ["holds one value, not a list"],
    ),
    (
        "singular_field_given_twice",
        conv("num_output: 4 num_output: 5 kernel_size: 3"),
        "NS0106",
        "num_output",
        2,
        ["field 'num_output' is given twice", "remove one of them"],
    ),
    (
        "message_field_given_twice",
        HEAD
        + 'layer { name: "c" type: "Convolution" bottom: "data" top: "c"\n convolution_param { num_output: 1 }\n'
        " convolution_param { kernel_size: 1 } }\n",
        "NS0106",
        "convolution_param",
        2,
        ["given twice", "merge them"],
    ),
    (
        "unclosed_block_points_at_its_brace",
        HEAD + 'layer { name: "c" type: "ReLU"\n',
        "NS0101",
        "{",
        HEAD.count("{") + 1,
        ["'layer {') is never closed", "the file ends here", "add the '}' that ends 'layer'"],
    ),
    (
        "stray_closing_brace",
        HEAD + "}\n",
        "NS0101",
        "}",
        HEAD.count("}") + 1,
        ["unexpected '}'", "closes no open block"],
    ),
    (
        "field_with_a_colon_and_no_value_is_reported_at_the_name",
        HEAD + 'layer {\n  name: "r"\n  type:\n  bottom: "data"\n}\n',
        "NS0101",
        "type",
        2,
        ["field 'type' has no value", "write type: <value>"],
    ),
    (
        "missing_colon_before_value",
        HEAD + 'layer { name "c" }\n',
        "NS0101",
        '"c"',
        1,
        ["unexpected '\"c\"'", "put ':' between a field name and its value"],
    ),
    (
        "unclosed_block_found_by_the_indentation_of_the_next_closer",
        HEAD + 'layer {\n  name: "c"\n  type: "Convolution"\n  convolution_param {\n    num_output: 4\n'
        '\n}\nlayer {\n  name: "r"\n  type: "ReLU"\n}\n',
        "NS0101",
        "{",
        HEAD.count("{") + 2,
        ["'convolution_param {') is never closed", "indented as line 3, this '}' closes 'layer {'"],
    ),
    (
        "unclosed_layer_before_the_next_layer_at_the_start_of_a_line",
        HEAD + 'layer {\n  name: "c"\n  type: "ReLU"\n\nlayer {\n  name: "r"\n  type: "ReLU"\n}\n',
        "NS0101",
        "{",
        HEAD.count("{") + 1,
        ["'layer {') is never closed", "'layer {' starts here, still inside the block"],
    ),
    (
        "missing_opening_quote_is_one_error_at_the_word",
        HEAD + 'layer {\n  name: relu1"\n  type: "ReLU"\n}\n',
        "NS0102",
        "relu1",
        1,
        ['string relu1" has no opening quote', 'write "relu1"'],
    ),
    (
        "bare_words_are_reported_on_their_own_line",
        'name: small net\nlayer { name: "data" type: "Input" top: "data" }\n',
        "NS0101",
        "small",
        1,
        ["bare words 'small net' where 'name' takes one value", 'quote a string: name: "small net"'],
    ),
    (
        "half_typed_field_name_is_reported_at_the_name",
        HEAD + 'layer { name: "r" type: "ReLU" bottom: "data" top: "r"\n  bot\n}\n',
        "NS0101",
        "bot\n",
        1,
        ["field 'bot' has no value", "write bot: <value>"],
    ),
    ("unterminated_string", HEAD + 'layer { name: "c }\n', "NS0102", '"c', 1, ["unterminated string"]),
    ("stray_character", HEAD + "layer { name: @c }\n", "NS0102", "@", 1, ["unexpected character '@'"]),
    (
        "bottom_nothing_produces_suggests_nearest",
        HEAD + 'layer { name: "r" type: "ReLU" bottom: "date" top: "r" }\n',
        "NS0201",
        '"date"',
        1,
        ["reads blob 'date', which no earlier layer produces", "did you mean 'data'?"],
    ),
    (
        "top_produced_twice",
        HEAD + 'layer { name: "d2" type: "Input" top: "data" input_param { shape { dim: 1 } } }\n',
        "NS0202",
        '"data"',
        3,
        ["writes blob 'data' as top 0, but layer 'data' already produces it"],
    ),
    (
        "layer_name_used_twice",
        HEAD + 'layer { name: "data" type: "InnerProduct" bottom: "data" top: "fc" '
        "inner_product_param { num_output: 2 } }\n",
        "NS0203",
        '"data"',
        3,
        ["layer name 'data' is used twice, and weights are bound to layers by name", "first used here"],
    ),
    (
        "unknown_layer_type_suggests_nearest",
        HEAD + 'layer { name: "c" type: "Convolutoin" bottom: "data" top: "c" }\n',
        "NS0309",
        '"Convolutoin"',
        1,
        ["has type 'Convolutoin', which netspec does not know", "did you mean 'Convolution'"],
    ),
    (
        "unknown_field_holding_a_known_name_is_not_called_a_misspelling",
        HEAD + 'layer { name: "c" type: "ReLU" bottom: "data" top: "c" yolov3_detection_output_param { } }\n',
        "NS0103",
        "yolov3_detection_output_param",
        1,
        ["is not a misspelt 'detection_output_param'", "docs/dialects.md"],
    ),
    (
        "misspelt_block_of_a_known_type_stays_an_unknown_field",
        HEAD + 'layer { name: "c" type: "Convolution" bottom: "data" top: "c" '
        "convoluton_param { num_output: 2 kernel_size: 1 } }\n",
        "NS0103",
        "convoluton_param",
        1,
        ["unknown field 'convoluton_param' in LayerParameter", "did you mean 'convolution_param'"],
    ),
    (
        "layer_without_type",
        HEAD + 'layer { name: "c" bottom: "data" top: "c" }\n',
        "NS0308",
        'layer { name: "c"',
        1,
        ["layer 'c' has no type"],
    ),
    (
        "solver_file_says_which_net",
        'net: "train_val.prototxt"\nbase_lr: 0.01\nmax_iter: 100\n',
        "NS0001",
        "net",
        1,
        ["this is a solver file", "pass that file instead", "train_val.prototxt"],
    ),
]


@pytest.mark.parametrize(
    ("text", "code", "token", "occurrence", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_broken_spec_is_reported_at_its_token(text, code, token, occurrence, words):
    d = diagnostic(text, code)
    assert d.severity is Severity.ERROR
    assert (d.span.line, d.span.column) == position(text, token, occurrence)
    said = " ".join([d.message, d.help or "", *d.notes, *(label for _, label in d.labels)])
    for word in words:
        assert word in said, f"{word!r} not in {said!r}"


def test_every_independent_mistake_is_reported_in_one_run():
    text = (
        conv("num_output: 4 kernal_size: 3 group: x")
        + 'layer { name: "r" type: "ReLU" bottom: "cnv1" top: "r" }\n'
    )
    codes = [d.code for d in diagnose(text) if d.severity is Severity.ERROR]
    assert codes.count("NS0103") == 1 and codes.count("NS0105") == 1 and "NS0201" in codes


def test_solver_with_embedded_net_reads_that_net():
    text = (
        'base_lr: 0.01\nnet_param {\n  name: "inner"\n'
        + "\n".join("  " + line for line in HEAD.splitlines()[1:])
        + '\n  layer { name: "r" type: "ReLU" bottom: "data" top: "r" }\n}\n'
    )
    checked = check("s.prototxt", content=text)
    assert not checked.diagnostics.has_errors
    assert [layer.name for layer in checked.net.layers] == ["data", "r"]
    note = next(d for d in checked.diagnostics if d.code == "NS0002")
    assert (note.span.line, note.span.column) == position(text, "net_param")
    assert checked.analysis.shape(checked.net.layers[1].tops[0]) == (1, 3, 8, 8)


def test_a_solver_file_with_a_misspelt_field_is_still_read_as_a_solver():
    """One typo does not turn a solver into a net with every field unknown: the typo is the one
    unknown field, of SolverParameter, with its fix."""
    text = 'net: "train_val.prototxt"\nbase_lr: 0.01\nlr_polcy: "step"\n'
    found = [(d.code, d.message, d.help) for d in diagnose(text)]
    assert [code for code, _, _ in found] == ["NS0103", "NS0001"], found
    assert found[0][1:] == ("unknown field 'lr_polcy' in SolverParameter", "did you mean 'lr_policy'?")


def test_positions_inside_a_solvers_net_point_into_the_solver_file():
    text = 'base_lr: 0.01\nnet_param {\n  layer { name: "r" type: "ReLU" bottom: "nothing" top: "r" }\n}\n'
    d = diagnostic(text, "NS0201")
    assert (d.span.line, d.span.column) == position(text, '"nothing"')


def test_syntax_errors_on_separate_lines_are_all_reported():
    text = (
        HEAD
        + 'layer { name "a" type: "ReLU" }\nlayer { name: "b" type: @ }\nlayer { name: "c" bottom: "data" top: "c" ] }\n'
    )
    found = [(d.code, d.span.line) for d in diagnose(text) if d.code in ("NS0101", "NS0102")]
    assert found == [("NS0101", 3), ("NS0102", 4), ("NS0101", 5)]


@pytest.mark.parametrize(
    ("text", "ran_out"),
    [
        (HEAD + 'layer {\n  name: "c"\n  type: "ReLU"\n', ('"ReLU"', 1, 5)),  # its last character
        (HEAD + 'layer {\n  name: "c"\n\nlayer {\n  name: "d"\n}\n', ("layer", 3, 0)),
        (HEAD + 'layer {\n  name: "c"\n  param {\n    lr_mult: 1\n}\n', ("}", HEAD.count("}") + 1, 0)),
    ],
    ids=["end_of_file", "next_layer", "closer_indented_as_the_layer"],
)
def test_an_unclosed_block_is_labelled_where_the_parser_found_it_ended(text, ran_out):
    token, occurrence, inside = ran_out
    d = diagnostic(text, "NS0101")
    ((span, _),) = d.labels
    line, column = position(text, token, occurrence)
    assert (span.line, span.column) == (line, column + inside)


@pytest.mark.parametrize(
    "broken",
    [
        'layer {\n  name: "c"\n  type: "ReLU"\n  bottom: "data"\n  top: "c"\n\n',  # unclosed
        'layer {\n  name: c"\n  type: "ReLU"\n  bottom: "data"\n  top: "c"\n}\n',  # opening quote
        'layer {\n  name: "c"\n  type: "ReLU"\n  bottom: "data"\n  top: "c"\n  bot\n}\n',  # half typed
    ],
    ids=["unclosed_brace", "missing_quote", "half_typed_field"],
)
def test_the_rest_of_a_file_with_a_syntax_error_is_still_checked(broken):
    """One syntax error, and the layers after it still bind and shape-check: a mistake of theirs is found."""
    text = (
        HEAD
        + broken
        + 'layer { name: "p" type: "Pooling" bottom: "data" top: "p" pooling_param { pool: MAXX } }\n'
    )
    found = [d.code for d in diagnose(text) if d.severity is Severity.ERROR]
    assert found.count("NS0101") + found.count("NS0102") == 1 and "NS0104" in found, found


CONV_TYPED_TO = (
    'layer {\n  name: "c"\n  type: "Convolution"\n  bottom: "data"\n  top: "c"\n'
    "  convolution_param {\n    num_output: 2\n    kernel_size: 3\n    %s\n  }\n}\n"
    'layer { name: "r" type: "ReLU" bottom: "c" top: "c" }\n'
    'layer { name: "p" type: "Pooling" bottom: "data" top: "p" pooling_param { pool: MAXX } }\n'
)


@pytest.mark.parametrize(
    "typed",
    [
        "stride:",
        "stride:\n    pad: 1",
        'stride:\n    weight_filler { type: "xavier" }',
        "stride: }\n  param {",
        "stride:;",
        "stride:, ; 2",
    ],
    ids=[
        "before_the_closer",
        "before_the_next_field",
        "before_a_block",
        "before_a_closer_on_its_line",
        "before_a_separator",
        "before_separators_and_a_value",
    ],
)
def test_a_field_typed_up_to_its_colon_is_one_error_at_its_name_and_the_rest_is_checked(typed):
    """`stride:` with its value not typed yet: one error at 'stride', not at whatever follows it,
    and the layers after it (one reading the half-typed layer's top) are read as written."""
    text = HEAD + CONV_TYPED_TO % typed
    found = [(d.code, d.span.line, d.message) for d in diagnose(text) if d.severity is Severity.ERROR]
    syntax = [f for f in found if f[0] in ("NS0101", "NS0102")]
    assert syntax == [("NS0101", position(text, "stride")[0], "syntax error: field 'stride' has no value")]
    assert "NS0104" in [code for code, _, _ in found] and "NS0201" not in [code for code, _, _ in found]


@pytest.mark.parametrize(
    "typed, at",
    [
        ("num_ou", "num_ou\n"),
        ("stride:", "stride"),
        ("stride: @", "@"),
        ("weight_filler { type: }", "type: }"),
    ],
    ids=["half_typed_name", "no_value_yet", "value_that_did_not_lex", "nested_deeper"],
)
def test_a_field_being_typed_in_a_layer_leaves_the_shapes_below_it_known(typed, at):
    """One error at the field; the layer is read as if the field were not written yet, so the
    layer reading its top has its shape, and the rest of the file is checked as before."""
    text = HEAD + CONV_TYPED_TO % typed
    checked = check("t.prototxt", content=text)
    errors = [(d.code, (d.span.line, d.span.column)) for d in checked.diagnostics.errors]
    syntax = [e for e in errors if e[0] in ("NS0101", "NS0102")]
    assert syntax == [(syntax[0][0], position(text, at))] and len(errors) == 2, errors
    assert checked.analysis.info("r").tops == [(1, 2, 6, 6)]  # Caffe's: 8 - 3 + 1, stride and dilation 1


@pytest.mark.parametrize(
    "typed",
    ['  top: "c"\n  bot\n', '  top: "c"\n  top:\n', '  top: "c"\n  ty\n', '  top: "c"\n  include { pha }\n'],
    ids=["bottom", "top", "type", "phase_rule"],
)
def test_a_layer_whose_place_in_the_net_is_being_typed_is_not_checked_further(typed):
    """A half-typed field that may be a bottom, a top, the type or a phase rule leaves the layer
    unchecked (as a brace left open does): the layers reading its top have no shape, and nothing
    more is said."""
    text = HEAD + CONV_TYPED_TO.replace('  top: "c"\n', typed) % "stride: 1"
    checked = check("t.prototxt", content=text)
    assert [d.code for d in checked.diagnostics.errors] == ["NS0101", "NS0104"]
    assert checked.analysis.info("r").tops == [None]


def test_a_layer_read_without_a_field_it_needs_says_nothing_more_and_its_tops_are_unknown():
    """`num_output:` not typed yet: the convolution cannot be shaped without it, and that is the
    syntax error's to say, not a second error's."""
    text = HEAD + CONV_TYPED_TO.replace("num_output: 2", "num_output:") % "stride: 1"
    checked = check("t.prototxt", content=text)
    assert [d.code for d in checked.diagnostics.errors] == ["NS0101", "NS0104"]
    assert checked.analysis.info("r").tops == [None]


@pytest.mark.parametrize("typed, code", [("stride:", "NS0101"), ('stride: "3"', "NS0105")])
def test_shapes_from_a_missing_fields_default_raise_no_error_in_the_layers_below(typed, code):
    """`stride:` not typed yet (or `stride: "3"`, which does not bind) reads as stride 1, so c is
    8x8 where 3x3 was meant: the Eltwise adding it to a 4x4 blob says nothing of the mismatch (the
    field's own error says what is wrong) and its top is unknown."""
    text = (
        HEAD + 'layer { name: "c" type: "Convolution" bottom: "data" top: "c"\n'
        f"  convolution_param {{ num_output: 3 kernel_size: 1\n    {typed}\n  }}\n}}\n"
        'layer { name: "p" type: "Pooling" bottom: "data" top: "p" pooling_param { pool: MAX kernel_size: 2 stride: 2 } }\n'
        'layer { name: "e" type: "Eltwise" bottom: "c" bottom: "p" top: "e" }\n'
    )
    checked = check("t.prototxt", content=text)
    assert [d.code for d in checked.diagnostics.errors] == [code]
    assert checked.analysis.info("c").tops == [(1, 3, 8, 8)] and checked.analysis.info("e").tops == [None]
    done = check("t.prototxt", content=text.replace(f"    {typed}\n", "    stride: 3\n")).diagnostics.errors
    assert [(d.code, d.layer) for d in done] == [("NS0359", "e")]  # 3x3 against 4x4, once stride is typed


@pytest.mark.parametrize(
    "typed, code, at, help",
    [
        ("stridd: 1", "NS0103", "stridd", "did you mean 'stride' or 'stride_w' or 'stride_h'?"),
        ("engine: CAFE", "NS0104", "CAFE", "did you mean CAFFE?"),
        ('pad: "0"', "NS0105", '"0"', None),
        ("weight_filler: 1", "NS0105", "weight_filler", "write weight_filler { ... }"),
        ("bias_term: [true]", "NS0105", "bias_term", "write bias_term: <value>"),
        ("engine: CAFFE engine: CUDNN", "NS0106", "engine: CUDNN", "remove one of them"),
    ],
    ids=[
        "unknown_field",
        "enum_value",
        "value_of_another_kind",
        "scalar_for_a_block",
        "list_for_one_value",
        "given_twice",
    ],
)
def test_a_field_that_does_not_bind_in_a_layer_leaves_the_shapes_below_it_known(typed, code, at, help):
    """A field the binder refuses (a name or an enum value typed halfway, a value of the wrong
    kind, a field given twice) is its one error, with its fix; the layer is read without it, so
    the layer reading its top has its shape and nothing more is said."""
    text = HEAD + CONV_TYPED_TO % typed
    checked = check("t.prototxt", content=text)
    errors = [(d.code, (d.span.line, d.span.column), d.help) for d in checked.diagnostics.errors]
    assert errors[0] == (code, position(text, at), help)
    assert [e[0] for e in errors[1:]] == ["NS0104"]  # p's MAXX, whose layer is read without it too
    assert len(checked.diagnostics.items) == 2  # nothing more said, not even a warning
    assert checked.analysis.info("r").tops == [(1, 2, 6, 6)]  # Caffe's: 8 - 3 + 1, the defaults


@pytest.mark.parametrize(
    "typed",
    [
        '  top: "c"\n  botom: "x"\n',
        '  top: "c"\n  type: Convolution\n',
        '  top: "c"\n  include { phase: TRAN }\n',
        '  top: "c"\n  phase: TRAN\n',
    ],
    ids=["misspelt_bottom", "type_given_twice", "phase_rule", "phase"],
)
def test_a_layer_whose_place_in_the_net_does_not_bind_is_not_checked_further(typed):
    """A field the binder refuses that may be a bottom, a top, the type or a phase rule leaves the
    layer unchecked, as the parser's dropped fields do: the layers reading its top have no shape."""
    text = HEAD + CONV_TYPED_TO.replace('  top: "c"\n', typed) % "stride: 1"
    checked = check("t.prototxt", content=text)
    assert [d.code for d in checked.diagnostics.errors][1:] == ["NS0104"]
    assert checked.analysis.info("r").tops == [None]


def test_one_syntax_mistake_is_reported_once():
    text = HEAD + 'layer { name: "c" type: "ReLU }\n'
    assert [d.code for d in diagnose(text)] == ["NS0102"]


def test_a_layer_whose_text_is_wrong_is_not_reported_again_by_the_checker():
    """The misspelt kernel_size is the mistake; 'kernel size not given' would say it twice."""
    text = conv("num_output: 4 kernal_size: 3")
    assert [d.code for d in diagnose(text) if d.severity is Severity.ERROR] == ["NS0103"]


def test_every_text_format_feature_binds_as_protobufs_own_parser_reads_it():
    """Comments, ':' before a block, angle brackets, separators, lists, quotes and escapes,
    adjacent literals, exponents, signed infinities and enum names, against text_format."""
    from google.protobuf import text_format

    from netspec.proto import caffe_pb2

    text = (
        '# a comment\nname: "n" \'et\' "\\t\\"q\\"\\101"  # trailing comment\n'
        "input: 'data'; input_dim: [1, 3, 0x10, 16],\n"
        'layer: { name: "c" type: "Convolution" bottom: "data" top: "c", '
        "convolution_param < num_output: 4 kernel_size: [3] bias_term: false "
        "weight_filler { type: 'gaussian' std: 1.5e-2 mean: -2E+1 } > "
        "param { lr_mult: 1.0f } param { lr_mult: 2 } }\n"
        'layer { name: "t" type: "Threshold" threshold_param { threshold: -inf } include { phase: TEST } }\n'
    )
    bound = load("f.prototxt", content=text)
    assert not bound.diagnostics.has_errors
    theirs = upgrade(text_format.Parse(text, caffe_pb2.NetParameter()), SourceMap(), Diagnostics())
    assert bound.param == theirs
    assert bound.param.name == 'net\t"q"A'


def test_an_angle_block_closed_with_a_brace_says_which_closer_it_needs():
    text = HEAD + 'layer { name: "c" type: "ReLU" bottom: "data" top: "c" include < phase: TEST } }\n'
    d = diagnostic(text, "NS0101")
    assert (d.span.line, d.span.column) == position(text, "}", HEAD.count("}") + 1)
    assert d.help == "the block opened with '<' closes with '>'"


def test_a_file_not_in_utf8_reads_with_a_warning_at_its_first_bad_byte(tmp_path):
    path = tmp_path / "gbk.prototxt"
    comment = "# 卷积层 (convolution)\n".encode("gbk")
    path.write_bytes(
        b'name: "gbk"\ninput: "data" input_shape { dim: 1 dim: 3 dim: 8 dim: 8 }\n'
        + comment
        + b'layer { name: "relu" type: "ReLU" bottom: "data" top: "relu" }\n'
    )
    checked = check(str(path))
    (warning,) = [d for d in checked.diagnostics if d.severity is not Severity.INFO]
    assert (warning.code, warning.severity, warning.span.line, warning.span.column) == (
        "NS0005",
        Severity.WARNING,
        3,
        3,
    )
    assert [layer.name for layer in checked.net.layers] == ["input", "relu"]


def test_a_binary_file_given_as_the_spec_names_the_weights_option(tmp_path):
    path = tmp_path / "w.caffemodel"
    path.write_bytes(b"\n\x05lenet\x8a\x06\x00\x00\x00")
    with pytest.raises(
        LoadError, match=r"is a binary Caffe weights file \(\.caffemodel\), not a network spec"
    ):
        check(str(path))


def test_a_byte_order_mark_is_refused_as_caffe_does_with_a_fix():
    found = diagnostic("\ufeff" + HEAD, "NS0102")
    assert (found.span.line, found.span.column) == (1, 1)
    assert "byte-order mark" in found.message and found.help == "save the file as UTF-8 without a BOM"


def test_a_template_placeholder_is_one_error_that_names_it_not_three():
    """DeepLab's configs are shell templates (`num_output: ${NUM_LABELS}`): one error over the
    whole placeholder, not '$' unexpected, a block with no value and a type mismatch."""
    text = HEAD + (
        'layer { name: "fc" type: "InnerProduct" bottom: "data" top: "fc"\n'
        "  inner_product_param { num_output: ${NUM_LABELS} } }\n"
    )
    (found,) = diagnose(text)
    assert found.code == "NS0102"
    assert (found.span.line, found.span.column) == position(text, "${NUM_LABELS}")
    assert found.span.length == len("${NUM_LABELS}")
    assert "template placeholder ${NUM_LABELS}" in found.message and "substitute" in found.help


def test_weightless_layers_sharing_a_name_are_a_warning_in_the_names_lint():
    """Caffe accepts them (HED's four 'crop' layers), but it is usually a copy-paste mistake."""
    text = HEAD + "".join(
        f'layer {{ name: "crop" type: "ReLU" bottom: "data" top: "r{i}" }}\n' for i in range(3)
    )
    found = [d for d in check("t.prototxt", content=text).diagnostics if d.code == "NS0203"]
    assert [(d.severity, d.lint, d.span.line) for d in found] == [
        (Severity.WARNING, "names", n) for n in (4, 5)
    ]
    assert found[0].message == "layer name 'crop' is used twice"
    assert [(s.line, s.column, label) for s, label in found[0].labels] == [(3, 15, "first used here")]
    assert not check("t.prototxt", content=text).diagnostics.has_errors


def test_the_names_lint_is_turned_off_by_allow(tmp_path, capsys):
    from netspec.cli import main

    spec = tmp_path / "t.prototxt"
    spec.write_text(
        HEAD + "".join(f'layer {{ name: "a" type: "ReLU" bottom: "data" top: "r{i}" }}\n' for i in (1, 2))
    )
    assert main(["check", str(spec)]) == 0
    assert "warning[NS0203]" in capsys.readouterr().err
    assert main(["check", str(spec), "--allow", "names"]) == 0
    assert "NS0203" not in capsys.readouterr().err


LEGACY_INPUT_NET = """name: "t"
input: "data" input_shape { dim: 1 dim: 3 dim: 8 dim: 8 }
layer { name: "pool" type: "Pooling" bottom: "data" top: "pool" pooling_param { pool: MAX kernel_size: 3 stride: 2 } }
layer { name: "conv" type: "Convolution" bottom: "pool" top: "conv" convolution_param { num_output: 4 kernal_size: 3 } }
"""


def test_a_layer_whose_text_is_wrong_stays_the_one_left_unchecked_when_an_upgrade_shifts_layers():
    """The legacy input becomes layer 0, so every layer moves down one: the layer with the typo must
    be the one skipped, not the one that now has its old index (pool, whose tiling lint must show)."""
    checked = check("t.prototxt", content=LEGACY_INPUT_NET)
    assert [d.code for d in checked.diagnostics if d.severity is not Severity.INFO] == ["NS0103"]
    assert [d.layer for d in checked.diagnostics if d.code == "NS0320"] == ["pool"]
    assert checked.analysis.info("pool").tops == [(1, 3, 4, 4)]


def test_a_v1_layer_whose_text_is_wrong_is_reported_once():
    text = (
        'name: "v1"\ninput: "data"\ninput_dim: 1 input_dim: 3 input_dim: 8 input_dim: 8\n'
        'layers { name: "conv" type: CONVOLUTION bottom: "data" top: "conv"\n'
        "  convolution_param { num_output: 4 kernal_size: 3 } }\n"
    )
    errors = [d.code for d in check("t.prototxt", content=text).diagnostics.errors]
    assert errors == ["NS0103"]  # not also NS0305 "the kernel size is not given"


def test_a_v1_layer_with_a_field_being_typed_still_shapes_the_layers_below_after_the_upgrade():
    """The upgrade renames `layers` and moves them down one for the net-level input: the layer read
    without its half-typed field must stay the one whose checks are held back, and conv's reader keeps
    its shape."""
    text = (
        'name: "v1"\ninput: "data"\ninput_dim: 1 input_dim: 3 input_dim: 8 input_dim: 8\n'
        'layers { name: "conv" type: CONVOLUTION bottom: "data" top: "conv"\n'
        "  convolution_param { num_output: 4 kernel_size: 3\n    stride:\n  } }\n"
        'layers { name: "r" type: RELU bottom: "conv" top: "r" }\n'
    )
    checked = check("t.prototxt", content=text)
    assert [d.code for d in checked.diagnostics.errors] == ["NS0101"]
    assert checked.analysis.info("r").tops == [(1, 4, 6, 6)]
    mended = checked.spec.source_map.mended
    assert ("layer", 1) in mended and ("layer", 0) not in mended and ("layer", 2) not in mended


def test_a_v0_layer_of_a_type_caffe_does_not_know_is_reported_once():
    """The V0 type the upgrade does not know is the mistake (NS0107, with its fix); the checker
    does not say it again as a V2 type netspec does not know."""
    text = (
        'input: "data"\ninput_dim: 1 input_dim: 3 input_dim: 8 input_dim: 8\n'
        'layers { layer { name: "c" type: "convv" } bottom: "data" top: "c" }\n'
    )
    errors = [(d.code, d.help) for d in check("t.prototxt", content=text).diagnostics.errors]
    assert errors == [("NS0107", "did you mean 'conv'?")]


def test_a_net_with_no_layers_is_an_error_at_check_as_compile_refuses_it():
    checked = check("t.prototxt", content='name: "empty"  # truncated\n')
    (error,) = list(checked.diagnostics)
    assert (error.code, error.severity) == ("NS0205", Severity.ERROR)

"""`netspec lsp`, driven over stdio as an editor drives it (pytest-lsp runs the real server in a
subprocess): diagnostics are `netspec check`'s, kept fresh through every change, and hover,
completion, definition, references, rename, symbols, code actions and formatting answer from
the same analysis."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.protocol import default_converter
from pytest_lsp import ClientServerConfig, LanguageClient
from pytest_lsp.client import DEFAULT_CLIENT_FEATURES, register_lsp_features

from netspec import fillers, zoo
from netspec.diagnostics import Severity
from netspec.fmt import format_source
from netspec.pipeline import check
from netspec.source import SourceFile

ROOT = Path(__file__).resolve().parents[1]
DEMO = (ROOT / "docs" / "demo.prototxt").read_text()
WAIT_S = 60


def recording_client() -> LanguageClient:
    """pytest-lsp's client, also keeping every publishDiagnostics with its version."""
    client = LanguageClient(converter_factory=default_converter)

    def publish(client: LanguageClient, params: types.PublishDiagnosticsParams) -> None:
        client.diagnostics[params.uri] = params.diagnostics
        client.published.append(params)

    register_lsp_features(
        client, {**DEFAULT_CLIENT_FEATURES, types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS: publish}
    )
    client.published = []
    return client


def server() -> ClientServerConfig:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return ClientServerConfig(
        server_command=[sys.executable, "-m", "netspec", "lsp", "--stdio"],
        server_env=env,
        client_factory=recording_client,
    )


async def start(client: LanguageClient, options: dict | None = None) -> None:
    await client.initialize_session(
        types.InitializeParams(capabilities=types.ClientCapabilities(), initialization_options=options)
    )


@pytest_lsp.fixture(config=server(), scope="module")
async def client(lsp_client: LanguageClient):
    await start(lsp_client)
    yield
    await lsp_client.shutdown_session()


module_loop = pytest.mark.asyncio(loop_scope="module")


def uri_of(name: str) -> str:
    return (ROOT / "tests" / name).as_uri()


async def published(client: LanguageClient, uri: str, version: int) -> list[types.Diagnostic]:
    """The diagnostics the server publishes for `version` of the document."""
    for _ in range(WAIT_S * 100):
        for params in reversed(client.published):
            if params.uri == uri and params.version == version:
                return list(params.diagnostics)
        assert client.error is None, client.error
        await asyncio.sleep(0.01)
    raise AssertionError(f"no diagnostics for version {version} of {uri}")


async def open_document(client: LanguageClient, name: str, text: str) -> str:
    uri = uri_of(name)
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id="prototxt", version=1, text=text)
        )
    )
    await published(client, uri, 1)
    return uri


def edit(client: LanguageClient, uri: str, version: int, start, end, new_text: str) -> None:
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[
                types.TextDocumentContentChangePartial(
                    range=types.Range(start=types.Position(*start), end=types.Position(*end)), text=new_text
                )
            ],
        )
    )


def as_check_says(uri: str, text: str) -> list[tuple]:
    """What `netspec check` reports for the text: code, severity, 0-based line and column, message."""
    checked = check(Path(uri[len("file://") :]).as_posix(), content=text)
    return sorted(
        (
            d.code,
            int(d.severity),
            d.span.line - 1 if d.span else 0,
            d.span.column - 1 if d.span else 0,
            d.message,
        )
        for d in checked.diagnostics
        if d.severity is not Severity.INFO
    )


SEVERITIES = {
    types.DiagnosticSeverity.Error: int(Severity.ERROR),
    types.DiagnosticSeverity.Warning: int(Severity.WARNING),
}


def as_server_says(diagnostics: list[types.Diagnostic]) -> list[tuple]:
    return sorted(
        (
            d.code,
            SEVERITIES[d.severity],
            d.range.start.line,
            d.range.start.character,
            d.message.split("\n")[0],
        )
        for d in diagnostics
    )


def position_of(text: str, token: str, occurrence: int = 1, inside: int = 1) -> types.Position:
    at = -1
    for _ in range(occurrence):
        at = text.index(token, at + 1)
    at += inside
    return types.Position(line=text.count("\n", 0, at), character=at - (text.rfind("\n", 0, at) + 1))


def apply(text: str, edits: list[types.TextEdit]) -> str:
    """The text after the edits (non-overlapping), applied from the last."""
    starts = [0]
    for line in text.splitlines(True):
        starts.append(starts[-1] + len(line))

    def offset(p: types.Position) -> int:
        return (starts[p.line] if p.line < len(starts) else len(text)) + p.character

    for e in sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character), reverse=True):
        text = text[: offset(e.range.start)] + e.new_text + text[offset(e.range.end) :]
    return text


@module_loop
async def test_diagnostics_on_open_are_checks_own_with_ranges_codes_and_help(client: LanguageClient):
    uri = await open_document(client, "demo.prototxt", DEMO)
    said = client.diagnostics[uri]
    assert as_server_says(said) == as_check_says(uri, DEMO)
    typo = next(d for d in said if d.code == "NS0103")
    start = position_of(DEMO, "kernal_size", inside=0)
    assert (typo.range.start, typo.range.end.character) == (start, start.character + len("kernal_size"))
    assert typo.severity == types.DiagnosticSeverity.Error and typo.source == "netspec"
    assert [r.message for r in typo.related_information] == ["help: did you mean 'kernel_size'?"]


@module_loop
async def test_a_diagnostics_secondary_place_is_related_information_where_it_points(client: LanguageClient):
    text = INPLACE.replace('name: "relu1"', 'name: "conv1"')
    uri = await open_document(client, "twice.prototxt", text)
    (twice,) = [d for d in client.diagnostics[uri] if d.code == "NS0203"]
    assert twice.range.start == position_of(text, '"conv1"', 3, inside=0)  # the second 'conv1' layer
    first = twice.related_information[0]
    assert first.location.range.start == position_of(text, '"conv1"', inside=0)  # the first


@module_loop
async def test_a_block_the_type_never_reads_is_a_warning_at_the_block_with_the_block_it_reads(
    client: LanguageClient,
):
    text = INPLACE.replace('top: "conv1" }', 'top: "conv1" pooling_param { pool: MAX } }')
    uri = await open_document(client, "unread.prototxt", text)
    assert as_server_says(client.diagnostics[uri]) == as_check_says(uri, text)
    (unread,) = [d for d in client.diagnostics[uri] if d.code == "NS0109"]
    start = position_of(text, "pooling_param", inside=0)
    assert (unread.range.start, unread.range.end.character) == (start, start.character + len("pooling_param"))
    assert unread.severity == types.DiagnosticSeverity.Warning
    assert [r.message for r in unread.related_information] == [
        "note: pooling_param is read by Pooling layers",
        "help: ReLU reads relu_param; did you mean it?",
    ]


@module_loop
async def test_a_fork_types_own_block_is_in_its_ns0309_as_check_says(client: LanguageClient):
    text = INPLACE.replace(
        'top: "conv1" }',
        'top: "conv1" }\nlayer { name: "yolo" type: "Yolov3DetectionOutput" bottom: "conv1" top: "det"'
        " yolov3_detection_output_param { confidence_threshold: 0.3 } }",
        1,
    )
    uri = await open_document(client, "fork.prototxt", text)
    said = client.diagnostics[uri]
    assert as_server_says(said) == as_check_says(uri, text)
    assert [d.code for d in said if d.severity == types.DiagnosticSeverity.Error] == ["NS0309"]
    (unknown,) = [d for d in said if d.code == "NS0309"]
    assert any("yolov3_detection_output_param { }" in r.message for r in unknown.related_information)


@module_loop
async def test_an_incremental_change_publishes_fresh_diagnostics_for_its_version(client: LanguageClient):
    uri = await open_document(client, "change.prototxt", DEMO)
    at = position_of(DEMO, "kernal_size", inside=0)
    edit(client, uri, 2, (at.line, at.character), (at.line, at.character + len("kernal")), "kernel")
    fixed = DEMO.replace("kernal_size", "kernel_size")
    after = await published(client, uri, 2)
    assert as_server_says(after) == as_check_says(uri, fixed)
    assert "NS0103" not in [d.code for d in after]


@module_loop
async def test_hover_says_shapes_costs_and_the_schemas_documentation(client: LanguageClient):
    uri = await open_document(client, "hover.prototxt", DEMO)

    async def hover(token: str, occurrence: int = 1, inside: int = 1) -> str:
        answer = await client.text_document_hover_async(
            types.HoverParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                position=position_of(DEMO, token, occurrence, inside),
            )
        )
        return answer.contents.value if answer else ""

    conv1 = await hover('"conv1"')
    assert "**conv1** (Convolution)" in conv1 and "`1x16x10x10`" in conv1
    assert "parameters: 448" in conv1 and "receptive field: 3x3, stride 3x3" in conv1
    assert "reads **conv1**: `1x16x10x10`" in await hover('"conv1"', 3)
    assert "ConvolutionParameter.kernel_size" in await hover("kernel_size")
    assert "Either one value for every spatial axis" in await hover("kernel_size")  # caffe.proto's comment
    assert "**PoolMethod.MAX** = 0" in await hover("MAX")
    assert "PoolingParameter.pool**: an enum (PoolMethod), default `MAX`" in await hover("pool:")
    assert "the largest value of each window" in await hover("MAX")
    assert "- output **data**: `1x3x32x32`" in await hover('input: "data"', inside=len('input: "'))


def completion_labels(client: LanguageClient, uri: str, text: str):
    """The labels completion offers `inside` characters into the first `token` of the text."""

    async def labels(token: str, inside: int) -> set[str]:
        answer = await client.text_document_completion_async(
            types.CompletionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                position=position_of(text, token, occurrence=1, inside=inside),
            )
        )
        return {item.label for item in answer.items}

    return labels


@module_loop
async def test_completion_offers_what_the_schema_and_the_net_allow_here(client: LanguageClient):
    text = (
        DEMO
        + 'layer { name: "x" type: "Con" bottom: "p" top: "x"\n  convolution_param { nu }\n  pooling_param { pool: }\n}\n'
    )
    uri = await open_document(client, "complete.prototxt", text)

    labels = completion_labels(client, uri, text)

    types_offered = await labels('type: "Con"', len('type: "Con'))
    assert {"Convolution", "Deconvolution", "ReLU", "Permute", "ShuffleChannel"} <= types_offered
    fields = await labels("{ nu }", len("{ nu"))
    assert {"num_output", "kernel_size", "group"} <= fields and "pool" not in fields
    assert {"MAX", "AVE", "STOCHASTIC"} <= await labels("pool: }", len("pool: "))
    assert await labels('bottom: "p"', len('bottom: "p')) == {"data", "conv1", "pool1", "conv2", "fc"}


@module_loop
async def test_completion_inside_nested_messages_knows_their_fields_and_values(client: LanguageClient):
    text = (
        DEMO
        + 'layer { name: "y" type: "Convolution" bottom: "data" top: "y"\n'
        + '  convolution_param { weight_filler { type: "x" } } }\n'
        + 'layer { name: "i" type: "Input" top: "i" input_param { shape {  } } }\n'
    )
    uri = await open_document(client, "nested.prototxt", text)

    labels = completion_labels(client, uri, text)

    assert await labels('weight_filler { type: "', len('weight_filler { type: "')) == set(fillers.TYPES)
    assert await labels("shape {  }", len("shape { ")) == {"dim"}


SOLVER = 'net: "train_val.prototxt"\nbase_lr: 0.01\nlr_polcy: "step"\n\n'
SOLVER_WITH_NET = 'base_lr: 0.01\nnet_param {\n  layer { name: "d" type: "" top: "d" }\n}\n'


@module_loop
async def test_a_solver_file_is_checked_hovered_and_completed_as_a_solver(client: LanguageClient):
    """A solver is a file an editor opens as any other: its fields are SolverParameter's (hover,
    completion, a misspelt one's fix), the net it embeds is a net, and being a solver is said,
    not flagged as an error."""
    uri = await open_document(client, "solver.prototxt", SOLVER)
    said = {d.code: d for d in await published(client, uri, 1)}
    assert said.keys() == {"NS0103", "NS0001"}
    assert said["NS0001"].severity == types.DiagnosticSeverity.Information
    assert "'lr_polcy' in SolverParameter" in said["NS0103"].message
    hovered = await client.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=uri), position=position_of(SOLVER, "base_lr")
        )
    )
    assert "SolverParameter.base_lr" in hovered.contents.value
    labels = completion_labels(client, uri, SOLVER)
    fields = await labels("\n\n", 1)
    assert {"lr_policy", "max_iter", "net_param"} <= fields and "layer" not in fields
    uri = await open_document(client, "solver_net.prototxt", SOLVER_WITH_NET)
    labels = completion_labels(client, uri, SOLVER_WITH_NET)
    assert {"Convolution", "ReLU"} <= await labels('type: ""', len('type: "'))
    assert {"layer", "input_shape"} <= await labels("net_param {\n", len("net_param {\n"))


INPLACE = (
    'name: "n"\ninput: "data" input_shape { dim: 1 dim: 3 dim: 8 dim: 8 }\n'
    'layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1" convolution_param { num_output: 4 kernel_size: 3 } }\n'
    'layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }\n'
    'layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1" pooling_param { pool: MAX kernel_size: 2 } }\n'
)


@module_loop
async def test_definition_of_a_bottom_is_the_last_in_place_top_that_wrote_it(client: LanguageClient):
    uri = await open_document(client, "definition.prototxt", INPLACE)
    found = await client.text_document_definition_async(
        types.DefinitionParams(
            text_document=types.TextDocumentIdentifier(uri=uri), position=position_of(INPLACE, '"conv1"', 5)
        )
    )
    assert found.range.start == position_of(INPLACE, '"conv1"', 4, inside=0)  # relu1's top


@module_loop
async def test_references_and_rename_cover_every_top_and_bottom_of_the_blob(client: LanguageClient):
    uri = await open_document(client, "rename.prototxt", INPLACE)
    where = types.TextDocumentIdentifier(uri=uri)
    at = position_of(INPLACE, '"conv1"', 3)
    refs = await client.text_document_references_async(
        types.ReferenceParams(
            text_document=where, position=at, context=types.ReferenceContext(include_declaration=True)
        )
    )
    assert sorted((r.range.start.line, r.range.start.character) for r in refs) == sorted(
        (p.line, p.character) for p in (position_of(INPLACE, '"conv1"', k, inside=0) for k in (2, 3, 4, 5))
    )
    prepared = await client.text_document_prepare_rename_async(
        types.PrepareRenameParams(text_document=where, position=at)
    )
    assert prepared.placeholder == "conv1" and prepared.range.start == position_of(INPLACE, '"conv1"', 3)
    not_a_blob = await client.text_document_prepare_rename_async(
        types.PrepareRenameParams(text_document=where, position=position_of(INPLACE, "Pooling"))
    )
    assert not_a_blob is None
    renamed = await client.text_document_rename_async(
        types.RenameParams(text_document=where, position=at, new_name="features")
    )
    after = apply(INPLACE, renamed.changes[uri])
    assert after == INPLACE.replace('top: "conv1"', 'top: "features"').replace(
        'bottom: "conv1"', 'bottom: "features"'
    )
    assert not check("r.prototxt", content=after).diagnostics.has_errors


@module_loop
async def test_a_net_level_input_is_a_blob_to_references_and_rename(client: LanguageClient):
    """`input: "data"` writes the blob 'data' as a top does: renaming it from a bottom renames the
    input too (else the renamed net reads a blob nothing writes), and from the input itself."""
    uri = await open_document(client, "input_rename.prototxt", INPLACE)
    where = types.TextDocumentIdentifier(uri=uri)
    for at in (position_of(INPLACE, 'bottom: "data"', inside=10), position_of(INPLACE, '"data"')):
        refs = await client.text_document_references_async(
            types.ReferenceParams(
                text_document=where, position=at, context=types.ReferenceContext(include_declaration=True)
            )
        )
        assert len(refs) == 2
        renamed = await client.text_document_rename_async(
            types.RenameParams(text_document=where, position=at, new_name="image")
        )
        after = apply(INPLACE, renamed.changes[uri])
        assert after == INPLACE.replace('"data"', '"image"')
        assert not check("r.prototxt", content=after).diagnostics.has_errors


@module_loop
async def test_a_rename_to_a_name_a_blob_cannot_have_is_refused_with_the_reason(client: LanguageClient):
    """A quote, backslash or line break would end the string early: the rename is refused with a
    message the editor shows, not answered with nothing."""
    uri = await open_document(client, "rename_refused.prototxt", INPLACE)
    params = types.RenameParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        position=position_of(INPLACE, 'bottom: "conv1"', inside=10),
        new_name='con"v',
    )
    with pytest.raises(Exception, match="a blob's name cannot hold"):
        await client.text_document_rename_async(params)


@module_loop
async def test_document_symbols_are_the_layers_with_types_and_output_shapes(client: LanguageClient):
    uri = await open_document(client, "symbols.prototxt", INPLACE)
    found = await client.text_document_document_symbol_async(
        types.DocumentSymbolParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    assert [(s.name, s.detail) for s in found] == [
        ("input", "Input → 1x3x8x8"),  # the net-level input, as Caffe reads it
        ("conv1", "Convolution → 1x4x6x6"),
        ("relu1", "ReLU → 1x4x6x6"),
        ("pool1", "Pooling → 1x4x5x5"),
    ]
    assert found[2].selection_range.start == position_of(INPLACE, '"relu1"', inside=0)
    assert found[0].selection_range.start == position_of(INPLACE, '"data"', inside=0)


async def quick_fix(client: LanguageClient, uri: str, d: types.Diagnostic) -> types.CodeAction:
    """The one code action the server offers for `d`, a quick fix."""
    actions = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=d.range,
            context=types.CodeActionContext(diagnostics=[d]),
        )
    )
    (action,) = actions
    assert action.kind == types.CodeActionKind.QuickFix
    return action


@module_loop
async def test_code_actions_turn_each_did_you_mean_into_a_fix(client: LanguageClient):
    text = DEMO.replace("pool: MAX", "pool: MAXX")
    uri = await open_document(client, "actions.prototxt", text)
    fixed = text
    for code in ("NS0103", "NS0201", "NS0104"):  # a field, a blob, an enum value
        d = next(d for d in client.diagnostics[uri] if d.code == code)
        action = await quick_fix(client, uri, d)
        fixed = apply(fixed, action.edit.changes[uri])
    assert fixed == DEMO.replace("kernal_size", "kernel_size").replace('bottom: "pool2"', 'bottom: "pool1"')
    assert not check("d.prototxt", content=fixed).diagnostics.has_errors


@module_loop
async def test_a_quick_fix_is_offered_to_a_client_that_keeps_only_the_diagnostics_message(
    client: LanguageClient,
):
    """A client that does not keep relatedInformation sends back the diagnostic without it: the
    'did you mean' in its message is the fix."""
    text = DEMO.replace("pool: MAX", "pool: MAXX")
    uri = await open_document(client, "actions_bare.prototxt", text)
    d = next(d for d in client.diagnostics[uri] if d.code == "NS0104")
    bare = types.Diagnostic(
        range=d.range, message=d.message, severity=d.severity, code=d.code, source=d.source
    )
    action = await quick_fix(client, uri, bare)
    assert apply(text, action.edit.changes[uri]) == DEMO


@module_loop
async def test_a_block_the_type_never_reads_is_renamed_by_a_quick_fix_to_the_one_it_reads(
    client: LanguageClient,
):
    """Normalize reads norm_param alone: its normalize_bbox_param (NS0109, "did you mean it?") is
    renamed, and the file checks without an error.  Where the type's own block is given beside it,
    the help says to remove it, and no rename is offered."""
    text = INPLACE.replace('top: "conv1" }', 'top: "conv1" relu_param { } pooling_param { } }') + (
        'layer { name: "norm" type: "Normalize" bottom: "pool1" top: "norm"'
        " normalize_bbox_param { channel_shared: false } }\n"
    )
    uri = await open_document(client, "unread-fix.prototxt", text)
    beside, bbox = [d for d in client.diagnostics[uri] if d.code == "NS0109"]
    action = await quick_fix(client, uri, bbox)
    assert action.title == "change to norm_param"
    fixed = apply(text, action.edit.changes[uri])
    assert fixed == text.replace("normalize_bbox_param", "norm_param")
    after = check("u.prototxt", content=fixed).diagnostics
    assert not after.has_errors and [d.code for d in after].count("NS0109") == 1  # beside's
    actions = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=beside.range,
            context=types.CodeActionContext(diagnostics=[beside]),
        )
    )
    assert not actions


@module_loop
async def test_a_file_with_a_syntax_error_is_still_hovered_and_completed(client: LanguageClient):
    text = INPLACE.replace('top: "conv1" }', 'top: "conv1"', 1).replace("\n", "\n\n")  # relu1 unclosed
    uri = await open_document(client, "unclosed.prototxt", text)
    assert [d.code for d in client.diagnostics[uri]] == ["NS0101"]
    where = types.TextDocumentIdentifier(uri=uri)
    pool1 = await client.text_document_hover_async(
        types.HoverParams(text_document=where, position=position_of(text, '"pool1"'))
    )
    assert "`1x4x5x5`" in pool1.contents.value
    answer = await client.text_document_completion_async(
        types.CompletionParams(
            text_document=where, position=position_of(text, "pool: MAX", inside=len("pool: "))
        )
    )
    assert {"MAX", "AVE"} <= {item.label for item in answer.items}


@pytest.mark.parametrize(
    "typed, code, at",
    [
        ("num_ou", "NS0101", "num_ou"),
        ("stride:", "NS0101", "stride"),
        ("num_ou: 4", "NS0103", "num_ou"),
        ("engine: CAF", "NS0104", "CAF"),
    ],
    ids=["half_typed_name", "no_value_yet", "unknown_field", "enum_value"],
)
@module_loop
async def test_the_layers_below_a_field_being_typed_keep_their_shapes(
    client: LanguageClient, typed: str, code: str, at: str
):
    """A half-typed field in conv1's convolution_param (or one the binder refuses) is one error at
    it; conv1 is read without it, so hover and the outline still give the shapes of the layers that
    read conv1's top."""
    text = INPLACE.replace("kernel_size: 3 }", f"kernel_size: 3\n    {typed}\n  }}", 1)
    uri = await open_document(client, f"typing-{code}-{at}.prototxt", text)
    last = position_of(text, at, occurrence=text.count(at), inside=0)  # in the typed field
    assert [(d.code, d.range.start) for d in client.diagnostics[uri]] == [(code, last)]
    where = types.TextDocumentIdentifier(uri=uri)
    pool1 = await client.text_document_hover_async(
        types.HoverParams(text_document=where, position=position_of(text, '"pool1"'))
    )
    assert "`1x4x5x5`" in pool1.contents.value
    found = await client.text_document_document_symbol_async(types.DocumentSymbolParams(text_document=where))
    assert [s.detail for s in found][1:] == ["Convolution → 1x4x6x6", "ReLU → 1x4x6x6", "Pooling → 1x4x5x5"]


@pytest.mark.parametrize(
    "broken",
    [
        INPLACE.replace("kernel_size: 2 } }", "kernel_size: 2 }"),  # at the end of the file
        INPLACE.replace("\n", "\n\n").replace('top: "conv1" }', 'top: "conv1"', 1),  # before a layer
        INPLACE.replace("{ num_output: 4 kernel_size: 3 } }", "{\n    num_output: 4\n    kernel_size: 3\n}"),
    ],
    ids=["at_the_end", "before_the_next_layer", "before_a_closer_indented_as_the_layer"],
)
@module_loop
async def test_an_unclosed_block_gets_its_closing_brace_as_a_fix(client: LanguageClient, broken: str):
    uri = await open_document(client, f"brace-{len(broken)}.prototxt", broken)
    (d,) = [d for d in client.diagnostics[uri] if d.code == "NS0101"]
    action = await quick_fix(client, uri, d)
    fixed = apply(broken, action.edit.changes[uri])
    assert not check("b.prototxt", content=fixed).diagnostics.has_errors


@module_loop
async def test_a_request_about_a_document_not_open_is_answered_with_nothing(client: LanguageClient):
    """A request that races a close, or names a file the editor never opened, gets an empty
    answer, not an internal error from reading the path off the disk."""
    nowhere = types.TextDocumentIdentifier(uri=uri_of("never_opened.prototxt"))
    at = types.Position(line=0, character=0)
    assert (
        await client.text_document_hover_async(types.HoverParams(text_document=nowhere, position=at)) is None
    )
    symbols = await client.text_document_document_symbol_async(
        types.DocumentSymbolParams(text_document=nowhere)
    )
    assert symbols is None


@module_loop
async def test_formatting_is_netspec_fmt(client: LanguageClient):
    uri = await open_document(client, "format.prototxt", DEMO)
    where = types.TextDocumentIdentifier(uri=uri)
    options = types.FormattingOptions(tab_size=2, insert_spaces=True)
    edits = await client.text_document_formatting_async(
        types.DocumentFormattingParams(text_document=where, options=options)
    )
    assert apply(DEMO, edits) == format_source(SourceFile("f", DEMO))[0]
    only = types.Range(start=types.Position(line=4, character=0), end=types.Position(line=5, character=0))
    edits = await client.text_document_range_formatting_async(
        types.DocumentRangeFormattingParams(text_document=where, range=only, options=options)
    )
    after = apply(DEMO, edits).splitlines()
    assert after[:2] == DEMO.splitlines()[:2] and after[-1] == DEMO.splitlines()[-1]
    assert 'layer {\n  name: "pool1"' in "\n".join(after)


def typing_steps(text: str) -> list[int]:
    """Where typing pauses: every character through the first layers (every kind of partial
    token: a half name, a half string, an open brace, a lone '-'), then strides that fall at
    changing places in the tokens."""
    every = 0
    for _ in range(12):  # data, conv1 with its BatchNorm, Scale and ReLU, pool1, res2a_branch1, ...
        every = text.index("layer {", every + 1)
    steps = list(range(1, every))
    at, stride = every, 997
    while at < len(text):
        steps.append(at)
        at += stride
    return [*steps, len(text)]


@module_loop
async def test_typing_resnet50_from_empty_never_crashes_nor_leaves_stale_diagnostics(client: LanguageClient):
    text = Path(zoo.path("resnet50")).read_text()
    uri = await open_document(client, "typing.prototxt", "")
    typed, version = 0, 1
    line, character = 0, 0
    for k, upto in enumerate(typing_steps(text)):
        chunk = text[typed:upto]
        version += 1
        edit(client, uri, version, (line, character), (line, character), chunk)
        newlines = chunk.count("\n")
        line += newlines
        character = len(chunk) - chunk.rfind("\n") - 1 if newlines else character + len(chunk)
        typed = upto
        if k % 150 == 0 or upto == len(text):  # now and then, and at the end: exactly check's
            said = await published(client, uri, version)
            assert as_server_says(said) == as_check_says(uri, text[:upto]), text[:upto][-80:]
    await asyncio.sleep(0.2)
    assert [p.version for p in client.published if p.uri == uri][-1] == version  # nothing older after
    assert not client.diagnostics[uri] or all(
        d.severity != types.DiagnosticSeverity.Error for d in client.diagnostics[uri]
    )
    assert client.error is None
    assert not [m for m in client.log_messages + client.messages if m.type == types.MessageType.Error]


@pytest_lsp.fixture(config=server())
async def configured(lsp_client: LanguageClient):
    await start(
        lsp_client, {"netspec": {"input": {"data": [1, 3, 64, 64]}, "phase": "test", "allow": ["tiling"]}}
    )
    yield
    await lsp_client.shutdown_session()


@pytest.mark.asyncio
async def test_initialization_options_are_checks_options(configured: LanguageClient):
    uri = await open_document(configured, "settings.prototxt", DEMO)
    conv1 = await configured.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=uri), position=position_of(DEMO, '"conv1"')
        )
    )
    assert "`1x16x21x21`" in conv1.contents.value  # (64 - 3) / 3 + 1, the input given in the settings
    assert "NS0320" not in [d.code for d in configured.diagnostics[uri]]  # conv1's tiling, allowed
    assert "NS0320" in [d.code for d in check("d.prototxt", content=DEMO).diagnostics]


def test_the_schema_documentation_is_read_from_caffe_proto_for_every_field_and_enum_value():
    """Hover's documentation comes from the .proto caffe_pb2 is built from, so the two cannot
    drift: every field and enum value the descriptors know is read from it, and no other."""
    from netspec.lsp import schema
    from netspec.proto import caffe_pb2

    declared: set[str] = set()

    def walk(message) -> None:
        declared.update(f.full_name for f in message.fields)
        for enum in message.enum_types:
            declared.update(f"{enum.full_name}.{v.name}" for v in enum.values)
        for inner in message.nested_types:
            walk(inner)

    for message in caffe_pb2.DESCRIPTOR.message_types_by_name.values():
        walk(message)
    for enum in caffe_pb2.DESCRIPTOR.enum_types_by_name.values():
        declared.update(f"{enum.full_name}.{v.name}" for v in enum.values)
    assert set(schema.comments()) == declared
    assert schema.comments()["caffe.ConvolutionParameter.axis"] == "the channel axis"


COMMON = (
    "NetParameter",
    "LayerParameter",
    "ParamSpec",
    "NetStateRule",
    "InputParameter",
    "FillerParameter",
    "ConvolutionParameter",
    "PoolingParameter",
    "InnerProductParameter",
    "LRNParameter",
    "DropoutParameter",
    "EltwiseParameter",
    "ConcatParameter",
    "BatchNormParameter",
    "ScaleParameter",
    "ReLUParameter",
    "SolverParameter",
)


def test_the_fields_and_enum_values_people_write_most_say_what_they_mean():
    """Hover on `num_output`, `bottom` or `MAX` says what it is, not only its type: every field of
    the messages most specs are made of, and every value of their enums, has documentation."""
    from netspec.lsp import schema
    from netspec.proto import caffe_pb2

    said = schema.comments()
    silent = []
    for name in COMMON:
        message = getattr(caffe_pb2, name).DESCRIPTOR
        silent += [f.full_name for f in message.fields if not said[f.full_name]]
        for enum in [*message.enum_types, *(f.enum_type for f in message.fields if f.enum_type)]:
            silent += [
                f"{enum.full_name}.{v.name}" for v in enum.values if not said[f"{enum.full_name}.{v.name}"]
            ]
    assert sorted(set(silent)) == []


def test_the_typing_path_imports_no_onnx():
    """A keystroke checks the text and nothing slower: no lowering, so neither onnx nor onnxruntime
    is even imported by the analysis the server runs on every change, nor by its features."""
    import subprocess

    script = (
        "import sys\n"
        "from netspec import zoo\n"
        "from netspec.lsp import features\n"
        "from netspec.lsp.document import Analysis, Options\n"
        "text = open(zoo.path('resnet50')).read()\n"
        "doc = Analysis('file:///r.prototxt', 'r.prototxt', text, 1, Options())\n"
        "doc.diagnostics(); features.symbols(doc); features.hover(doc, text.index('res2a_branch1'))\n"
        "features.completion(doc, text.index('bottom:') + 9)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('onnx', 'onnxruntime')))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    assert done.stdout.strip() == "[]"


def pulling_client() -> LanguageClient:
    """A client that answers workspace/configuration: {"netspec": {"phase": "train", ...}}."""
    client = recording_client()
    client.set_configuration({"phase": "train", "input": ["data=1x3x16x16"]}, section="netspec")
    return client


@pytest_lsp.fixture(
    config=ClientServerConfig(
        server_command=server().server_command, server_env=server().server_env, client_factory=pulling_client
    )
)
async def pulling(lsp_client: LanguageClient):
    capabilities = types.ClientCapabilities(workspace=types.WorkspaceClientCapabilities(configuration=True))
    await lsp_client.initialize_session(types.InitializeParams(capabilities=capabilities))
    yield
    await lsp_client.shutdown_session()


@module_loop
async def test_hover_on_a_layer_below_an_unsized_input_says_its_costs_are_unknown_not_zero(
    client: LanguageClient,
):
    text = (
        'layer { name: "data" type: "Data" top: "data" data_param { source: "db" batch_size: 2 } }\n'
        'layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"\n'
        "  convolution_param { num_output: 4 kernel_size: 3 } }\n"
    )
    uri = await open_document(client, "unsized.prototxt", text)
    answer = await client.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=uri), position=position_of(text, '"conv"')
        )
    )
    said = answer.contents.value
    assert "- output **conv**: `?`" in said
    assert "parameters, multiply-adds: not known until the shapes it reads are" in said
    assert "parameters: 0" not in said and "multiply-adds: 0" not in said


async def hover_says(
    client: LanguageClient, where: types.TextDocumentIdentifier, at: types.Position, words: str
) -> bool:
    """Whether hover at `at` comes to say `words` (the settings arrive after the requests)."""
    for _ in range(WAIT_S * 100):
        said = await client.text_document_hover_async(types.HoverParams(text_document=where, position=at))
        if said and words in said.contents.value:
            return True
        await asyncio.sleep(0.01)
    return False


@pytest.mark.asyncio
async def test_workspace_configuration_is_pulled_and_its_changes_applied(pulling: LanguageClient):
    """The server asks for the "netspec" section once initialized, and checks again on didChangeConfiguration."""
    text = INPLACE.replace("input_shape { dim: 1 dim: 3 dim: 8 dim: 8 }", "")
    text = text.replace(
        'layer { name: "conv1"',
        'layer { name: "d" type: "Input" top: "data" include { phase: TRAIN } }\nlayer { name: "conv1"',
    )
    uri = await open_document(pulling, "pulled.prototxt", text)
    where = types.TextDocumentIdentifier(uri=uri)
    # the TRAIN phase's Input, at the configured 16x16
    assert await hover_says(pulling, where, position_of(text, '"conv1"'), "`1x4x14x14`")
    pulling.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(
            settings={"netspec": {"phase": "train", "input": ["data=1x3x10x10"]}}
        )
    )
    assert await hover_says(pulling, where, position_of(text, '"conv1"'), "`1x4x8x8`")
    pulling.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"netspec": {"phase": "dev"}})
    )
    for _ in range(WAIT_S * 100):
        if pulling.messages:
            break
        await asyncio.sleep(0.01)
    assert [m.message for m in pulling.messages] == [
        "netspec: setting phase='dev' is not one netspec can use; left out"
    ]
    pulling.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"netspec": {"phase": "train", "input": ["dta=1x3x8x8"]}})
    )
    for _ in range(WAIT_S * 100):  # an input the net does not have: said as check says it, once
        if len(pulling.messages) > 1:
            break
        await asyncio.sleep(0.01)
    edit(pulling, uri, 2, (0, 0), (0, 0), "# a change\n")
    await published(pulling, uri, 2)
    (unused,) = pulling.messages[1:]
    assert "'dta'" in unused.message and unused.type == types.MessageType.Warning
    # a change notified without the settings (LSP's pull model): the server asks for them again
    pulling.set_configuration({"phase": "train", "input": ["data=1x3x12x12"]}, section="netspec")
    pulling.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
    edited = "# a change\n" + text
    assert await hover_says(pulling, where, position_of(edited, '"conv1"'), "`1x4x10x10`")


@pytest.mark.parametrize("name", ["lenet", "squeezenet1_1"])
def test_every_feature_answers_on_mutated_specs_anywhere_without_an_exception(name):
    """A seeded slice of fuzzing, in process: texts with tokens deleted, duplicated or swapped, or
    cut short, and every feature asked at random places in them."""
    import random

    from test_fuzz import _tokens

    from netspec.lsp import features
    from netspec.lsp.document import Analysis, Options

    rng = random.Random(name)
    base = Path(zoo.path(name)).read_text()
    base = base[base.index("\nname:") :]
    for _ in range(12):
        text = _tokens(rng, base)
        text = text[: rng.randrange(len(text))] if rng.random() < 0.3 else text
        doc = Analysis("file:///f.prototxt", "f.prototxt", text, 1, Options())
        features.code_actions(doc, doc.diagnostics())
        features.symbols(doc)
        for offset in [rng.randrange(len(text) + 1) for _ in range(10)]:
            features.hover(doc, offset)
            features.completion(doc, offset)
            features.definition(doc, offset)
            features.rename(doc, offset, "renamed")
            here = doc.position(offset)
            assert doc.offset(here) == offset
            features.formatting(doc, types.Range(start=here, end=here))


def test_lsp_without_its_extra_installed_says_how_to_install_it(monkeypatch, capsys):
    from netspec.cli import CANNOT_RUN, main

    monkeypatch.setitem(sys.modules, "pygls", None)  # as if `pip install netspec-compiler` alone
    monkeypatch.delitem(sys.modules, "pygls.lsp.server", raising=False)
    monkeypatch.delitem(sys.modules, "netspec.lsp.server", raising=False)
    assert main(["lsp"]) == CANNOT_RUN
    assert "pip install 'netspec-compiler[lsp]'" in capsys.readouterr().err

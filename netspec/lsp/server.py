"""`netspec lsp`: the language server, over standard input and output (pygls).

Every open document is checked by netspec.pipeline.check, as `netspec check`
checks a file, on open and after each change (incremental sync, a short
debounce that a newer change cancels), and its diagnostics are published with
the document version they belong to.  Requests (hover, completion, ...) read
the analysis of the document's current text, checking it first when a change
has not been checked yet.  Settings (phase, stage, level, input shapes, batch)
come from initializationOptions, workspace/configuration (section "netspec")
and workspace/didChangeConfiguration.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer

from netspec import __version__
from netspec.lsp import features
from netspec.lsp.document import Analysis, Options, options_from

DEBOUNCE_S = 0.005  # a burst of keystrokes is checked once, at its end


class NetspecServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("netspec", __version__)
        self.analyses: dict[str, Analysis] = {}
        self.options = Options()
        self.said: set[str] = set()  # the messages about settings shown already

    def analysis(self, uri: str) -> Analysis:
        """The analysis of the document's current text."""
        document = self.workspace.get_text_document(uri)
        current = self.analyses.get(uri)
        if current is None or current.version != document.version or current.text != document.source:
            current = Analysis(uri, document.path, document.source, document.version, self.options)
            self.analyses[uri] = current
        return current

    def publish(self, uri: str) -> None:
        checked = self.analysis(uri)
        self.say([problem for problem in checked.unused_settings if problem not in self.said])
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(
                uri=uri, version=checked.version, diagnostics=checked.diagnostics()
            )
        )

    def apply_settings(self, settings: object) -> None:
        if isinstance(settings, dict) and isinstance(settings.get("netspec"), dict):
            settings = settings["netspec"]
        if not isinstance(settings, dict):
            return
        self.options, problems = options_from(settings)
        self.said.clear()
        self.say(problems)
        self.analyses.clear()
        for uri in list(self.workspace.text_documents):
            self.publish(uri)

    def say(self, problems: list[str]) -> None:
        """A warning for each setting that could not be used, once until the settings change."""
        for problem in problems:
            self.said.add(problem)
            self.window_show_message(types.ShowMessageParams(type=types.MessageType.Warning, message=problem))


server = NetspecServer()


def open_documents_only(handler: Callable) -> Callable:
    """A request about a document the editor has not opened (or has closed since) is answered
    with nothing, not with an error from reading it off the disk."""

    @functools.wraps(handler)
    def answer(ls: NetspecServer, params):
        if params.text_document.uri not in ls.workspace.text_documents:
            return None
        return handler(ls, params)

    return answer


@server.feature(types.INITIALIZE)
def initialize(ls: NetspecServer, params: types.InitializeParams) -> None:
    if params.initialization_options:
        ls.apply_settings(params.initialization_options)


async def pull_settings(ls: NetspecServer) -> None:
    """Ask the client for the "netspec" section, where it answers workspace/configuration."""
    workspace = ls.client_capabilities.workspace
    if workspace is None or not workspace.configuration:
        return
    answer = await ls.workspace_configuration_async(
        types.ConfigurationParams(items=[types.ConfigurationItem(section="netspec")])
    )
    if answer and answer[0]:
        ls.apply_settings(answer[0])


@server.feature(types.INITIALIZED)
async def initialized(ls: NetspecServer, params: types.InitializedParams) -> None:
    await pull_settings(ls)


@server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
async def did_change_configuration(ls: NetspecServer, params: types.DidChangeConfigurationParams) -> None:
    """The settings sent with the change, or, when it comes without them (LSP's pull model),
    the settings asked for again."""
    if params.settings:
        ls.apply_settings(params.settings)
    else:
        await pull_settings(ls)


@server.feature(types.TEXT_DOCUMENT_DID_OPEN)
def did_open(ls: NetspecServer, params: types.DidOpenTextDocumentParams) -> None:
    ls.publish(params.text_document.uri)


@server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
async def did_change(ls: NetspecServer, params: types.DidChangeTextDocumentParams) -> None:
    uri, version = params.text_document.uri, params.text_document.version
    await asyncio.sleep(DEBOUNCE_S)
    if uri in ls.workspace.text_documents and ls.workspace.get_text_document(uri).version == version:
        ls.publish(uri)  # else a newer change is pending, and will publish


@server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
def did_close(ls: NetspecServer, params: types.DidCloseTextDocumentParams) -> None:
    uri = params.text_document.uri
    ls.analyses.pop(uri, None)
    ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))


@server.feature(types.TEXT_DOCUMENT_HOVER)
@open_documents_only
def hover(ls: NetspecServer, params: types.HoverParams) -> types.Hover | None:
    doc = ls.analysis(params.text_document.uri)
    return features.hover(doc, doc.offset(params.position))


@server.feature(
    types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(trigger_characters=['"', "'", ":", " ", "{"])
)
@open_documents_only
def completion(ls: NetspecServer, params: types.CompletionParams) -> types.CompletionList:
    doc = ls.analysis(params.text_document.uri)
    return types.CompletionList(
        is_incomplete=False, items=features.completion(doc, doc.offset(params.position))
    )


@server.feature(types.TEXT_DOCUMENT_DEFINITION)
@open_documents_only
def definition(ls: NetspecServer, params: types.DefinitionParams) -> types.Location | None:
    doc = ls.analysis(params.text_document.uri)
    return features.definition(doc, doc.offset(params.position))


@server.feature(types.TEXT_DOCUMENT_REFERENCES)
@open_documents_only
def references(ls: NetspecServer, params: types.ReferenceParams) -> list[types.Location]:
    doc = ls.analysis(params.text_document.uri)
    return features.references(doc, doc.offset(params.position))


@server.feature(types.TEXT_DOCUMENT_PREPARE_RENAME)
@open_documents_only
def prepare_rename(
    ls: NetspecServer, params: types.PrepareRenameParams
) -> types.PrepareRenamePlaceholder | None:
    doc = ls.analysis(params.text_document.uri)
    return features.prepare_rename(doc, doc.offset(params.position))


@server.feature(types.TEXT_DOCUMENT_RENAME)
@open_documents_only
def rename(ls: NetspecServer, params: types.RenameParams) -> types.WorkspaceEdit | None:
    doc = ls.analysis(params.text_document.uri)
    try:
        return features.rename(doc, doc.offset(params.position), params.new_name)
    except ValueError as refused:  # said to the user by the editor
        raise JsonRpcInvalidParams(str(refused)) from None


@server.feature(types.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
@open_documents_only
def symbols(ls: NetspecServer, params: types.DocumentSymbolParams) -> list[types.DocumentSymbol]:
    return features.symbols(ls.analysis(params.text_document.uri))


@server.feature(
    types.TEXT_DOCUMENT_CODE_ACTION,
    types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix]),
)
@open_documents_only
def code_action(ls: NetspecServer, params: types.CodeActionParams) -> list[types.CodeAction]:
    return features.code_actions(ls.analysis(params.text_document.uri), params.context.diagnostics)


@server.feature(types.TEXT_DOCUMENT_FORMATTING)
@open_documents_only
def formatting(ls: NetspecServer, params: types.DocumentFormattingParams) -> list[types.TextEdit] | None:
    return features.formatting(ls.analysis(params.text_document.uri))


@server.feature(types.TEXT_DOCUMENT_RANGE_FORMATTING)
@open_documents_only
def range_formatting(
    ls: NetspecServer, params: types.DocumentRangeFormattingParams
) -> list[types.TextEdit] | None:
    return features.formatting(ls.analysis(params.text_document.uri), params.range)


def serve() -> None:
    server.start_io()

"""Keystroke to fresh diagnostics in `netspec lsp`, against protobuf's text_format.Parse, side by side.

The real server runs in a subprocess and is spoken to over stdio as an editor
speaks to it.  The document (ResNet-152's deploy file) is opened, then each
round types one character into it (didChange, incremental) and waits for the
publishDiagnostics of that version: the time an editor waits for its
squiggles after a keystroke, debounce included.  In the same rounds this
process times text_format.Parse on the same text.  Prints the medians and
their ratio (target: <= 3.0), and the server's own check of the text
(netspec.lsp.document.Analysis, in process) as a second ratio.

usage: python bench/bench_lsp.py [FILE] [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from google.protobuf import text_format

from netspec.lsp.document import Analysis, Options
from netspec.proto import caffe_pb2

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared/corpus/KaimingHe__deep-residual-networks/prototxt"
CORPUS_R152 = CORPUS / "ResNet-152-deploy.prototxt"
TARGET = 3.0


class Server:
    """A `netspec lsp` subprocess and the little JSON-RPC an editor speaks to it."""

    def __init__(self) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "netspec", "lsp"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env
        )
        self.next_id = 0

    def send(self, method: str, params: object, *, request: bool = False) -> int | None:
        message = {"jsonrpc": "2.0", "method": method, "params": params}
        if request:
            self.next_id += 1
            message["id"] = self.next_id
        body = json.dumps(message).encode()
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.process.stdin.flush()
        return message.get("id")

    def receive(self) -> dict:
        length = 0
        while (line := self.process.stdout.readline().strip()) != b"":
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        return json.loads(self.process.stdout.read(length))

    def until(self, test) -> dict:
        while True:
            message = self.receive()
            if test(message):
                return message

    def diagnostics_of(self, uri: str, version: int) -> dict:
        return self.until(
            lambda m: (
                m.get("method") == "textDocument/publishDiagnostics"
                and m["params"]["uri"] == uri
                and m["params"].get("version") == version
            )
        )

    def close(self) -> None:
        ident = self.send("shutdown", None, request=True)
        self.until(lambda m: m.get("id") == ident)
        self.send("exit", None)
        self.process.wait(timeout=10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", type=Path)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    path = args.file or (CORPUS_R152 if CORPUS_R152.exists() else ROOT / "netspec/zoo/resnet152.prototxt")
    text = path.read_text()
    uri = path.resolve().as_uri()
    server = Server()
    ident = server.send("initialize", {"processId": os.getpid(), "capabilities": {}}, request=True)
    server.until(lambda m: m.get("id") == ident)
    server.send("initialized", {})
    item = {"uri": uri, "languageId": "prototxt", "version": 1, "text": text}
    server.send("textDocument/didOpen", {"textDocument": item})
    server.diagnostics_of(uri, 1)
    keystroke, parse, in_process = [], [], []
    end_of_first_line = len(text.splitlines()[0])
    for k in range(args.rounds):
        version = k + 2
        # A space typed at the end of the first line, then taken back: the text stays the net.
        at = {"line": 0, "character": end_of_first_line}
        change = (
            {"range": {"start": at, "end": at}, "text": " "}
            if k % 2 == 0
            else {"range": {"start": at, "end": {**at, "character": end_of_first_line + 1}}, "text": ""}
        )
        start = time.perf_counter()
        server.send(
            "textDocument/didChange",
            {"textDocument": {"uri": uri, "version": version}, "contentChanges": [change]},
        )
        server.diagnostics_of(uri, version)
        keystroke.append(time.perf_counter() - start)
        start = time.perf_counter()
        text_format.Parse(text, caffe_pb2.NetParameter())
        parse.append(time.perf_counter() - start)
        start = time.perf_counter()
        Analysis(uri, str(path), text, version, Options()).diagnostics()
        in_process.append(time.perf_counter() - start)
    server.close()
    base, typed, checked = (statistics.median(runs) for runs in (parse, keystroke, in_process))
    ratio = typed / base
    print(
        f"{path.name} ({len(text) / 1024:.0f} KiB, {text.count('layer {')} layers), {args.rounds} rounds: "
        f"text_format.Parse {base * 1e3:.1f} ms; keystroke -> diagnostics {typed * 1e3:.1f} ms "
        f"= {ratio:.2f}x (target <= {TARGET}); the check itself in process {checked * 1e3:.1f} ms "
        f"= {checked / base:.2f}x"
    )
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())

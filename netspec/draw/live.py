"""`netspec view`: the net as a local page that follows its file.

The standard library's HTTP server is enough for one person's page on 127.0.0.1.  It serves two
things, both made from the one file it was started on: the page (`/`) and the page's sections as
JSON (`/state`), which the page polls.  No path of a request ever reaches the file system.  The
file is checked again when its size or modification time changes, at most once per poll.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from netspec.draw import page
from netspec.frontend.load import LoadError

FIRST_PORT, PORTS_TRIED = 8765, 50


class Follower:
    """The page's sections for the file as it is now: checked again whenever the file changes."""

    def __init__(self, path: str, check: Callable, **options) -> None:
        self.path, self.check, self.options = path, check, options
        self.version = 0
        self.stamp: tuple | None = None
        self.parts: dict = {}
        self.lock = threading.Lock()

    def _stamp(self) -> tuple | None:
        try:
            stat = os.stat(self.path)
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_size

    def current(self) -> tuple[int, dict]:
        with self.lock:
            stamp = self._stamp()
            if stamp != self.stamp or not self.parts:
                self.stamp = stamp
                try:
                    self.parts = page.sections(self.check(), **self.options)
                except LoadError as problem:  # gone for a moment (an editor saving), or unreadable
                    self.parts = {
                        "totals": "",
                        "picture": "",
                        "report": "",
                        "data": {"layers": {}, "blocks": {}, "diagnostics": []},
                    }
                    self.parts["diagnostics"] = f'<p class="none">{escape(str(problem))}</p>'
                self.version += 1
            return self.version, self.parts


def _handler(follower: Follower, title: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            host = (self.headers.get("Host") or "").rsplit(":", 1)[0].lower()
            if host not in ("127.0.0.1", "localhost"):  # another site's page, rebinding a name to us
                return self._send(403, "text/plain", b"netspec view answers only on 127.0.0.1\n")
            url = urlsplit(self.path)
            version, parts = follower.current()
            if url.path == "/":
                body = page.render_page(title, parts, live=True).encode()
                return self._send(200, "text/html; charset=utf-8", body)
            if url.path == "/state":
                since = parse_qs(url.query).get("since", [""])[0]
                state = {"version": version}
                if since != str(version):
                    state.update(parts)
                return self._send(200, "application/json", json.dumps(state).encode())
            return self._send(404, "text/plain", b"not found\n")

        def _send(self, status: int, kind: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args) -> None:  # a page polls: keep the terminal quiet
            pass

    return Handler


def server(follower: Follower, title: str, port: int | None) -> ThreadingHTTPServer:
    """A server bound to 127.0.0.1: on `port` (0: one the system picks), or the first free one from
    FIRST_PORT when `port` is None.  Raises OSError when the port cannot be had."""
    handler = _handler(follower, title)
    candidates = [port] if port is not None else list(range(FIRST_PORT, FIRST_PORT + PORTS_TRIED)) + [0]
    for candidate in candidates:
        try:
            httpd = ThreadingHTTPServer(("127.0.0.1", candidate), handler)
        except OSError:
            if candidate == candidates[-1]:
                raise
            continue
        httpd.daemon_threads = True
        return httpd
    raise OSError("no free port")

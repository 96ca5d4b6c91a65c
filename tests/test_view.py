"""`netspec view` as a user starts it: a local server on 127.0.0.1 that prints its URL first, serves
only its file's views, follows the file, and stops cleanly on Ctrl-C."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NET = """name: "tiny"
input: "data" input_shape { dim: 1 dim: 3 dim: 8 dim: 8 }
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv" convolution_param { num_output: 4 kernel_size: 3 } }
"""


@contextlib.contextmanager
def serving(spec: Path, *options: str, browser: str | None = None):
    """A running `netspec view FILE`, started in the file's folder: yields (process, port); stops it
    with Ctrl-C (SIGINT) after.  Without `browser` (a program to open the page with) it opens none."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if browser:
        env["BROWSER"] = browser
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "netspec",
            "view",
            spec.name,
            *([] if browser else ["--no-browser"]),
            *options,
        ],
        cwd=spec.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/"), (url, process.stderr.read())
        yield process, int(url.rsplit(":", 1)[1].rstrip("/"))
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=10)


def get(port: int, path: str, host: str | None = None) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", path, headers={"Host": host} if host else {})
    response = connection.getresponse()
    return response.status, response.read()


def listening(port: int) -> list[str]:
    """The local addresses (hex, as /proc/net/tcp writes them) of the sockets listening on `port`."""
    tables = [Path("/proc/net/tcp"), Path("/proc/net/tcp6")]
    rows = [line.split() for table in tables if table.exists() for line in table.read_text().splitlines()[1:]]
    return [r[1].split(":")[0] for r in rows if r[3] == "0A" and int(r[1].split(":")[1], 16) == port]


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "tiny.prototxt"
    path.write_text(NET)
    return path


def test_serves_the_page_and_its_state_and_nothing_else(spec, tmp_path):
    (tmp_path / "secret.txt").write_text("not for the web")
    with serving(spec, "--port", "0") as (process, port):
        status, body = get(port, "/")
        assert status == 200 and b'data-layer="conv"' in body and b'data-live="1"' in body
        status, body = get(port, "/state")
        state = json.loads(body)
        assert status == 200 and state["version"] == 1 and "conv" in state["data"]["layers"]
        assert json.loads(get(port, f"/state?since={state['version']}")[1]) == {"version": 1}
        for path in ("/secret.txt", "/tiny.prototxt", "/../secret.txt", "/%2e%2e/secret.txt", str(spec)):
            status, body = get(port, path)
            assert status == 404 and b"not for the web" not in body and b"layer" not in body
        # a page elsewhere that rebinds a host name to 127.0.0.1 gets nothing
        assert get(port, "/state", host=f"evil.example:{port}")[0] == 403
        # host names are case-insensitive (curl http://LOCALHOST:PORT/ sends it as typed)
        assert get(port, "/state", host=f"LocalHost:{port}")[0] == 200
        # the one socket listening on that port is bound to 127.0.0.1 (Linux's table of TCP sockets)
        assert listening(port) == ["0100007F"]
        assert process.poll() is None


def test_a_saved_edit_is_a_new_version_with_the_new_layer(spec):
    with serving(spec, "--port", "0") as (_, port):
        first = json.loads(get(port, "/state")[1])
        time.sleep(0.02)  # a modification time that differs even on coarse file systems
        spec.write_text(NET + 'layer { name: "act" type: "ReLU" bottom: "conv" top: "act" }\n')
        state = json.loads(get(port, f"/state?since={first['version']}")[1])
        assert state["version"] == first["version"] + 1 and "act" in state["data"]["layers"]
        assert 'data-layer="act"' in state["picture"]
        spec.unlink()  # an editor replacing the file: the page says so, the server stays up
        state = json.loads(get(port, "/state")[1])
        assert "no such file" in state["diagnostics"] and state["picture"] == ""


def test_a_file_saved_broken_then_fixed_shows_its_error_then_its_net_again(spec):
    with serving(spec, "--port", "0") as (_, port):
        first = json.loads(get(port, "/state")[1])
        time.sleep(0.02)
        spec.write_text(NET.replace("kernel_size: 3 } }", "kernel_size: 3 }"))  # the layer's '}' dropped
        broken = json.loads(get(port, f"/state?since={first['version']}")[1])
        assert broken["version"] > first["version"]
        assert "error[NS0101]" in broken["diagnostics"] and "never closed" in broken["diagnostics"]
        time.sleep(0.02)
        spec.write_text(NET)
        fixed = json.loads(get(port, f"/state?since={broken['version']}")[1])
        assert fixed["version"] == broken["version"] + 1 and "conv" in fixed["data"]["layers"]
        assert fixed["data"]["diagnostics"] == [] and 'data-layer="conv"' in fixed["picture"]


def test_ctrl_c_stops_it_cleanly(spec):
    with serving(spec, "--port", "0") as (process, port):
        assert get(port, "/")[0] == 200
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
        err = process.stderr.read()
        assert "stopped" in err and "Traceback" not in err


def test_it_opens_the_page_in_the_browser(spec, tmp_path):
    opened = tmp_path / "opened"
    browser = tmp_path / "browser"
    browser.write_text(f'#!/bin/sh\necho "$1" > {opened}\n')
    browser.chmod(0o755)
    with serving(spec, "--port", "0", browser=str(browser)) as (_, port):
        deadline = time.monotonic() + 10
        while not (opened.exists() and opened.read_text().endswith("\n")) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert opened.read_text().strip() == f"http://127.0.0.1:{port}/"


def test_without_port_it_takes_the_first_free_one_from_8765(spec):
    with contextlib.ExitStack() as stack:
        held = stack.enter_context(socket.socket())
        with contextlib.suppress(OSError):  # taken already by someone else: just as good
            held.bind(("127.0.0.1", 8765))
            held.listen()
        _, port = stack.enter_context(serving(spec))
        assert 8765 < port < 8765 + 50


def test_a_port_in_use_or_out_of_range_is_a_usage_error(spec):
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        taken = held.getsockname()[1]
        for port, message in ((str(taken), "cannot listen on 127.0.0.1"), ("70000", "must be 0")):
            done = subprocess.run(
                [sys.executable, "-m", "netspec", "view", str(spec), "--no-browser", "--port", port],
                capture_output=True,
                text=True,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
                timeout=30,
            )
            assert done.returncode == 2 and message in done.stderr and done.stdout == ""

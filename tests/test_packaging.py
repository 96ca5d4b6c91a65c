"""A non-editable install carries everything netspec reads at run time: the grammar,
the schema, the zoo, the report page's style and script.  Built and installed into a fresh
virtual environment."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(os.environ.get("NETSPEC_SKIP_WHEEL") == "1", reason="NETSPEC_SKIP_WHEEL=1 set")
def test_wheel_install_carries_grammar_schema_and_zoo(tmp_path):
    wheels = tmp_path / "wheels"
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(wheels),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    wheel = next(wheels.glob("netspec_compiler-*.whl"))
    import zipfile

    names = set(zipfile.ZipFile(wheel).namelist())
    for member in (
        "netspec/grammars/prototxt.lark",
        "netspec/proto/caffe.proto",
        "netspec/proto/caffe_pb2.py",
        "netspec/zoo/lenet.prototxt",
        "netspec/zoo/resnet50.prototxt",
        "netspec/draw/page.css",
        "netspec/draw/page.js",
    ):
        assert member in names, f"{member} is not in the wheel"
    # A fresh venv whose own site-packages holds the wheel; a path entry lends it the dependencies
    # installed beside this interpreter (a plain path line: no editable-install hooks come with it).
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", site, str(wheel)], check=True
    )
    import sysconfig

    Path(site, "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the wheel, not a source tree
    ran = subprocess.run(
        [str(python), "-m", "netspec", "check", "zoo:lenet"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=clean,
    )
    assert ran.returncode == 0, ran.stderr
    script = subprocess.run(  # the console script pip makes: the wheel's entry point, its exit status
        [
            str(python),
            "-c",
            "import sys; from importlib.metadata import entry_points; "
            "(netspec,) = entry_points(group='console_scripts', name='netspec'); "
            "sys.argv = ['netspec', 'check', 'nosuch.prototxt']; netspec.load()()",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=clean,
    )
    assert script.returncode == 2 and "nosuch.prototxt" in script.stderr, script.stderr
    page = subprocess.run(  # the page's style and script come from the installed package
        [str(python), "-m", "netspec", "report", "zoo:lenet", "-o", "lenet.html"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=clean,
    )
    assert page.returncode == 0, page.stderr
    assert "document.getElementById" in (tmp_path / "lenet.html").read_text()
    where = subprocess.run(
        [str(python), "-c", "import netspec; print(netspec.__file__)"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=clean,
        check=True,
    ).stdout
    assert str(ROOT) not in where, f"the test imported the source tree, not the wheel: {where}"

"""The stage boundaries of docs/architecture.md, enforced: every import in netspec/, at the top of a
module or inside a function (a lazy import is still a dependency), is walked, and each module may
import only from its own stage and the stages below it.  Imports under `if TYPE_CHECKING:` are for
annotations only (a layer's lower() names LowerContext) and are not dependencies at run time."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "netspec"

# Each stage, and the stages it may import from (besides its own).
STAGES = {
    "foundation": set(),
    "frontend": {"foundation"},
    "ir": {"foundation"},
    "layers": {"foundation", "ir"},
    "checker": {"foundation", "ir", "layers"},
    "backend": {"foundation", "ir", "layers", "checker"},
    "runtime": {"foundation"},
    "top": {"foundation", "frontend", "ir", "layers", "checker", "backend", "runtime", "top"},
}
FOUNDATION = {"proto", "source", "diagnostics", "codes", "opsets", "files", "lazy", "progress", "grammars"}
CHECKER = {"infer", "fillers", "sharing", "stubs", "unread"}
BACKEND = {"fold", "weights", "outputs", "lower", "caffemodel"}
# Edges across the stages that are allowed, each for its reason.
ALLOWED = {
    ("netspec.frontend.load", "netspec.zoo"): "`zoo:NAME` resolves to the zoo's file (zoo.path only)",
}


def stage_of(module: str) -> str:
    part = module.split(".")[1] if "." in module else "top"
    if part in FOUNDATION:
        return "foundation"
    if part in ("frontend", "ir", "layers", "runtime"):
        return part
    if part in CHECKER:
        return "checker"
    if part in BACKEND:
        return "backend"
    return "top"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """The netspec modules `path` imports anywhere but under `if TYPE_CHECKING:`."""
    tree = ast.parse(path.read_text())
    type_only = {
        id(node)
        for branch in ast.walk(tree)
        if isinstance(branch, ast.If) and "TYPE_CHECKING" in ast.unparse(branch.test)
        for node in ast.walk(branch)
    }
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("netspec")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + [base]
                ).strip(".")
            if base == "netspec":  # `from netspec import lower` imports the module netspec.lower
                found |= {f"netspec.{a.name}" for a in node.names}
            elif base.startswith("netspec."):  # a module, and what it holds (perhaps submodules)
                found |= {base} | {f"{base}.{a.name}" for a in node.names}
    return {m for m in found if m != "netspec.__version__"}


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p.name != "caffe_pb2.py")


@pytest.mark.parametrize("path", MODULES, ids=[module_name(p) for p in MODULES])
def test_each_module_imports_only_its_own_stage_and_those_below(path):
    here = module_name(path)
    stage = stage_of(here)
    wrong = sorted(
        f"{target} ({stage_of(target)})"
        for target in imports(path)
        if stage_of(target) != stage
        and stage_of(target) not in STAGES[stage]
        and not any(here.startswith(a) and target.startswith(b) for a, b in ALLOWED)
    )
    assert wrong == [], f"{here} ({stage}) imports across the stage boundaries"


def test_the_walk_sees_lazy_imports():
    """pipeline.compile imports lower inside the function: the walk must see it."""
    assert "netspec.lower" in imports(PACKAGE / "pipeline.py")
    assert "netspec.frontend.binary" in imports(PACKAGE / "pipeline.py")


def test_the_walk_skips_annotation_only_imports():
    assert "netspec.lower" not in imports(PACKAGE / "layers" / "base.py")

"""The test tree's own rule: shared helpers live in tests/support; no test module imports another test
module (a test_* module or a conftest), so moving or deleting one test never breaks another."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(TESTS.parent).with_suffix("").parts)


def _imported_modules(source: str, module: str) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in the source of ``module``, relative ones resolved."""
    tree = ast.parse(source)
    package = module.rsplit(".", 1)[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
                # ``from . import x`` imports the module x of the package
                names = [f"{module}.{a.name}" for a in node.names] if not node.module else [module]
            else:
                names = [node.module or ""]
            found.extend((node.lineno, n) for n in names)
    return found


def _is_test_module(name: str) -> bool:
    last = name.rsplit(".", 1)[-1]
    return last.startswith("test_") or last == "conftest"


def _violations(source: str, module: str, sibling_stems: set[str]) -> list[str]:
    """The imports of ``module`` that reach into tests/ other than tests/support."""
    out = []
    in_support = module.startswith("tests.support.")
    for line, name in _imported_modules(source, module):
        where = f"{module}:{line} imports {name}"
        outside_support = not (name == "tests.support" or name.startswith("tests.support."))
        if (name == "tests" or name.startswith("tests.")) and outside_support:
            if _is_test_module(name) or not in_support:
                out.append(where)
        elif "." not in name and name in sibling_stems:  # a helper found through pytest's sys.path insert
            out.append(where)
    return out


def test_no_test_module_imports_another_test_module_and_helpers_live_in_support():
    """Given every Python file under tests/, when its imports are resolved, then each one that points
    into tests/ points into tests/support (relative imports of a package's private helper excepted)
    and none names a test module or a conftest."""
    files = [p for p in TESTS.rglob("*.py") if "__pycache__" not in p.parts]
    stems = {p.stem for p in files if p.stem != "__init__"}
    problems: list[str] = []
    for path in files:
        module = _module_name(path)
        for problem in _violations(path.read_text(), module, stems):
            name = problem.rsplit(" ", 1)[-1]
            private_helper = (
                not _is_test_module(name)
                and name.rsplit(".", 1)[-1].startswith("_")
                and name.rsplit(".", 1)[0] == module.rsplit(".", 1)[0]
            )
            if not private_helper:
                problems.append(problem)
    assert problems == []


def test_the_rule_catches_imports_of_test_modules():
    """Given a test module that imports a conftest, a test module and a bare-named helper, then each
    of those imports is reported and the import from tests/support is not."""
    problems = _violations(_PROBE, "tests.unit.test_probe", {"engine_testkit"})
    assert [p.rsplit(" ", 1)[-1] for p in problems] == [
        "tests.conftest",
        "tests.integration.test_components_api",
        "engine_testkit",
        "tests.unit.conftest",
    ]


_PROBE = """
from tests.conftest import drain
from tests.integration.test_components_api import spec
from tests.support.fakes import RevisionFake
from engine_testkit import machine
from .conftest import api
"""

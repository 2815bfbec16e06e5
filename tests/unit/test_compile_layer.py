"""tools/compile_layer.py: a layer's modules compiled ahead, for the runtime's Python only."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

from tests.support.controlplane import ROOT

TOOL = ROOT / "tools" / "compile_layer.py"
RUNNING = f"{sys.version_info.major}.{sys.version_info.minor}"


def _tool():
    spec = importlib.util.spec_from_file_location("compile_layer", TOOL)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _layer(tmp_path: Path) -> Path:
    root = tmp_path / "python"
    (root / "pkg" / "sub").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("VALUE = 1\n")
    (root / "pkg" / "sub" / "mod.py").write_text("def f():\n    return 2\n")
    (root / "pkg" / "old.py").write_text("print 'a Python 2 file a dependency ships'\n")
    return root


def test_every_module_is_compiled_with_an_unchecked_hash(tmp_path):
    """Given a layer tree, when compiled under the runtime's version, then each module has its
    .pyc (this interpreter's tag) marked hash-based and unchecked (PEP 552 flags 0b01), and a
    file that does not compile is named and left as source."""
    root = _layer(tmp_path)
    out = subprocess.run(
        [sys.executable, str(TOOL), "--runtime", RUNNING, str(root)], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    tag = sys.implementation.cache_tag
    for module in ("pkg/__pycache__/__init__", "pkg/sub/__pycache__/mod"):
        pyc = root / f"{module}.{tag}.pyc"
        assert pyc.exists(), pyc
        flags = int.from_bytes(pyc.read_bytes()[4:8], "little")
        assert flags == 0b01, flags
    assert not (root / "pkg" / "__pycache__" / f"old.{tag}.pyc").exists()
    assert "old.py" in out.stderr


def test_the_compiled_modules_load_without_their_sources_being_checked(tmp_path):
    """Given a compiled layer, when a source changes afterwards (it never does in Lambda), then
    the interpreter still loads the compiled module: nothing stats or hashes the source."""
    root = _layer(tmp_path)
    assert _tool().main(["--runtime", RUNNING, str(root)]) == 0
    (root / "pkg" / "__init__.py").write_text("VALUE = 'changed'\n")
    out = subprocess.run(
        [sys.executable, "-c", "import pkg; print(pkg.VALUE)"],
        capture_output=True,
        text=True,
        cwd=root,
        env={"PYTHONPATH": str(root), "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert out.stdout.strip() == "1", out


def test_another_python_than_the_runtime_is_refused(tmp_path, capsys):
    """Given the runtime's version differs from this interpreter's, then nothing is compiled and
    the refusal says which Python to use (another version's .pyc would never be loaded)."""
    root = _layer(tmp_path)
    assert _tool().main(["--runtime", "2.7", str(root)]) == 2
    assert "python2.7" in capsys.readouterr().err
    assert not list(root.rglob("*.pyc"))


def test_a_missing_directory_is_refused(tmp_path, capsys):
    assert _tool().main(["--runtime", RUNNING, str(tmp_path / "absent")]) == 2
    assert "not a directory" in capsys.readouterr().err

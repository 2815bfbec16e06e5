"""Compile a Lambda layer's Python files to bytecode for the runtime that will load them.

    python3.13 tools/compile_layer.py build/layer/python            # `make layer` runs this
    python3.13 tools/compile_layer.py --runtime 3.13 build/layer/python

A layer is read-only in Lambda: an interpreter that finds no ``.pyc`` for a module compiles the
source at every cold start and cannot keep the result (for Pilothouse's own modules, about a
third of a function's cold start). So the layer ships them compiled, as the runtime needs them:

* by the runtime's own Python version (a ``.pyc`` carries its interpreter's tag,
  ``cpython-313``; another version's files are ignored), so this script refuses to run under
  another version than ``--runtime``;
* with ``unchecked-hash`` invalidation: the interpreter loads the file without comparing the
  source's modification time and size (a zip's timestamps do not survive every packaging step,
  and a layer's sources never change after it is built);
* every module, the layer's dependencies included (``pip install --no-compile`` leaves them
  without bytecode rather than compile them for the build machine's Python).
"""

from __future__ import annotations

import argparse
import compileall
import py_compile
import sys
from pathlib import Path

#: the Python version of the functions' Lambda runtime (template.yaml, serverless.yml)
RUNTIME = "3.13"


def compile_tree(root: Path) -> list[Path]:
    """Compile every ``.py`` file under ``root`` in place (``__pycache__``, unchecked hash); the
    files that would not compile (a dependency's file written for another Python, say), which
    the interpreter then compiles from source if it is ever imported."""
    failed = []
    for path in sorted(root.rglob("*.py")):
        ok = compileall.compile_file(
            path,
            quiet=2,
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )
        if not ok:
            failed.append(path)
    return failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("root", type=Path, help="the layer's python/ directory")
    parser.add_argument("--runtime", default=RUNTIME, help=f"the runtime's Python version ({RUNTIME})")
    args = parser.parse_args(argv)
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    if running != args.runtime:
        print(
            f"compile_layer: this is Python {running}; the layer's runtime is {args.runtime} "
            f"(run it with python{args.runtime}: bytecode of another version is never loaded)",
            file=sys.stderr,
        )
        return 2
    if not args.root.is_dir():
        print(f"compile_layer: {args.root} is not a directory", file=sys.stderr)
        return 2
    failed = compile_tree(args.root)
    for path in failed:
        print(f"compile_layer: left as source (does not compile): {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

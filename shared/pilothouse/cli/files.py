"""Reading the documents the CLI takes: component specs, configs and events, as YAML or JSON."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any


class InputError(Exception):
    """A file or argument the user gave cannot be used (reported as a usage error)."""


def load_document(source: str) -> Any:
    """The YAML or JSON document in file ``source`` (``-`` reads standard input)."""
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read {source}: {exc.strerror or exc}") from None
    import yaml  # loaded with the first document: --help never needs it

    try:
        return yaml.safe_load(text)  # JSON is YAML too
    except yaml.YAMLError as exc:
        raise InputError(f"{'stdin' if source == '-' else source} is neither YAML nor JSON: {exc}") from None


def load_inline_or_file(source: str) -> Any:
    """Inline JSON (``'{"n": 1}'``, ``'[1, 2]'``, ``'"text"'``, a number, ``true``/``false``/``null``)
    when ``source`` reads as JSON and no file has that name; otherwise the document in file ``source``
    (``-`` reads standard input)."""
    import json

    if source != "-" and not Path(source).exists():
        text = source.strip()
        try:
            return json.loads(text)
        except ValueError:
            if text[:1] in ("{", "[", '"'):
                raise InputError(f"{source!r} is neither a file nor valid JSON") from None
    return load_document(source)


def load_mapping(source: str, what: str) -> dict[str, Any]:
    doc = load_document(source)
    if not isinstance(doc, dict):
        raise InputError(f"{what} in {source} must be a mapping, not {type(doc).__name__}")
    return doc


def apply_sets(config: dict[str, Any], assignments: list[str]) -> dict[str, Any]:
    """``config`` with each ``key=value`` applied; dotted keys reach into nested mappings.

    Values are read as YAML scalars, so ``replicas=3`` is a number and ``on=true`` a boolean;
    quote to keep a string (``tag='007'``).
    """
    import yaml

    result = _copy(config)
    for assignment in assignments:
        key, sep, raw = assignment.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--set expects key=value, got {assignment!r}")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        *parents, leaf = key.strip().split(".")
        node = result
        for part in parents:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[leaf] = value
    return result


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value

"""Layered configuration, pure: merging layers, schema defaults, every error with its JSON path,
secret references, file formats and diffs (DESIGN §11).

A component's resolved config is, from weakest to strongest: its schema's defaults < the shared
config sets it includes (in order) < its environment's overrides < its own overrides < the
control plane's ``PILOTHOUSE_CONFIG_<COMPONENT>__<KEY>`` variables.

    >>> schema = {"type": "object", "properties": {"port": {"type": "integer", "default": 80}}}
    >>> resolve(schema, [{"log": "info"}, {"port": 8080}])
    {'port': 8080, 'log': 'info'}
    >>> validation_errors(schema, {"port": "x"})
    [{'field': '$.port', 'message': "'x' is not of type 'integer'"}]
    >>> diff({"a": 1, "b": 2}, {"a": 1, "b": 3, "c": 4})
    [{'path': '$.b', 'op': 'changed', 'from': 2, 'to': 3}, {'path': '$.c', 'op': 'added', 'to': 4}]
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

#: the key of a secret reference: ``{"$secret": "db-password"}`` or ``{"$secret": "x", "version": 2}``
SECRET = "$secret"
#: the prefix of the control plane's own component config variables
ENV_PREFIX = "PILOTHOUSE_CONFIG_"
#: the formats an import accepts
FORMATS = ("yaml", "json", "env")
_ENV_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*(.*?)\s*$")


def is_secret_ref(value: Any) -> bool:
    """A ``{"$secret": name}`` (optionally with ``version``) reference."""
    return (
        isinstance(value, dict)
        and isinstance(value.get(SECRET), str)
        and set(value) <= {SECRET, "version"}
        and (value.get("version") is None or (isinstance(value["version"], int) and value["version"] >= 1))
    )


def secret_refs(
    config: Any, path: tuple[str | int, ...] = ()
) -> Iterator[tuple[tuple[str | int, ...], dict]]:
    """Every secret reference in ``config`` with its path."""
    if is_secret_ref(config):
        yield path, config
    elif isinstance(config, dict):
        for key, value in config.items():
            yield from secret_refs(value, (*path, key))
    elif isinstance(config, list):
        for i, value in enumerate(config):
            yield from secret_refs(value, (*path, i))


def json_path(parts: Sequence[str | int]) -> str:
    """``("db", "hosts", 0)`` → ``$.db.hosts[0]``."""
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts)


def merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``over`` on top of ``base``: objects merge key by key, anything else (a list, a secret
    reference) replaces as a whole. Neither argument is changed."""
    out = dict(base)
    for key, value in over.items():
        mine = out.get(key)
        if (
            isinstance(mine, dict)
            and isinstance(value, dict)
            and not is_secret_ref(value)
            and not is_secret_ref(mine)
        ):
            out[key] = merge(mine, value)
        else:
            out[key] = value
    return out


def schema_defaults(schema: Mapping[str, Any] | None) -> dict[str, Any]:
    """The defaults a JSON Schema declares for an object's properties, nested objects included."""
    if not isinstance(schema, Mapping):
        return {}
    out: dict[str, Any] = dict(schema["default"]) if isinstance(schema.get("default"), dict) else {}
    for key, sub in (schema.get("properties") or {}).items():
        if not isinstance(sub, Mapping):
            continue
        if "default" in sub:
            out[key] = sub["default"]
        elif sub.get("type") == "object" or "properties" in sub:
            nested = schema_defaults(sub)
            if nested:
                out[key] = merge(out.get(key) or {}, nested)
    return out


def resolve(schema: Mapping[str, Any] | None, layers: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The schema's defaults with each layer merged on top, in order (the last one wins)."""
    out = schema_defaults(schema)
    for layer in layers:
        out = merge(out, layer)
    return out


def under_secret_ref(config: Any, path: Sequence[str | int]) -> bool:
    node = config
    for part in path:
        if is_secret_ref(node):
            return True
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return False
    return is_secret_ref(node)


def validation_errors(schema: dict[str, Any] | None, config: dict[str, Any]) -> list[dict[str, str]]:
    """Every way ``config`` breaks ``schema``, each with its JSON path (``$.db.port``), in path
    order. A secret reference stands for a value checked when it is set, so none is reported at
    (or under) one."""
    if schema is None:
        return []
    from referencing.exceptions import Unresolvable

    from pilothouse.domain.config_schema import compiled, unresolvable

    validator = compiled(schema)
    if isinstance(validator, str):
        return [{"field": "config_schema", "message": validator}]
    found = []
    try:
        for error in validator.iter_errors(config):
            path = list(error.absolute_path)
            if under_secret_ref(config, path):
                continue
            found.append({"field": json_path(path), "message": error.message})
    except Unresolvable as exc:
        return [{"field": "config_schema", "message": unresolvable(exc)}]
    return sorted(found, key=lambda e: (e["field"], e["message"]))


def diff(old: Any, new: Any, path: tuple[str | int, ...] = ()) -> list[dict[str, Any]]:
    """What changed from ``old`` to ``new``, leaf by leaf (objects are walked, lists compared whole)."""
    if isinstance(old, dict) and isinstance(new, dict) and not is_secret_ref(old) and not is_secret_ref(new):
        out: list[dict[str, Any]] = []
        for key in [*old, *(k for k in new if k not in old)]:
            sub = (*path, key)
            if key not in new:
                out.append({"path": json_path(sub), "op": "removed", "from": old[key]})
            elif key not in old:
                out.append({"path": json_path(sub), "op": "added", "to": new[key]})
            else:
                out += diff(old[key], new[key], sub)
        return out
    if old == new and type(old) is type(new):
        return []
    return [{"path": json_path(path), "op": "changed", "from": old, "to": new}]


def _scalar(text: str) -> Any:
    """A ``.env`` or environment value: JSON when it parses as JSON, else the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _nest(pairs: Sequence[tuple[str, Any]]) -> dict[str, Any]:
    """``[("db__port", 5)]`` → ``{"db": {"port": 5}}`` (``__`` separates levels)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        parts = [p for p in key.split("__") if p]
        if not parts:
            continue
        node = out
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[parts[-1]] = value
    return out


def parse_env_file(content: str) -> dict[str, Any]:
    """A ``.env`` file: ``KEY=value`` lines (``#`` comments, optional ``export``, quotes stripped);
    keys are lower-cased, ``__`` nests them; ValueError names the first bad line."""
    pairs = []
    for n, line in enumerate(content.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = _ENV_LINE.match(line)
        if m is None:
            raise ValueError(f"line {n}: expected KEY=value")
        key, raw = m.group(1), m.group(2)
        if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
            value: Any = raw[1:-1]
        else:
            value = _scalar(raw.split(" #", 1)[0].strip())
        pairs.append((key.lower(), value))
    return _nest(pairs)


def parse_document(content: str, fmt: str) -> dict[str, Any]:
    """A config document in ``fmt`` (yaml, json, env); ValueError saying what is wrong with it."""
    if fmt == "env":
        return parse_env_file(content)
    if fmt in ("json", "yaml") and _text_deeper_than(content, fmt, MAX_TEXT_DEPTH):
        # refused before parsing: PyYAML takes quadratic time (and json recursion) on deep nesting
        raise ValueError(f"the document nests deeper than {MAX_DEPTH} levels")
    if fmt == "json":
        try:
            data = json.loads(content)
        except ValueError as exc:
            raise ValueError(f"not JSON: {exc}") from None
    elif fmt == "yaml":
        data = _yaml(content)
    else:
        raise ValueError(f"unknown format {fmt!r}; one of: {', '.join(FORMATS)}")
    if not isinstance(data, dict):
        raise ValueError("the document must be an object (a map of keys to values)")
    if _deeper_than(data, MAX_DEPTH):
        raise ValueError(f"the document nests deeper than {MAX_DEPTH} levels")
    return data


#: the deepest a config document may nest
MAX_DEPTH = 32
#: the deepest nesting a document's text may show before it is parsed (a generous upper bound)
MAX_TEXT_DEPTH = 64
_BLOCK_SCALAR = re.compile(r"^\s*(?:-\s+)*(?:[^#'\"]*:\s+)?[|>][-+0-9]*\s*$")


def _text_deeper_than(content: str, fmt: str, limit: int) -> bool:
    """Whether the text of a JSON or YAML document may nest deeper than ``limit``: one linear scan
    of brackets and braces (and, for YAML, indentation and ``- `` / ``? `` markers). For YAML it
    over-counts (brackets in strings and comments count too) so nothing deep gets past it."""
    if fmt == "json":
        depth, in_string, escaped = 0, False, False
        for ch in content:
            if in_string:
                if escaped:
                    escaped = False
                elif ch == "\\":
                    escaped = True
                elif ch == '"':
                    in_string = False
            elif ch == '"':
                in_string = True
            elif ch in "[{":
                depth += 1
                if depth > limit:
                    return True
            elif ch in "]}":
                depth = max(depth - 1, 0)
        return False
    indents: list[int] = []
    flow = 0
    block: int | None = None  # the indentation of a block scalar's header: deeper lines are text
    for line in content.splitlines():
        text = line.lstrip(" ")
        indent = len(line) - len(text)
        if block is not None:
            if not text.strip() or indent > block:
                continue
            block = None
        if not text.strip():
            continue
        while indents and indents[-1] >= indent:
            indents.pop()
        indents.append(indent)
        markers = 0
        while text[:2] in ("- ", "? ", "-\t", "?\t"):
            markers += 1
            text = text[2:].lstrip(" \t")
        for ch in text:
            if ch in "[{":
                flow += 1
                if len(indents) + markers + flow > limit:
                    return True
            elif ch in "]}":
                flow = max(flow - 1, 0)
        if len(indents) + markers + flow > limit:
            return True
        if flow == 0 and _BLOCK_SCALAR.match(line):
            block = indent
    return False


def _deeper_than(value: Any, limit: int) -> bool:
    if limit < 0:
        return True
    if isinstance(value, dict):
        return any(_deeper_than(v, limit - 1) for v in value.values())
    if isinstance(value, list):
        return any(_deeper_than(v, limit - 1) for v in value)
    return False


def _yaml(content: str) -> Any:
    """YAML without aliases (``*name`` expands a small text into a huge document: refused)."""
    import yaml

    try:
        if any(isinstance(event, yaml.AliasEvent) for event in yaml.parse(content, Loader=yaml.SafeLoader)):
            raise ValueError("YAML aliases (*name) are not accepted in config")
        data = yaml.safe_load(content)
    except yaml.YAMLError as exc:
        raise ValueError(f"not YAML: {str(exc).splitlines()[0]}") from None
    except RecursionError:
        raise ValueError(f"the document nests deeper than {MAX_DEPTH} levels") from None
    return {} if data is None else data


def env_key(component: str) -> str:
    """The variable prefix of a component: ``PILOTHOUSE_CONFIG_JOB_RUNNER__`` for ``job-runner``."""
    return f"{ENV_PREFIX}{component.upper().replace('-', '_')}__"


def env_layer(environ: Mapping[str, str] | Sequence[tuple[str, str]], component: str) -> dict[str, Any]:
    """The layer ``PILOTHOUSE_CONFIG_<COMPONENT>__<KEY>`` variables give ``component`` (keys
    lower-cased, ``__`` nests, JSON values parsed)."""
    prefix = env_key(component)
    items = environ.items() if isinstance(environ, Mapping) else environ
    return _nest(sorted((k[len(prefix) :].lower(), _scalar(v)) for k, v in items if k.startswith(prefix)))

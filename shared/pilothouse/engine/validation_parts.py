"""Field-level checks used by :mod:`validation` (values, rules, retriers)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeGuard

from . import choice, intrinsics, jsonata_bridge, jsonpath
from .fields import CATCHER, JSONATA, RETRIER

Report = Callable[[str, str], None]
VAR_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def is_int(v: Any) -> TypeGuard[int]:
    """True for a JSON integer (bools excluded)."""
    return isinstance(v, int) and not isinstance(v, bool)


def is_num(v: Any) -> TypeGuard[float]:
    """True for a JSON number (bools excluded)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def check_path(
    value: Any,
    path: str,
    report: Report,
    *,
    nullable: bool = True,
    reference: bool = False,
    definite: bool = False,
    allow_context: bool = True,
) -> None:
    """Check a JSONPath-valued field (InputPath, ResultPath, ...)."""
    if value is None:
        if not nullable:
            report(path, "must be a JSONPath string, not null")
        return
    if not isinstance(value, str):
        report(path, "must be a JSONPath string")
        return
    try:
        p = jsonpath.compile_path(value)
    except jsonpath.JsonPathSyntaxError as exc:
        report(path, f"invalid JSONPath: {exc}")
        return
    if reference and (not p.definite or p.root != "$"):
        report(path, f"'{value}' must be a reference path (definite, rooted at '$')")
    elif definite and not p.definite:
        report(path, f"'{value}' must select a single value (no wildcards, filters or slices)")
    elif p.root == "$$" and not allow_context:
        report(path, "the context object ($$) is not allowed here")


def check_dynamic(value: Any, path: str, report: Report) -> None:
    """Check the value of a ``.$`` key: a JSONPath or an intrinsic function."""
    if not isinstance(value, str):
        report(path, "the value of a field ending in '.$' must be a string (JSONPath or intrinsic function)")
        return
    if intrinsics.looks_like_intrinsic(value):
        try:
            intrinsics.parse(value)
        except intrinsics.IntrinsicSyntaxError as exc:
            report(path, f"invalid intrinsic function: {exc}")
        return
    check_path(value, path, report, nullable=False)


def check_template(tpl: Any, path: str, report: Report) -> None:
    """Check a JSONPath payload template (Parameters, ResultSelector, ...)."""
    if isinstance(tpl, dict):
        for k, v in tpl.items():
            sub = f"{path}.{k}"
            if k.endswith(".$"):
                check_dynamic(v, sub, report)
            else:
                check_template(v, sub, report)
    elif isinstance(tpl, list):
        for i, v in enumerate(tpl):
            check_template(v, f"{path}[{i}]", report)


def check_jsonata_value(value: Any, path: str, report: Report) -> None:
    """Check every ``{% %}`` expression inside a JSONata-mode field compiles."""
    if isinstance(value, str):
        if value.startswith("{%") or value.endswith("%}"):
            if not jsonata_bridge.is_expression(value):
                report(path, "a JSONata expression must be the whole string: '{% ... %}'")
                return
            msg = jsonata_bridge.check_syntax(value)
            if msg:
                report(path, msg)
    elif isinstance(value, dict):
        # a key ending in '.$' is an ordinary key in JSONata states (a warning, see validation)
        for k, v in value.items():
            check_jsonata_value(v, f"{path}.{k}", report)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            check_jsonata_value(v, f"{path}[{i}]", report)


def dollar_keys(value: Any, path: str) -> list[str]:
    """Paths of every object key ending in ``.$`` inside ``value``."""
    found: list[str] = []
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(k, str) and k.endswith(".$"):
                found.append(f"{path}.{k}")
            found += dollar_keys(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += dollar_keys(v, f"{path}[{i}]")
    return found


def _looks_dynamic(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    if intrinsics.looks_like_intrinsic(value):
        return True
    return value in ("$", "$$") or value.startswith(("$.", "$$.", "$["))


def undollared_paths(tpl: Any, path: str) -> list[str]:
    """Paths of template fields without ``.$`` whose value looks like a path or intrinsic."""
    found: list[str] = []
    if isinstance(tpl, dict):
        for k, v in tpl.items():
            if isinstance(k, str) and k.endswith(".$"):
                continue
            if _looks_dynamic(v):
                found.append(f"{path}.{k}")
            else:
                found += undollared_paths(v, f"{path}.{k}")
    elif isinstance(tpl, list):
        for i, v in enumerate(tpl):
            found += undollared_paths(v, f"{path}[{i}]")
    return found


def check_assign(assign: Any, path: str, ql: str, report: Report) -> set:
    """Check an ``Assign`` block and return the variable names it assigns."""
    names: set = set()
    if not isinstance(assign, dict):
        if ql == JSONATA and jsonata_bridge.is_expression(assign):
            check_jsonata_value(assign, path, report)
        else:
            report(path, "Assign must be a JSON object")
        return names
    for key, value in assign.items():
        name = key[:-2] if ql != JSONATA and key.endswith(".$") else key
        if not VAR_NAME_RE.match(name) or name == "states":
            report(f"{path}.{key}", f"invalid variable name '{name}'")
        names.add(name)
        if ql == JSONATA:
            check_jsonata_value(value, f"{path}.{key}", report)
        elif key.endswith(".$"):
            check_dynamic(value, f"{path}.{key}", report)
        else:
            check_template(value, f"{path}.{key}", report)
    return names


def check_number_or_expr(
    value: Any,
    path: str,
    ql: str,
    report: Report,
    *,
    minimum: float = 0,
    integer: bool = True,
    what: str = "a non-negative integer",
) -> None:
    """Check a numeric field that may also be a JSONata expression."""
    if ql == JSONATA and jsonata_bridge.is_expression(value):
        check_jsonata_value(value, path, report)
        return
    ok = is_int(value) if integer else is_num(value)
    if not ok or value < minimum:
        report(path, f"must be {what}")


def check_error_equals(errs: Any, path: str, report: Report, is_last: bool) -> None:
    """``ErrorEquals``: non-empty list of strings; States.ALL alone and last."""
    if not isinstance(errs, list) or not errs:
        report(path, "ErrorEquals must be a non-empty array of error names")
        return
    for i, e in enumerate(errs):
        if not isinstance(e, str):
            report(f"{path}[{i}]", "error names must be strings")
    if "States.ALL" in errs:
        if len(errs) != 1:
            report(path, "States.ALL must appear alone in ErrorEquals")
        if not is_last:
            report(path, "a retrier or catcher with States.ALL must be the last one")


def check_retry(retry: Any, path: str, report: Report) -> None:
    """Check a ``Retry`` array."""
    if not isinstance(retry, list):
        report(path, "Retry must be an array")
        return
    for i, r in enumerate(retry):
        rp = f"{path}[{i}]"
        if not isinstance(r, dict):
            report(rp, "a retrier must be an object")
            continue
        for k in r:
            if k not in RETRIER:
                report(f"{rp}.{k}", f"field '{k}' is not supported in a retrier")
        if "ErrorEquals" not in r:
            report(f"{rp}.ErrorEquals", "ErrorEquals is required")
        else:
            check_error_equals(r["ErrorEquals"], f"{rp}.ErrorEquals", report, i == len(retry) - 1)
        if "IntervalSeconds" in r and (not is_int(r["IntervalSeconds"]) or r["IntervalSeconds"] < 1):
            report(f"{rp}.IntervalSeconds", "IntervalSeconds must be a positive integer")
        if "MaxAttempts" in r and (not is_int(r["MaxAttempts"]) or r["MaxAttempts"] < 0):
            report(f"{rp}.MaxAttempts", "MaxAttempts must be a non-negative integer")
        if "BackoffRate" in r and (not is_num(r["BackoffRate"]) or r["BackoffRate"] < 1.0):
            report(f"{rp}.BackoffRate", "BackoffRate must be a number >= 1.0")
        if "MaxDelaySeconds" in r and (not is_int(r["MaxDelaySeconds"]) or r["MaxDelaySeconds"] < 1):
            report(f"{rp}.MaxDelaySeconds", "MaxDelaySeconds must be a positive integer")
        if "JitterStrategy" in r and r["JitterStrategy"] not in ("FULL", "NONE"):
            report(f"{rp}.JitterStrategy", "JitterStrategy must be FULL or NONE")


def check_catch(catch: Any, path: str, ql: str, report: Report) -> list:
    """Check a ``Catch`` array; return ``(path, Next)`` pairs for transition checks."""
    nexts: list = []
    if not isinstance(catch, list):
        report(path, "Catch must be an array")
        return nexts
    for i, c in enumerate(catch):
        cp = f"{path}[{i}]"
        if not isinstance(c, dict):
            report(cp, "a catcher must be an object")
            continue
        for k in c:
            if k not in CATCHER[ql]:
                report(f"{cp}.{k}", f"field '{k}' is not supported in a {ql} catcher")
        if "ErrorEquals" not in c:
            report(f"{cp}.ErrorEquals", "ErrorEquals is required")
        else:
            check_error_equals(c["ErrorEquals"], f"{cp}.ErrorEquals", report, i == len(catch) - 1)
        if "Next" not in c:
            report(f"{cp}.Next", "Next is required in a catcher")
        else:
            nexts.append((f"{cp}.Next", c["Next"]))
        if "ResultPath" in c and ql != JSONATA:
            check_path(c["ResultPath"], f"{cp}.ResultPath", report, reference=True)
        if "Output" in c and ql == JSONATA:
            check_jsonata_value(c["Output"], f"{cp}.Output", report)
        if "Assign" in c:
            check_assign(c["Assign"], f"{cp}.Assign", ql, report)
    return nexts


def check_choice_rule(rule: Any, path: str, report: Report, top: bool) -> None:
    """Check a JSONPath choice rule (recursively for And/Or/Not)."""
    if not isinstance(rule, dict):
        report(path, "a choice rule must be an object")
        return
    ops = [k for k in rule if k in choice.ALL_OPERATORS]
    allowed = {"Variable", "Comment"} | set(choice.ALL_OPERATORS) | ({"Next", "Assign"} if top else set())
    for k in rule:
        if k not in allowed:
            report(f"{path}.{k}", f"field '{k}' is not supported in this choice rule")
    if top and "Next" not in rule:
        report(f"{path}.Next", "a top-level choice rule requires Next")
    if len(ops) != 1:
        report(path, "a choice rule must have exactly one comparison operator")
        return
    op = ops[0]
    val = rule[op]
    if op in ("And", "Or"):
        if "Variable" in rule:
            report(f"{path}.Variable", f"Variable is not allowed with {op}")
        if not isinstance(val, list) or not val:
            report(f"{path}.{op}", f"{op} must be a non-empty array of rules")
            return
        for i, sub in enumerate(val):
            check_choice_rule(sub, f"{path}.{op}[{i}]", report, False)
        return
    if op == "Not":
        check_choice_rule(val, f"{path}.Not", report, False)
        return
    if "Variable" not in rule:
        report(f"{path}.Variable", "Variable is required")
    else:
        check_path(rule["Variable"], f"{path}.Variable", report, nullable=False)
    if op in choice.TYPE_TESTS:
        if not isinstance(val, bool):
            report(f"{path}.{op}", f"{op} must be a boolean")
    elif op.endswith("Path"):
        check_path(val, f"{path}.{op}", report, nullable=False)
    elif op.startswith(("String",)):
        if not isinstance(val, str):
            report(f"{path}.{op}", f"{op} must be a string")
    elif op.startswith("Numeric"):
        if not is_num(val):
            report(f"{path}.{op}", f"{op} must be a number")
    elif op.startswith("Boolean"):
        if not isinstance(val, bool):
            report(f"{path}.{op}", f"{op} must be a boolean")
    elif op.startswith("Timestamp") and choice.parse_timestamp(val) is None:
        report(f"{path}.{op}", f"{op} must be an RFC 3339 timestamp")


def check_jsonata_rule(rule: Any, path: str, report: Report) -> None:
    """Check a JSONata choice rule (``Condition`` + ``Next``)."""
    if not isinstance(rule, dict):
        report(path, "a choice rule must be an object")
        return
    for k in rule:
        if k not in ("Condition", "Next", "Comment", "Assign", "Output"):
            report(f"{path}.{k}", f"field '{k}' is not supported in a JSONata choice rule")
    if "Next" not in rule:
        report(f"{path}.Next", "a choice rule requires Next")
    cond = rule.get("Condition")
    if cond is None:
        report(f"{path}.Condition", "Condition is required in a JSONata choice rule")
    elif isinstance(cond, bool):
        pass
    elif not jsonata_bridge.is_expression(cond):
        report(f"{path}.Condition", "Condition must be a JSONata expression '{% ... %}' or a boolean")
    else:
        check_jsonata_value(cond, f"{path}.Condition", report)
    if "Output" in rule:
        check_jsonata_value(rule["Output"], f"{path}.Output", report)
    if "Assign" in rule:
        check_assign(rule["Assign"], f"{path}.Assign", JSONATA, report)

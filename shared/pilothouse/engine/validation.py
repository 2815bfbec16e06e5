"""State machine definition validation.

:func:`validate` returns every problem found as a
:class:`~pilothouse.engine.errors.ValidationError` naming the JSON path of
the offending field (``$.States.Check.Choices[1].Next``); :func:`load`
raises :class:`~pilothouse.engine.errors.DefinitionError` instead.

Errors are what AWS Step Functions refuses too; what AWS accepts but is
likely a mistake is a *warning* (:func:`diagnose`), never an error, the
way ``ValidateStateMachineDefinition`` answers ``OK`` with WARNING
diagnostics:

- a state that cannot be reached from ``StartAt`` (AWS creates and runs
  such a machine);
- in a JSONPath state, a field whose value looks like a path or an
  intrinsic function but whose name lacks ``.$`` (AWS: ``NO_DOLLAR``);
- a Pass state's ``Result`` with ``.$`` keys, which stay static
  (AWS: ``PASS_RESULT_IS_STATIC``);
- in a JSONata state, an ``Arguments``/``Output``/``Assign`` key ending in
  ``.$``: an ordinary key there, sent as written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from . import validation_parts as vp
from .errors import DefinitionError, ValidationError
from .fields import (
    FIELDS,
    FLOW_STATES,
    ITEM_BATCHER,
    ITEM_PROCESSOR,
    JSONATA,
    JSONATA_ONLY,
    JSONPATH,
    JSONPATH_ONLY,
    MAX_NAME,
    REQUIRED,
    SUB_MACHINE,
    TOP_LEVEL,
)
from .jsonata_bridge import is_expression


@dataclass(frozen=True)
class Diagnosis:
    """What :func:`diagnose` found: ``errors`` refuse the definition (as AWS does); ``warnings``
    are accepted by AWS and only reported (``workflow validate --strict``)."""

    errors: list[ValidationError] = field(default_factory=list)
    warnings: list[ValidationError] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        """True when there is no error (warnings do not count)."""
        return not self.errors


def diagnose(definition: Any, *, warnings: bool = True) -> Diagnosis:
    """Return the errors and (unless ``warnings=False``) the warnings of ``definition``."""
    if isinstance(definition, str):
        try:
            definition = json.loads(definition)
        except ValueError as exc:
            return Diagnosis([ValidationError("$", f"definition is not valid JSON: {exc}")])
    v = _Validator(definition, warnings=warnings)
    v.machine(definition, "$", kind="top", ql=v.top_ql)
    return Diagnosis(v.errors, v.warnings)


def validate(definition: Any) -> list[ValidationError]:
    """Return all validation errors of ``definition`` (dict or JSON text); warnings aside."""
    return diagnose(definition, warnings=False).errors


def load(definition: Any) -> dict:
    """Parse (if text) and validate ``definition``; raise DefinitionError on problems."""
    if isinstance(definition, str):
        try:
            definition = json.loads(definition)
        except ValueError as exc:
            raise DefinitionError([ValidationError("$", f"definition is not valid JSON: {exc}")]) from None
    errors = validate(definition)
    if errors:
        raise DefinitionError(errors)
    return definition


def _assign_keys(assign: Any) -> set:
    if not isinstance(assign, dict):
        return set()
    return {k[:-2] if k.endswith(".$") else k for k in assign}


def _assigned_names(states: dict) -> set:
    """Variable names assigned anywhere in one scope (states, rules, catchers)."""
    names: set = set()
    for st in states.values():
        if not isinstance(st, dict):
            continue
        names |= _assign_keys(st.get("Assign"))
        for holder in (st.get("Choices"), st.get("Catch")):
            if isinstance(holder, list):
                for item in holder:
                    if isinstance(item, dict):
                        names |= _assign_keys(item.get("Assign"))
    return names


def _is_terminal(st: Any) -> bool:
    return isinstance(st, dict) and (st.get("End") is True or st.get("Type") in ("Succeed", "Fail"))


class _Validator:
    def __init__(self, root: Any, *, warnings: bool = True) -> None:
        self.errors: list[ValidationError] = []
        self.warnings: list[ValidationError] = []
        self.with_warnings = warnings
        self.names: dict[str, str] = {}
        self.top_ql = JSONPATH
        if isinstance(root, dict) and root.get("QueryLanguage") == JSONATA:
            self.top_ql = JSONATA

    def report(self, path: str, message: str) -> None:
        self.errors.append(ValidationError(path, message))

    def warn(self, path: str, message: str) -> None:
        if self.with_warnings:
            self.warnings.append(ValidationError(path, message))

    # ----------------------------------------------------------- machines
    def machine(self, d: Any, path: str, kind: str, ql: str, outer_vars: frozenset = frozenset()) -> None:
        if not isinstance(d, dict):
            self.report(path, "must be a JSON object with StartAt and States")
            return
        allowed = {"top": TOP_LEVEL, "branch": SUB_MACHINE, "processor": ITEM_PROCESSOR}[kind]
        for k in d:
            if k not in allowed:
                self.report(f"{path}.{k}", f"field '{k}' is not supported here")
        if kind == "top":
            qlv = d.get("QueryLanguage", JSONPATH)
            if qlv not in (JSONPATH, JSONATA):
                self.report(f"{path}.QueryLanguage", "QueryLanguage must be JSONPath or JSONata")
            if "TimeoutSeconds" in d and (not vp.is_int(d["TimeoutSeconds"]) or d["TimeoutSeconds"] < 1):
                self.report(f"{path}.TimeoutSeconds", "TimeoutSeconds must be a positive integer")
            if "Version" in d and not isinstance(d["Version"], str):
                self.report(f"{path}.Version", "Version must be a string")
        if kind == "processor" and "ProcessorConfig" in d:
            pc = d["ProcessorConfig"]
            if not isinstance(pc, dict):
                self.report(f"{path}.ProcessorConfig", "ProcessorConfig must be an object")
            else:
                if pc.get("Mode", "INLINE") not in ("INLINE", "DISTRIBUTED"):
                    self.report(f"{path}.ProcessorConfig.Mode", "Mode must be INLINE or DISTRIBUTED")
                if "ExecutionType" in pc and pc["ExecutionType"] not in ("STANDARD", "EXPRESS"):
                    self.report(
                        f"{path}.ProcessorConfig.ExecutionType", "ExecutionType must be STANDARD or EXPRESS"
                    )
        states = d.get("States")
        if "StartAt" not in d:
            self.report(f"{path}.StartAt", "StartAt is required")
        if not isinstance(states, dict) or not states:
            self.report(f"{path}.States", "States must be a non-empty object")
            return
        start = d.get("StartAt")
        if "StartAt" in d and (not isinstance(start, str) or start not in states):
            self.report(f"{path}.StartAt", f"StartAt '{start}' does not name a state in States")
        transitions: dict[str, list] = {}
        scope_vars = frozenset(_assigned_names(states))
        for name, st in states.items():
            spath = f"{path}.States.{name}"
            if len(name) > MAX_NAME:
                self.report(spath, f"state name exceeds {MAX_NAME} characters")
            if not name:
                self.report(spath, "state name must not be empty")
            if name in self.names:
                self.report(spath, f"state name '{name}' is already used at {self.names[name]}")
            else:
                self.names[name] = spath
            transitions[name] = self.state(st, spath, ql, outer_vars, scope_vars)
        for targets in transitions.values():
            for tpath, target in targets:
                if not isinstance(target, str) or target not in states:
                    self.report(tpath, f"'{target}' does not name a state in this scope")
        if not any(_is_terminal(st) for st in states.values()):
            # AWS: MISSING_END_STATE ("The workflow does not have a terminal state")
            self.report(f"{path}.States", "no state ends the workflow (End: true, Succeed or Fail)")
        if isinstance(start, str) and start in states:
            seen, todo = {start}, [start]
            while todo:
                for _, t in transitions.get(todo.pop(), []):
                    if isinstance(t, str) and t in states and t not in seen:
                        seen.add(t)
                        todo.append(t)
            for name in states:
                if name not in seen:
                    # AWS accepts (and runs) a machine with unreachable states: a warning only
                    self.warn(f"{path}.States.{name}", f"state '{name}' is not reachable from StartAt")

    # ------------------------------------------------------------- states
    def state(self, st: Any, p: str, inherited: str, outer_vars: frozenset, scope_vars: frozenset) -> list:
        nexts: list = []
        if not isinstance(st, dict):
            self.report(p, "a state must be a JSON object")
            return nexts
        typ = st.get("Type")
        if typ not in FIELDS:
            self.report(
                f"{p}.Type", f"Type must be one of {', '.join(FIELDS)}" if typ else "Type is required"
            )
            return nexts
        ql = st.get("QueryLanguage", inherited)
        if "QueryLanguage" in st:
            if ql not in (JSONPATH, JSONATA):
                self.report(f"{p}.QueryLanguage", "QueryLanguage must be JSONPath or JSONata")
                ql = inherited
            elif self.top_ql == JSONATA and ql == JSONPATH:
                self.report(
                    f"{p}.QueryLanguage", "a state cannot use JSONPath when the state machine uses JSONata"
                )
        allowed = FIELDS[typ][ql] | {"Type", "Comment", "QueryLanguage"}
        for k in st:
            if k in allowed:
                continue
            if ql == JSONATA and k in JSONPATH_ONLY:
                self.report(f"{p}.{k}", f"field '{k}' is not supported in JSONata states")
            elif ql == JSONPATH and k in JSONATA_ONLY:
                self.report(f"{p}.{k}", f"field '{k}' is only supported in JSONata states")
            else:
                self.report(f"{p}.{k}", f"field '{k}' is not supported by a {typ} state")
        for req in REQUIRED.get(typ, ()):
            if req not in st:
                self.report(f"{p}.{req}", f"{req} is required in a {typ} state")
        if typ in FLOW_STATES:
            has_next, has_end = "Next" in st, "End" in st
            if has_next and has_end:
                self.report(p, "a state cannot have both Next and End")
            elif not has_next and not has_end:
                self.report(p, "a state must have either Next or End")
            if has_end and st["End"] is not True:
                self.report(f"{p}.End", "End must be true")
            if has_next:
                nexts.append((f"{p}.Next", st["Next"]))
        self.common_io(st, p, ql)
        if self.with_warnings:
            self.style_warnings(st, p, typ, ql)
        if "Assign" in st:
            names = vp.check_assign(st["Assign"], f"{p}.Assign", ql, self.report)
            for n in names & outer_vars:
                self.report(
                    f"{p}.Assign.{n}",
                    f"variable '{n}' is declared in an outer scope and cannot be assigned here",
                )
        getattr(self, "s_" + typ.lower())(st, p, ql, nexts, outer_vars | scope_vars)
        if "Retry" in st:
            vp.check_retry(st["Retry"], f"{p}.Retry", self.report)
        if "Catch" in st:
            nexts.extend(vp.check_catch(st["Catch"], f"{p}.Catch", ql, self.report))
        return nexts

    def common_io(self, st: dict, p: str, ql: str) -> None:
        if ql == JSONATA:
            for k in ("Arguments", "Output"):
                if k in st:
                    self.jsonata(st[k], f"{p}.{k}")
            return
        for k in ("InputPath", "OutputPath"):
            if k in st:
                vp.check_path(st[k], f"{p}.{k}", self.report)
        if "ResultPath" in st:
            vp.check_path(st["ResultPath"], f"{p}.ResultPath", self.report, reference=True)
        for k in ("Parameters", "ResultSelector"):
            if k in st:
                if not isinstance(st[k], dict):
                    self.report(f"{p}.{k}", f"{k} must be a JSON object")
                else:
                    vp.check_template(st[k], f"{p}.{k}", self.report)

    def style_warnings(self, st: dict, p: str, typ: str, ql: str) -> None:
        """The warnings AWS gives for definitions it accepts (see the module docstring)."""
        if ql == JSONATA:
            for k in ("Arguments", "Output", "Assign", "ItemSelector"):
                for kp in vp.dollar_keys(st.get(k), f"{p}.{k}"):
                    self.warn(
                        kp, "in a JSONata state a key ending in '.$' is an ordinary key, sent as written"
                    )
            return
        for k in ("Parameters", "ResultSelector", "ItemSelector", "Assign"):
            for kp in vp.undollared_paths(st.get(k), f"{p}.{k}"):
                self.warn(
                    kp,
                    "the value looks like a JSONPath or an intrinsic function but the field name does "
                    "not end in '.$', so it is used as a literal string",
                )
        if typ == "Pass":
            for kp in vp.dollar_keys(st.get("Result"), f"{p}.Result"):
                self.warn(kp, "Result is static: a key ending in '.$' is not evaluated (use Parameters)")

    def jsonata(self, value: Any, p: str) -> None:
        vp.check_jsonata_value(value, p, self.report)

    def exclusive(self, st: dict, p: str, *keys: str) -> None:
        present = [k for k in keys if k in st]
        if len(present) > 1:
            self.report(p, f"fields {' and '.join(present)} are mutually exclusive")

    def number(self, st: dict, key: str, p: str, ql: str, **kw: Any) -> None:
        if key in st:
            vp.check_number_or_expr(st[key], f"{p}.{key}", ql, self.report, **kw)

    def s_pass(self, st: dict, p: str, ql: str, nexts: list, vars_: frozenset) -> None:
        pass

    def s_succeed(self, st: dict, p: str, ql: str, nexts: list, vars_: frozenset) -> None:
        pass

    def s_task(self, st: dict, p: str, ql: str, nexts: list, vars_: frozenset) -> None:
        res = st.get("Resource")
        if (
            "Resource" in st
            and not (isinstance(res, str) and res)
            and not (ql == JSONATA and is_expression(res))
        ):
            self.report(f"{p}.Resource", "Resource must be a non-empty string")
        self.exclusive(st, p, "TimeoutSeconds", "TimeoutSecondsPath")
        self.exclusive(st, p, "HeartbeatSeconds", "HeartbeatSecondsPath")
        self.number(st, "TimeoutSeconds", p, ql, minimum=1, what="a positive integer")
        self.number(st, "HeartbeatSeconds", p, ql, minimum=1, what="a positive integer")
        for k in ("TimeoutSecondsPath", "HeartbeatSecondsPath"):
            if k in st:
                # AWS accepts a variable ($timeout) or the context ($$...) as well as the input
                vp.check_path(st[k], f"{p}.{k}", self.report, nullable=False, definite=True)
        t, h = st.get("TimeoutSeconds"), st.get("HeartbeatSeconds")
        if vp.is_int(t) and vp.is_int(h) and h >= t:
            self.report(f"{p}.HeartbeatSeconds", "HeartbeatSeconds must be smaller than TimeoutSeconds")
        if "Credentials" in st:
            self.credentials(st["Credentials"], f"{p}.Credentials", ql)

    def credentials(self, creds: Any, p: str, ql: str) -> None:
        """``Credentials``: an object with ``RoleArn`` (or ``RoleArn.$`` in JSONPath), as AWS
        requires (recorded: ``{}`` and an unknown field are refused, "RoleArn is required")."""
        if not isinstance(creds, dict):
            self.report(p, "Credentials must be an object")
            return
        allowed = ("RoleArn",) if ql == JSONATA else ("RoleArn", "RoleArn.$")
        for k in creds:
            if k not in allowed:
                self.report(f"{p}.{k}", f"field '{k}' is not supported in Credentials")
        if not any(k in creds for k in allowed):
            self.report(f"{p}.RoleArn", "RoleArn is required in Credentials")
        elif "RoleArn.$" in creds:
            vp.check_dynamic(creds["RoleArn.$"], f"{p}.RoleArn.$", self.report)
        elif ql == JSONATA:
            self.jsonata(creds["RoleArn"], f"{p}.RoleArn")

    def s_choice(self, st: dict, p: str, ql: str, nexts: list, vars_: frozenset) -> None:
        choices = st.get("Choices")
        if "Choices" in st:
            if not isinstance(choices, list) or not choices:
                self.report(f"{p}.Choices", "Choices must be a non-empty array")
            else:
                for i, rule in enumerate(choices):
                    rp = f"{p}.Choices[{i}]"
                    if ql == JSONATA:
                        vp.check_jsonata_rule(rule, rp, self.report)
                    else:
                        vp.check_choice_rule(rule, rp, self.report, True)
                        if isinstance(rule, dict) and "Assign" in rule:
                            vp.check_assign(rule["Assign"], f"{rp}.Assign", ql, self.report)
                    if isinstance(rule, dict) and "Next" in rule:
                        nexts.append((f"{rp}.Next", rule["Next"]))
        if "Default" in st:
            nexts.append((f"{p}.Default", st["Default"]))

    def s_wait(self, st: dict, p: str, ql: str, nexts: list, vars_: frozenset) -> None:
        present = [k for k in ("Seconds", "SecondsPath", "Timestamp", "TimestampPath") if k in st]
        if len(present) != 1:
            self.report(
                p,
                "a Wait state needs exactly one of Seconds, SecondsPath, Timestamp, TimestampPath"
                + (f" (found {', '.join(present)})" if present else ""),
            )
        self.number(st, "Seconds", p, ql)
        if "Timestamp" in st:
            ts = st["Timestamp"]
            if not (ql == JSONATA and is_expression(ts)):
                from .choice import parse_timestamp

                if parse_timestamp(ts) is None:
                    self.report(f"{p}.Timestamp", "Timestamp must be an RFC 3339 timestamp")
            else:
                self.jsonata(ts, f"{p}.Timestamp")
        for k in ("SecondsPath", "TimestampPath"):
            if k in st:
                vp.check_path(st[k], f"{p}.{k}", self.report, nullable=False)

    def s_fail(self, st: dict, p: str, ql: str, nexts: list, vars_: frozenset) -> None:
        self.exclusive(st, p, "Error", "ErrorPath")
        self.exclusive(st, p, "Cause", "CausePath")
        for k in ("Error", "Cause"):
            if k in st:
                if not isinstance(st[k], str):
                    self.report(f"{p}.{k}", f"{k} must be a string")
                elif ql == JSONATA:
                    self.jsonata(st[k], f"{p}.{k}")
        for k in ("ErrorPath", "CausePath"):
            if k in st:
                if isinstance(st[k], str) and st[k].startswith("States."):
                    vp.check_dynamic(st[k], f"{p}.{k}", self.report)
                else:
                    vp.check_path(st[k], f"{p}.{k}", self.report, nullable=False)

    def s_parallel(self, st: dict, p: str, ql: str, nexts: list, vars_: frozenset) -> None:
        branches = st.get("Branches")
        if "Branches" not in st:
            return
        if not isinstance(branches, list) or not branches:
            self.report(f"{p}.Branches", "Branches must be a non-empty array")
            return
        for i, b in enumerate(branches):
            self.machine(b, f"{p}.Branches[{i}]", "branch", ql, vars_)

    def s_map(self, st: dict, p: str, ql: str, nexts: list, vars_: frozenset) -> None:
        self.exclusive(st, p, "ItemProcessor", "Iterator")
        self.exclusive(st, p, "ItemSelector", "Parameters")
        self.exclusive(st, p, "MaxConcurrency", "MaxConcurrencyPath")
        self.exclusive(st, p, "ToleratedFailurePercentage", "ToleratedFailurePercentagePath")
        self.exclusive(st, p, "ToleratedFailureCount", "ToleratedFailureCountPath")
        self.exclusive(st, p, "ItemsPath", "ItemReader")
        self.exclusive(st, p, "Items", "ItemReader")
        proc_key = "ItemProcessor" if "ItemProcessor" in st else "Iterator"
        if proc_key not in st:
            self.report(f"{p}.ItemProcessor", "a Map state requires ItemProcessor (or legacy Iterator)")
        else:
            self.machine(st[proc_key], f"{p}.{proc_key}", "processor", ql, vars_)
        self.number(st, "MaxConcurrency", p, ql)
        self.number(st, "ToleratedFailureCount", p, ql)
        self.number(st, "ToleratedFailurePercentage", p, ql, integer=False, what="a number between 0 and 100")
        tfp = st.get("ToleratedFailurePercentage")
        if vp.is_num(tfp) and tfp > 100:
            self.report(f"{p}.ToleratedFailurePercentage", "must be a number between 0 and 100")
        for k in (
            "ItemsPath",
            "MaxConcurrencyPath",
            "ToleratedFailurePercentagePath",
            "ToleratedFailureCountPath",
        ):
            if k in st:
                vp.check_path(st[k], f"{p}.{k}", self.report, nullable=False)
        if "ItemSelector" in st:
            if ql == JSONATA:
                self.jsonata(st["ItemSelector"], f"{p}.ItemSelector")
            elif not isinstance(st["ItemSelector"], dict):
                self.report(f"{p}.ItemSelector", "ItemSelector must be a JSON object")
            else:
                vp.check_template(st["ItemSelector"], f"{p}.ItemSelector", self.report)
        if "Items" in st:
            items = st["Items"]
            if not (isinstance(items, list) or is_expression(items)):
                self.report(f"{p}.Items", "Items must be an array or a JSONata expression")
            self.jsonata(items, f"{p}.Items")
        if "ItemBatcher" in st:
            self.batcher(st["ItemBatcher"], f"{p}.ItemBatcher", ql)
        if "ItemReader" in st and not isinstance(st["ItemReader"], dict):
            self.report(f"{p}.ItemReader", "ItemReader must be an object")
        elif "ItemReader" in st and not isinstance(st["ItemReader"].get("Resource"), str):
            self.report(f"{p}.ItemReader.Resource", "ItemReader requires a Resource")
        rw = st.get("ResultWriter")
        if "ResultWriter" in st and (
            not isinstance(rw, dict) or not ("Resource" in rw or "WriterConfig" in rw)
        ):
            self.report(
                f"{p}.ResultWriter", "ResultWriter must be an object with a Resource or a WriterConfig"
            )

    def batcher(self, b: Any, p: str, ql: str) -> None:
        if not isinstance(b, dict):
            self.report(p, "ItemBatcher must be an object")
            return
        for k in b:
            if k not in ITEM_BATCHER[ql]:
                self.report(f"{p}.{k}", f"field '{k}' is not supported in ItemBatcher")
        self.exclusive(b, p, "MaxItemsPerBatch", "MaxItemsPerBatchPath")
        self.exclusive(b, p, "MaxInputBytesPerBatch", "MaxInputBytesPerBatchPath")
        for k in ("MaxItemsPerBatch", "MaxInputBytesPerBatch"):
            if k in b:
                vp.check_number_or_expr(
                    b[k], f"{p}.{k}", ql, self.report, minimum=1, what="a positive integer"
                )
        if "BatchInput" in b:
            if not isinstance(b["BatchInput"], dict) and not is_expression(b["BatchInput"]):
                self.report(f"{p}.BatchInput", "BatchInput must be an object")
            elif ql == JSONATA:
                self.jsonata(b["BatchInput"], f"{p}.BatchInput")
            else:
                vp.check_template(b["BatchInput"], f"{p}.BatchInput", self.report)

"""Per-state input/output processing for both query languages.

JSONPath: InputPath → Parameters → (work) → ResultSelector → Assign →
ResultPath → OutputPath.  JSONata: Arguments → (work) → Assign / Output,
both seeing ``$states.input``, ``$states.result`` and the variables as
they were when the state was entered.
"""

from __future__ import annotations

from typing import Any

from . import jsonata_bridge, paths
from .errors import QUERY_EVALUATION_ERROR, StatesError
from .fields import JSONATA

_NO_RESULT = object()


class Flow:
    """Data flow helper for one state evaluation."""

    def __init__(self, st: dict, ql: str, context: dict, variables: dict) -> None:
        self.st = st
        self.ql = ql
        self.context = context
        self.variables = variables
        self.env = paths.Env(context, variables)

    @property
    def jsonata(self) -> bool:
        """True when the state uses JSONata."""
        return self.ql == JSONATA

    def states(self, raw: Any, result: Any = _NO_RESULT, error_output: Any = _NO_RESULT) -> dict:
        """The ``$states`` variable for JSONata expressions."""
        s = {"input": raw, "context": self.context}
        if result is not _NO_RESULT:
            s["result"] = result
        if error_output is not _NO_RESULT:
            s["errorOutput"] = error_output
        return s

    def expr(self, value: Any, raw: Any, field: str = "", **extra: Any) -> Any:
        """Evaluate a JSONata-mode field value (templates with ``{% %}``); ``field`` names it in
        errors."""
        return jsonata_bridge.evaluate_template(value, self.states(raw, **extra), self.variables, field)

    def value(self, key: str, raw: Any, default: Any = None) -> Any:
        """Field value, evaluated when it is a JSONata expression."""
        v = self.st.get(key, default)
        if self.jsonata and isinstance(v, (str, dict, list)):
            return self.expr(v, raw, key)
        return v

    # ------------------------------------------------------------------ input
    def effective_input(self, raw: Any) -> Any:
        """JSONPath: the input after InputPath (JSONata: the raw input)."""
        if self.jsonata:
            return raw
        return paths.apply_input_path(raw, self.st.get("InputPath", "$"), self.env)

    def payload(self, raw: Any, template_key: str = "Parameters") -> Any:
        """The payload sent to the work: Parameters (JSONPath) / Arguments (JSONata)."""
        if self.jsonata:
            if "Arguments" in self.st:
                return self.expr(self.st["Arguments"], raw, "Arguments")
            return raw
        eff = self.effective_input(raw)
        if template_key in self.st:
            return paths.apply_template(self.st[template_key], eff, self.env, template_key)
        return eff

    # ----------------------------------------------------------------- output
    def finish(self, raw: Any, result: Any = _NO_RESULT) -> tuple:
        """Return ``(output, assignments)`` once the state's work produced ``result``.

        Without a result (Choice, Wait, Succeed) the output is the input.
        """
        if self.jsonata:
            extra = {} if result is _NO_RESULT else {"result": result}
            assigns = self._assign_jsonata(self.st.get("Assign"), raw, extra)
            default = raw if result is _NO_RESULT else result
            output = self.expr(self.st["Output"], raw, "Output", **extra) if "Output" in self.st else default
            return output, assigns
        if result is _NO_RESULT:
            eff = self.effective_input(raw)
            assigns = self._assign_jsonpath(self.st.get("Assign"), eff)
            return paths.apply_output_path(eff, self.st.get("OutputPath", "$"), self.env), assigns
        selected = result
        if "ResultSelector" in self.st:
            selected = paths.apply_template(self.st["ResultSelector"], result, self.env, "ResultSelector")
        assigns = self._assign_jsonpath(self.st.get("Assign"), selected)
        combined = paths.apply_result_path(raw, selected, self.st.get("ResultPath", "$"))
        return paths.apply_output_path(combined, self.st.get("OutputPath", "$"), self.env), assigns

    def catch_output(self, catcher: dict, raw: Any, error_out: dict) -> tuple:
        """Return ``(output, assignments)`` when ``catcher`` handles an error."""
        if self.jsonata:
            extra = {"error_output": error_out}
            assigns = self._assign_jsonata(catcher.get("Assign"), raw, extra)
            output = (
                self.expr(catcher["Output"], raw, "Output", **extra) if "Output" in catcher else error_out
            )
            return output, assigns
        assigns = self._assign_jsonpath(catcher.get("Assign"), error_out)
        return paths.apply_result_path(raw, error_out, catcher.get("ResultPath", "$")), assigns

    def rule_output(self, rule: dict, raw: Any) -> tuple:
        """JSONata Choice rule: its own Output/Assign override the state's."""
        if "Output" not in rule and "Assign" not in rule:
            return self.finish(raw)
        st = dict(self.st)
        for k in ("Output", "Assign"):
            if k in rule:
                st[k] = rule[k]
        return Flow(st, self.ql, self.context, self.variables).finish(raw)

    # ------------------------------------------------------------------ assign
    def _assign_jsonata(self, assign: Any, raw: Any, extra: dict) -> dict:
        if assign is None:
            return {}
        value = self.expr(assign, raw, "Assign", **extra)
        if not isinstance(value, dict):
            raise StatesError(QUERY_EVALUATION_ERROR, "Assign must evaluate to a JSON object")
        return value

    def _assign_jsonpath(self, assign: dict | None, data: Any) -> dict:
        if not assign:
            return {}
        out = {}
        for key, value in assign.items():
            if key.endswith(".$"):
                out[key[:-2]] = paths.evaluate_dynamic(value, data, self.env, f"Assign field '{key}'")
            else:
                out[key] = paths.apply_template(value, data, self.env, "Assign")
        return out

"""The Choice state: picks the next state from rules."""

from __future__ import annotations

from typing import Any

from .. import jsonata_bridge
from ..choice import evaluate_rule
from ..errors import NO_CHOICE_MATCHED, QUERY_EVALUATION_ERROR, StatesError
from .base import BaseState


class ChoiceState(BaseState):
    """JSONPath comparison rules or JSONata ``Condition`` rules, then ``Default``."""

    @staticmethod
    def start(it: Any, run: dict, chain: list, st: dict) -> None:
        """Evaluate the rules in order and transition."""
        flow = it.flow(run, chain, st)
        raw = run["input"]
        if flow.jsonata:
            for rule in st["Choices"]:
                cond = rule["Condition"]
                value = flow.expr(cond, raw, "Condition") if jsonata_bridge.is_expression(cond) else cond
                if not isinstance(value, bool):
                    raise StatesError(
                        QUERY_EVALUATION_ERROR,
                        f"The Condition '{cond}' returned {value!r}, which is not a boolean",
                    )
                if value:
                    output, assigns = flow.rule_output(rule, raw)
                    it.exit_state(run, st, output, assigns, rule["Next"])
                    return
        else:
            eff = flow.effective_input(raw)
            for rule in st["Choices"]:
                if evaluate_rule(rule, eff, flow.env):
                    output, assigns = flow.rule_output(rule, raw)
                    it.exit_state(run, st, output, assigns, rule["Next"])
                    return
        if "Default" not in st:
            raise StatesError(NO_CHOICE_MATCHED, "No Matches!")
        output, assigns = flow.finish(raw)
        it.exit_state(run, st, output, assigns, st["Default"])

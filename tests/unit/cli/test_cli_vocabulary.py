"""The CLI speaks the domain's vocabulary: its status and state lists are the domain's enums, not
copies that could drift."""

from __future__ import annotations

from typing import get_args

from pilothouse.cli import components, deployment_text, executions, render, strategies, wait, workflow_render
from pilothouse.domain import lifecycle, statuses
from pilothouse.engine import model


def test_component_states_and_their_styles_are_the_lifecycles():
    assert [s.value for s in lifecycle.State] == components._states()
    assert set(render.STATE_STYLES) == set(lifecycle.State)
    assert wait.TRANSITIONAL is lifecycle.TRANSITIONAL


def test_deployment_statuses_and_their_styles_are_the_domains():
    assert tuple(statuses.DeploymentStatus) == deployment_text.STATUSES
    assert set(deployment_text.STATUS_STYLES) == set(statuses.DeploymentStatus)
    assert deployment_text.BAD_ENDS | {statuses.DeploymentStatus.SUCCEEDED} == statuses.FINAL


def test_execution_statuses_and_their_styles_are_the_engines():
    assert set(executions.STATUSES) == set(workflow_render.STATUS_STYLES) == model.TERMINAL | {model.RUNNING}


def test_strategy_types_are_the_domains():
    from pilothouse.domain.deployments import Strategy

    assert set(strategies.STRATEGY_TYPES) == set(get_args(Strategy.model_fields["type"].annotation))

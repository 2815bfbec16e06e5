"""Executions driven through the API in process: function doubles and the calls the workflow
tests share (create a workflow, start, describe, read the history)."""

from __future__ import annotations

from typing import Any

from pilothouse.invokers.base import FunctionError, UnknownFunction


class Registered(dict):
    """Test functions by name; each one set is also a public operation for the test's duration
    (a user workflow's Task may call only public operations)."""

    def __init__(self, functions: Functions, monkeypatch) -> None:
        super().__init__()
        self.functions = functions
        self.monkeypatch = monkeypatch

    def __setitem__(self, name, fn) -> None:
        from pydantic import RootModel

        from pilothouse.domain.security import Permission
        from pilothouse.services import workflow_operations as ops

        super().__setitem__(name, fn)
        op = ops.Operation(
            Permission.WORKFLOWS_READ,
            RootModel[Any],
            lambda services, principal, args, caller: self.functions.invoke(name, args.root),
            False,
            "a test function",
        )
        self.monkeypatch.setitem(ops.OPERATIONS, name, op)


class Functions:
    """A test invoker: named callables, with a count of calls per function."""

    def __init__(self, monkeypatch):
        self.fns = Registered(self, monkeypatch)
        self.calls: dict[str, int] = {}
        self.payloads: dict[str, list] = {}

    def timeout_of(self, name):
        return 5.0

    def invoke(self, name, payload):
        if name not in self.fns:
            raise UnknownFunction(name)
        self.calls[name] = self.calls.get(name, 0) + 1
        self.payloads.setdefault(name, []).append(payload)
        try:
            return self.fns[name](payload)
        except FunctionError:
            raise
        except Exception as exc:
            raise FunctionError(type(exc).__name__, str(exc)) from exc


def wf(api, name, definition):
    status, _, body = api.post("/v1/workflows", {"name": name, "definition": definition})
    assert status == 201, body
    return body


def start(api, workflow, input=None, name=None):
    body = {"input": input if input is not None else {}}
    if name:
        body["name"] = name
    status, _, out = api.post(f"/v1/workflows/{workflow}/executions", body)
    assert status == 201, out
    return out


def describe(api, workflow, name):
    return api.get(f"/v1/workflows/{workflow}/executions/{name}")[2]


def history(api, workflow, name):
    return api.get(f"/v1/workflows/{workflow}/executions/{name}/history", query="limit=1000")[2]["events"]


def pass_chain(n: int) -> dict:
    states = {
        f"S{i}": {"Type": "Pass", "Result": i, "ResultPath": f"$.s{i % 5}", "Next": f"S{i + 1}"}
        for i in range(n - 1)
    }
    states[f"S{n - 1}"] = {"Type": "Pass", "End": True}
    return {"StartAt": "S0", "States": states}


def engine_services(clock, invoker):
    """Wired services on the test environment's settings whose tasks call ``invoker``."""
    from pilothouse.settings import get_settings
    from pilothouse.wiring import Services, register_services

    services = Services(get_settings(), clock, invoker=invoker)
    register_services(services)
    return services


def sent_to(services, monkeypatch, queue: str, take=lambda body: body) -> list:
    """What is sent to ``queue`` through ``services.queue`` from now on (``take`` of each decoded
    body), in order."""
    import json

    sent: list = []
    original = services.queue.send

    def send(name, body, **kw):
        if name == queue:
            sent.append(take(json.loads(body)))
        return original(name, body, **kw)

    monkeypatch.setattr(services.queue, "send", send)
    return sent

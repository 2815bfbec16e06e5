"""Workflows cannot reach the control plane's internals (issue 17 §1).

User workflows may call only the public operations, as the principal who started them; the
internal task functions act on a deployment only with its capability token, which only the shipped
strategy workflows carry, and which no answer shows.
"""

from __future__ import annotations

import json

import pytest

from pilothouse.repositories.deployments import DeploymentRepository
from pilothouse.repositories.workflows import RECORD_SK, execution_pk
from pilothouse.wiring import Services
from tests.support import deploying

# the shared deployment fixtures (manual clock, fake revision provider, drain)
services, provider, run = deploying.services, deploying.provider, deploying.run

LAMBDA_ARN = "arn:aws:lambda:us-east-1:000000000000:function:{}"


def spec(name="web"):
    return {
        "name": name,
        "provider": "local",
        "environment": "development",
        "version": "1.0.0",
        "target": {"command": ["{python}", "app.py", "--port", "{port}"]},
        "scaling": {"min": 1, "max": 5},
    }


def key(api, role, name=None):
    status, _, body = api.post("/v1/api-keys", {"name": name or role, "role": role})
    assert status == 201, body
    return body["key"]


def component(api, name="web"):
    return api.get(f"/v1/components/{name}")[2]


def deployment(api, name="web"):
    return api.get("/v1/deployments", query=f"component={name}")[2]["items"][0]


def running(api, run, name="web"):
    assert api.post("/v1/components", spec(name))[0] == 201
    assert api.post(f"/v1/components/{name}/deploy")[0] == 202
    run()
    assert component(api, name)["state"] == "Running"


def awaiting_approval(api, run, name="web"):
    """A running component whose update to 2.0.0 waits at a blue-green approval gate."""
    running(api, run, name)
    body = {"version": "2.0.0", "strategy": {"type": "blue-green", "approval": True}}
    assert api.post(f"/v1/components/{name}/update", body)[0] == 202
    run()
    dep = deployment(api, name)
    assert dep["status"] == "awaiting_approval"
    return dep


def finish(resource, **params):
    """A definition whose one Task asks ``resource`` to finish the deployment in the input."""
    state = {"Type": "Task", "Resource": resource, "End": True}
    state["Parameters"] = params or {"deployment_id.$": "$.deployment_id"}
    return {"StartAt": "Finish", "States": {"Finish": state}}


def bypass(services, name, definition):
    """Write a definition straight to the store, behind the API's back (no validation)."""
    from pilothouse.repositories.workflows import WORKFLOW, version_sk, versions_pk
    from pilothouse.store.base import Item

    data = {
        "name": name,
        "version": 1,
        "definition": definition,
        "description": "",
        "created_at": "2027-01-15T08:00:00.000Z",
        "updated_at": "2027-01-15T08:00:00.000Z",
        "updated_by": "test",
    }
    services.store.put(Item(WORKFLOW, name, data))
    services.store.put(
        Item(
            versions_pk(name),
            version_sk(1),
            {
                "version": 1,
                "definition": definition,
                "created_at": data["created_at"],
                "created_by": "test",
                "description": "",
            },
        )
    )


def execution(api, workflow, name):
    return api.get(f"/v1/workflows/{workflow}/executions/{name}")[2]


def start(api, workflow, input, *, key=None, name="x"):
    status, _, body = api.post(
        f"/v1/workflows/{workflow}/executions",
        {"name": name, "input": input},
        **({"key": key} if key else {}),
    )
    assert status == 201, body
    return body


def unchanged(api, dep):
    now = deployment(api)
    assert (now["id"], now["status"], now["outcome"], now["waiting_for"]) == (
        dep["id"],
        "awaiting_approval",
        None,
        "approval",
    )
    assert component(api)["version"] == "1.0.0"


FORMS = {
    "by name": finish("deployment_finalize"),
    "by logical id": finish("DeploymentFinalizeFunction"),
    "by lambda ARN": finish(LAMBDA_ARN.format("deployment_finalize")),
    "through lambda:invoke": finish(
        "arn:aws:states:::lambda:invoke",
        FunctionName="DeploymentFinalizeFunction",
        Payload={"deployment_id.$": "$.deployment_id"},
    ),
}


@pytest.mark.parametrize("form", sorted(FORMS))
def test_a_deployer_cannot_register_a_workflow_that_finishes_a_deployment(api, run, provider, form):
    """Given a deployment waiting for approval, when a deployer registers a workflow whose Task names
    deployment_finalize (by name, logical id, ARN or lambda:invoke), then it is a 422 naming the
    state's JSON path and listing the public operations; the deployment still waits."""
    dep = awaiting_approval(api, run)
    deployer = key(api, "deployer")
    status, _, problem = api.post(
        "/v1/workflows", {"name": "sneaky", "definition": FORMS[form]}, key=deployer
    )
    assert status == 422, problem
    [error] = problem["errors"]
    expected = "$.States.Finish.Parameters.FunctionName" if "invoke" in form else "$.States.Finish.Resource"
    assert error["path"] == expected and error["field"] == "definition" + expected[1:]
    assert "internal to the control plane" in error["message"] and "scale_component" in error["message"]
    benign = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
    assert api.post("/v1/workflows", {"name": "benign", "definition": benign}, key=deployer)[0] == 201
    status, _, problem = api.call("PUT", "/v1/workflows/benign", {"definition": FORMS[form]}, key=deployer)
    assert status == 422 and [e["path"] for e in problem["errors"]] == [expected]
    assert api.get("/v1/workflows/benign")[2]["definition"] == benign
    unchanged(api, dep)


@pytest.mark.parametrize("form", sorted(FORMS))
def test_the_same_workflow_written_to_the_store_is_refused_when_it_runs(api, run, provider, services, form):
    """Given the attack's definition written straight to the store (validation bypassed), when a
    deployer starts it on the waiting deployment, then the task is refused at run time with
    Pilothouse.TaskNotAllowed and the deployment still waits for its approval."""
    dep = awaiting_approval(api, run)
    bypass(services, "sneaky", FORMS[form])
    start(api, "sneaky", {"deployment_id": dep["id"]}, key=key(api, "deployer"))
    run()
    done = execution(api, "sneaky", "x")
    assert (done["status"], done["error"]) == ("FAILED", "Pilothouse.TaskNotAllowed"), done
    assert "internal to the control plane" in done["cause"]
    unchanged(api, dep)


def test_a_function_name_computed_at_run_time_is_refused_at_both_times(api, run, provider, services):
    """Given lambda:invoke with FunctionName.$ read from the input, registering it is a 422 (the
    name cannot be checked before it runs); bypassed, the resolved name is refused when it runs."""
    dep = awaiting_approval(api, run)
    definition = finish(
        "arn:aws:states:::lambda:invoke",
        **{"FunctionName.$": "$.fn", "Payload": {"deployment_id.$": "$.deployment_id"}},
    )
    status, _, problem = api.post("/v1/workflows", {"name": "dyn", "definition": definition})
    assert status == 422 and problem["errors"][0]["path"] == "$.States.Finish.Parameters.FunctionName.$"
    bypass(services, "dyn", definition)
    start(api, "dyn", {"deployment_id": dep["id"], "fn": LAMBDA_ARN.format("DeploymentFinalizeFunction")})
    run()
    done = execution(api, "dyn", "x")
    assert (done["status"], done["error"]) == ("FAILED", "Pilothouse.TaskNotAllowed")
    unchanged(api, dep)


NESTED = {
    "StartAt": "Both",
    "States": {
        "Both": {
            "Type": "Parallel",
            "End": True,
            "Branches": [
                {
                    "StartAt": "Each",
                    "States": {
                        "Each": {
                            "Type": "Map",
                            "ItemsPath": "$.ids",
                            "End": True,
                            "ItemSelector": {"deployment_id.$": "$$.Map.Item.Value"},
                            "ItemProcessor": {
                                "StartAt": "Finish",
                                "States": {
                                    "Finish": {
                                        "Type": "Task",
                                        "Resource": LAMBDA_ARN.format("deployment_finalize"),
                                        "End": True,
                                    }
                                },
                            },
                        }
                    },
                },
                {
                    "StartAt": "Gate",
                    "States": {
                        "Gate": {
                            "Type": "Task",
                            "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                            "End": True,
                            "Parameters": {
                                "FunctionName": "deployment_gate",
                                "Payload": {
                                    "deployment_id.$": "$.ids[0]",
                                    "index": 0,
                                    "kind": "gate",
                                    "token.$": "$$.Task.Token",
                                },
                            },
                        }
                    },
                },
            ],
        },
    },
}


def test_internal_tasks_nested_in_map_and_parallel_are_refused_at_both_times(api, run, provider, services):
    """Given internal tasks inside a Map inside a Parallel branch, and in another branch, the 422
    names both nested paths; bypassed, both are refused when they run and nothing changes."""
    dep = awaiting_approval(api, run)
    status, _, problem = api.post("/v1/workflows", {"name": "nested", "definition": NESTED})
    assert status == 422
    assert {e["path"] for e in problem["errors"]} == {
        "$.States.Both.Branches[0].States.Each.ItemProcessor.States.Finish.Resource",
        "$.States.Both.Branches[1].States.Gate.Parameters.FunctionName",
    }
    bypass(services, "nested", NESTED)
    start(api, "nested", {"ids": [dep["id"]]})
    run()
    done = execution(api, "nested", "x")
    assert (done["status"], done["error"]) == ("FAILED", "Pilothouse.TaskNotAllowed")
    unchanged(api, dep)


def _capability(services, dep):
    """The capability token the deployment manager gave the deployment's strategy execution."""
    return services.store.get(execution_pk(dep["workflow"], dep["execution"]), RECORD_SK).data["input"][
        "capability"
    ]


def test_internal_tasks_refuse_calls_without_the_deployments_capability(api, run, provider, services, pool):
    """Given two deployments, when deployment_finalize (the function itself, as Lambda or the task
    queue would call it) gets no token, a wrong one, or the other deployment's, then it fails with
    CapabilityRefused and the deployment is unchanged; the right token is what the workflow holds."""
    from pilothouse.services import deployment_tasks

    other = awaiting_approval(api, run, "other")
    dep = awaiting_approval(api, run)
    before = DeploymentRepository(services.store).require(dep["id"]).data
    for token in (None, "", "nope" * 10, _capability(services, other)):
        payload = {"deployment_id": dep["id"], **({"capability": token} if token is not None else {})}
        with pytest.raises(Exception) as raised:
            pool.invoke("DeploymentFinalizeFunction", payload)
        assert type(raised.value).__name__ == "CapabilityRefused" and "capability token" in str(raised.value)
        for name in ("prepare", "shift", "set_replicas", "health", "analyze", "gate", "rollback", "failed"):
            with pytest.raises(deployment_tasks.CapabilityRefused):
                getattr(deployment_tasks, name)(
                    services, {**payload, "index": 0, "kind": "gate", "token": "t"}
                )
    assert DeploymentRepository(services.store).require(dep["id"]).data == before
    unchanged(api, dep)
    # with the right token the check passes, yet finalize still refuses to skip the approval
    with pytest.raises(deployment_tasks.DeploymentError, match="not approved"):
        deployment_tasks.finalize(
            services, {"deployment_id": dep["id"], "capability": _capability(services, dep)}
        )
    unchanged(api, dep)


def test_the_capability_never_shows(api, run, provider, services):
    """Given a deployment in progress, neither the deployment's record nor its execution's describe
    or history shows the capability token (or its digest), nor the gate's task token; the shipped
    gate cannot be answered with a bare task token either."""
    dep = awaiting_approval(api, run)
    token = _capability(services, dep)
    record = DeploymentRepository(services.store).require(dep["id"]).data
    gate = record["pending_token"]["token"]
    answers = [
        api.get(f"/v1/deployments/{dep['id']}")[2],
        api.get("/v1/deployments")[2],
        api.get(f"/v1/deployments/{dep['id']}/events")[2],
        execution(api, dep["workflow"], dep["execution"]),
        api.get(f"/v1/workflows/{dep['workflow']}/executions/{dep['execution']}/history", query="limit=1000")[
            2
        ],
        api.get("/v1/audit")[2],
    ]
    text = json.dumps(answers)
    assert token not in text and gate not in text and record["capabilities"][0] not in text
    assert "[redacted]" in json.dumps(answers[3]) and "capabilities" not in json.dumps(answers[0])
    status, _, problem = api.post("/v1/task-tokens/success", {"token": gate, "output": {}})
    assert status == 403 and "approve" in problem["detail"]
    unchanged(api, dep)


def test_shipped_names_are_reserved_and_trust_cannot_be_asked_for(api, run, provider):
    """Given the shipped workflows registered by a deployment, a user can neither create, update nor
    delete one under its reserved name, nor start one directly, nor ask for a trusted execution."""
    running(api, run)
    definition = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
    assert api.post("/v1/workflows", {"name": "pilothouse-mine", "definition": definition})[0] == 403
    assert api.call("PUT", "/v1/workflows/pilothouse-all-at-once", {"definition": definition})[0] == 403
    assert api.delete("/v1/workflows/pilothouse-all-at-once")[0] == 403
    status, _, problem = api.post("/v1/workflows/pilothouse-all-at-once/executions", {"input": {}})
    assert status == 403 and "shipped" in problem["detail"]
    assert api.post("/v1/workflows", {"name": "mine", "definition": definition})[0] == 201
    assert api.post("/v1/workflows/mine/executions", {"input": {}, "trusted": True})[0] == 422


SCALE = {
    "StartAt": "Scale",
    "States": {
        "Scale": {
            "Type": "Task",
            "Resource": "scale_component",
            "Parameters": {"name": "web", "replicas.$": "$.replicas"},
            "End": True,
        }
    },
}
UPDATE = {
    "StartAt": "Update",
    "States": {
        "Update": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {
                "FunctionName": LAMBDA_ARN.format("update_component"),
                "Payload": {"name": "web", "version": "3.0.0"},
            },
            "End": True,
        }
    },
}


def _audit(api, operation):
    return [a for a in api.get("/v1/audit", query="limit=500")[2]["items"] if a["operation"] == operation]


def test_public_operations_run_as_the_caller(api, run, provider, services):
    """Given workflows calling scale_component (operator) and update_component (deployer), an
    operator's execution scales the component (audited as the operator), while a viewer's execution
    (a viewer granted executions:run) and the operator's update fail with Pilothouse.Forbidden, each
    refusal audited as denied; the component does not change."""
    from pilothouse.services.keys import create_key

    running(api, run)
    assert api.post("/v1/workflows", {"name": "scale", "definition": SCALE})[0] == 201
    assert api.post("/v1/workflows", {"name": "update", "definition": UPDATE})[0] == 201
    operator = key(api, "operator")
    start(api, "scale", {"replicas": 3}, key=operator, name="ok")
    run()
    assert execution(api, "scale", "ok")["status"] == "SUCCEEDED"
    assert component(api)["replicas"] == 3
    [ok] = _audit(api, "scale_component")
    assert ok["outcome"] == "success" and ok["principal"] == "key:" + operator.split("_")[1]

    viewer, _ = create_key(
        services, name="v", role="viewer", created_by="test", permissions=["executions:run"]
    )
    for workflow, who, needs in (
        ("scale", viewer, "components:operate"),
        ("update", viewer, "components:deploy"),
        ("update", operator, "components:deploy"),
    ):
        name = f"{workflow}-{who.split('_')[1]}"
        start(api, workflow, {"replicas": 1}, key=who, name=name)
        run()
        done = execution(api, workflow, name)
        assert (done["status"], done["error"]) == ("FAILED", "Pilothouse.Forbidden"), done
        assert needs in done["cause"]
        denied = [
            a
            for a in _audit(api, f"{workflow}_component")
            if a["principal"] == "key:" + who.split("_")[1] and a["outcome"] == "denied"
        ]
        assert len(denied) == 1 and denied[0]["target"] == "component:web"
        assert name in denied[0]["detail"] and needs in denied[0]["detail"]
    assert (component(api)["replicas"], component(api)["version"]) == (3, "1.0.0")


def test_a_key_revoked_or_expired_after_the_start_loses_its_power(api, run, provider, services, clock):
    """Given executions started by an operator whose key is then revoked, and by one whose key then
    expires, the scale task they reach fails with Pilothouse.Forbidden."""
    from pilothouse.services.keys import create_key

    running(api, run)
    waiting = {
        "StartAt": "W",
        "States": {"W": {"Type": "Wait", "Seconds": 5, "Next": "Scale"}, "Scale": SCALE["States"]["Scale"]},
    }
    assert api.post("/v1/workflows", {"name": "later", "definition": waiting})[0] == 201
    revoked = key(api, "operator", "soon revoked")
    expiring, _ = create_key(
        services, name="soon expired", role="operator", created_by="test", expires_in_days=1
    )
    start(api, "later", {"replicas": 2}, key=revoked, name="revoked")
    start(api, "later", {"replicas": 2}, key=expiring, name="expired")
    run()
    assert api.delete(f"/v1/api-keys/{revoked.split('_')[1]}")[0] in (200, 204)
    clock.advance(86400)
    run()
    for name, why in (("revoked", "revoked"), ("expired", "expired")):
        done = execution(api, "later", name)
        assert (done["status"], done["error"]) == ("FAILED", "Pilothouse.Forbidden") and why in done["cause"]
    assert component(api)["replicas"] == 1


def test_strategy_step_acts_only_on_the_deployment_its_execution_was_started_for(api, run, provider, clock):
    """Given a user strategy workflow (the public strategy_step), started directly by a user on a
    waiting deployment, each of its steps (gate, then the rollback its Catch tries) is refused with
    Pilothouse.Forbidden, the execution fails, and nothing changes."""
    from pilothouse.services.deployments import user_strategy_definition

    dep = awaiting_approval(api, run)
    assert (
        api.post(
            "/v1/workflows", {"name": "mine", "definition": user_strategy_definition("deployment-plan")}
        )[0]
        == 201
    )
    start(api, "mine", {"deployment_id": dep["id"], "steps": [{"kind": "set_weight", "weight": 100}]})
    for _ in range(10):  # through the retries' back-offs
        run()
        clock.advance(10)
    assert execution(api, "mine", "x")["status"] == "FAILED"
    events = api.get("/v1/workflows/mine/executions/x/history", query="limit=1000")[2]["events"]
    errors = {e["taskFailedEventDetails"]["error"] for e in events if e["type"] == "TaskFailed"}
    assert errors == {"Pilothouse.Forbidden"}
    unchanged(api, dep)


def test_a_user_workflow_naming_a_deployment_cannot_settle_it_by_failing(api, run, provider):
    """Given a user workflow whose input names a waiting deployment and which fails, the deployment
    is not rolled back or failed on its behalf (only its own executions count)."""
    dep = awaiting_approval(api, run)
    failing = {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Boom"}}}
    assert api.post("/v1/workflows", {"name": "boom", "definition": failing})[0] == 201
    for name in ("x", f"{dep['id']}-rollback"[:80], dep["execution"]):
        start(api, "boom", {"deployment_id": dep["id"]}, name=name)
        run()
        assert execution(api, "boom", name)["status"] == "FAILED"
    unchanged(api, dep)


def test_promotion_start_needs_the_promotions_capability(api, run, provider, services, pool):
    """Given promotion_start called without the promotion's capability (as a user workflow would),
    it refuses and starts no deployment."""
    running(api, run, "web")
    before = len(api.get("/v1/deployments")[2]["items"])
    with pytest.raises(Exception) as raised:
        pool.invoke(
            "PromotionStartFunction",
            {"source": "web", "target": "web", "initiator": "key:x", "token": "t", "promotion_id": "promo-1"},
        )
    assert type(raised.value).__name__ == "CapabilityRefused"
    assert len(api.get("/v1/deployments")[2]["items"]) == before


def test_task_messages_run_only_internal_task_functions(services):
    """Given a message on the task-messages queue (Step Functions' transport) naming a public or an
    unknown function, it is answered with Pilothouse.TaskNotAllowed and nothing is invoked."""
    from pilothouse.services import task_messages

    answered = []

    class Orchestrator:
        def send_task_failure(self, token, error, cause):
            answered.append((token, error))

    class Invoker:
        def invoke(self, function, payload):
            raise AssertionError(f"{function} must not be invoked")

    services = Services(services.settings, services.clock, orchestrator=Orchestrator(), invoker=Invoker())
    for function in ("scale_component", "run_job", "SweepFunction"):
        body = json.dumps({"function": function, "payload": {}, "token": "tk", "callback": False})
        assert task_messages.handle(services, body) == "refused"
    assert answered == [("tk", "Pilothouse.TaskNotAllowed")] * 3


def test_a_deployment_may_allow_its_own_task_functions_but_never_an_internal_one(
    api, run, provider, services
):
    """Given the setting workflow_task_functions naming a function the deployment adds (ping) and an
    internal one, a user workflow may call ping (through the invoker) but still not the internal one,
    neither at registration nor when it runs."""
    calls = []

    class Invoker:
        def timeout_of(self, name):
            return 5.0

        def invoke(self, name, payload):
            calls.append(name)
            return {"pong": payload}

    dep = awaiting_approval(api, run)
    services.settings = services.settings.model_copy(
        update={"workflow_task_functions": ("PingFunction", "DeploymentFinalizeFunction")}
    )
    services.invoker = Invoker()  # from here on (the deployment before ran on the real one)
    ping = {
        "StartAt": "P",
        "States": {"P": {"Type": "Task", "Resource": LAMBDA_ARN.format("ping"), "End": True}},
    }
    assert api.post("/v1/workflows", {"name": "ping", "definition": ping})[0] == 201
    start(api, "ping", {"n": 1})
    run()
    assert execution(api, "ping", "x")["output"] == {"pong": {"n": 1}} and calls == ["ping"]
    status, _, problem = api.post("/v1/workflows", {"name": "sneaky", "definition": FORMS["by name"]})
    assert status == 422 and "internal to the control plane" in problem["errors"][0]["message"]
    bypass(services, "sneaky", FORMS["by name"])
    start(api, "sneaky", {"deployment_id": dep["id"]})
    run()
    assert execution(api, "sneaky", "x")["error"] == "Pilothouse.TaskNotAllowed" and calls == ["ping"]
    unchanged(api, dep)


def test_a_shipped_execution_cannot_be_redriven_nor_named_as_a_custom_strategy(api, run, provider):
    """Given a shipped strategy execution that failed, a user cannot redrive it through the API (it
    would act on the deployment again with its capability), and a deploy cannot name a shipped
    workflow as its strategy.workflow (a 422 naming the field; strategy.type chooses those)."""
    running(api, run)
    dep = deployment(api)
    assert api.post(f"/v1/workflows/{dep['workflow']}/executions/{dep['execution']}/redrive")[0] == 403
    body = {
        "version": "2.0.0",
        "strategy": {
            "type": "custom",
            "workflow": "pilothouse-break-glass-rollback",
            "steps": [{"kind": "set_weight", "weight": 100}],
        },
    }
    status, _, problem = api.post("/v1/components/web/update", body)
    assert status == 422 and problem["errors"][0]["field"] == "strategy.workflow"
    assert component(api)["state"] == "Running"


def test_step_functions_answers_hide_the_capability_and_gate_tokens():
    """Given Step Functions answers for a shipped strategy execution (input with the capability,
    history with a task message carrying a gate's task token), describe and history show neither."""
    import datetime

    from pilothouse.orchestrators.stepfunctions import StepFunctionsOrchestrator

    capability, gate = "cap-" + "x" * 40, "AQCEAAAAKgAAAAMAAAAAAAAAAQ" + "y" * 30
    started = datetime.datetime(2027, 1, 15, tzinfo=datetime.UTC)
    execution_input = json.dumps({"deployment_id": "d1", "steps": [], "capability": capability})
    message = {
        "QueueUrl": "q",
        "MessageBody": {
            "function": "DeploymentGateFunction",
            "token": gate,
            "payload": {"deployment_id": "d1", "capability": capability},
        },
    }

    class Client:
        def describe_execution(self, executionArn):
            return {
                "executionArn": executionArn,
                "name": "d1",
                "status": "RUNNING",
                "input": execution_input,
                "startDate": started,
            }

        def get_execution_history(self, **kwargs):
            return {
                "events": [
                    {
                        "id": 1,
                        "type": "ExecutionStarted",
                        "timestamp": started,
                        "executionStartedEventDetails": {"input": execution_input},
                    },
                    {
                        "id": 2,
                        "type": "TaskScheduled",
                        "timestamp": started,
                        "taskScheduledEventDetails": {"parameters": json.dumps(message)},
                    },
                ]
            }

    sfn = StepFunctionsOrchestrator(
        role_arn="arn:aws:iam::1:role/r", prefix="", client=Client(), arn_base="arn:aws:states:us-east-1:1:"
    )
    described = sfn.describe("pilothouse-canary", "d1")
    events, _ = sfn.history("pilothouse-canary", "d1")
    text = json.dumps([described, events])
    assert capability not in text and gate not in text and "[redacted]" in text
    assert described["input"]["deployment_id"] == "d1"


@pytest.mark.slow
def test_racing_rollbacks_each_get_a_capability_that_works(api, run, provider):
    """Given a deployment paused mid-way, when a break-glass rollback and a stop of its strategy
    execution (whose end starts the same rollback) race, then one rollback execution runs, with a
    capability its deployment accepts, and the deployment ends rolled back on the old version."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    running(api, run)
    body = {
        "version": "2.0.0",
        "strategy": {"type": "custom", "steps": [{"kind": "set_weight", "weight": 50}, {"kind": "pause"}]},
    }
    assert api.post("/v1/components/web/update", body)[0] == 202
    run()
    dep = deployment(api)
    barrier = threading.Barrier(2)
    calls = [
        lambda: api.post(f"/v1/deployments/{dep['id']}/rollback", {"reason": "race"}),
        lambda: api.post(f"/v1/workflows/{dep['workflow']}/executions/{dep['execution']}/stop", {}),
    ]

    def fire(i):
        barrier.wait()
        return calls[i]()[0]

    with ThreadPoolExecutor(2) as pool_:
        statuses = list(pool_.map(fire, range(2)))
    assert all(s in (200, 409) for s in statuses) and 200 in statuses, statuses
    run()
    rollback = execution(api, "pilothouse-break-glass-rollback", f"{dep['id']}-rollback"[:80])
    assert rollback["status"] == "SUCCEEDED", rollback
    assert deployment(api)["status"] in ("rolled_back", "aborted")
    assert (component(api)["state"], component(api)["version"]) == ("Running", "1.0.0")


def test_a_user_workflow_may_not_message_the_control_planes_own_queues(api, services):
    """Given SQS sendMessage tasks, one to a queue of the user's (approvals) is accepted, while one to
    a queue of the control plane (task messages, jobs) or to a QueueUrl computed at run time is a 422
    naming Parameters.QueueUrl."""
    s = services.settings

    def send(url_field, url):
        params = {url_field: url, "MessageBody": {"token.$": "$$.Task.Token"}}
        state = {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken", "End": True}
        return {"StartAt": "S", "States": {"S": {**state, "Parameters": params}}}

    base = "https://sqs.us-east-1.amazonaws.com/000000000000/"
    assert (
        api.post("/v1/workflows", {"name": "ok", "definition": send("QueueUrl", base + "approvals")})[0]
        == 201
    )
    for i, (field, url) in enumerate(
        [("QueueUrl", base + s.task_messages_queue), ("QueueUrl", base + s.jobs_queue), ("QueueUrl.$", "$.q")]
    ):
        status, _, problem = api.post("/v1/workflows", {"name": f"no{i}", "definition": send(field, url)})
        assert status == 422 and problem["errors"][0]["path"] == f"$.States.S.Parameters.{field}", problem


def test_a_promotion_answer_hides_its_capability(api, run, provider, services):
    """Given a promotion (a shipped workflow with its own capability), neither the answer to POST
    /v1/promotions nor its execution's describe shows the capability the execution holds."""
    running(api, run, "web-dev")
    staging = {**spec("web-stg"), "environment": "staging"}
    assert api.post("/v1/components", staging)[0] == 201
    assert api.post("/v1/components/web-stg/deploy")[0] == 202
    assert api.post("/v1/components/web-dev/update", {"version": "2.0.0"})[0] == 202
    run()
    status, _, answer = api.post("/v1/promotions", {"source": "web-dev", "target": "web-stg"})
    assert status == 201, answer
    record = services.store.get(execution_pk(answer["workflow"], answer["name"]), RECORD_SK).data
    token = record["input"]["capability"]
    run()
    described = execution(api, answer["workflow"], answer["name"])
    assert described["status"] == "SUCCEEDED"
    assert token not in json.dumps([answer, described]) and described["input"]["capability"] == "[redacted]"


def test_a_custom_strategy_whose_candidate_is_unhealthy_rolls_back(api, run, provider, clock):
    """Given a user strategy (the canary through strategy_step) and a candidate that fails its health
    check, the step fails with HealthCheckFailed (as the shipped one does), its Catch rolls back, and
    the component keeps serving the old version."""
    from pilothouse.services.deployments import user_strategy_definition

    assert (
        api.post(
            "/v1/workflows", {"name": "mine", "definition": user_strategy_definition("deployment-plan")}
        )[0]
        == 201
    )
    running(api, run)
    provider.unhealthy_versions.add("2.0.0")
    strategy = {
        "type": "custom",
        "workflow": "mine",
        "steps": [{"kind": "set_weight", "weight": 20}, {"kind": "health"}],
    }
    assert api.post("/v1/components/web/update", {"version": "2.0.0", "strategy": strategy})[0] == 202
    for _ in range(5):
        run()
        clock.advance(10)
    dep = deployment(api)
    events = api.get(f"/v1/workflows/mine/executions/{dep['execution']}/history", query="limit=1000")[2][
        "events"
    ]
    errors = {e["taskFailedEventDetails"]["error"] for e in events if e["type"] == "TaskFailed"}
    assert errors == {"HealthCheckFailed"}, errors
    assert dep["status"] == "rolled_back" and "HealthCheckFailed" in dep["error"]
    assert (component(api)["state"], component(api)["version"]) == ("Running", "1.0.0")


def test_a_redriven_execution_acts_as_whoever_redrove_it(api, run, provider):
    """Given an admin's execution whose update_component failed (no such component yet), when an
    operator redrives it, the task runs as the operator (not the admin) and fails with
    Pilothouse.Forbidden; the component is not updated."""
    assert api.post("/v1/workflows", {"name": "update", "definition": UPDATE})[0] == 201
    start(api, "update", {})
    run()
    assert execution(api, "update", "x")["error"] == "Pilothouse.NotFound"
    running(api, run)
    operator = key(api, "operator")
    assert api.post("/v1/workflows/update/executions/x/redrive", key=operator)[0] == 200
    run()
    done = execution(api, "update", "x")
    assert (done["status"], done["error"]) == ("FAILED", "Pilothouse.Forbidden"), done
    assert "components:deploy" in done["cause"] and component(api)["version"] == "1.0.0"


def test_a_callback_token_shows_only_to_the_task_it_was_sent_to(api, run, provider, services):
    """Given a user workflow waiting on a callback task, its describe and history do not show the task
    token (only the task's recipient gets it), so whoever can read an execution cannot answer it in
    the starter's name."""
    tokens = []

    class Invoker:
        def timeout_of(self, name):
            return 5.0

        def invoke(self, name, payload):
            tokens.append(payload["token"])

    services.settings = services.settings.model_copy(update={"workflow_task_functions": ("notify",)})
    services.invoker = Invoker()  # from here on (the deployment before ran on the real one)
    wait = {
        "StartAt": "Ask",
        "States": {
            "Ask": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                "End": True,
                "Parameters": {"FunctionName": "notify", "Payload": {"token.$": "$$.Task.Token"}},
            }
        },
    }
    assert api.post("/v1/workflows", {"name": "ask", "definition": wait})[0] == 201
    start(api, "ask", {})
    run()
    [token] = tokens
    viewer = key(api, "viewer")
    seen = [
        api.get("/v1/workflows/ask/executions/x", key=viewer)[2],
        api.get("/v1/workflows/ask/executions/x/history", key=viewer)[2],
    ]
    assert token not in json.dumps(seen) and seen[0]["status"] == "RUNNING"
    assert api.post("/v1/task-tokens/success", {"token": token, "output": {}})[0] == 200


def test_stopping_a_shipped_execution_needs_the_deployment_control_permission(api, run, provider):
    """Given a deployment paused mid-way, an operator (executions:run, but not deployments:control)
    cannot stop its strategy execution, which would abort the deployment; a deployer can."""
    running(api, run)
    body = {
        "version": "2.0.0",
        "strategy": {"type": "custom", "steps": [{"kind": "set_weight", "weight": 50}, {"kind": "pause"}]},
    }
    assert api.post("/v1/components/web/update", body)[0] == 202
    run()
    dep = deployment(api)
    path = f"/v1/workflows/{dep['workflow']}/executions/{dep['execution']}/stop"
    status, _, problem = api.post(path, {}, key=key(api, "operator"))
    assert status == 403 and "deployments:control" in problem["detail"]
    assert deployment(api)["status"] == "paused"
    assert api.post(path, {}, key=key(api, "deployer"))[0] == 200
    run()
    assert deployment(api)["status"] == "rolled_back"


def test_stopping_a_custom_strategy_execution_needs_deployment_control(api, run, provider, clock):
    """Given a deployment driven by a user's strategy workflow and paused at an approval, when an
    operator stops that execution (which would roll the deployment back), then 403 and the
    deployment goes on; an admin may stop it."""
    from pilothouse.services.deployments import user_strategy_definition

    definition = user_strategy_definition("deployment-plan")
    assert api.post("/v1/workflows", {"name": "mine", "definition": definition})[0] == 201
    running(api, run)
    strategy = {
        "type": "custom",
        "workflow": "mine",
        "steps": [{"kind": "set_weight", "weight": 20}, {"kind": "pause"}],
    }
    assert api.post("/v1/components/web/update", {"version": "2.0.0", "strategy": strategy})[0] == 202
    for _ in range(3):
        run()
    dep = deployment(api)
    assert dep["status"] not in ("rolled_back", "aborted", "failed", "succeeded"), dep
    stop = f"/v1/workflows/mine/executions/{dep['execution']}/stop"
    status, _, body = api.post(stop, {}, key=key(api, "operator"))
    assert status == 403 and body["required_permission"] == "deployments:control", body
    run()
    assert deployment(api)["status"] == dep["status"]
    assert api.post(stop, {})[0] == 200

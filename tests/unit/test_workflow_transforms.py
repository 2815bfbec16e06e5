"""tasks_over_sqs: every Lambda task of a definition becomes a queue message with the task token."""

from pilothouse.engine import validate
from pilothouse.services.deployments import builtin_definition
from pilothouse.workflows.transforms import SQS_CALLBACK, tasks_over_sqs


def _tasks(machine):
    for state in machine["States"].values():
        if state["Type"] == "Task":
            yield state
        for branch in state.get("Branches", []):
            yield from _tasks(branch)
        if "ItemProcessor" in state:
            yield from _tasks(state["ItemProcessor"])


def test_every_shipped_workflow_still_validates_and_sends_all_its_tasks():
    for name in ("deployment-plan", "break-glass-rollback", "promote-environment"):
        original = builtin_definition(name)
        changed = tasks_over_sqs(original, "https://sqs.local/000000000000/tm")
        assert validate(changed) == []
        tasks = list(_tasks(changed))
        assert tasks and all(t["Resource"] == SQS_CALLBACK for t in tasks)
        assert all(t["Parameters"]["MessageBody"]["token.$"] == "$$.Task.Token" for t in tasks)
        assert original != changed  # a copy: the shipped definition is untouched
        assert all(t["Resource"] != SQS_CALLBACK for t in _tasks(original))


def test_callback_tasks_keep_their_payload_and_say_so():
    gate = tasks_over_sqs(builtin_definition("deployment-plan"), "q")["States"]["Steps"]["ItemProcessor"][
        "States"
    ]["Gate"]
    body = gate["Parameters"]["MessageBody"]
    assert body["function"] == "DeploymentGateFunction" and body["callback"] is True
    assert body["payload"]["token.$"] == "$$.Task.Token" and body["payload"]["kind"] == "gate"


def test_a_task_without_parameters_sends_its_whole_input():
    d = {
        "StartAt": "T",
        "States": {"T": {"Type": "Task", "Resource": "arn:aws:lambda:r:1:function:f:live", "End": True}},
    }
    body = tasks_over_sqs(d, "q")["States"]["T"]["Parameters"]["MessageBody"]
    assert body == {"function": "f", "callback": False, "token.$": "$$.Task.Token", "payload.$": "$"}

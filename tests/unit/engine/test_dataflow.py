"""JSONPath input/output processing: InputPath, Parameters, ResultSelector, ResultPath, OutputPath."""

import pytest
from tests.support.engine import machine

from pilothouse.engine import paths
from pilothouse.engine.errors import StatesError


def task(**fields):
    return machine(
        {"T": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123:function:f", "End": True, **fields}}
    )


def test_aws_worked_example_full_pipeline(go):
    """Given the AWS input/output example, When all five filters apply, Then the documented output results."""
    payload = {
        "comment": "Example for Parameters",
        "product": {
            "details": {"color": "blue", "size": "small", "material": "cotton"},
            "availability": "in stock",
            "sku": "2317",
            "cost": "$23",
        },
    }
    defn = task(
        InputPath="$.product",
        Parameters={
            "MyDetails": {"size.$": "$.details.size", "exists.$": "$.availability", "StaticValue": "foo"}
        },
        ResultSelector={"sizeCopy.$": "$.MyDetails.size", "static": 1},
        ResultPath="$.taskresult",
        OutputPath="$.taskresult",
    )
    seen = []

    def invoke(resource, p, ctx):
        seen.append(p)
        return p

    result = go(defn, payload, invoke=invoke)
    assert seen == [{"MyDetails": {"size": "small", "exists": "in stock", "StaticValue": "foo"}}]
    assert result.output == {"sizeCopy": "small", "static": 1}


def test_null_paths(go):
    """InputPath null → {} ; ResultPath null → input kept ; OutputPath null → {}."""
    seen = []
    defn = task(InputPath=None, ResultPath=None)

    def invoke(resource, p, ctx):
        seen.append(p)
        return {"discarded": True}

    result = go(defn, {"a": 1}, invoke=invoke)
    assert seen == [{}]
    assert result.output == {"a": 1}
    assert go(task(OutputPath=None), {"a": 1}).output == {}


def test_result_path_creates_nested_fields(go):
    """ResultPath $.a.b.c creates the missing objects."""
    assert go(task(ResultPath="$.a.b.c"), {"x": 1}, invoke=lambda r, p, c: 7).output == {
        "x": 1,
        "a": {"b": {"c": 7}},
    }


def test_result_path_match_failure(go):
    """Writing through a non-object → States.ResultPathMatchFailure (catchable)."""
    result = go(task(ResultPath="$.a.b"), {"a": "text"})
    assert (result.status, result.error) == ("FAILED", "States.ResultPathMatchFailure")
    caught = go(
        machine(
            {
                "T": {
                    "Type": "Task",
                    "Resource": "r",
                    "ResultPath": "$.a.b",
                    "Next": "X",
                    "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Done"}],
                },
                "X": {"Type": "Succeed"},
                "Done": {"Type": "Pass", "Result": "caught", "End": True},
            }
        ),
        {"a": "text"},
    )
    assert caught.output == "caught"


def test_missing_parameter_path_is_runtime_error_not_catchable(go):
    """A Parameters path that selects nothing → States.Runtime, which States.ALL does not catch."""
    defn = machine(
        {
            "T": {
                "Type": "Task",
                "Resource": "r",
                "Parameters": {"x.$": "$.missing"},
                "End": True,
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "C"}],
            },
            "C": {"Type": "Succeed"},
        }
    )
    result = go(defn, {})
    assert (result.status, result.error) == ("FAILED", "States.Runtime")
    assert "$.missing" in result.cause


def test_pass_state_result_and_parameters(go):
    """Pass: Result replaces the result; Parameters build it; ResultPath merges it."""
    defn = machine(
        {
            "P1": {"Type": "Pass", "Result": {"r": 1}, "ResultPath": "$.res", "Next": "P2"},
            "P2": {
                "Type": "Pass",
                "Parameters": {"copy.$": "$.res.r", "ctx.$": "$$.State.Name", "list": [{"n.$": "$.res.r"}]},
                "End": True,
            },
        }
    )
    assert go(defn, {"in": 0}).output == {"copy": 1, "ctx": "P2", "list": [{"n": 1}]}


def test_context_object_fields(go, clock):
    """$$ exposes Execution, State, StateMachine fields."""
    defn = machine({"P": {"Type": "Pass", "Parameters": {"c.$": "$$"}, "End": True}})
    ctx = go(defn, {"k": 1}, execution_name="exec-1", state_machine_name="SM").output["c"]
    assert ctx["Execution"]["Name"] == "exec-1"
    assert ctx["Execution"]["Id"].endswith(":execution:SM:exec-1")
    assert ctx["Execution"]["Input"] == {"k": 1}
    assert ctx["Execution"]["StartTime"] == "2023-11-14T22:13:20.000Z"
    assert ctx["Execution"]["RoleArn"].startswith("arn:aws:iam::")
    assert ctx["StateMachine"] == {"Id": "arn:aws:states:local:000000000000:stateMachine:SM", "Name": "SM"}
    assert ctx["State"] == {"Name": "P", "EnteredTime": "2023-11-14T22:13:20.000Z", "RetryCount": 0}


def test_indefinite_parameter_paths_yield_arrays(go):
    """A filter path in Parameters yields an array, even with one match."""
    defn = machine({"P": {"Type": "Pass", "Parameters": {"cheap.$": "$.items[?(@.p < 5)].n"}, "End": True}})
    assert go(defn, {"items": [{"n": "a", "p": 1}, {"n": "b", "p": 9}]}).output == {"cheap": ["a"]}


def test_intrinsic_in_parameters_and_result_selector(go):
    """Intrinsics work in Parameters and ResultSelector."""
    defn = task(
        Parameters={"greeting.$": "States.Format('Hi {}', $.name)"},
        ResultSelector={"len.$": "States.ArrayLength(States.StringSplit($.greeting, ' '))"},
    )
    assert go(defn, {"name": "Ann"}).output == {"len": 2}


def test_apply_result_path_unit():
    """apply_result_path never mutates its input."""
    original = {"a": {"b": 1}}
    out = paths.apply_result_path(original, 2, "$.a.c")
    assert out == {"a": {"b": 1, "c": 2}} and original == {"a": {"b": 1}}
    assert paths.apply_result_path([1, 2], "x", "$[1]") == [1, "x"]
    with pytest.raises(StatesError):
        paths.apply_result_path(5, 1, "$.a")

"""The engine behaves as AWS Step Functions does (issue 19, part 1).

Each expectation comes from the AWS developer guide or from executions recorded against AWS (the
public LocalStack snapshot tests, ``tests/aws/services/stepfunctions/v2/**/*.snapshot.json``, which
are recorded on AWS); the source is named in each test.
"""

from __future__ import annotations

import pytest
from tests.support.engine import T0, events, machine

from pilothouse.engine import PENDING, StatesError, diagnose, validate
from pilothouse.engine import intrinsics as intr
from pilothouse.engine import jsonata_bridge as jb
from pilothouse.engine.machine import MAX_HISTORY_EVENTS


def jmachine(states: dict, start: str | None = None) -> dict:
    return machine(states, start, QueryLanguage="JSONata")


def warnings_of(defn: dict) -> list[str]:
    return [w.path for w in diagnose(defn).warnings]


# -- validation: what AWS accepts is never an error ------------------------------------------------


def test_unreachable_states_are_accepted_and_run(go):
    """AWS creates and runs a machine with states nothing reaches: valid, with a warning."""
    defn = machine({"A": {"Type": "Pass", "Result": 1, "End": True}, "Nobody": {"Type": "Fail"}})
    assert validate(defn) == []
    assert warnings_of(defn) == ["$.States.Nobody"]
    assert go(defn).output == 1


def test_the_warnings_aws_gives_no_dollar_and_static_pass_result():
    """ValidateStateMachineDefinition's warning codes (API reference): NO_DOLLAR (a path or an
    intrinsic in a field whose name lacks '.$') and PASS_RESULT_IS_STATIC."""
    defn = machine(
        {
            "P": {
                "Type": "Pass",
                "Parameters": {"a": "$.x", "b": "States.UUID()", "c": "plain $ text", "d.$": "$.x"},
                "Result": {"r.$": "$.x"},
                "End": True,
            }
        }
    )
    assert validate(defn) == []
    assert warnings_of(defn) == [
        "$.States.P.Parameters.a",
        "$.States.P.Parameters.b",
        "$.States.P.Result.r.$",
    ]


def test_jsonata_keys_ending_in_dollar_are_ordinary_keys(go):
    """In JSONata states '.$' has no meaning: such keys in Output/Arguments are sent as written."""
    defn = jmachine(
        {
            "T": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Arguments": {"Payload": {"k.$": "$.notAPath", "v": "{% $states.input.n %}"}},
                "Output": {"out.$": "{% $states.result.v + 1 %}"},
                "End": True,
            }
        }
    )
    assert validate(defn) == []
    assert warnings_of(defn) == ["$.States.T.Arguments.Payload.k.$", "$.States.T.Output.out.$"]
    seen = []

    def invoke(resource, payload, ctx):
        seen.append(payload)
        return payload["Payload"]

    assert go(defn, {"n": 41}, invoke=invoke).output == {"out.$": 42}
    assert seen == [{"Payload": {"k.$": "$.notAPath", "v": 41}}]


def test_timeout_and_heartbeat_paths_may_name_a_variable(go, clock):
    """AWS accepts TimeoutSecondsPath/HeartbeatSecondsPath naming a variable ($timeout)."""
    defn = machine(
        {
            "Init": {"Type": "Pass", "Assign": {"timeout": 30, "beat": 10}, "Next": "T"},
            "T": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                "TimeoutSecondsPath": "$timeout",
                "HeartbeatSecondsPath": "$beat",
                "End": True,
            },
        }
    )
    assert validate(defn) == []
    result = go(defn, invoke=lambda r, p, c: PENDING)
    assert (result.status, result.error) == ("FAILED", "States.HeartbeatTimeout")
    assert clock.now() == T0 + 10
    scheduled = next(e for e in result.history if e["type"] == "TaskScheduled")["taskScheduledEventDetails"]
    assert (scheduled["timeoutInSeconds"], scheduled["heartbeatInSeconds"]) == (30, 10)
    # still refused: a path selecting many values, and a literal with its Path twin
    bad = machine({"T": {"Type": "Task", "Resource": "r", "TimeoutSecondsPath": "$.t[*]", "End": True}})
    assert [e.path for e in validate(bad)] == ["$.States.T.TimeoutSecondsPath"]


# -- intrinsic functions -----------------------------------------------------------------------------


def ev(text: str, data=None):
    return intr.evaluate(text, data if data is not None else {})


def test_format_prints_objects_and_arrays_as_aws_does():
    """Recorded on AWS (test_generic.snapshot.json, test_format_2): an object argument
    {"Arg1": 1, "Arg2": []} is printed {Arg1=1, Arg2=[]}; a JSON string stays as it is."""
    data = {"o": {"Arg1": 1, "Arg2": []}, "s": '{"Arg1": 1, "Arg2": []}', "f": 1.1, "n": None}
    assert ev("States.Format('fst={} and snd={}.', $.o, $.o)", data) == (
        "fst={Arg1=1, Arg2=[]} and snd={Arg1=1, Arg2=[]}."
    )
    assert ev("States.Format('{}', $.s)", data) == '{"Arg1": 1, "Arg2": []}'
    assert ev("States.Format('{} {}', $.f, $.n)", data) == "1.1 null"
    nested = {"a": ["x", 1, True, None, {"k": "v"}]}
    assert ev("States.Format('{}', $.a)", nested) == "[x, 1, true, null, {k=v}]"
    assert ev("States.Format('{}', $)", nested) == "{a=[x, 1, true, null, {k=v}]}"


@pytest.mark.parametrize(
    "a,b,total",
    # recorded on AWS (test_math_operations.snapshot.json, test_math_add): each argument is rounded
    # to the nearest integer, halves up (Java's Math.round), then added
    [
        (-9, 3, -6),
        (1.49, 1.50, 3),
        (1.50, 1.51, 4),
        (-1.49, -1.50, -2),
        (-1.50, -1.51, -3),
        (1.49, -1.49, 0),
        (0.5, 0, 1),
        (2.5, 0, 3),
        (-0.5, 0.5, 1),
        (-0.5, 0, 0),
        (-2.5, 0, -2),
        (-3.5, 0, -3),
    ],
)
def test_math_add_rounds_non_integers_as_aws(a, b, total):
    assert ev("States.MathAdd($.a, $.b)", {"a": a, "b": b}) == total


def test_math_random_end_is_exclusive_and_bounds_may_be_non_integers():
    """The developer guide's States.MathRandom entry: start inclusive, end exclusive (as recalled:
    the page is not in the stored corpus, and AWS's recordings mask the value, so the end bound is
    kept, not re-verified); non-integer bounds are rounded (AWS ran 12.5..44.51 in
    test_math_random, test_math_operations.snapshot.json). A seed makes it repeatable."""
    seen = {ev("States.MathRandom(1, 3)") for _ in range(300)}
    assert seen == {1, 2}
    assert all(13 <= ev("States.MathRandom($.a, $.b)", {"a": 12.5, "b": 44.51}) < 45 for _ in range(200))
    assert ev("States.MathRandom(0, 999, 3)") == ev("States.MathRandom(0, 999, 3)")
    with pytest.raises(StatesError) as info:
        ev("States.MathRandom('a', 2)")
    assert info.value.error == "States.IntrinsicFailure"


@pytest.mark.parametrize(
    "text,delims,parts",
    # recorded on AWS (test_string_operations.snapshot.json, test_string_split): every character of
    # the second argument is a delimiter, and empty parts are dropped
    [
        ("This.is+a,test=string", ".+,=", ["This", "is", "a", "test", "string"]),
        ("split on T and \nnew line", "T\n", ["split on ", " and ", "new line"]),
        (", , ,", ",", [" ", " "]),
        (",,,,", ",", []),
        (" ", ",", [" "]),
    ],
)
def test_string_split_with_several_delimiter_characters(text, delims, parts):
    assert ev("States.StringSplit($.t, $.d)", {"t": text, "d": delims}) == parts


# -- JSONPath: bracket notation with escaped quotes ----------------------------------------------------

QUOTED = {"it's": {"x": 1}, 'say "hi"': 2, "a\\b": 3}


def test_bracket_keys_with_escaped_quotes_everywhere_a_path_goes(go):
    """$['it\\'s'] and $["say \\"hi\\""] select those keys, in Parameters, intrinsic arguments,
    Choice variables, InputPath and ResultPath."""
    defn = machine(
        {
            "P": {
                "Type": "Pass",
                "Parameters": {
                    "plain.$": "$['it\\'s'].x",
                    "dq.$": '$["say \\"hi\\""]',
                    "fmt.$": "States.Format('{}-{}', $['it\\'s'].x, $['a\\\\b'])",
                    "arr.$": 'States.Array($[\'it\\\'s\'], $["say \\"hi\\""])',
                },
                "ResultPath": "$['new\\'key']",
                "Next": "C",
            },
            "C": {
                "Type": "Choice",
                "Choices": [{"Variable": "$['new\\'key'].plain", "NumericEquals": 1, "Next": "Yes"}],
                "Default": "No",
            },
            "Yes": {"Type": "Pass", "InputPath": "$['new\\'key']", "End": True},
            "No": {"Type": "Fail"},
        }
    )
    assert validate(defn) == []
    assert go(defn, QUOTED).output == {"plain": 1, "dq": 2, "fmt": "1-3", "arr": [{"x": 1}, 2]}


def test_a_backslash_before_another_quote_is_part_of_the_key(go):
    """Recorded on AWS (test_base_scenarios.snapshot.json, test_escape_sequence_parsing
    [ESCAPE_SEQUENCES_JSONPATH]): the input key ``Test\\""Name"`` is selected by
    ``$['Test\\""Name"']``: inside single quotes only ``\\'`` and ``\\\\`` are escapes."""
    key = 'Test\\""Name"'
    defn = machine({"P": {"Type": "Pass", "Parameters": {"value.$": '$[\'Test\\""Name"\']'}, "End": True}})
    assert defn["States"]["P"]["Parameters"]["value.$"] == "$['" + key + "']"
    assert go(defn, {key: 'Value"\\'}).output == {"value": 'Value"\\'}


@pytest.mark.parametrize(
    "text,expected",
    [
        ("States.ArrayLength($.items[?(@['it\\'s'] == 'a\\'b')])", 1),
        ("States.Array($['a,b'], 1)", [7, 1]),
        ("States.Array($['p)q'], $['a,b'])", [8, 7]),
        ("States.Format('{}', $.items[?(@['it\\'s'] == 'x')].v)", "[2]"),
    ],
)
def test_intrinsic_path_arguments_with_quoted_keys(text, expected):
    """Commas, parentheses and escaped quotes inside a bracketed key end no argument."""
    data = {"items": [{"it's": "a'b", "v": 1}, {"it's": "x", "v": 2}], "a,b": 7, "p)q": 8}
    assert ev(text, data) == expected


# -- JSONata -------------------------------------------------------------------------------------------


def j(expr: str, data=None, variables=None):
    return jb.evaluate("{% " + expr + " %}", {"input": data if data is not None else {}}, variables)


def test_jsonata_one_element_sequences_give_the_element():
    """JSONata sequence semantics, as on AWS: $range(1, 1) is 1, not [1]; more stay an array."""
    assert j("$range(1, 1)") == 1
    assert j("$range(1, 3)") == [1, 2, 3]
    assert j("$range(0, 10, 5)") == [0, 5, 10]
    assert j("$count($range(1, 1))") == 1
    assert j("$states.input.xs[v > 1].v", {"xs": [{"v": 1}, {"v": 2}]}) == 2
    assert j("$states.input.xs", {"xs": [5]}) == [5]  # an array in the data stays an array
    assert j("$partition([1], 1)") == [[1]]


def test_an_expression_that_returns_nothing_is_a_query_evaluation_error(go):
    """Recorded on AWS (test_assign_reference_variables.snapshot.json, test_undefined_reference):
    "The JSONata expression '$doesNotExist' specified for the field 'Output/result' returned
    nothing (undefined)." It is the *result* that matters, as in JSONata: $exists($nope) is false,
    an object constructor drops an undefined value, and a variable holding null is null."""
    with pytest.raises(StatesError) as info:
        j("$nope + 1")
    assert info.value.error == "States.QueryEvaluationError"
    assert info.value.cause == "The JSONata expression '$nope + 1' returned nothing (undefined)."
    with pytest.raises(StatesError):
        j("$states.input.missing", {"present": 1})
    assert j("$exists($nope)") is False
    assert j("{'a': $nope, 'b': 1}") == {"b": 1}
    assert j("$k", variables={"k": None}) is None
    assert j("$states.input.n", {"n": None}) is None
    assert j("[null, $k]", variables={"k": None}) == [None, None]
    assert j("$map([1, 2], function($v) { $v * $k })", variables={"k": 3}) == [3, 6]
    assert j("($y := 2; $y * $k)", variables={"k": 3}) == 6
    for field, where in (
        ("{% $doesNotExist %}", "Output"),
        ({"result": "{% $doesNotExist %}"}, "Output/result"),
        ({"list": [1, "{% $doesNotExist %}"]}, "Output/list/1"),
    ):
        result = go(jmachine({"P": {"Type": "Pass", "Output": field, "End": True}}))
        assert (result.status, result.error) == ("FAILED", "States.QueryEvaluationError")
        assert f"specified for the field '{where}' returned nothing (undefined)" in result.cause
    result = go(jmachine({"P": {"Type": "Pass", "Assign": {"result": "{% $doesNotExist %}"}, "End": True}}))
    assert "for the field 'Assign/result'" in result.cause


def test_arguments_with_an_undefined_variable_fail_before_the_task_is_invoked(go):
    """Recorded on AWS (test_undefined_reference[BASE_UNDEFINED_ARGUMENTS_FIELD]): the state fails
    with States.QueryEvaluationError ('Arguments/FunctionName' returned nothing); the task is never
    scheduled, and a catcher handles it like any other state error."""
    calls = []
    defn = jmachine(
        {
            "T": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Arguments": {"FunctionName": "{% $notAssigned %}"},
                "Catch": [{"ErrorEquals": ["States.QueryEvaluationError"], "Next": "Handled"}],
                "Next": "Handled",
            },
            "Handled": {"Type": "Pass", "End": True},
        }
    )
    result = go(defn, invoke=lambda r, p, c: calls.append(p))
    assert calls == []
    assert "TaskScheduled" not in events(result)
    assert result.output["Error"] == "States.QueryEvaluationError"
    del defn["States"]["T"]["Catch"]
    result = go(defn, invoke=lambda r, p, c: calls.append(p))
    assert (result.status, result.error, calls) == ("FAILED", "States.QueryEvaluationError", [])
    assert "specified for the field 'Arguments/FunctionName' returned nothing (undefined)" in result.cause


# -- Task states ---------------------------------------------------------------------------------------


def test_task_token_resolves_in_a_sync_task(go):
    """$$.Task.Token (and $states.context.Task.Token) resolve in a .sync task, as on AWS; the task
    is still answered by its job (it is not a callback task)."""
    seen = []

    def invoke(resource, payload, ctx):
        seen.append((payload, ctx.token))
        return {"done": True}

    defn = machine(
        {
            "Run": {
                "Type": "Task",
                "Resource": "arn:aws:states:::states:startExecution.sync:2",
                "Parameters": {"Input": {"token.$": "$$.Task.Token"}},
                "End": True,
            }
        }
    )
    result = go(defn, invoke=invoke)
    assert result.status == "SUCCEEDED" and result.output == {"done": True}
    ((payload, callback_token),) = seen
    assert isinstance(payload["Input"]["token"], str) and payload["Input"]["token"]
    assert callback_token is None
    jdefn = jmachine(
        {
            "Run": {
                "Type": "Task",
                "Resource": "arn:aws:states:::ecs:runTask.sync",
                "Arguments": {"t": "{% $states.context.Task.Token %}"},
                "End": True,
            }
        }
    )
    token = go(jdefn, invoke=lambda r, p, c: p).output["t"]
    assert isinstance(token, str) and token
    # a request-response task has no token, as on AWS
    plain = machine({"T": {**defn["States"]["Run"], "Resource": "arn:aws:states:::lambda:invoke"}})
    assert go(plain, invoke=invoke).error == "States.Runtime"


def test_task_result_over_the_payload_limit_is_a_task_failure_states_all_catches(go):
    """Recorded on AWS (test_states_errors.snapshot.json,
    test_service_task_lambada_catch_state_all_data_limit_exceeded_on_large_utf8_response): a
    TaskFailed with States.DataLimitExceeded, caught by the States.ALL catcher, execution
    SUCCEEDED. The developer guide's sentence that States.ALL cannot catch it holds for the
    interpreter's own limit: a state's output over the quota fails the execution
    (test_start_large_input)."""
    big = "é" * (129 * 1024)  # over 256 KiB as UTF-8
    defn = machine(
        {
            "InvokeLambda": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "HandleGeneralError"}],
                "End": True,
            },
            "HandleGeneralError": {"Type": "Pass", "End": True},
        }
    )
    result = go(defn, invoke=lambda r, p, c: big)
    cause = (
        "The state/task 'lambda' returned a result with a size exceeding the maximum number of bytes "
        "service limit."
    )
    assert result.status == "SUCCEEDED"
    assert result.output == {"Error": "States.DataLimitExceeded", "Cause": cause}
    failed = next(e for e in result.history if e["type"] == "TaskFailed")["taskFailedEventDetails"]
    assert failed == {
        "resourceType": "lambda",
        "resource": "invoke",
        "error": "States.DataLimitExceeded",
        "cause": cause,
    }
    # a Lambda ARN resource is named in full, as AWS does
    arn = "arn:aws:lambda:us-east-1:111111111111:function:f"
    defn["States"]["InvokeLambda"]["Resource"] = arn
    assert go(defn, invoke=lambda r, p, c: big).output["Cause"].startswith(f"The state/task '{arn}' ")
    # the retriers see it the same way
    defn["States"]["InvokeLambda"]["Retry"] = [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 1}]
    answers = [big, "small"]
    assert go(defn, invoke=lambda r, p, c: answers.pop(0)).output == "small"
    # a Pass state's output over the quota: terminal (no TaskFailed, ExecutionFailed at once)
    result = go(machine({"State_1": {"Type": "Pass", "Result": {"Arg1": "a" * (257 * 1024)}, "End": True}}))
    assert (result.status, result.error) == ("FAILED", "States.DataLimitExceeded")


# -- the execution history quota ---------------------------------------------------------------------


def _counting_loop(rounds: int, pads: int = 0) -> dict:
    """``rounds`` rounds of Choice + Pass, then ``pads`` Pass states and a Succeed."""
    states = {
        "Loop": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.i", "NumericLessThan": rounds, "Next": "Inc"}],
            "Default": "Pad0",
        },
        "Inc": {"Type": "Pass", "Parameters": {"i.$": "States.MathAdd($.i, 1)"}, "Next": "Loop"},
    }
    for n in range(pads):
        states[f"Pad{n}"] = {"Type": "Pass", "Next": f"Pad{n + 1}"}
    states[f"Pad{pads}"] = {"Type": "Succeed"}
    return machine(states)


def test_history_quota_event_25000_is_the_end(go):
    """Developer guide, "Avoid reaching the history quota": at 24,999 events, event 25,000 is
    ExecutionSucceeded if that comes next, else ExecutionFailed (the execution fails)."""
    base = len(go(_counting_loop(0), {"i": 0}).history)
    per_round = len(go(_counting_loop(1), {"i": 0}).history) - base
    rounds, rest = divmod(MAX_HISTORY_EVENTS - base, per_round)
    pads = rest // 2  # a Pass state is two events
    fits = go(_counting_loop(rounds, pads), {"i": 0})
    assert (fits.status, len(fits.history)) == ("SUCCEEDED", MAX_HISTORY_EVENTS)
    over = go(_counting_loop(rounds, pads + 1), {"i": 0})
    assert (over.status, len(over.history)) == ("FAILED", MAX_HISTORY_EVENTS)
    assert over.history[-1]["type"] == "ExecutionFailed"
    assert over.cause == "The execution reached the maximum number of history events (25000)."
    assert [e["id"] for e in over.history[-2:]] == [MAX_HISTORY_EVENTS - 1, MAX_HISTORY_EVENTS]


# -- hostile inputs ------------------------------------------------------------------------------------


def test_non_finite_numbers_and_huge_ranges_are_state_errors_not_crashes():
    """NaN and infinities (Python's json lets them in) and a $range of a billion numbers fail the
    state with the function's error instead of raising out of the interpreter."""
    for text in ("States.MathAdd($.a, 1)", "States.MathRandom($.a, 5)"):
        for bad in (float("nan"), float("inf"), float("-inf")):
            with pytest.raises(StatesError) as info:
                ev(text, {"a": bad})
            assert info.value.error == "States.IntrinsicFailure"
    for expr in ("$range(1, 1e9)", "$range(1, $states.input.inf)", "$range(1, 3, 0)"):
        with pytest.raises(StatesError) as info:
            j(expr, {"inf": float("inf")})
        assert info.value.error == "States.QueryEvaluationError"


@pytest.mark.parametrize(
    "items", ["1", "'string'", "true", "{'foo': 'bar'}", "null", "$fn := function($x){$x}"]
)
def test_map_items_of_the_wrong_type_fail_the_state(go, items):
    """Recorded on AWS (test_base_scenarios.snapshot.json, test_map_state_items_eval_jsonata_fail):
    Items that is no array, a function included, is a States.QueryEvaluationError."""
    defn = jmachine(
        {
            "M": {
                "Type": "Map",
                "Items": "{% " + items + " %}",
                "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}},
                "End": True,
            }
        }
    )
    result = go(defn, {})
    assert (result.status, result.error) == ("FAILED", "States.QueryEvaluationError")


def test_a_function_is_no_json_value(go):
    defn = jmachine({"P": {"Type": "Pass", "Output": {"f": "{% $sum %}"}, "End": True}})
    assert go(defn).error == "States.QueryEvaluationError"


@pytest.mark.parametrize(
    "creds,ql,errors",
    [
        # recorded on AWS (test_credentials_base.snapshot.json, test_invalid_credentials_field)
        ({}, "JSONata", ["$.States.T.Credentials.RoleArn"]),
        (
            {"InvalidField": "invalid"},
            "JSONata",
            ["$.States.T.Credentials.InvalidField", "$.States.T.Credentials.RoleArn"],
        ),
        ({"RoleArn": "arn:aws:iam::111111111111:role/r"}, "JSONata", []),
        ({"RoleArn": "{% $states.input.role %}"}, "JSONata", []),
        ({"RoleArn.$": "$.role"}, "JSONPath", []),
        (
            {"RoleArn.$": "$.role"},
            "JSONata",
            ["$.States.T.Credentials.RoleArn.$", "$.States.T.Credentials.RoleArn"],
        ),
        ({"RoleArn.$": "not a path"}, "JSONPath", ["$.States.T.Credentials.RoleArn.$"]),
    ],
)
def test_task_credentials_need_a_role_arn(creds, ql, errors):
    defn = machine(
        {
            "T": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Credentials": creds,
                "End": True,
            }
        },
        QueryLanguage=ql,
    )
    assert [e.path for e in validate(defn)] == errors


def test_a_fail_state_without_error_or_cause_reports_none(go):
    """Recorded on AWS (test_base.snapshot.json, test_state_fail_empty): the ExecutionFailed event
    has no error and no cause; inside a Parallel the branch failure still propagates."""
    result = go(machine({"F": {"Type": "Fail"}}))
    assert (result.status, result.error, result.cause) == ("FAILED", None, None)
    assert result.history[-1] == {**result.history[-1], "executionFailedEventDetails": {}}
    par = machine(
        {
            "P": {
                "Type": "Parallel",
                "Branches": [{"StartAt": "F", "States": {"F": {"Type": "Fail"}}}],
                "End": True,
            }
        }
    )
    assert go(par).status == "FAILED"


def test_an_uncaught_evaluation_error_is_recorded_as_aws_does(go):
    """Recorded on AWS (test_assign_reference_variables.snapshot.json,
    test_undefined_reference[BASE_UNDEFINED_OUTPUT_FIELD]): PassStateEntered (#2), then an
    EvaluationFailed event naming the state and the field, then ExecutionFailed with its cause."""
    result = go(
        jmachine({"State0": {"Type": "Pass", "Output": {"result": "{% $doesNotExist %}"}, "End": True}})
    )
    cause = (
        "An error occurred while executing the state 'State0' (entered at the event id #2). The JSONata "
        "expression '$doesNotExist' specified for the field 'Output/result' returned nothing (undefined)."
    )
    assert events(result) == ["ExecutionStarted", "PassStateEntered", "EvaluationFailed", "ExecutionFailed"]
    assert result.history[2]["evaluationFailedEventDetails"] == {
        "cause": cause,
        "error": "States.QueryEvaluationError",
        "location": "Output/result",
        "state": "State0",
    }
    assert result.history[3]["executionFailedEventDetails"] == {
        "error": "States.QueryEvaluationError",
        "cause": cause,
    }

"""Choice state rules (JSONPath operators, logic, Default, NoChoiceMatched)."""

import pytest
from tests.support.engine import events, machine

from pilothouse.engine.choice import evaluate_rule, parse_timestamp, string_matches
from pilothouse.engine.errors import StatesError
from pilothouse.engine.paths import Env

DATA = {
    "s": "b",
    "n": 5,
    "f": 2.5,
    "t": True,
    "ts": "2024-01-02T03:04:05Z",
    "nul": None,
    "other": {"s": "b", "n": 5, "ts": "2024-01-02T03:04:05Z", "t": True},
}


def rule(op, value, var="$.{}"):
    return {"Variable": var, op: value}


@pytest.mark.parametrize(
    "op,var,value,expected",
    [
        ("StringEquals", "$.s", "b", True),
        ("StringEquals", "$.s", "c", False),
        ("StringLessThan", "$.s", "c", True),
        ("StringGreaterThan", "$.s", "a", True),
        ("StringLessThanEquals", "$.s", "b", True),
        ("StringGreaterThanEquals", "$.s", "c", False),
        ("NumericEquals", "$.n", 5, True),
        ("NumericEquals", "$.n", 5.0, True),
        ("NumericLessThan", "$.f", 3, True),
        ("NumericGreaterThan", "$.n", 5, False),
        ("NumericLessThanEquals", "$.n", 5, True),
        ("NumericGreaterThanEquals", "$.f", 2.5, True),
        ("BooleanEquals", "$.t", True, True),
        ("BooleanEquals", "$.t", False, False),
        ("TimestampEquals", "$.ts", "2024-01-02T03:04:05Z", True),
        ("TimestampEquals", "$.ts", "2024-01-02T04:04:05+01:00", True),
        ("TimestampLessThan", "$.ts", "2024-01-02T03:04:06Z", True),
        ("TimestampGreaterThan", "$.ts", "2024-01-01T00:00:00Z", True),
        ("TimestampLessThanEquals", "$.ts", "2024-01-02T03:04:05Z", True),
        ("TimestampGreaterThanEquals", "$.ts", "2025-01-01T00:00:00Z", False),
        # type mismatches are simply false
        ("StringEquals", "$.n", "5", False),
        ("NumericEquals", "$.s", 5, False),
        ("NumericEquals", "$.t", 1, False),
        ("BooleanEquals", "$.n", True, False),
        ("TimestampEquals", "$.s", "2024-01-02T03:04:05Z", False),
    ],
)
def test_comparison_operators(op, var, value, expected):
    """Each comparison operator compares typed values; other types never match."""
    assert evaluate_rule({"Variable": var, op: value}, DATA, Env()) is expected


@pytest.mark.parametrize(
    "op,path,expected",
    [
        ("StringEqualsPath", "$.other.s", True),
        ("NumericEqualsPath", "$.other.n", True),
        ("NumericLessThanPath", "$.other.n", False),
        ("BooleanEqualsPath", "$.other.t", True),
        ("TimestampEqualsPath", "$.other.ts", True),
        ("StringGreaterThanPath", "$.other.s", False),
        ("NumericGreaterThanEqualsPath", "$.other.n", True),
        ("TimestampLessThanPath", "$.other.ts", False),
    ],
)
def test_path_twins_compare_against_another_field(op, path, expected):
    """...Path operators take the comparison value from the input."""
    var = {"String": "$.s", "Numeric": "$.n", "Boolean": "$.t", "Timestamp": "$.ts"}[
        next(k for k in ("String", "Numeric", "Boolean", "Timestamp") if op.startswith(k))
    ]
    assert evaluate_rule({"Variable": var, op: path}, DATA, Env()) is expected


@pytest.mark.parametrize(
    "op,var,value,expected",
    [
        ("IsPresent", "$.s", True, True),
        ("IsPresent", "$.missing", True, False),
        ("IsPresent", "$.missing", False, True),
        ("IsNull", "$.nul", True, True),
        ("IsNull", "$.s", True, False),
        ("IsNumeric", "$.f", True, True),
        ("IsNumeric", "$.t", True, False),
        ("IsString", "$.s", True, True),
        ("IsBoolean", "$.t", True, True),
        ("IsBoolean", "$.n", False, True),
        ("IsTimestamp", "$.ts", True, True),
        ("IsTimestamp", "$.s", True, False),
    ],
)
def test_type_tests(op, var, value, expected):
    """IsPresent / IsNull / IsNumeric / IsString / IsBoolean / IsTimestamp."""
    assert evaluate_rule({"Variable": var, op: value}, DATA, Env()) is expected


def test_string_matches_wildcards_and_escapes():
    """'*' matches any run of characters; '\\*' is a literal star."""
    assert string_matches("log-2024.txt", "log-*.txt")
    assert string_matches("anything", "*")
    assert not string_matches("log.csv", "log-*.txt")
    assert string_matches("a*b", "a\\*b")
    assert not string_matches("axb", "a\\*b")
    assert evaluate_rule({"Variable": "$.s", "StringMatches": "*"}, DATA, Env())


def test_and_or_not():
    """Logical operators combine nested rules."""
    yes = {"Variable": "$.n", "NumericEquals": 5}
    no = {"Variable": "$.n", "NumericEquals": 6}
    env = Env()
    assert evaluate_rule({"And": [yes, yes]}, DATA, env)
    assert not evaluate_rule({"And": [yes, no]}, DATA, env)
    assert evaluate_rule({"Or": [no, yes]}, DATA, env)
    assert evaluate_rule({"Not": no}, DATA, env)


def test_missing_variable_is_runtime_error():
    """A comparison on a missing field → States.Runtime."""
    with pytest.raises(StatesError) as info:
        evaluate_rule({"Variable": "$.missing", "StringEquals": "x"}, DATA, Env())
    assert info.value.error == "States.Runtime"


def test_timestamp_format_is_strict():
    """RFC 3339 with an uppercase T and a zone is required."""
    assert parse_timestamp("2016-03-14T01:59:00Z")
    assert parse_timestamp("2016-03-14T01:59:00.123+02:00")
    assert parse_timestamp("2016-03-14t01:59:00Z") is None
    assert parse_timestamp("2016-03-14T01:59:00") is None


CHOICE = machine(
    {
        "Check": {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.kind", "StringEquals": "a", "Next": "A"},
                {
                    "And": [
                        {"Variable": "$.n", "IsPresent": True},
                        {"Variable": "$.n", "NumericGreaterThan": 10},
                    ],
                    "Next": "Big",
                },
            ],
            "Default": "Other",
        },
        "A": {"Type": "Pass", "Result": "a", "End": True},
        "Big": {"Type": "Pass", "Result": "big", "End": True},
        "Other": {"Type": "Pass", "Result": "other", "End": True},
    }
)


@pytest.mark.parametrize(
    "payload,expected",
    [
        ({"kind": "a"}, "a"),
        ({"kind": "b", "n": 11}, "big"),
        ({"kind": "b", "n": 1}, "other"),
        ({"kind": "z"}, "other"),
    ],
)
def test_choice_state_routes_in_rule_order_then_default(go, payload, expected):
    """Given rules and a Default, When executed, Then the first matching rule wins."""
    result = go(CHOICE, payload)
    assert result.status == "SUCCEEDED"
    assert result.output == expected
    assert events(result, "ChoiceStateEntered", "ChoiceStateExited") == [
        "ChoiceStateEntered",
        "ChoiceStateExited",
    ]


def test_no_choice_matched_fails_execution(go):
    """Without a Default and no matching rule → States.NoChoiceMatched."""
    defn = machine(
        {
            "C": {"Type": "Choice", "Choices": [{"Variable": "$.x", "NumericEquals": 1, "Next": "E"}]},
            "E": {"Type": "Succeed"},
        }
    )
    result = go(defn, {"x": 2})
    assert (result.status, result.error) == ("FAILED", "States.NoChoiceMatched")


def test_choice_input_output_paths(go):
    """Choice applies InputPath for rules and passes it through OutputPath."""
    defn = machine(
        {
            "C": {
                "Type": "Choice",
                "InputPath": "$.inner",
                "OutputPath": "$.v",
                "Choices": [{"Variable": "$.v", "NumericEquals": 1, "Next": "E"}],
            },
            "E": {"Type": "Succeed"},
        }
    )
    assert go(defn, {"inner": {"v": 1}}).output == 1

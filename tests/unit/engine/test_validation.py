"""Definition validation: every error names the JSON path of the offending field."""

import pytest

from pilothouse.engine import DefinitionError, diagnose, load, validate


def paths_of(defn):
    return [e.path for e in validate(defn)]


def ok(defn):
    assert validate(defn) == []


GOOD = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Succeed"}}}


def test_valid_definition_has_no_errors():
    """A correct machine validates cleanly, as dict or JSON text."""
    ok(GOOD)
    import json

    assert validate(json.dumps(GOOD)) == []
    assert load(json.dumps(GOOD)) == GOOD


def test_start_at_missing_and_unknown():
    """StartAt is required and must name a state."""
    assert paths_of({"States": {"A": {"Type": "Succeed"}}}) == ["$.StartAt"]
    assert "$.StartAt" in paths_of({"StartAt": "Nope", "States": {"A": {"Type": "Succeed"}}})


def test_bad_next_target_in_choice_rule_names_its_path():
    """A Next naming no state is reported at $.States.<name>.Choices[i].Next."""
    defn = {
        "StartAt": "Check",
        "States": {
            "Check": {
                "Type": "Choice",
                "Choices": [
                    {"Variable": "$.a", "StringEquals": "x", "Next": "Done"},
                    {"Variable": "$.a", "StringEquals": "y", "Next": "Missing"},
                ],
                "Default": "Done",
            },
            "Done": {"Type": "Succeed"},
        },
    }
    assert paths_of(defn) == ["$.States.Check.Choices[1].Next"]


def test_all_errors_are_returned_not_just_the_first():
    """Several independent problems are all reported."""
    defn = {
        "StartAt": "A",
        "States": {
            "A": {"Type": "Pass", "Next": "B", "End": True, "Bogus": 1},
            "B": {"Type": "Wait", "Seconds": 1, "SecondsPath": "$.s", "Next": "C"},
            "C": {"Type": "Fail", "Parameters": {}},
            "Orphan": {"Type": "Succeed"},
        },
    }
    found = paths_of(defn)
    assert "$.States.A" in found and "$.States.A.Bogus" in found
    assert "$.States.B" in found and "$.States.C.Parameters" in found
    # AWS accepts unreachable states: a warning, not an error
    assert "$.States.Orphan" not in found
    assert "$.States.Orphan" in [w.path for w in diagnose(defn).warnings]


@pytest.mark.parametrize(
    "state,path",
    [
        ({"Type": "Pass"}, "$.States.A"),  # neither Next nor End
        ({"Type": "Pass", "End": False}, "$.States.A.End"),
        ({"Type": "Nope", "End": True}, "$.States.A.Type"),
        ({"End": True}, "$.States.A.Type"),
        ({"Type": "Task", "End": True}, "$.States.A.Resource"),
        (
            {"Type": "Task", "Resource": "r", "End": True, "TimeoutSeconds": 5, "TimeoutSecondsPath": "$.t"},
            "$.States.A",
        ),
        (
            {"Type": "Task", "Resource": "r", "End": True, "TimeoutSeconds": 5, "HeartbeatSeconds": 5},
            "$.States.A.HeartbeatSeconds",
        ),
        ({"Type": "Task", "Resource": "r", "End": True, "TimeoutSeconds": 0}, "$.States.A.TimeoutSeconds"),
        ({"Type": "Pass", "End": True, "InputPath": "not a path"}, "$.States.A.InputPath"),
        ({"Type": "Pass", "End": True, "ResultPath": "$.a[*]"}, "$.States.A.ResultPath"),
        ({"Type": "Pass", "End": True, "Parameters": {"x.$": "$.a["}}, "$.States.A.Parameters.x.$"),
        ({"Type": "Pass", "End": True, "Parameters": {"x.$": "States.Nope(1)"}}, "$.States.A.Parameters.x.$"),
        ({"Type": "Pass", "End": True, "Output": {}}, "$.States.A.Output"),
        ({"Type": "Wait", "End": True}, "$.States.A"),
        ({"Type": "Wait", "End": True, "Timestamp": "yesterday"}, "$.States.A.Timestamp"),
        ({"Type": "Fail", "Error": "E", "ErrorPath": "$.e"}, "$.States.A"),
        ({"Type": "Succeed", "Next": "A"}, "$.States.A.Next"),
        ({"Type": "Choice", "Choices": []}, "$.States.A.Choices"),
        ({"Type": "Parallel", "End": True, "Branches": []}, "$.States.A.Branches"),
        ({"Type": "Map", "End": True}, "$.States.A.ItemProcessor"),
        ({"Type": "Pass", "End": True, "Assign": {"bad-name": 1}}, "$.States.A.Assign.bad-name"),
    ],
)
def test_state_level_errors(state, path):
    """Illegal fields and combinations are reported at their JSON path."""
    assert path in paths_of({"StartAt": "A", "States": {"A": state}})


def test_jsonpath_fields_rejected_in_jsonata_state():
    """JSONPath-only fields in a JSONata state are errors."""
    defn = {
        "StartAt": "A",
        "QueryLanguage": "JSONata",
        "States": {
            "A": {"Type": "Task", "Resource": "r", "End": True, "Parameters": {}, "ResultPath": "$.x"}
        },
    }
    assert set(paths_of(defn)) == {"$.States.A.Parameters", "$.States.A.ResultPath"}


def test_jsonpath_state_not_allowed_in_jsonata_machine():
    """A state cannot opt back into JSONPath when the machine uses JSONata."""
    defn = {
        "StartAt": "A",
        "QueryLanguage": "JSONata",
        "States": {"A": {"Type": "Pass", "QueryLanguage": "JSONPath", "End": True}},
    }
    assert paths_of(defn) == ["$.States.A.QueryLanguage"]


def test_jsonata_syntax_errors_and_partial_expressions():
    """Expressions must compile and fill the whole string."""
    defn = {
        "StartAt": "A",
        "QueryLanguage": "JSONata",
        "States": {
            "A": {"Type": "Pass", "End": True, "Output": {"a": "{% $states.input.( %}", "b": "x {% 1 %}"}}
        },
    }
    assert set(paths_of(defn)) == {"$.States.A.Output.a", "$.States.A.Output.b"}


def test_states_all_must_be_alone_and_last():
    """States.ALL must be alone in ErrorEquals and in the last retrier/catcher."""
    defn = {
        "StartAt": "A",
        "States": {
            "A": {
                "Type": "Task",
                "Resource": "r",
                "End": True,
                "Retry": [{"ErrorEquals": ["States.ALL", "X"]}],
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "A"}, {"ErrorEquals": ["X"], "Next": "A"}],
            }
        },
    }
    assert set(paths_of(defn)) == {"$.States.A.Retry[0].ErrorEquals", "$.States.A.Catch[0].ErrorEquals"}


@pytest.mark.parametrize(
    "retrier,field",
    [
        ({"ErrorEquals": []}, "ErrorEquals"),
        ({"ErrorEquals": ["X"], "MaxAttempts": -1}, "MaxAttempts"),
        ({"ErrorEquals": ["X"], "BackoffRate": 0.5}, "BackoffRate"),
        ({"ErrorEquals": ["X"], "IntervalSeconds": 0}, "IntervalSeconds"),
        ({"ErrorEquals": ["X"], "JitterStrategy": "SOME"}, "JitterStrategy"),
        ({"ErrorEquals": ["X"], "MaxDelaySeconds": 0}, "MaxDelaySeconds"),
        ({"ErrorEquals": ["X"], "Extra": 1}, "Extra"),
    ],
)
def test_retrier_fields(retrier, field):
    """Retrier field values are checked."""
    defn = {
        "StartAt": "A",
        "States": {"A": {"Type": "Task", "Resource": "r", "End": True, "Retry": [retrier]}},
    }
    assert paths_of(defn) == [f"$.States.A.Retry[0].{field}"]


def test_catcher_requires_next_and_valid_target():
    """A catcher needs Next naming a state."""
    defn = {
        "StartAt": "A",
        "States": {
            "A": {
                "Type": "Task",
                "Resource": "r",
                "End": True,
                "Catch": [{"ErrorEquals": ["X"]}, {"ErrorEquals": ["Y"], "Next": "Gone"}],
            }
        },
    }
    assert set(paths_of(defn)) == {"$.States.A.Catch[0].Next", "$.States.A.Catch[1].Next"}


def test_choice_rule_shapes():
    """Top-level rules need Next; nested rules must not have it; one operator per rule."""
    defn = {
        "StartAt": "C",
        "States": {
            "C": {
                "Type": "Choice",
                "Default": "E",
                "Choices": [
                    {"Variable": "$.a", "StringEquals": "x"},
                    {"Not": {"Variable": "$.a", "StringEquals": "x", "Next": "E"}, "Next": "E"},
                    {"Variable": "$.a", "StringEquals": "x", "NumericEquals": 1, "Next": "E"},
                    {"Variable": "$.a", "NumericEquals": "one", "Next": "E"},
                    {"StringEquals": "x", "Next": "E"},
                ],
            },
            "E": {"Type": "Succeed"},
        },
    }
    assert set(paths_of(defn)) == {
        "$.States.C.Choices[0].Next",
        "$.States.C.Choices[1].Not.Next",
        "$.States.C.Choices[2]",
        "$.States.C.Choices[3].NumericEquals",
        "$.States.C.Choices[4].Variable",
    }


def test_state_names_length_and_uniqueness_across_nested_machines():
    """Names are at most 80 characters and unique in the whole machine."""
    long = "N" * 81
    defn = {
        "StartAt": long,
        "States": {
            long: {
                "Type": "Parallel",
                "End": True,
                "Branches": [{"StartAt": long, "States": {long: {"Type": "Succeed"}}}],
            }
        },
    }
    found = paths_of(defn)
    assert f"$.States.{long}" in found
    assert f"$.States.{long}.Branches[0].States.{long}" in found


def test_nested_machines_are_validated_recursively():
    """Errors inside Parallel branches and Map processors carry the nested path."""
    defn = {
        "StartAt": "P",
        "States": {
            "P": {
                "Type": "Parallel",
                "Next": "M",
                "Branches": [{"StartAt": "X", "States": {"X": {"Type": "Pass", "Next": "Outside"}}}],
            },
            "M": {
                "Type": "Map",
                "End": True,
                "MaxConcurrency": -1,
                "ItemProcessor": {"StartAt": "Y", "States": {"Y": {"Type": "Pass"}}},
            },
            "Outside": {"Type": "Succeed"},
        },
    }
    found = paths_of(defn)
    assert "$.States.P.Branches[0].States.X.Next" in found
    assert "$.States.M.ItemProcessor.States.Y" in found
    assert "$.States.M.MaxConcurrency" in found
    assert "$.States.Outside" not in found  # not reachable: a warning only (AWS accepts it)
    assert "$.States.Outside" in [w.path for w in diagnose(defn).warnings]


def test_map_exclusive_fields_and_batcher():
    """Map mutually exclusive fields and ItemBatcher fields."""
    defn = {
        "StartAt": "M",
        "States": {
            "M": {
                "Type": "Map",
                "End": True,
                "Iterator": {"StartAt": "A", "States": {"A": {"Type": "Succeed"}}},
                "ItemProcessor": {"StartAt": "B", "States": {"B": {"Type": "Succeed"}}},
                "ItemSelector": {},
                "Parameters": {},
                "ToleratedFailurePercentage": 120,
                "ItemBatcher": {"MaxItemsPerBatch": 0, "Nope": 1},
            }
        },
    }
    found = paths_of(defn)
    assert found.count("$.States.M") == 2
    assert {
        "$.States.M.ToleratedFailurePercentage",
        "$.States.M.ItemBatcher.MaxItemsPerBatch",
        "$.States.M.ItemBatcher.Nope",
    } <= set(found)


def test_inner_scope_cannot_assign_outer_variable():
    """A Map iteration may read but not assign a variable of an outer scope."""
    defn = {
        "StartAt": "A",
        "States": {
            "A": {"Type": "Pass", "Assign": {"total": 0}, "Next": "M"},
            "M": {
                "Type": "Map",
                "End": True,
                "ItemProcessor": {
                    "StartAt": "I",
                    "States": {"I": {"Type": "Pass", "Assign": {"total": 1}, "End": True}},
                },
            },
        },
    }
    assert paths_of(defn) == ["$.States.M.ItemProcessor.States.I.Assign.total"]


def test_load_raises_with_every_error():
    """load() raises DefinitionError listing all errors."""
    with pytest.raises(DefinitionError) as info:
        load({"StartAt": "A", "States": {"A": {"Type": "Pass"}, "B": {"Type": "Succeed"}}})
    assert [e.path for e in info.value.errors] == ["$.States.A"]  # B is unreachable: a warning
    assert "$.States.A" in str(info.value)


def test_not_json():
    """Text that is not JSON is a single error at $."""
    assert paths_of("{nope") == ["$"]

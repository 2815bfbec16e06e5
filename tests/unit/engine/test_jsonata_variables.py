"""JSONata mode ($states, Arguments/Output/Assign, Condition) and workflow variables."""

from tests.support.engine import fails_with, machine


def jmachine(states, **top):
    return machine(states, QueryLanguage="JSONata", **top)


def test_arguments_output_and_states_result(go):
    """Arguments build the payload from $states.input; Output shapes $states.result."""
    seen = []

    def invoke(resource, payload, ctx):
        seen.append(payload)
        return {"total": payload["a"] + payload["b"]}

    defn = jmachine(
        {
            "T": {
                "Type": "Task",
                "Resource": "add",
                "End": True,
                "Arguments": {
                    "a": "{% $states.input.x %}",
                    "b": 2,
                    "name": "{% $states.context.State.Name %}",
                },
                "Output": {"sum": "{% $states.result.total %}", "orig": "{% $states.input.x %}"},
            }
        }
    )
    result = go(defn, {"x": 40}, invoke=invoke)
    assert seen == [{"a": 40, "b": 2, "name": "T"}]
    assert result.output == {"sum": 42, "orig": 40}


def test_default_output_is_result_for_task_and_input_for_pass(go):
    """Without Output, a Task outputs its result and a Pass its input."""
    defn = jmachine({"P": {"Type": "Pass", "Next": "T"}, "T": {"Type": "Task", "Resource": "r", "End": True}})
    assert go(defn, {"k": 1}, invoke=lambda r, p, c: {"res": p}).output == {"res": {"k": 1}}


def test_jsonata_choice_condition_and_rule_output(go):
    """Choice rules use Condition; a rule's Output/Assign apply when it matches."""
    defn = jmachine(
        {
            "C": {
                "Type": "Choice",
                "Choices": [
                    {
                        "Condition": "{% $states.input.n > 10 %}",
                        "Next": "Big",
                        "Output": {"size": "big"},
                        "Assign": {"seen": "big"},
                    },
                ],
                "Default": "Small",
                "Output": {"size": "small"},
            },
            "Big": {
                "Type": "Pass",
                "Output": {"size": "{% $states.input.size %}", "seen": "{% $seen %}"},
                "End": True,
            },
            "Small": {"Type": "Succeed"},
        }
    )
    assert go(defn, {"n": 11}).output == {"size": "big", "seen": "big"}
    assert go(defn, {"n": 1}).output == {"size": "small"}


def test_condition_must_be_boolean(go):
    """A non-boolean Condition → States.QueryEvaluationError."""
    defn = jmachine(
        {
            "C": {"Type": "Choice", "Choices": [{"Condition": "{% 'yes' %}", "Next": "E"}]},
            "E": {"Type": "Succeed"},
        }
    )
    assert go(defn).error == "States.QueryEvaluationError"


def test_expression_errors_are_query_evaluation_errors(go):
    """A failing expression → States.QueryEvaluationError (catchable)."""
    defn = jmachine(
        {
            "T": {
                "Type": "Task",
                "Resource": "r",
                "Arguments": "{% $number('abc') %}",
                "Next": "Ok",
                "Catch": [
                    {
                        "ErrorEquals": ["States.QueryEvaluationError"],
                        "Next": "Caught",
                        "Output": "{% $states.errorOutput.Error %}",
                    }
                ],
            },
            "Ok": {"Type": "Succeed"},
            "Caught": {"Type": "Succeed"},
        }
    )
    assert go(defn).output == "States.QueryEvaluationError"


def test_step_functions_extra_functions(go):
    """$partition, $range, $hash, $random, $uuid and $parse are available."""
    defn = jmachine(
        {
            "P": {
                "Type": "Pass",
                "End": True,
                "Output": {
                    "parts": "{% $partition([1,2,3,4,5], 2) %}",
                    "range": "{% $range(0, 10, 5) %}",
                    "hash": "{% $hash('abc', 'SHA-256') %}",
                    "rand": "{% $random() < 1 %}",
                    "uuidlen": "{% $length($uuid()) %}",
                    "parsed": "{% $parse('{\"a\": [1]}') %}",
                },
            }
        }
    )
    out = go(defn).output
    assert out["parts"] == [[1, 2], [3, 4], [5]]
    assert out["range"] == [0, 5, 10]
    assert out["hash"] == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert out["rand"] is True and out["uuidlen"] == 36 and out["parsed"] == {"a": [1]}


def test_assign_sees_old_values_and_is_visible_from_next_state(go):
    """Assign expressions read variables as they were on entry; new values show from the next state."""
    defn = jmachine(
        {
            "Init": {"Type": "Pass", "Assign": {"x": 1}, "Next": "Swap"},
            "Swap": {
                "Type": "Pass",
                "Assign": {"x": "{% $x + 1 %}", "y": "{% $x %}"},
                "Output": {"xInOutput": "{% $x %}"},
                "Next": "Show",
            },
            "Show": {
                "Type": "Pass",
                "Output": {"x": "{% $x %}", "y": "{% $y %}", "prev": "{% $states.input %}"},
                "End": True,
            },
        }
    )
    assert go(defn).output == {"x": 2, "y": 1, "prev": {"xInOutput": 1}}


def test_assign_uses_task_result(go):
    """In a Task, Assign can use $states.result."""
    defn = jmachine(
        {
            "T": {
                "Type": "Task",
                "Resource": "r",
                "Assign": {"saved": "{% $states.result.v %}"},
                "Output": {},
                "Next": "S",
            },
            "S": {"Type": "Pass", "Output": "{% $saved %}", "End": True},
        }
    )
    assert go(defn, invoke=lambda r, p, c: {"v": "kept"}).output == "kept"


def test_catch_assign_and_output(go):
    """A catcher's Assign/Output see $states.errorOutput; the state's own Assign is not applied."""
    defn = jmachine(
        {
            "T": {
                "Type": "Task",
                "Resource": "r",
                "Assign": {"flag": "task"},
                "Next": "S",
                "Catch": [
                    {
                        "ErrorEquals": ["States.ALL"],
                        "Next": "S",
                        "Assign": {"flag": "{% $states.errorOutput.Error %}"},
                        "Output": {"c": 1},
                    }
                ],
            },
            "S": {
                "Type": "Pass",
                "Output": {"flag": "{% $flag %}", "in": "{% $states.input %}"},
                "End": True,
            },
        }
    )
    assert go(defn, invoke=fails_with("Oops")).output == {"flag": "Oops", "in": {"c": 1}}


def test_variables_read_only_inside_map_iterations(go):
    """Map iterations read outer variables; their own assignments stay inside the iteration."""
    defn = jmachine(
        {
            "Init": {"Type": "Pass", "Assign": {"factor": 10}, "Next": "M"},
            "M": {
                "Type": "Map",
                "Items": "{% $states.input.xs %}",
                "Next": "After",
                "ItemProcessor": {
                    "StartAt": "Mul",
                    "States": {
                        "Mul": {
                            "Type": "Pass",
                            "Assign": {"local": "{% $states.input * $factor %}"},
                            "Next": "Out",
                        },
                        "Out": {"Type": "Pass", "Output": "{% $local %}", "End": True},
                    },
                },
            },
            "After": {
                "Type": "Pass",
                "Output": {
                    "r": "{% $states.input %}",
                    "f": "{% $factor %}",
                    "local": "{% $exists($local) %}",
                },
                "End": True,
            },
        }
    )
    assert go(defn, {"xs": [1, 2]}).output == {"r": [10, 20], "f": 10, "local": False}


def test_map_item_selector_in_jsonata(go):
    """ItemSelector sees $states.context.Map.Item."""
    defn = jmachine(
        {
            "M": {
                "Type": "Map",
                "End": True,
                "ItemSelector": {
                    "i": "{% $states.context.Map.Item.Index %}",
                    "v": "{% $states.context.Map.Item.Value %}",
                },
                "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}},
            }
        }
    )
    assert go(defn, ["a"]).output == [{"i": 0, "v": "a"}]


def test_jsonata_wait_and_fail(go, clock):
    """Wait Seconds and Fail Error/Cause accept expressions."""
    start = clock.now()
    defn = jmachine(
        {
            "W": {"Type": "Wait", "Seconds": "{% $states.input.s %}", "Next": "F"},
            "F": {"Type": "Fail", "Error": "{% 'E' & $states.input.s %}", "Cause": "{% 'waited' %}"},
        }
    )
    result = go(defn, {"s": 5})
    assert (result.error, result.cause) == ("E5", "waited")
    assert clock.now() == start + 5


def test_jsonpath_variables_and_assign(go):
    """JSONPath states assign with plain values / '.$' paths and read '$var' paths."""
    defn = machine(
        {
            "A": {
                "Type": "Pass",
                "Assign": {"name.$": "$.user", "n": 3, "nested": {"k.$": "$.user"}},
                "Next": "B",
            },
            "B": {
                "Type": "Pass",
                "Parameters": {
                    "who.$": "$name",
                    "n.$": "$n",
                    "k.$": "$nested.k",
                    "msg.$": "States.Format('{} x{}', $name, $n)",
                },
                "End": True,
            },
        }
    )
    assert go(defn, {"user": "ann"}).output == {"who": "ann", "n": 3, "k": "ann", "msg": "ann x3"}


def test_jsonpath_assign_in_task_uses_result_selector_output(go):
    """In JSONPath Task states, Assign's '$' is the result after ResultSelector."""
    defn = machine(
        {
            "T": {
                "Type": "Task",
                "Resource": "r",
                "ResultSelector": {"v.$": "$.raw"},
                "Assign": {"saved.$": "$.v"},
                "ResultPath": None,
                "Next": "S",
            },
            "S": {"Type": "Pass", "Parameters": {"s.$": "$saved"}, "End": True},
        }
    )
    assert go(defn, invoke=lambda r, p, c: {"raw": 7}).output == {"s": 7}


def test_state_level_jsonata_in_jsonpath_machine(go):
    """A single state can opt into JSONata while the machine uses JSONPath."""
    defn = machine(
        {
            "A": {"Type": "Pass", "Parameters": {"v.$": "$.v"}, "Next": "B"},
            "B": {
                "Type": "Pass",
                "QueryLanguage": "JSONata",
                "Output": "{% $states.input.v * 2 %}",
                "End": True,
            },
        }
    )
    assert go(defn, {"v": 21}).output == 42


def test_undefined_variable_is_runtime_error(go):
    """Referencing an unknown variable in a JSONPath state → States.Runtime."""
    defn = machine({"P": {"Type": "Pass", "Parameters": {"v.$": "$nope"}, "End": True}})
    assert go(defn).error == "States.Runtime"


def test_jsonata_parallel_arguments_and_output(go):
    """Parallel Arguments feed every branch; Output sees the array result."""
    defn = jmachine(
        {
            "P": {
                "Type": "Parallel",
                "Arguments": {"v": "{% $states.input.v %}"},
                "Output": "{% $sum($states.result) %}",
                "End": True,
                "Branches": [
                    {
                        "StartAt": "A",
                        "States": {"A": {"Type": "Pass", "Output": "{% $states.input.v %}", "End": True}},
                    },
                    {
                        "StartAt": "B",
                        "States": {"B": {"Type": "Pass", "Output": "{% $states.input.v * 2 %}", "End": True}},
                    },
                ],
            }
        }
    )
    assert go(defn, {"v": 5}).output == 15

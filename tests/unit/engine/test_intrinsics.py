"""Every intrinsic function, with AWS's argument validation."""

import base64
import hashlib
import uuid

import pytest

from pilothouse.engine import intrinsics
from pilothouse.engine.errors import StatesError


def ev(text, data=None, **kw):
    return intrinsics.evaluate(text, data if data is not None else {}, **kw)


def fails(text, data=None, error="States.IntrinsicFailure"):
    with pytest.raises(StatesError) as info:
        ev(text, data)
    assert info.value.error == error
    return info.value


def test_format_interpolates_in_order():
    """States.Format fills {} placeholders in order, with numbers/booleans/null as JSON text."""
    assert (
        ev("States.Format('Hello, my name is {}.', $.name)", {"name": "Arnav"}) == "Hello, my name is Arnav."
    )
    assert ev("States.Format('{}-{}-{}-{}', 1, 2.5, true, null)") == "1-2.5-true-null"


def test_format_escapes():
    """Escaped quote, braces and backslash are literal characters."""
    assert ev(r"States.Format('it\'s \{\} {} \\', 'x')") == "it's {} x \\"


def test_format_argument_count_must_match():
    """Too few or too many arguments → States.IntrinsicFailure."""
    fails("States.Format('{} {}', 'a')")
    fails("States.Format('{}', 'a', 'b')")
    # an object is an argument as any other (AWS prints it as a Java map: see test_aws_fidelity)
    assert ev("States.Format('{}', $.obj)", {"obj": {"a": 1}}) == "{a=1}"


def test_string_to_json_and_back():
    """StringToJson parses, JsonToString serializes compactly."""
    assert ev("States.StringToJson($.s)", {"s": '{"number": 20}'}) == {"number": 20}
    assert ev("States.JsonToString($.o)", {"o": {"a": [1, 2], "b": "x"}}) == '{"a":[1,2],"b":"x"}'
    fails("States.StringToJson('{not json')")


def test_array_functions():
    """Array, ArrayPartition, ArrayContains, ArrayRange, ArrayGetItem, ArrayLength, ArrayUnique."""
    assert ev("States.Array('Foo', 2020, $.x, null)", {"x": {"a": 1}}) == ["Foo", 2020, {"a": 1}, None]
    assert ev("States.ArrayPartition($.a, 4)", {"a": [1, 2, 3, 4, 5, 6, 7, 8, 9]}) == [
        [1, 2, 3, 4],
        [5, 6, 7, 8],
        [9],
    ]
    assert ev("States.ArrayContains($.a, 3)", {"a": [1, 2, 3]}) is True
    assert ev("States.ArrayContains($.a, true)", {"a": [1, 2, 3]}) is False
    assert ev("States.ArrayRange(1, 9, 2)") == [1, 3, 5, 7, 9]
    assert ev("States.ArrayRange(10, 1, -3)") == [10, 7, 4, 1]
    assert ev("States.ArrayGetItem($.a, 1)", {"a": [1, 2, 3]}) == 2
    assert ev("States.ArrayLength($.a)", {"a": [1, 2, 3]}) == 3
    assert ev("States.ArrayUnique($.a)", {"a": [1, 2, 3, 3, 3, 3, 3, 3, 4, True, 1]}) == [1, 2, 3, 4, True]


@pytest.mark.parametrize(
    "text",
    [
        "States.ArrayPartition($.a, 0)",
        "States.ArrayPartition($.s, 2)",
        "States.ArrayRange(1, 2000, 1)",
        "States.ArrayRange(1, 5, 0)",
        "States.ArrayRange(1.5, 5, 1)",
        "States.ArrayGetItem($.a, 5)",
        "States.ArrayGetItem($.a, -1)",
        "States.ArrayLength($.s)",
        "States.ArrayUnique($.s)",
        "States.ArrayContains($.s, 1)",
    ],
)
def test_array_argument_validation(text):
    """Invalid array arguments fail with States.IntrinsicFailure."""
    fails(text, {"a": [1, 2], "s": "str"})


def test_base64_round_trip_and_limits():
    """Base64Encode/Decode round-trip; inputs over 10,000 characters are rejected."""
    assert (
        ev("States.Base64Encode($.s)", {"s": "Data to encode"})
        == base64.b64encode(b"Data to encode").decode()
    )
    assert ev("States.Base64Decode($.s)", {"s": "RGF0YSB0byBlbmNvZGU="}) == "Data to encode"
    fails("States.Base64Encode($.s)", {"s": "x" * 10001})
    fails("States.Base64Decode($.s)", {"s": "!!!"})


@pytest.mark.parametrize(
    "algo,fn",
    [
        ("MD5", hashlib.md5),
        ("SHA-1", hashlib.sha1),
        ("SHA-256", hashlib.sha256),
        ("SHA-384", hashlib.sha384),
        ("SHA-512", hashlib.sha512),
    ],
)
def test_hash_algorithms(algo, fn):
    """States.Hash supports the five AWS algorithms."""
    assert ev(f"States.Hash($.d, '{algo}')", {"d": "input data"}) == fn(b"input data").hexdigest()


def test_hash_rejects_unknown_algorithm_and_non_strings():
    """Unknown algorithms and non-string data are IntrinsicFailures."""
    fails("States.Hash('x', 'SHA-3')")
    fails("States.Hash($.n, 'MD5')", {"n": 5})


def test_json_merge_shallow_only():
    """JsonMerge merges shallowly; the deep flag must be false."""
    a = {"a": {"a1": 1, "a2": 2}, "b": 2}
    b = {"a": {"a3": 1}, "c": 3}
    assert ev("States.JsonMerge($.a, $.b, false)", {"a": a, "b": b}) == {"a": {"a3": 1}, "b": 2, "c": 3}
    fails("States.JsonMerge($.a, $.b, true)", {"a": a, "b": b})
    fails("States.JsonMerge($.a, 1, false)", {"a": a})


def test_math_functions():
    """MathRandom stays in range (seeded is repeatable); MathAdd adds integers."""
    for _ in range(20):
        assert 1 <= ev("States.MathRandom(1, 999)") < 999
    assert ev("States.MathRandom(1, 999, 7)") == ev("States.MathRandom(1, 999, 7)")
    assert ev("States.MathAdd($.v, -1)", {"v": 111}) == 110
    assert ev("States.MathAdd(1.5, 1)") == 3  # AWS rounds non-integers (see test_aws_fidelity)
    fails("States.MathAdd(2147483648, 1)")
    fails("States.MathRandom('a', 2)")


def test_string_split_uses_each_delimiter_character():
    """StringSplit splits on any delimiter character and drops empty strings."""
    assert ev("States.StringSplit($.s, ',')", {"s": "1,2,3,4,5"}) == ["1", "2", "3", "4", "5"]
    assert ev("States.StringSplit('This.is+a,test=string', '.+,=')") == ["This", "is", "a", "test", "string"]


def test_uuid_is_v4():
    """States.UUID returns a version 4 UUID."""
    assert uuid.UUID(ev("States.UUID()")).version == 4


def test_nesting_and_context_arguments():
    """Intrinsics nest, and accept $$ context paths and variables."""
    text = "States.Format('{}.{}', States.ArrayGetItem(States.StringSplit($.arn, ':'), 2), $$.Execution.Name)"
    assert ev(text, {"arn": "a:b:c"}, context={"Execution": {"Name": "e1"}}) == "c.e1"
    assert ev("States.ArrayLength($list)", {}, variables={"list": [1, 2]}) == 2


def test_missing_path_argument_is_runtime_error():
    """A path argument selecting nothing → States.Runtime."""
    fails("States.ArrayLength($.nope)", {}, error="States.Runtime")


@pytest.mark.parametrize(
    "text",
    [
        "States.Nope(1)",
        "States.Format('x'",
        "States.Format('x') trailing",
        "States.Array(1,,2)",
        "States.Array(" + "States.Array(" * 10 + ")" * 11,
    ],
)
def test_syntax_errors_are_detected(text):
    """Bad syntax, unknown functions and more than 10 nested calls fail to parse."""
    with pytest.raises(intrinsics.IntrinsicSyntaxError):
        intrinsics.parse(text)


def test_wrong_argument_count():
    """Wrong arity → States.IntrinsicFailure."""
    fails("States.ArrayLength($.a, 1)", {"a": []})
    fails("States.UUID(1)")

"""A component's config schema is checked and compiled once, and answers exactly as before."""

from __future__ import annotations

import threading

import jsonschema
import pytest

from pilothouse.domain import config_schema
from pilothouse.domain.config_schema import check_config

SCHEMA = {
    "type": "object",
    "properties": {"greeting": {"type": "string"}, "n": {"type": "integer", "minimum": 1}},
    "required": ["greeting"],
    "additionalProperties": False,
}


def uncached(schema, config) -> str | None:
    """What check_config said before the cache (the metaschema check and a fresh validator)."""
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        return f"config_schema is not a valid JSON Schema: {exc.message}"
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(config))
    if error is None:
        return None
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    return f"{where.lstrip('.') + ': ' if where else ''}{error.message}"


def said(schema, config) -> str | None:
    try:
        check_config(schema, config)
    except ValueError as exc:
        return str(exc)
    return None


@pytest.fixture(autouse=True)
def fresh_cache():
    config_schema._compiled.cache_clear()
    config_schema._outcome.cache_clear()
    yield
    config_schema._compiled.cache_clear()
    config_schema._outcome.cache_clear()


CASES = [
    (SCHEMA, {"greeting": "hi"}),
    (SCHEMA, {"greeting": 5}),
    (SCHEMA, {"n": 0}),
    (SCHEMA, {"greeting": "hi", "extra": 1}),
    (
        {"type": "object", "properties": {"a": {"type": "array", "items": {"type": "integer"}}}},
        {"a": [1, "x"]},
    ),
    ({"$defs": {"p": {"type": "integer"}}, "properties": {"a": {"$ref": "#/$defs/p"}}}, {"a": "x"}),
    ({"type": "nonsense"}, {}),
    ({"properties": {"a": {"minimum": "one"}}}, {"a": 1}),
    ({"required": ("a",)}, {}),  # a tuple is no JSON array: the metaschema refuses it, as before
    ({"properties": {1: {"type": "string"}}}, {"1": 2}),  # a non-text key, checked as it is
    ({"const": True}, 1),  # True is not 1 to JSON Schema: the key tells them apart
    ({"const": 1}, True),
    ({"const": 1.0}, 1),
    ({"enum": [float("nan")]}, float("nan")),  # a NaN equals no copy of itself: checked as it is
    ({"const": {"b": 1, "a": 2}}, {"a": 2, "b": 1}),
    ({"items": {"type": "string"}}, (1, 2)),  # a tuple is no JSON array: not checked as one
    ({"items": {"type": "string"}}, [1, 2]),
    ({"const": [1.0]}, [float("nan")]),
]


@pytest.mark.parametrize(("schema", "config"), CASES)
def test_same_answer_as_without_the_cache_first_and_second_time(schema, config):
    # Given a schema and a config; When checked twice (the second from the cache)
    # Then each answer is the one the uncached check gives
    expected = uncached(schema, config)
    assert said(schema, config) == expected
    assert said(schema, config) == expected


def test_a_schema_is_checked_and_compiled_once():
    # Given one schema used by many registrations
    calls = []
    real = jsonschema.Draft202012Validator.check_schema

    def counting(schema, *args, **kwargs):
        calls.append(schema)
        return real(schema, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(jsonschema.Draft202012Validator, "check_schema", counting)
        for i in range(20):
            # When each checks its config (an equal schema, a new dict each time)
            assert said(dict(SCHEMA), {"greeting": f"hi {i}"}) is None
    # Then the metaschema check ran once
    assert len(calls) == 1
    assert config_schema._compiled.cache_info().hits == 19


def test_the_cache_keeps_its_own_copy_of_a_schema():
    # Given a schema checked once (and so cached)
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    assert said(schema, {"a": "x"}) is None
    # When the caller mutates its dict afterwards
    schema["properties"]["a"]["type"] = "integer"
    # Then the mutated schema is a new key, and the first one still answers as it did
    assert said(schema, {"a": "x"}) == "a: 'x' is not of type 'integer'"
    assert said({"type": "object", "properties": {"a": {"type": "string"}}}, {"a": "x"}) is None


def test_the_cache_is_bounded():
    # Given more distinct schemas than the cache holds
    for i in range(config_schema.CACHE_SIZE + 50):
        assert said({"type": "object", "properties": {f"p{i}": {"type": "string"}}}, {f"p{i}": 1})
    # Then it keeps at most CACHE_SIZE of them
    assert config_schema._compiled.cache_info().currsize == config_schema.CACHE_SIZE


def test_threads_share_the_compiled_validators():
    # Given 8 threads checking good and bad configs against the same schemas at once
    schemas = [{"type": "object", "properties": {"a": {"type": "integer", "maximum": i}}} for i in range(5)]
    wrong: list[str] = []
    start = threading.Barrier(8)

    def worker(t: int) -> None:
        start.wait()
        for i in range(200):
            schema = schemas[(t + i) % 5]
            good, bad = {"a": 0}, {"a": 100}
            if said(schema, good) is not None or said(schema, bad) != uncached(schema, bad):
                wrong.append(f"thread {t} call {i}")

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Then every answer is the uncached one
    assert wrong == []


def test_schemas_differing_only_in_types_get_their_own_validators():
    # Given schemas JSON-equal in Python's eyes (1 == True == 1.0) but not to JSON Schema
    # When each checks the same config
    # Then each answers for itself, whichever was cached first
    assert said({"const": 1}, 1) is None
    assert said({"const": True}, 1) == "True was expected"
    assert said({"const": 1.0}, 1) is None
    assert said({"const": True}, True) is None
    assert config_schema._compiled.cache_info().currsize == 3


def test_a_nan_in_a_schema_is_checked_as_it_is_every_time():
    # Given a schema holding a NaN (Python's JSON reader accepts the literal) and a config holding
    # the very same NaN object (JSON Schema's equality sees identity first)
    nan = float("nan")
    schema = {"enum": [nan]}
    # When checked twice
    # Then both answers are the uncached one (a copy's NaN would not be the config's)
    assert said(schema, nan) is None
    assert said(schema, nan) is None
    assert said(schema, float("nan")) == uncached(schema, float("nan"))


def test_a_schema_marshal_refuses_is_checked_as_it_is():
    # Given a schema holding a value of a type marshal does not carry (a str subclass)
    class Text(str):
        pass

    schema = {"type": Text("string")}
    # When checked; Then the answer is the uncached one, and nothing was cached
    assert said(schema, "x") == uncached(schema, "x")
    assert said(schema, 1) == uncached(schema, 1)
    assert config_schema._compiled.cache_info().currsize == 0


def test_a_pair_checked_again_is_answered_from_the_cache():
    # Given a schema and a good and a bad config, each checked once
    good, bad = {"greeting": "hi"}, {"greeting": 5}
    first = said(SCHEMA, good), said(SCHEMA, bad)
    # When the same pairs are checked again (equal dicts, new objects)
    again = said(dict(SCHEMA), dict(good)), said(dict(SCHEMA), dict(bad))
    # Then the answers are the same and came from the cache
    assert again == first == (None, uncached(SCHEMA, bad))
    assert config_schema._outcome.cache_info().hits == 2


def test_configs_differing_only_in_types_get_their_own_answers():
    # Given a schema telling integers from booleans
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    # When configs Python finds equal (1 == True) are checked one after the other
    # Then each gets its own answer
    assert said(schema, {"n": 1}) is None
    assert said(schema, {"n": True}) == "n: True is not of type 'integer'"
    assert said(schema, {"n": 1}) is None


def test_a_config_holding_a_nan_is_checked_as_it_is():
    # Given a schema whose const is the very NaN object the config holds
    nan = float("nan")
    schema, config = {"const": [nan]}, [nan]
    # When checked twice; Then both times as it is (a copy's NaN would not be the schema's)
    assert said(schema, config) is None
    assert said(schema, config) is None
    assert said(schema, [float("nan")]) == uncached(schema, [float("nan")]) is not None


def test_a_large_pair_is_checked_every_time():
    # Given a config whose key is beyond what the cache keeps
    config = {"greeting": "x" * config_schema.OUTCOME_MAX_BYTES}
    # When checked twice; Then answered each time, nothing kept
    assert said(SCHEMA, config) is None
    assert said(SCHEMA, {**config, "n": 0}) == uncached(SCHEMA, {**config, "n": 0})
    assert config_schema._outcome.cache_info().currsize == 0


def test_a_secret_reference_is_not_reported_the_second_time_either():
    # Given a config whose field is a secret reference, the schema wanting a number there
    schema = {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}}
    # When checked twice, alone and beside a wrong field
    # Then the reference is never reported, the wrong field always
    for _ in range(2):
        assert said(schema, {"a": {"$secret": "s"}}) is None
        assert said(schema, {"a": {"$secret": "s"}, "b": "x"}) == "b: 'x' is not of type 'integer'"


@pytest.mark.parametrize(
    "ref",
    [
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "https://schemas.example/n.json",
        "file:///etc/passwd",
        "other.json",
    ],
)
def test_a_reference_outside_the_schema_is_refused_and_never_fetched(monkeypatch, ref):
    # Given a schema naming a document outside itself (jsonschema's default registry fetched any
    # http(s) URL on every check, from the control plane's network)
    import urllib.request

    from pilothouse.domain.config_layers import validation_errors

    fetched: list[str] = []
    monkeypatch.setattr(urllib.request, "urlopen", lambda request, *a, **k: fetched.append(str(request)))
    schema = {"properties": {"a": {"$ref": ref}}}
    # When a config is checked against it (twice), and its problems listed
    answers = [said(schema, {"a": "x"}) for _ in range(2)]
    listed = validation_errors(schema, {"a": "x"})
    # Then nothing is fetched, and each answer names the reference the schema cannot follow
    message = (
        f"config_schema: the reference {ref!r} cannot be resolved; only references inside the "
        "schema (and to the JSON Schema metaschemas) are followed"
    )
    assert fetched == []
    assert answers == [message] * 2
    assert listed == [{"field": "config_schema", "message": message}]


def test_references_inside_the_schema_and_to_the_metaschemas_are_followed():
    # Given a schema referring to its own definitions and to the 2020-12 metaschema
    schema = {
        "properties": {
            "n": {"$ref": "#/$defs/port"},
            "inner": {"$ref": "https://json-schema.org/draft/2020-12/schema"},
        },
        "$defs": {"port": {"type": "integer", "minimum": 1}},
    }
    # Then both are resolved, offline
    assert said(schema, {"n": 80, "inner": {"type": "string"}}) is None
    assert said(schema, {"n": 0}) == "n: 0 is less than the minimum of 1"
    assert said(schema, {"inner": {"type": 5}}) is not None

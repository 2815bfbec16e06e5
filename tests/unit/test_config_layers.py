"""The pure config layering: merge, defaults, every error with its path, references, formats, diff."""

from __future__ import annotations

import pytest

from pilothouse.domain import config_layers as layers
from pilothouse.domain.config_schema import check_config

SCHEMA = {
    "type": "object",
    "properties": {
        "port": {"type": "integer", "default": 80},
        "db": {
            "type": "object",
            "properties": {"host": {"type": "string", "default": "h"}, "pw": {"type": "string"}},
        },
        "hosts": {"type": "array", "items": {"type": "string"}},
    },
}


def test_later_layers_win_key_by_key_and_lists_replace():
    """Given defaults and three layers, objects merge by key, lists and references replace."""
    out = layers.resolve(
        SCHEMA, [{"db": {"pw": "a"}, "hosts": ["x", "y"]}, {"hosts": ["z"]}, {"db": {"pw": {"$secret": "s"}}}]
    )
    assert out == {"port": 80, "db": {"host": "h", "pw": {"$secret": "s"}}, "hosts": ["z"]}
    assert layers.merge({"a": {"$secret": "s"}}, {"a": {"b": 1}}) == {"a": {"b": 1}}


def test_every_error_is_named_by_its_json_path_and_references_pass():
    """Given three mistakes, each is reported with its path; a secret reference where a string
    belongs is no mistake (its value is checked when set)."""
    errors = layers.validation_errors(
        SCHEMA, {"port": "x", "db": {"host": 1, "pw": {"$secret": "s"}}, "hosts": [1]}
    )
    assert [e["field"] for e in errors] == ["$.db.host", "$.hosts[0]", "$.port"]
    check_config(SCHEMA, {"db": {"pw": {"$secret": "s", "version": 2}}})
    with pytest.raises(ValueError, match="db.pw"):
        check_config(SCHEMA, {"db": {"pw": {"$secret": "s", "extra": 1}}})


def test_documents_in_each_format():
    assert layers.parse_document("a: 1\nb: {c: x}\n", "yaml") == {"a": 1, "b": {"c": "x"}}
    assert layers.parse_document('{"a": [1]}', "json") == {"a": [1]}
    env = "# c\nexport A=1\nB__C='quoted # not a comment'\nD=text # comment\nE=true\n"
    assert layers.parse_env_file(env) == {
        "a": 1,
        "b": {"c": "quoted # not a comment"},
        "d": "text",
        "e": True,
    }
    for bad, fmt in (("[1]", "json"), ("- 1", "yaml"), ("NOEQUALS", "env"), ("a: [", "yaml"), ("x", "toml")):
        with pytest.raises(ValueError):
            layers.parse_document(bad, fmt)


def test_the_control_plane_variables_of_one_component():
    environ = {
        "PILOTHOUSE_CONFIG_JOB_RUNNER__DB__PORT": "5432",
        "PILOTHOUSE_CONFIG_OTHER__X": "1",
        "HOME": "/",
    }
    assert layers.env_layer(environ, "job-runner") == {"db": {"port": 5432}}


def test_diff_names_added_removed_and_changed_leaves():
    old = {"a": 1, "b": {"c": 2, "d": 3}, "s": {"$secret": "x"}}
    new = {"a": 1, "b": {"c": 4}, "e": [1], "s": {"$secret": "x", "version": 2}}
    assert layers.diff(old, new) == [
        {"path": "$.b.c", "op": "changed", "from": 2, "to": 4},
        {"path": "$.b.d", "op": "removed", "from": 3},
        {"path": "$.s", "op": "changed", "from": {"$secret": "x"}, "to": {"$secret": "x", "version": 2}},
        {"path": "$.e", "op": "added", "to": [1]},
    ]
    assert layers.diff({"a": 1}, {"a": 1.0}) == [{"path": "$.a", "op": "changed", "from": 1, "to": 1.0}]


@pytest.mark.parametrize(
    ("content", "fmt"),
    [
        ("[" * 50000 + "]" * 50000, "yaml"),
        ("a: " + "{x: " * 70 + "1" + "}" * 70, "yaml"),
        ("".join(" " * i + f"k{i}:\n" for i in range(70)) + " " * 70 + "v: 1\n", "yaml"),
        ("- " * 70 + "x\n", "yaml"),
        ('{"a": ' + "[" * 5000 + "]" * 5000 + "}", "json"),
    ],
)
def test_deeply_nested_text_is_refused_before_it_is_parsed(content, fmt, monkeypatch):
    """Given a document whose text nests far deeper than allowed (flow, indentation or markers),
    when it is parsed, then a ValueError says it is too deep and no parser ever sees it."""
    import json

    import yaml

    def never(*_a, **_k):
        raise AssertionError("the parser saw a too-deep document")

    monkeypatch.setattr(yaml, "parse", never)
    monkeypatch.setattr(json, "loads", never)
    with pytest.raises(ValueError, match="deeper"):
        layers.parse_document(content, fmt)


def test_ordinary_documents_pass_the_depth_scan():
    """Given documents with brackets in strings, comments and block scalars, when parsed, then
    they are accepted as before."""
    text = 'a: "[[[["\nb: |\n  {{{{{{\n    [[[[\n# [[[[\nc:\n  d: [1, {e: 2}]\n'
    assert layers.parse_document(text, "yaml") == {
        "a": "[[[[",
        "b": "{{{{{{\n  [[[[\n",
        "c": {"d": [1, {"e": 2}]},
    }
    assert layers.parse_document('{"a": "[[[[[[\\"[[[", "b": [[1]]}', "json") == {
        "a": '[[[[[["[[[',
        "b": [[1]],
    }

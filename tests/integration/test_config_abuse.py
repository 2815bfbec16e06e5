"""Abusing the config and secret endpoints: deep or huge bodies, odd names, forged references."""

from __future__ import annotations

import json

import pytest

from tests.support.deploying import spec


@pytest.fixture(autouse=True)
def _fresh_cache():
    from pilothouse.services import config_watch

    config_watch.clear()
    yield
    config_watch.clear()


def test_bodies_too_deep_or_too_large_are_refused_before_parsing(api):
    """Given a 500-deep document and a 300 KB import, both are refused and nothing is stored."""
    api.post("/v1/components", spec("web"))
    deep = "[" * 500 + "]" * 500
    status, _, problem = api.call("PUT", "/v1/components/web/config", f'{{"values": {{"a": {deep}}}}}')
    assert status in (400, 413, 422), problem
    status, _, problem = api.call(
        "PUT", "/v1/components/web/config", {"content": "a: 1\n" * 60000, "format": "yaml"}
    )
    assert status == 422 and problem["errors"][0]["field"].endswith("content")
    yaml_bomb = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
    status, _, problem = api.call(
        "PUT", "/v1/components/web/config", {"content": yaml_bomb, "format": "yaml"}
    )
    assert status == 422 and "aliases" in problem["detail"]
    deep_yaml = "a: " + "[" * 200 + "]" * 200
    status, _, problem = api.call(
        "PUT", "/v1/components/web/config", {"content": deep_yaml, "format": "yaml"}
    )
    assert status == 422 and "deeper" in problem["detail"]
    assert api.get("/v1/components/web/config/versions")[2]["items"] == []


def test_deep_imports_answer_422_quickly_naming_content(api):
    """Given 50,000-deep YAML and 5,000-deep JSON imports, when put, then each is a quick 422
    naming ``content`` (not a minute of parsing, not a 500 RecursionError), nothing stored."""
    import time

    api.post("/v1/components", spec("web"))
    for content, fmt in (
        ("[" * 50000 + "]" * 50000, "yaml"),
        ('{"a": ' + "[" * 5000 + "]" * 5000 + "}", "json"),
    ):
        started = time.monotonic()
        status, _, problem = api.call("PUT", "/v1/components/web/config", {"content": content, "format": fmt})
        assert status == 422, problem
        assert problem["errors"][0]["field"].endswith("content") and "deeper" in problem["detail"]
        assert time.monotonic() - started < 2
    assert api.get("/v1/components/web/config/versions")[2]["items"] == []


@pytest.mark.parametrize(
    "path",
    [
        "/v1/config-sets/..%2F..%2Fetc",
        "/v1/config-sets/UPPER",
        "/v1/environments/moon/config",
        "/v1/secrets/..%2Fx",
        "/v1/components/nope/config",
    ],
)
def test_odd_names_are_404(api, path):
    assert api.get(path)[0] == 404


def test_forged_references_and_unknown_keys(api):
    """Given references with extra keys, a version 0 or a non-text name, each is a 422 naming the
    path; unknown body keys are refused; a viewer-less request is 401."""
    api.post("/v1/components", spec("web"))
    for ref in ({"$secret": "x", "extra": 1}, {"$secret": "x", "version": 0}, {"$secret": 5}):
        status, _, problem = api.call("PUT", "/v1/components/web/config", {"values": {"k": ref}})
        assert status == 422 and problem["errors"][0]["field"] == "$.k", (ref, problem)
    status, _, problem = api.call("PUT", "/v1/components/web/config", {"values": {}, "nope": 1})
    assert status == 422 and "nope" in json.dumps(problem)
    assert api.call("PUT", "/v1/components/web/config", {"values": {}}, key=None)[0] == 401
    status, _, problem = api.call("PUT", "/v1/components/web/config", {"includes": ["missing-set"]})
    assert status == 422 and problem["errors"][0]["field"] == "includes[0]"

"""The pure parts of issue 14: the dependency graph (cycles, waves), health, webhook signatures,
events in one shape, versions from tags and commits, rule matching."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from pydantic import ValidationError

from pilothouse.domain.systems import base_name, find_cycle, waves, worst_health
from pilothouse.domain.webhooks import (
    Match,
    SignatureInvalid,
    SourceSpec,
    normalize,
    sign_generic,
    verify,
    version_from,
)


def test_waves_follow_dependencies_and_cycles_are_spelled():
    """Given a graph, waves put each node after everything it depends on; a cycle is found with its
    path (the first node repeated at the end), a self-loop too; a cycle refuses waves."""
    graph = {"web": ["api"], "api": ["db", "cache"], "worker": ["db"], "db": [], "cache": []}
    assert waves(graph) == [["cache", "db"], ["api", "worker"], ["web"]]
    assert find_cycle(graph) is None
    assert find_cycle({"a": ["b"], "b": ["c"], "c": ["b"]}) == ["b", "c", "b"]
    assert find_cycle({"a": ["a"]}) == ["a", "a"]
    with pytest.raises(ValueError, match="a → b → a"):
        waves({"a": ["b"], "b": ["a"]})


def test_health_is_the_worst_and_twins_share_a_base_name():
    assert worst_health(["Healthy", None, "Healthy"]) == "Unknown"
    assert worst_health(["Healthy", "Degraded", "Unhealthy"]) == "Unhealthy"
    assert worst_health(["Healthy", "Healthy"]) == "Healthy"
    assert worst_health([]) == "Unknown"
    assert [base_name(n) for n in ("api", "api-staging", "api-production")] == ["api"] * 3


BODY = b'{"ref": "refs/heads/main"}'


def test_github_gitlab_and_generic_signatures():
    """Given each kind's signature over the body, it verifies; a changed body, another secret, a
    missing header, or a generic timestamp out of the five-minute window does not."""
    good = "sha256=" + hmac.new(b"k", BODY, hashlib.sha256).hexdigest()
    verify("github", "k", {"x-hub-signature-256": good}, BODY, now=0)
    for headers, body in (
        ({"x-hub-signature-256": good}, BODY + b" "),
        ({}, BODY),
        ({"x-hub-signature-256": good[7:]}, BODY),
    ):
        with pytest.raises(SignatureInvalid):
            verify("github", "k", headers, body, now=0)
    verify("gitlab", "k", {"x-gitlab-token": "k"}, BODY, now=0)
    with pytest.raises(SignatureInvalid):
        verify("gitlab", "k", {"x-gitlab-token": "K"}, BODY, now=0)
    stamp = 1_800_000_000
    signed = {"x-pilothouse-signature": sign_generic("k", BODY, stamp)}
    verify("generic", "k", signed, BODY, now=stamp + 299)
    for now in (stamp + 301, stamp - 301):
        with pytest.raises(SignatureInvalid, match="five minutes"):
            verify("generic", "k", signed, BODY, now=now)
    with pytest.raises(SignatureInvalid):
        verify("generic", "other", signed, BODY, now=stamp)


def test_events_in_one_shape_and_versions_from_them():
    push = normalize("github", {"x-github-event": "push"}, {"ref": "refs/heads/main", "after": "ab" * 20})
    assert (push["type"], push["branch"], push["commit"]) == ("push", "main", "ab" * 20)
    tag = normalize(
        "gitlab", {"x-gitlab-event": "Tag Push Hook"}, {"ref": "refs/tags/v1.4.0", "checkout_sha": "c" * 40}
    )
    assert (tag["type"], tag["tag"]) == ("tag", "v1.4.0")
    release = normalize(
        "github", {"x-github-event": "release"}, {"action": "published", "release": {"tag_name": "v2.0.0"}}
    )
    assert (release["type"], release["tag"], release["action"]) == ("release", "v2.0.0", "published")
    deleted = normalize("github", {"x-github-event": "push"}, {"ref": "refs/heads/x", "after": "0" * 40})
    assert deleted["commit"] is None  # a deleted branch carries no commit
    assert version_from(tag, "tag") == "1.4.0"
    assert version_from(push, "short_commit") == "ab" * 6
    assert version_from({"tag": "release/../../x"}, "tag") is None  # not a version


def test_rules_match_and_refuse_unknown_fields():
    rule = Match(event="tag", tag="v*")
    assert rule.matches({"type": "tag", "tag": "v1.0.0"})
    assert not rule.matches({"type": "tag", "tag": "nightly"})
    assert not rule.matches({"type": "push", "branch": "main"})
    assert Match(event="push", branch="release/*").matches({"type": "push", "branch": "release/1.x"})
    with pytest.raises(ValidationError):
        SourceSpec.model_validate(
            {"name": "s", "kind": "github", "rules": [{"name": "r", "do": {"type": "x"}}]}
        )
    with pytest.raises(ValidationError):
        SourceSpec.model_validate({"name": "s", "kind": "svn"})

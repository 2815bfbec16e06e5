"""Inbound webhooks: signature checks, the sender's delivery id, the event in one shape, and the
trigger rules (validated models). Pure: no I/O.

Three kinds of source:

* ``github`` — ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>``, delivery id in
  ``X-GitHub-Delivery``, event in ``X-GitHub-Event``;
* ``gitlab`` — ``X-Gitlab-Token: <secret>``, delivery id in ``X-Gitlab-Event-UUID``, event in
  ``X-Gitlab-Event``;
* ``generic`` — ``X-Pilothouse-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``
  (refused when ``t`` is more than five minutes from now), delivery id in ``X-Pilothouse-Delivery``,
  event in ``X-Pilothouse-Event``.

    >>> body = b'{"ref": "refs/tags/v1.2.0"}'
    >>> sig = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    >>> verify("github", "s3cret", {"x-hub-signature-256": sig}, body, now=0.0)
    >>> version_from({"tag": "v1.2.0", "commit": "0123456789abcdef"}, "tag")
    '1.2.0'
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pilothouse.domain.components import NAME_PATTERN, VERSION_PATTERN

Kind = Literal["github", "gitlab", "generic"]
REPLAY_WINDOW_SECONDS = 300
DELIVERY_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
DELIVERY_HEADERS = {
    "github": "x-github-delivery",
    "gitlab": "x-gitlab-event-uuid",
    "generic": "x-pilothouse-delivery",
}
EVENT_HEADERS = {"github": "x-github-event", "gitlab": "x-gitlab-event", "generic": "x-pilothouse-event"}


class SignatureInvalid(Exception):
    """The delivery is not signed with the source's secret (or is too old); ``reason`` says how."""


def _hmac(secret: str, data: bytes) -> str:
    return hmac.new(secret.encode(), data, hashlib.sha256).hexdigest()


def verify(kind: str, secret: str, headers: dict[str, str], body: bytes, *, now: float) -> None:
    """Raise SignatureInvalid unless ``body`` carries a valid signature of ``kind`` for ``secret``."""
    if kind == "github":
        given = headers.get("x-hub-signature-256", "")
        if not given.startswith("sha256=") or not hmac.compare_digest(given[7:], _hmac(secret, body)):
            raise SignatureInvalid("X-Hub-Signature-256 is missing or does not match the body")
        return
    if kind == "gitlab":
        given = headers.get("x-gitlab-token", "")
        if not given or not hmac.compare_digest(given.encode(), secret.encode()):
            raise SignatureInvalid("X-Gitlab-Token is missing or wrong")
        return
    parts = dict(p.split("=", 1) for p in headers.get("x-pilothouse-signature", "").split(",") if "=" in p)
    stamp, given = parts.get("t", ""), parts.get("v1", "")
    if not stamp.isdigit() or not given:
        raise SignatureInvalid("X-Pilothouse-Signature is missing or not t=<unix>,v1=<hex>")
    if abs(now - int(stamp)) > REPLAY_WINDOW_SECONDS:
        raise SignatureInvalid("X-Pilothouse-Signature is older than five minutes (or from the future)")
    if not hmac.compare_digest(given, _hmac(secret, stamp.encode() + b"." + body)):
        raise SignatureInvalid("X-Pilothouse-Signature does not match the body")


def sign_generic(secret: str, body: bytes, timestamp: int) -> str:
    """The ``X-Pilothouse-Signature`` a sender of the generic form puts on ``body``."""
    return f"t={timestamp},v1={_hmac(secret, str(timestamp).encode() + b'.' + body)}"


def delivery_id(kind: str, headers: dict[str, str]) -> str | None:
    """The sender's delivery id (None when missing or malformed)."""
    value = headers.get(DELIVERY_HEADERS[kind], "")
    return value if DELIVERY_PATTERN.match(value) else None


def normalize(kind: str, headers: dict[str, str], payload: Any) -> dict[str, Any]:
    """The event in one shape: ``type`` (push, tag, release or the sender's name), ``branch``,
    ``tag``, ``commit``, ``repository``, ``action``."""
    p = payload if isinstance(payload, dict) else {}
    name = headers.get(EVENT_HEADERS[kind], "") or str(p.get("event") or p.get("object_kind") or "")
    ref = str(p.get("ref") or "")
    commit = (
        p.get("after") or p.get("checkout_sha") or p.get("commit") or (p.get("head_commit") or {}).get("id")
    )
    repo: dict[str, Any] = p["repository"] if isinstance(p.get("repository"), dict) else {}
    repository = (
        repo.get("full_name") or repo.get("name") or (p.get("project") or {}).get("path_with_namespace")
    )
    event: dict[str, Any] = {
        "name": name,
        "type": name.lower(),
        "branch": None,
        "tag": None,
        "action": p.get("action"),
    }
    lowered = name.lower()
    if lowered in ("release", "release hook") or p.get("object_kind") == "release":
        release: dict[str, Any] = p["release"] if isinstance(p.get("release"), dict) else {}
        event.update(type="release", tag=release.get("tag_name") or p.get("tag"))
    elif ref.startswith("refs/tags/"):
        event.update(type="tag", tag=ref[len("refs/tags/") :])
    elif ref.startswith("refs/heads/") or lowered in ("push", "push hook"):
        event.update(type="push", branch=ref[len("refs/heads/") :] if ref.startswith("refs/heads/") else None)
    event["commit"] = str(commit) if isinstance(commit, str) and commit.strip("0") else None
    event["repository"] = repository
    return event


def version_from(event: dict[str, Any], source: str) -> str | None:
    """The version a rule takes from the event: the tag (a leading ``v`` before a digit dropped),
    the commit, or its first 12 characters; None when the event has none or it is no version."""
    value = None
    if source == "tag" and event.get("tag"):
        tag = str(event["tag"])
        value = tag[1:] if re.match(r"^v\d", tag) else tag
    elif source in ("commit", "short_commit") and event.get("commit"):
        value = str(event["commit"])[: 12 if source == "short_commit" else 40]
    return value if value and re.match(VERSION_PATTERN, value) else None


# -- trigger rules --------------------------------------------------------------------------------


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Match(Strict):
    """Which events a rule takes: a type, and for pushes a branch glob, for tags a tag glob."""

    event: Literal["push", "tag", "release", "any"] = "push"
    branch: str | None = Field(default=None, max_length=200, description="glob, e.g. main or release/*")
    tag: str | None = Field(default=None, max_length=200, description="glob, e.g. v*")
    action: str | None = Field(default=None, max_length=50, description="e.g. published (releases)")
    repository: str | None = Field(default=None, max_length=200)

    def matches(self, event: dict[str, Any]) -> bool:
        if self.event != "any" and event.get("type") != self.event:
            return False
        for field, glob in (("branch", self.branch), ("tag", self.tag), ("action", self.action)):
            if glob is not None and not fnmatch.fnmatchcase(str(event.get(field) or ""), glob):
                return False
        return self.repository is None or event.get("repository") == self.repository


class UpdateComponent(Strict):
    type: Literal["update_component"]
    component: str = Field(pattern=NAME_PATTERN)
    version_from: Literal["tag", "commit", "short_commit"] = "tag"
    strategy: str | dict[str, Any] | None = None


class UpdateSystem(Strict):
    type: Literal["update_system"]
    system: str = Field(pattern=NAME_PATTERN)
    components: list[str] = Field(min_length=1, max_length=100, description="the members to move")
    version_from: Literal["tag", "commit", "short_commit"] = "tag"


class PromoteComponent(Strict):
    type: Literal["promote_component"]
    source: str = Field(pattern=NAME_PATTERN)
    target: str = Field(pattern=NAME_PATTERN)


class PromoteSystem(Strict):
    type: Literal["promote_system"]
    system: str = Field(pattern=NAME_PATTERN)
    to: str = Field(pattern=NAME_PATTERN)


class StartWorkflow(Strict):
    type: Literal["start_workflow"]
    workflow: str = Field(min_length=1, max_length=80)
    jsonpath: str | None = Field(
        default=None, max_length=500, description="selects the input, e.g. $.repository"
    )
    jsonata: str | None = Field(default=None, max_length=2000, description="{% ... %} over the payload")

    @model_validator(mode="after")
    def _one_mapping(self) -> StartWorkflow:
        if self.jsonpath is not None and self.jsonata is not None:
            raise ValueError("give jsonpath or jsonata, not both")
        return self


Action = Annotated[
    UpdateComponent | UpdateSystem | PromoteComponent | PromoteSystem | StartWorkflow,
    Field(discriminator="type"),
]


class Rule(Strict):
    name: str = Field(pattern=NAME_PATTERN)
    on: Match = Field(default_factory=Match)
    do: Action


class SourceSpec(Strict):
    """A webhook source: its kind and its rules (the secret is made by the server)."""

    name: str = Field(pattern=NAME_PATTERN)
    kind: Kind
    description: str = Field(default="", max_length=1000)
    rules: list[Rule] = Field(default_factory=list, max_length=50)
    #: the role of the ``webhook:<name>`` principal that workflows its rules start act as (stated
    #: by the admin who creates the source; none: their tasks may call no public operation)
    workflow_role: Literal["viewer", "operator", "deployer", "admin"] | None = None

    @model_validator(mode="after")
    def _unique(self) -> SourceSpec:
        names = [r.name for r in self.rules]
        if len(names) != len(set(names)):
            raise ValueError("rule names must be unique")
        return self


class SourceChange(Strict):
    description: str | None = Field(default=None, max_length=1000)
    rules: list[Rule] | None = Field(default=None, max_length=50)

"""The Step Functions operations on a state machine's aliases, versions and tags.

* An **alias** (``...:stateMachine:<name>:<alias>``) points at one or two published versions of its
  state machine with weights that add up to 100; ``StartExecution`` on the alias ARN runs one of
  them, picked at random by weight. ``Create``/``Update`` are idempotent as on Step Functions (the
  same name, description and routing answer the alias there is; a different one is a
  ``ConflictException``); at most 100 aliases per state machine.
* ``DeleteStateMachineVersion`` removes a published version (its number is never given again); a
  version an alias routes to is refused with ``ConflictException``, as Step Functions does.
* **Tags** (``TagResource``, ``UntagResource``, ``ListTagsForResource``, and ``tags`` on
  ``CreateStateMachine``) belong to a state machine: at most 50, keys of 1-128 and values of up to
  256 characters of letters, digits, spaces and ``_.:/=+-@``.

All of it lives on the state machine's record (:mod:`pilothouse.services.state_machines`), changed by
conditional writes; each change is audited by the endpoint like every mutation.

    >>> ALIAS_RE.match("live") is not None, ALIAS_RE.match("42") is not None
    (True, False)
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from pilothouse.api.sfn_params import (
    _missing,
    _need,
    _page,
    _prefix,
    _str,
    _valid_name,
    parse_sm_arn,
    sm_arn,
)
from pilothouse.api.sfn_protocol import Request, SfnError
from pilothouse.services import state_machines as machines

#: an alias name: 1-80 of letters, digits, ``-``, ``_`` and ``.``, not only digits (those are versions)
ALIAS_RE = re.compile(r"^(?=.*[A-Za-z_.\-])[A-Za-z0-9_.\-]{1,80}$")
MAX_ALIASES = 100
MAX_TAGS = 50
TAG_CHARS = re.compile(r"^[\w\s.:/=+\-@]*$")


def _not_found(arn: str, what: str) -> SfnError:
    return SfnError(
        "ResourceNotFound", f"Resource not found: '{arn[:300]}' ({what})", fields={"resourceName": arn[:300]}
    )


def _machine(req: Request, name: str, arn: str) -> None:
    """ResourceNotFound unless the workflow ``name`` exists."""
    with _missing("ResourceNotFound", f"Resource not found: '{arn[:300]}'"):
        req.ctx.services.orchestrator.get_workflow(name)


def _writable(req: Request, name: str) -> None:
    from pilothouse.services.workflows import check_writable

    check_writable(name)  # the shipped workflows' names are the deployment manager's
    req.ctx.resource = f"workflow:{name}"


def alias_arn(req: Request, name: str, alias: str) -> str:
    return f"{sm_arn(req, name)}:{alias}"


def parse_alias_arn(req: Request, arn: str) -> tuple[str, str]:
    """The state machine and alias an alias ARN names (InvalidArn for anything else)."""
    parts = arn.split(":")
    if (
        len(parts) != 8
        or parts[:3] != ["arn", "aws", "states"]
        or parts[5] != "stateMachine"
        or not ALIAS_RE.match(parts[7])
    ):
        raise SfnError("InvalidArn", f"Invalid Arn: 'Resource type not valid in this context: {arn[:300]}'")
    if f"{':'.join(parts[:5])}:" != _prefix(req) or not _valid_name(parts[6]):
        raise _not_found(arn, "no such state machine")
    return parts[6], parts[7]


def is_alias_arn(arn: str) -> bool:
    """True for ``...:stateMachine:<name>:<alias>`` (maybe with a mock ``#TestCase``)."""
    parts = arn.split("#", 1)[0].split(":")
    return len(parts) == 8 and parts[5] == "stateMachine" and ALIAS_RE.match(parts[7]) is not None


def version_for_alias(req: Request, arn: str) -> str:
    """The version ARN a StartExecution on alias ``arn`` runs (chosen by the routing's weights),
    with the ``#TestCase`` the caller gave, if any."""
    base, hash_, case = arn.partition("#")
    name, alias = parse_alias_arn(req, base)
    entry = machines.get(req.ctx.services, name)["aliases"].get(alias)
    if entry is None:
        raise SfnError("StateMachineDoesNotExist", f"State Machine Does Not Exist: '{arn[:300]}'")
    routes = entry["routing"]
    roll = secrets.randbelow(100)  # 0..99: the first route takes rolls below its weight
    number = routes[0]["version"] if roll < routes[0]["weight"] or len(routes) == 1 else routes[1]["version"]
    return sm_arn(req, name, number) + hash_ + case


def _routing(req: Request, name: str, value: Any) -> list[dict[str, int]]:
    """A routing configuration checked as Step Functions does: one or two distinct published versions
    of this state machine, weights 0-100 adding up to 100."""
    if not isinstance(value, list) or not 1 <= len(value) <= 2:
        raise SfnError("ValidationException", "routingConfiguration must list one or two versions")
    known = {v["version"] for v in machines.get(req.ctx.services, name)["versions"]}
    out: list[dict[str, int]] = []
    for i, route in enumerate(value):
        if not isinstance(route, dict):
            raise SfnError("ValidationException", f"routingConfiguration[{i}] must be an object")
        arn = _need(route, "stateMachineVersionArn", max_len=2048)
        weight = route.get("weight")
        if not isinstance(weight, int) or isinstance(weight, bool) or not 0 <= weight <= 100:
            raise SfnError(
                "ValidationException", f"routingConfiguration[{i}].weight must be an integer 0-100"
            )
        owner, number, _ = parse_sm_arn(req, arn)
        if number is None:
            raise SfnError("ValidationException", f"routingConfiguration[{i}] must name a version ARN")
        if owner != name:
            raise SfnError(
                "ValidationException", "Routing configuration must contain versions of the same state machine"
            )
        if number not in known:
            raise _not_found(arn, "no such version")
        out.append({"version": number, "weight": weight})
    if len(out) == 2 and out[0]["version"] == out[1]["version"]:
        raise SfnError("ValidationException", "Routing configuration must contain distinct versions")
    if sum(r["weight"] for r in out) != 100:
        raise SfnError("ValidationException", "Sum of routing configuration weights must be equal to 100")
    return out


def _check_versions(req: Request, name: str, data: dict[str, Any], routes: list[dict[str, int]]) -> None:
    """Inside the conditional write: the routed versions still exist (a version deleted since the
    routing was checked is not routed to)."""
    known = {v["version"] for v in data["versions"]}
    for r in routes:
        if r["version"] not in known:
            raise _not_found(sm_arn(req, name, r["version"]), "no such version")


def _describe_routes(req: Request, name: str, routes: list[dict[str, int]]) -> list[dict[str, Any]]:
    return [
        {"stateMachineVersionArn": sm_arn(req, name, r["version"]), "weight": r["weight"]} for r in routes
    ]


# -- aliases -------------------------------------------------------------------------------------


def create_state_machine_alias(req: Request) -> dict[str, Any]:
    p, services = req.params, req.ctx.services
    alias = _need(p, "name", max_len=80)
    description = _str(p, "description", max_len=256) or ""
    if not ALIAS_RE.match(alias):
        raise SfnError(
            "InvalidName", f"Invalid Name: '{alias[:100]}' (letters, digits, '-', '_', '.'; not only digits)"
        )
    routing = p.get("routingConfiguration")
    first = routing[0] if isinstance(routing, list) and routing else None
    if not isinstance(first, dict):
        raise SfnError("ValidationException", "routingConfiguration must list one or two versions")
    # the state machine is the one whose versions the routing names
    owner = parse_sm_arn(req, _need(first, "stateMachineVersionArn", max_len=2048))[0]
    _machine(req, owner, sm_arn(req, owner))
    _writable(req, owner)
    routes = _routing(req, owner, routing)
    now = services.clock.time()

    def apply(data: dict[str, Any]) -> float:
        _check_versions(req, owner, data, routes)
        aliases = data["aliases"]
        there = aliases.get(alias)
        if there is not None:
            if (there["description"], there["routing"]) == (description, routes):
                return float(there["created_epoch"])
            raise SfnError("ConflictException", f"Alias {alias!r} exists with a different configuration")
        if len(aliases) >= MAX_ALIASES:
            raise SfnError(
                "ServiceQuotaExceededException",
                f"a state machine has at most {MAX_ALIASES} aliases",
                fields={"resourceName": sm_arn(req, owner)},
            )
        aliases[alias] = {
            "description": description,
            "routing": routes,
            "created_epoch": now,
            "updated_epoch": now,
        }
        return now

    created = machines.mutate(services, owner, apply)
    return {"stateMachineAliasArn": alias_arn(req, owner, alias), "creationDate": created}


def _alias(req: Request, arn: str) -> tuple[str, str, dict[str, Any]]:
    name, alias = parse_alias_arn(req, arn)
    entry = machines.get(req.ctx.services, name)["aliases"].get(alias)
    if entry is None:
        raise _not_found(arn, "no such alias")
    return name, alias, entry


def describe_state_machine_alias(req: Request) -> dict[str, Any]:
    arn = _need(req.params, "stateMachineAliasArn", max_len=2048)
    name, alias, entry = _alias(req, arn)
    out = {
        "stateMachineAliasArn": alias_arn(req, name, alias),
        "name": alias,
        "routingConfiguration": _describe_routes(req, name, entry["routing"]),
        "creationDate": entry["created_epoch"],
        "updateDate": entry["updated_epoch"],
    }
    if entry["description"]:
        out["description"] = entry["description"]
    return out


def update_state_machine_alias(req: Request) -> dict[str, Any]:
    p, services = req.params, req.ctx.services
    arn = _need(p, "stateMachineAliasArn", max_len=2048)
    description = _str(p, "description", max_len=256)
    if description is None and "routingConfiguration" not in p:
        raise SfnError(
            "ValidationException", "Either the description or the routingConfiguration must be specified"
        )
    name, alias, _ = _alias(req, arn)
    _writable(req, name)
    routes = _routing(req, name, p["routingConfiguration"]) if "routingConfiguration" in p else None
    now = services.clock.time()

    def apply(data: dict[str, Any]) -> float:
        entry = data["aliases"].get(alias)
        if entry is None:
            raise _not_found(arn, "no such alias")
        changed = {**entry}
        if description is not None:
            changed["description"] = description
        if routes is not None:
            _check_versions(req, name, data, routes)
            changed["routing"] = routes
        if changed != entry:  # the same values again change nothing (idempotent)
            changed["updated_epoch"] = now
            data["aliases"][alias] = changed
        return float(changed["updated_epoch"])

    return {"updateDate": machines.mutate(services, name, apply)}


def delete_state_machine_alias(req: Request) -> dict[str, Any]:
    arn = _need(req.params, "stateMachineAliasArn", max_len=2048)
    name, alias, _ = _alias(req, arn)
    _writable(req, name)

    def apply(data: dict[str, Any]) -> None:
        if data["aliases"].pop(alias, None) is None:
            raise _not_found(arn, "no such alias")

    machines.mutate(req.ctx.services, name, apply)
    return {}


def list_state_machine_aliases(req: Request) -> dict[str, Any]:
    from pilothouse.api.sfn_params import _int

    p = req.params
    arn = _need(p, "stateMachineArn", max_len=2048)
    name, number, _ = parse_sm_arn(req, arn)
    if number is not None:
        raise SfnError("ValidationException", "list the aliases of the state machine, not of a version")
    _machine(req, name, arn)
    limit = _int(p, "maxResults", low=0, high=1000, default=100) or 100
    aliases = machines.get(req.ctx.services, name)["aliases"]
    rows = [
        {"stateMachineAliasArn": alias_arn(req, name, a), "creationDate": aliases[a]["created_epoch"]}
        for a in sorted(aliases)
    ]
    items, token = _page(lambda c, n: (rows, None), limit, _str(p, "nextToken", max_len=3096))
    return {"stateMachineAliases": items, **({"nextToken": token} if token else {})}


# -- versions ------------------------------------------------------------------------------------


def delete_state_machine_version(req: Request) -> dict[str, Any]:
    arn = _need(req.params, "stateMachineVersionArn", max_len=2048)
    if is_alias_arn(arn):
        raise SfnError("ValidationException", "stateMachineVersionArn must be a version ARN, not an alias")
    name, number, _ = parse_sm_arn(req, arn)
    if number is None:
        raise SfnError("ValidationException", "stateMachineVersionArn must be a version ARN (…:<name>:<n>)")
    _writable(req, name)

    def apply(data: dict[str, Any]) -> None:
        users = sorted(
            a for a, e in data["aliases"].items() if any(r["version"] == number for r in e["routing"])
        )
        if users:
            raise SfnError(
                "ConflictException",
                "Version to be deleted must not be referenced by an alias. Current list of aliases "
                f"referencing this version: [{', '.join(alias_arn(req, name, a) for a in users)}]",
            )
        numbers = [v["version"] for v in data["versions"]]
        data["last_version"] = max([data.get("last_version", 0), *numbers])
        data["versions"] = [v for v in data["versions"] if v["version"] != number]

    # a version (or a state machine) that is not there is deleted already: success, as on AWS
    if machines.version(req.ctx.services, name, number) is not None:
        machines.mutate(req.ctx.services, name, apply)
    return {}


# -- tags ----------------------------------------------------------------------------------------


def _tagged(req: Request, key: str = "resourceArn") -> tuple[str, str]:
    arn = _need(req.params, key, max_len=2048)
    parts = arn.split(":")
    if len(parts) != 7 or parts[:3] != ["arn", "aws", "states"] or parts[5] != "stateMachine":
        raise SfnError("InvalidArn", f"Invalid Arn: 'Resource type not valid in this context: {arn[:300]}'")
    if f"{':'.join(parts[:5])}:" != _prefix(req) or not _valid_name(parts[6]):
        raise _not_found(arn, "no such state machine")
    name = parts[6]
    with _missing("ResourceNotFound", f"Resource not found: '{arn[:300]}'"):
        req.ctx.services.orchestrator.get_workflow(name)
    return name, arn


def parse_tags(value: Any) -> dict[str, str]:
    """``[{"key", "value"}, ...]`` checked as Step Functions does (ValidationException naming the tag)."""
    if not isinstance(value, list):
        raise SfnError("ValidationException", "tags must be a list of {key, value}")
    out: dict[str, str] = {}
    for i, tag in enumerate(value):
        if not isinstance(tag, dict):
            raise SfnError("ValidationException", f"tags[{i}] must be an object")
        key, val = _need(tag, "key", max_len=128), _str(tag, "value", max_len=256) or ""
        if not key or not TAG_CHARS.match(key) or not TAG_CHARS.match(val):
            raise SfnError("ValidationException", f"tags[{i}]: use letters, digits, spaces and _.:/=+-@")
        if key.startswith("aws:"):
            raise SfnError("ValidationException", f"tags[{i}]: the prefix 'aws:' is reserved")
        out[key] = val
    return out


def _too_many(arn: str) -> SfnError:
    return SfnError(
        "TooManyTags", f"a resource has at most {MAX_TAGS} tags", fields={"resourceName": arn[:300]}
    )


def tag_resource(req: Request) -> dict[str, Any]:
    name, arn = _tagged(req)
    tags = parse_tags(req.params.get("tags"))
    if len(tags) > MAX_TAGS:
        raise _too_many(arn)
    _writable(req, name)

    def apply(data: dict[str, Any]) -> None:
        merged = {**data["tags"], **tags}
        if len(merged) > MAX_TAGS:
            raise _too_many(arn)
        data["tags"] = merged

    machines.mutate(req.ctx.services, name, apply)
    return {}


def untag_resource(req: Request) -> dict[str, Any]:
    name, _ = _tagged(req)
    keys = req.params.get("tagKeys")
    if not isinstance(keys, list) or not all(isinstance(k, str) and 1 <= len(k) <= 128 for k in keys):
        raise SfnError("ValidationException", "tagKeys must be a list of keys (1-128 characters)")
    _writable(req, name)

    def apply(data: dict[str, Any]) -> None:
        data["tags"] = {k: v for k, v in data["tags"].items() if k not in keys}

    machines.mutate(req.ctx.services, name, apply)
    return {}


def list_tags_for_resource(req: Request) -> dict[str, Any]:
    name, _ = _tagged(req)
    tags = machines.get(req.ctx.services, name)["tags"]
    return {"tags": [{"key": k, "value": v} for k, v in sorted(tags.items())]}

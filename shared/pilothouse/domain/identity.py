"""Trusted OpenID Connect issuers and how a verified token's claims become a principal (pure).

    >>> issuer = OidcIssuer(issuer="https://id.example.com", audience="pilothouse",
    ...     roles=[RoleRule(value="sre", role="deployer"),
    ...            RoleRule(value="devs", role="deployer", environments=["development"])],
    ...     approvers=[ApproverRule(group="release-managers")])
    >>> p = principal_from_claims(issuer, {"iss": "https://id.example.com", "sub": "u1",
    ...     "email": "ana@example.com", "groups": ["devs", "release-managers"]})
    >>> p.id, p.role.label, [(e, r.label) for e, r in p.environment_roles], sorted(p.permissions)
    ('oidc:https://id.example.com#u1', 'viewer', [('development', 'deployer')], ['deployments:approve'])

Settings name the issuers (``PILOTHOUSE_OIDC_ISSUERS``, a JSON list of :class:`OidcIssuer`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pilothouse.domain.security import Permission, Principal, Role
from pilothouse.errors import Forbidden

#: the asymmetric algorithms a token may be signed with; ``none`` and HMAC never
Algorithm = Literal["RS256", "ES256", "EdDSA"]
RoleName = Literal["viewer", "operator", "deployer", "admin"]
EnvironmentName = Literal["development", "staging", "production"]


class RoleRule(BaseModel):
    """A claim value (a group, an app role) that grants a role, everywhere or in some environments."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    value: str = Field(min_length=1, max_length=256)
    role: RoleName
    #: empty: every environment
    environments: tuple[EnvironmentName, ...] = ()


class ApproverRule(BaseModel):
    """A group whose members hold ``deployments:approve`` (in some environments only, if named)."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    group: str = Field(min_length=1, max_length=256)
    environments: tuple[EnvironmentName, ...] = ()


class OidcIssuer(BaseModel):
    """One trusted issuer: where its tokens come from, for whom, signed how, and what they grant."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    #: the ``iss`` claim, exactly; discovery is read from ``<issuer>/.well-known/openid-configuration``
    issuer: str = Field(min_length=8, max_length=512)
    #: the ``aud`` the token must name (this Pilothouse's client id or API identifier)
    audience: str = Field(min_length=1, max_length=512)
    algorithms: tuple[Algorithm, ...] = ("RS256", "ES256", "EdDSA")
    #: how far ``exp``, ``nbf`` and ``iat`` may be off (seconds)
    clock_skew_seconds: int = Field(default=60, ge=0, le=300)
    #: the claim whose values map to roles: ``groups``, ``roles``, or a dotted path
    #: (``realm_access.roles`` for Keycloak)
    role_claim: str = Field(default="groups", min_length=1, max_length=128)
    roles: tuple[RoleRule, ...] = ()
    #: the claim that names groups for approver rules (the role claim when unset)
    groups_claim: str | None = None
    approvers: tuple[ApproverRule, ...] = ()
    #: how long fetched signing keys are used before they are fetched again (a key the issuer
    #: removed stops working then); an unknown ``kid`` refetches at most once a minute
    jwks_ttl_seconds: int = Field(default=300, ge=60, le=86_400)
    #: the client id ``pilothouse login`` uses for the device authorization grant
    client_id: str | None = None

    @field_validator("issuer")
    @classmethod
    def _https(cls, value: str) -> str:
        loopback = value.startswith(("http://127.0.0.1:", "http://localhost:", "http://[::1]:"))
        if not (value.startswith("https://") or loopback):
            raise ValueError("an issuer is an https:// URL (http:// only on loopback, for tests)")
        return value

    @field_validator("algorithms")
    @classmethod
    def _some(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("name at least one of RS256, ES256, EdDSA")
        return value


def claim_values(claims: dict[str, Any], path: str) -> list[str]:
    """The string values of a claim (a string, or a list of strings) at a dotted path."""
    node: Any = claims
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return []
        node = node[part]
    if isinstance(node, str):
        return [node]
    if isinstance(node, list):
        return [v for v in node if isinstance(v, str)]
    return []


def principal_id(issuer: str, subject: str) -> str:
    """How audit, approvals and "approver is not the initiator" name an OIDC principal."""
    return f"oidc:{issuer}#{subject}"


def principal_from_claims(issuer: OidcIssuer, claims: dict[str, Any]) -> Principal:
    """The principal a verified token stands for; Forbidden when its claims grant no role.

    A role granted in some environments only makes the principal a viewer elsewhere (it can read,
    and each mutation is checked against the environment of what it changes).
    """
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise Forbidden("the token names no subject (sub)", extra={"reason": "missing-subject"})
    values = set(claim_values(claims, issuer.role_claim))
    groups = set(claim_values(claims, issuer.groups_claim or issuer.role_claim))
    global_roles: list[Role] = []
    env_roles: dict[str, Role] = {}
    for rule in issuer.roles:
        if rule.value not in values:
            continue
        role = Role.parse(rule.role)
        if not rule.environments:
            global_roles.append(role)
        for env in rule.environments:
            env_roles[env] = max(role, env_roles.get(env, role))
    if not global_roles and not env_roles:
        raise Forbidden(
            f"the token's {issuer.role_claim} claim grants no Pilothouse role",
            extra={"reason": "no-role", "claim": issuer.role_claim},
        )
    role = max(global_roles) if global_roles else Role.VIEWER
    approver = [rule for rule in issuer.approvers if rule.group in groups]
    permissions = frozenset({Permission.DEPLOYMENTS_APPROVE.value}) if approver else frozenset()
    limited = approver and all(rule.environments for rule in approver)
    environments = tuple(sorted({e for rule in approver for e in rule.environments})) if limited else ()
    email = claims.get("email") if isinstance(claims.get("email"), str) else None
    name = next(
        (claims[k] for k in ("name", "preferred_username", "email") if isinstance(claims.get(k), str)),
        subject,
    )
    return Principal(
        id=principal_id(issuer.issuer, subject),
        name=str(name)[:256],
        role=role,
        kind="oidc",
        permissions=permissions,
        environments=environments,
        environment_roles=tuple(sorted((e, r) for e, r in env_roles.items() if r > role)),
        issuer=issuer.issuer,
        subject=subject,
        email=email,
        groups=tuple(sorted(groups))[:64],
        role_values=tuple(sorted(values))[:64],
    )

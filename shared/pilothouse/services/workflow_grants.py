"""Who an execution's public-operation tasks act for (:func:`principal_of`): an API key looked up
again, or an OIDC user's *grant*, what a workflow started by that user may do.

An API key can be looked up again when a task runs (revoked, expired, its role now). A bearer
token cannot: it is gone when the request ends, and a workflow may run for hours. So when an OIDC
principal starts or redrives an execution, the role its verified token granted — role, roles per
environment, extra permissions, groups, issuer — is written down as the principal's grant
(partition ``WORKFLOW_GRANT``, one per principal, refreshed by each start), and the public
operations its executions' tasks call run with that grant, never more:

* the issuer must still be trusted by the settings when the task runs;
* the role mapping is applied again, as the settings state it now, to the claim values the grant
  recorded at the start (the role claim's values and the groups, never the token), and the task
  runs with the *lesser* of the recorded role and the current one, per environment
  (:func:`narrowed`): a lowered mapping reaches running executions at their next task, a raised
  one never widens them beyond what the starter had;
* the grant lapses ``oidc_workflow_grant_seconds`` after the start that wrote it (then the task
  fails with ``Pilothouse.Forbidden``: start or redrive again with a fresh token);
* a role held in some environments only is checked against the environment of what each task
  changes (:func:`pilothouse.services.admission.check_environment_role`), and deployment policies
  are enforced on task mutations as on API requests.

Nothing of the control plane's own credentials is involved, and no token is stored.

    >>> from pilothouse.domain.security import Principal, Role
    >>> g = Grant.of(Principal(id="oidc:https://id.example#u", name="u", role=Role.VIEWER,
    ...     kind="oidc", issuer="https://id.example", subject="u",
    ...     environment_roles=(("development", Role.DEPLOYER),)), now=0, lifetime=60)
    >>> p = g.principal()
    >>> p.role_in("development").label, p.role_in("production").label, g.expires_epoch
    ('deployer', 'viewer', 60.0)
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, ConfigDict

from pilothouse.domain.identity import OidcIssuer, principal_from_claims
from pilothouse.domain.security import Principal, Role
from pilothouse.errors import Forbidden
from pilothouse.ports import Item
from pilothouse.services.context import ServiceContext

PK = "WORKFLOW_GRANT"


class Grant(BaseModel):
    """What an OIDC principal's token granted at the start of an execution (no token, no secret)."""

    model_config = ConfigDict(extra="forbid")

    id: str
    name: str
    issuer: str
    subject: str
    email: str | None = None
    role: str
    environment_roles: dict[str, str] = {}
    permissions: list[str] = []
    environments: list[str] = []
    groups: list[str] = []
    #: the role claim's values the mapping read at the start (None: a grant written before they
    #: were recorded; the groups are read as the role claim's values then)
    role_values: list[str] | None = None
    granted_epoch: float
    expires_epoch: float

    @classmethod
    def of(cls, principal: Principal, *, now: float, lifetime: float) -> Grant:
        return cls(
            id=principal.id,
            name=principal.name,
            issuer=principal.issuer or "",
            subject=principal.subject or "",
            email=principal.email,
            role=principal.role.label,
            environment_roles={env: role.label for env, role in principal.environment_roles},
            permissions=sorted(principal.permissions),
            environments=list(principal.environments),
            groups=list(principal.groups),
            role_values=list(principal.role_values),
            granted_epoch=float(now),
            expires_epoch=float(now + lifetime),
        )

    def principal(self) -> Principal:
        return Principal(
            id=self.id,
            name=self.name,
            role=Role.parse(self.role),
            kind="oidc",
            permissions=frozenset(self.permissions),
            environments=tuple(self.environments),
            environment_roles=tuple(
                (env, Role.parse(r)) for env, r in sorted(self.environment_roles.items())
            ),
            issuer=self.issuer,
            subject=self.subject,
            email=self.email,
            groups=tuple(self.groups),
            role_values=tuple(self.groups if self.role_values is None else self.role_values),
        )


def is_oidc(principal_id: str) -> bool:
    return principal_id.startswith("oidc:")


@contextlib.contextmanager
def granting(services: ServiceContext, principal: Principal | None) -> Iterator[None]:
    """Write ``principal``'s grant (an OIDC principal only) around a start or redrive; if the call
    fails, the grant is put back as it was, so a refused start changes nobody's permissions."""
    if principal is None or principal.kind != "oidc":
        yield
        return
    before = services.store.get(PK, principal.id)
    record(services, principal)
    try:
        yield
    except BaseException:
        if before is None:
            services.store.delete(PK, principal.id)
        else:
            services.store.put(Item(PK, before.sk, before.data))
        raise


def record(services: ServiceContext, principal: Principal) -> None:
    """Write (or refresh) the grant of an OIDC ``principal`` who starts or redrives an execution."""
    if principal.kind != "oidc":
        return
    grant = Grant.of(
        principal, now=services.clock.time(), lifetime=services.settings.oidc_workflow_grant_seconds
    )
    services.store.put(Item(PK, principal.id, grant.model_dump(mode="json")))


def oidc_principal(services: ServiceContext, principal_id: str) -> Principal:
    """The OIDC principal an execution acts for, as its grant stands; Forbidden when there is no
    grant, its issuer is no longer trusted, or it has lapsed."""
    item = services.store.get(PK, principal_id)
    if item is None:
        raise Forbidden(f"this execution acts for {principal_id!r}, for whom no grant is recorded")
    grant = Grant.model_validate(item.data)
    issuer = next((i for i in services.settings.oidc_issuers if i.issuer == grant.issuer), None)
    if issuer is None:
        raise Forbidden(f"the issuer of {principal_id!r}, for whom this execution acts, is no longer trusted")
    if grant.expires_epoch <= services.clock.time():
        raise Forbidden(
            f"the grant of {principal_id!r}, for whom this execution acts, has lapsed "
            f"(oidc_workflow_grant_seconds after its start); start or redrive it again"
        )
    recorded = grant.principal()
    try:
        current = principal_from_claims(issuer, _claims(issuer, recorded))
    except Forbidden as exc:
        raise Forbidden(
            f"the role mapping no longer grants {principal_id!r}, for whom this execution acts, any role",
            extra={"reason": "mapping-lowered"},
        ) from exc
    return narrowed(recorded, current)


def _nest(claims: dict[str, Any], path: str, values: tuple[str, ...]) -> None:
    node = claims
    *parents, last = path.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = list(values)


def _claims(issuer: OidcIssuer, recorded: Principal) -> dict[str, Any]:
    """The claims the current mapping reads, rebuilt from what the grant recorded (no token)."""
    claims: dict[str, Any] = {"sub": recorded.subject, "name": recorded.name}
    if recorded.email:
        claims["email"] = recorded.email
    _nest(claims, issuer.role_claim, recorded.role_values)
    if issuer.groups_claim and issuer.groups_claim != issuer.role_claim:
        _nest(claims, issuer.groups_claim, recorded.groups)
    return claims


def narrowed(recorded: Principal, current: Principal) -> Principal:
    """The lesser of two principals for the same subject: each environment's role is the lower of
    the two, and a permission is kept only if both hold it (in the environments both allow).

    >>> a = Principal(id="oidc:i#u", name="u", role=Role.DEPLOYER, kind="oidc")
    >>> b = Principal(id="oidc:i#u", name="u", role=Role.ADMIN, kind="oidc",
    ...     environment_roles=(("development", Role.ADMIN),))
    >>> n = narrowed(a, b)
    >>> n.role.label, n.role_in("development").label, narrowed(b, a).role_in("development").label
    ('deployer', 'deployer', 'deployer')
    """
    role = min(recorded.role, current.role)
    named = {env for env, _ in (*recorded.environment_roles, *current.environment_roles)}
    env_roles = {env: min(recorded.role_in(env), current.role_in(env)) for env in named}
    permissions = recorded.permissions & current.permissions
    environments: tuple[str, ...] = ()
    if recorded.environments and current.environments:
        environments = tuple(sorted(set(recorded.environments) & set(current.environments)))
        if not environments:  # allowed in no environment both name: not held at all
            permissions = frozenset()
    else:
        environments = recorded.environments or current.environments
    return dataclasses.replace(
        recorded,
        role=role,
        environment_roles=tuple(sorted((e, r) for e, r in env_roles.items() if r > role)),
        permissions=permissions,
        environments=environments,
    )


def webhook_principal(services: ServiceContext, principal_id: str) -> Principal:
    """The principal of a workflow a webhook rule started: the source's own, with the role the
    admin stated on it (``workflow_role``); Forbidden when the source is gone or states none."""
    from pilothouse.repositories.webhooks import WebhookRepository

    name = principal_id.removeprefix("webhook:")
    item = WebhookRepository(services.store).get(name)
    if item is None:
        raise Forbidden(f"the webhook source this execution acts for ({principal_id}) no longer exists")
    role = item.data.get("workflow_role")
    if not role:
        raise Forbidden(
            f"the webhook source {name!r}, for which this execution acts, states no workflow_role",
            extra={"reason": "no-workflow-role"},
        )
    return Principal(id=principal_id, name=principal_id, role=Role.parse(role), kind="webhook")


def principal_of(services: ServiceContext, principal_id: str) -> Principal:
    """The principal an execution acts for (who started or redrove it), as it stands now; Forbidden
    if its key is gone, revoked or expired, or its OIDC grant lapsed or its issuer is untrusted."""
    from pilothouse.services import keys

    if principal_id == "system":  # recorded server-side only (the deployment manager, sweeps)
        return Principal(id="system", name="system", role=Role.ADMIN, kind="system")
    if is_oidc(principal_id):
        return oidc_principal(services, principal_id)
    if principal_id.startswith("webhook:"):
        return webhook_principal(services, principal_id)
    if not principal_id.startswith("key:"):
        raise Forbidden(f"this execution acts for {principal_id!r}, who cannot be checked now")
    item = keys.repo(services).get(principal_id.removeprefix("key:"))
    if item is None:
        raise Forbidden(f"the API key this execution acts for ({principal_id}) no longer exists")
    data = item.data
    if data.get("revoked_at"):
        raise Forbidden(f"the API key this execution acts for ({principal_id}) has been revoked")
    if data.get("expires_epoch") and data["expires_epoch"] <= services.clock.time():
        raise Forbidden(f"the API key this execution acts for ({principal_id}) has expired")
    return Principal(
        id=principal_id,
        name=data["name"],
        role=Role.parse(data["role"]),
        permissions=frozenset(data.get("permissions") or ()),
        environments=tuple(data.get("environments") or ()),
    )

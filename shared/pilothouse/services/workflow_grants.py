"""Who an execution's public-operation tasks act for (:func:`principal_of`): an API key looked up
again, or an OIDC user's *grant*, what a workflow started by that user may do.

An API key can be looked up again when a task runs (revoked, expired, its role now). A bearer
token cannot: it is gone when the request ends, and a workflow may run for hours. So when an OIDC
principal starts or redrives an execution, the role its verified token granted — role, roles per
environment, extra permissions, groups, issuer — is written down as the principal's grant
(partition ``WORKFLOW_GRANT``, one per principal, refreshed by each start), and the public
operations its executions' tasks call run with that grant, never more:

* the issuer must still be trusted by the settings when the task runs;
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
from collections.abc import Iterator

from pydantic import BaseModel, ConfigDict

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
    if not any(i.issuer == grant.issuer for i in services.settings.oidc_issuers):
        raise Forbidden(f"the issuer of {principal_id!r}, for whom this execution acts, is no longer trusted")
    if grant.expires_epoch <= services.clock.time():
        raise Forbidden(
            f"the grant of {principal_id!r}, for whom this execution acts, has lapsed "
            f"(oidc_workflow_grant_seconds after its start); start or redrive it again"
        )
    return grant.principal()


def principal_of(services: ServiceContext, principal_id: str) -> Principal:
    """The principal an execution acts for (who started or redrove it), as it stands now; Forbidden
    if its key is gone, revoked or expired, or its OIDC grant lapsed or its issuer is untrusted."""
    from pilothouse.services import keys

    if principal_id == "system":  # recorded server-side only (the deployment manager, sweeps)
        return Principal(id="system", name="system", role=Role.ADMIN, kind="system")
    if is_oidc(principal_id):
        return oidc_principal(services, principal_id)
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

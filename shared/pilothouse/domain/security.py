"""Roles, permissions and principals (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum


class Role(IntEnum):
    """Ordered: each role can do everything the roles below it can."""

    VIEWER = 1
    OPERATOR = 2
    DEPLOYER = 3
    ADMIN = 4

    @classmethod
    def parse(cls, value: str) -> Role:
        try:
            return cls[value.upper()]
        except KeyError:
            raise ValueError(f"unknown role {value!r}; one of: {', '.join(r.label for r in cls)}") from None

    @property
    def label(self) -> str:
        return self.name.lower()


class Permission(StrEnum):
    COMPONENTS_READ = "components:read"
    COMPONENTS_OPERATE = "components:operate"  # scale, stop, retry
    COMPONENTS_DEPLOY = "components:deploy"  # register, deploy, update, deregister
    DEPLOYMENTS_CONTROL = "deployments:control"  # promote, pause, resume, abort, rollback
    DEPLOYMENTS_APPROVE = "deployments:approve"  # granted to a key explicitly (or admin)
    FREEZE = "freeze:write"
    WORKFLOWS_READ = "workflows:read"
    EXECUTIONS_RUN = "executions:run"  # start, stop, redrive, task callbacks
    WORKFLOWS_WRITE = "workflows:write"  # create, update, delete definitions
    KEYS_ADMIN = "keys:admin"
    AUDIT_READ = "audit:read"
    BACKUPS_ADMIN = "backups:admin"  # list, take, verify, restore, drill, delete backups
    SECRETS_READ = "secrets:read"  # list and describe secrets (names and versions, never values)
    SECRETS_WRITE = "secrets:write"  # set, rotate, delete secrets
    ALERTS_READ = "alerts:read"  # rules, alerts and their history
    ALERTS_OPERATE = "alerts:operate"  # acknowledge, silence
    ALERTS_WRITE = "alerts:write"  # create and delete rules
    NOTIFICATIONS_READ = "notifications:read"  # channels (no URL path, no secret), delivery logs
    NOTIFICATIONS_SEND = "notifications:send"  # test a channel, redeliver
    NOTIFICATIONS_WRITE = "notifications:write"  # create and delete channels: data leaves the system
    METRICS_READ = "metrics:read"  # query metrics, the Prometheus exposition
    METRICS_WRITE = "metrics:write"  # ingest datapoints
    POLICIES_WRITE = "policies:write"  # create, update, delete and test deployment policies


#: the least role that holds each permission
REQUIRED_ROLE: dict[Permission, Role] = {
    Permission.COMPONENTS_READ: Role.VIEWER,
    Permission.COMPONENTS_OPERATE: Role.OPERATOR,
    Permission.COMPONENTS_DEPLOY: Role.DEPLOYER,
    Permission.DEPLOYMENTS_CONTROL: Role.DEPLOYER,
    Permission.DEPLOYMENTS_APPROVE: Role.ADMIN,
    Permission.FREEZE: Role.DEPLOYER,
    Permission.WORKFLOWS_READ: Role.VIEWER,
    Permission.EXECUTIONS_RUN: Role.OPERATOR,
    Permission.WORKFLOWS_WRITE: Role.DEPLOYER,
    Permission.KEYS_ADMIN: Role.ADMIN,
    Permission.AUDIT_READ: Role.ADMIN,
    Permission.BACKUPS_ADMIN: Role.ADMIN,
    Permission.SECRETS_READ: Role.OPERATOR,
    Permission.SECRETS_WRITE: Role.DEPLOYER,
    Permission.ALERTS_READ: Role.VIEWER,
    Permission.ALERTS_OPERATE: Role.OPERATOR,
    Permission.ALERTS_WRITE: Role.DEPLOYER,
    Permission.NOTIFICATIONS_READ: Role.OPERATOR,
    Permission.NOTIFICATIONS_SEND: Role.OPERATOR,
    Permission.NOTIFICATIONS_WRITE: Role.ADMIN,
    Permission.METRICS_READ: Role.VIEWER,
    Permission.METRICS_WRITE: Role.OPERATOR,
    Permission.POLICIES_WRITE: Role.ADMIN,
}


@dataclass(frozen=True)
class Principal:
    """Who is calling: an API key (id ``key:<id>``) or an OIDC subject (id ``oidc:<issuer>#<sub>``).

    ``role`` holds everywhere; ``environment_roles`` raise it in named environments only (an OIDC
    group mapped to ``deployer`` in ``development``): :meth:`can` answers whether the permission is
    held somewhere, :meth:`can_in` whether it is held for one environment's resources.
    """

    id: str
    name: str
    role: Role
    kind: str = "api-key"
    #: permissions granted beyond the role (e.g. deployments:approve)
    permissions: frozenset[str] = frozenset()
    #: environments this principal's approvals are limited to (empty: all)
    environments: tuple[str, ...] = ()
    #: roles held in one environment only, as (environment, role) pairs
    environment_roles: tuple[tuple[str, Role], ...] = ()
    #: for an OIDC principal: the token's issuer, subject, e-mail and groups
    issuer: str | None = None
    subject: str | None = None
    email: str | None = None
    groups: tuple[str, ...] = ()
    #: for an OIDC principal: the values of the issuer's role claim that the role mapping read
    role_values: tuple[str, ...] = ()

    def can(self, permission: Permission) -> bool:
        """Whether the permission is held in at least one environment."""
        if permission.value in self.permissions:
            return True
        best = max([self.role, *(r for _, r in self.environment_roles)])
        return best >= REQUIRED_ROLE[permission]

    def role_in(self, environment: str | None) -> Role:
        """The role that holds for a resource of ``environment`` (None: no environment)."""
        roles = [self.role, *(r for env, r in self.environment_roles if env == environment)]
        return max(roles)

    def can_in(self, permission: Permission, environment: str | None) -> bool:
        """Whether the permission is held for a resource of ``environment``."""
        if permission.value in self.permissions:
            return True
        return self.role_in(environment) >= REQUIRED_ROLE[permission]

    def audit_view(self) -> dict[str, str | None]:
        """Who this is, as an audit record names them (no credential, only identifiers)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "name": self.name,
            "issuer": self.issuer,
            "subject": self.subject,
            "email": self.email,
        }

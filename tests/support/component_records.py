"""Component records as the repository stores them, for tests that write through
:class:`~pilothouse.repositories.components.ComponentRepository` directly."""

from __future__ import annotations

from typing import Any

#: the smallest event a component write carries
EVENT: dict[str, Any] = {"type": "t", "from": None, "to": "Registered", "actor": "t"}


def record(name: str, *, op: str | None = None, state: str | None = None) -> dict[str, Any]:
    """A component record: Deploying with operation ``op`` when given, else Registered."""
    return {
        "name": name,
        "spec": {
            "name": name,
            "provider": "local",
            "environment": "development",
            "version": "1.0.0",
            "target": {"command": ["x"]},
            "scaling": {"min": 1, "max": 1, "replicas": None},
            "config": {},
        },
        "state": state or ("Deploying" if op else "Registered"),
        "version": None,
        "replicas": 0,
        "url": None,
        "placement": None,
        "last_error": None,
        "operation": (
            {"id": op, "command": "deploy", "params": {}, "requested_epoch": 0.0, "attempt": 0}
            if op
            else None
        ),
        "created_at": "1970-01-01T00:00:00Z",
        "updated_at": "1970-01-01T00:00:00Z",
        "created_by": "t",
    }


def deployment_record(
    deployment_id: str, *, component: str = "web", status: str = "running", at: str = "t"
) -> dict[str, Any]:
    """A deployment record of ``component`` as DeploymentRepository.create takes it."""
    return {
        "id": deployment_id,
        "component": component,
        "environment": "development",
        "provider": "local",
        "command": "deploy",
        "workflow": "deploy",
        "execution": f"exec-{deployment_id}",
        "status": status,
        "created_at": at,
        "updated_at": at,
    }


def race_commands(repo: Any, names: list[str], *, threads: int = 8, rounds: int = 15) -> None:
    """``threads`` threads racing commands on ``names`` through ``repo`` (a ComponentRepository,
    each name registered first): start one, end it, deregister, register again. Each command lands
    whole or conflicts (VersionConflict, AlreadyExists); anything else fails the caller."""
    import threading

    from pilothouse.errors import AlreadyExists, VersionConflict

    for name in names:
        repo.create(record(name), EVENT)
    go = threading.Barrier(threads)
    errors: list[BaseException] = []

    def worker(k: int) -> None:
        go.wait()
        try:
            for r in range(rounds):
                name = names[(k + r) % len(names)]
                current = repo.get(name)
                try:
                    if current is None:
                        repo.create(record(name), EVENT)
                    elif r % 5 == 4 and not current.data["operation"]:
                        repo.remove(current, EVENT)
                    else:
                        op = None if current.data["operation"] else f"{name}-{k}-{r}"
                        repo.update(current, record(name, op=op), EVENT)
                except (VersionConflict, AlreadyExists):
                    continue
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    running = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for t in running:
        t.start()
    for t in running:
        t.join()
    assert errors == []

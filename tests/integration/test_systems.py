"""Systems: one workflow deploys, updates and stops a graph of components in dependency order, at
most ``max_parallel`` at once, and rolls back what it changed when a member fails."""

from __future__ import annotations

import pytest

from tests.support import deploying
from tests.support.deploying import comp, spec

# the shared deployment fixtures (manual clock, fake revision provider, drain)
services, provider, run = deploying.services, deploying.provider, deploying.run

#: db and cache first, then api (db, cache) and worker (db), then web (api)
GRAPH = {"db": [], "cache": [], "api": ["db", "cache"], "worker": ["db"], "web": ["api"]}


def register(api, graph: dict[str, list[str]]) -> None:
    for name, deps in graph.items():
        status, _, body = api.post("/v1/components", spec(name, dependencies=deps))
        assert status == 201, body


def create_system(api, name="shop", members=None, **extra):
    body = {"name": name, "components": [{"name": m} for m in (members or GRAPH)], **extra}
    return api.post("/v1/systems", body)


def tick_until_done(api, run, clock, name="shop", limit=60) -> list[dict[str, str]]:
    """Advance the clock a poll at a time; each member's step after every tick."""
    snapshots = []
    for _ in range(limit):
        run()
        system = api.get(f"/v1/systems/{name}")[2]
        rollout = system["rollout"]
        snapshots.append({n: m["step"] for n, m in rollout["members"].items()})
        if rollout["status"] not in ("in_progress", "rolling_back"):
            return snapshots
        clock.advance(2)
    raise AssertionError(f"rollout did not end: {snapshots[-1]}")


def first_tick(snapshots, member, step="in_progress") -> int:
    return next(i for i, s in enumerate(snapshots) if s[member] == step)


@pytest.mark.parametrize("limit", [1, 2])
def test_deploy_runs_in_dependency_order_within_the_parallelism_limit(api, run, clock, provider, limit):
    """Given five registered components with dependencies, when the system is deployed with a limit,
    then no member starts before what it depends on succeeded, never more than ``limit`` run at
    once, and all end Running; one execution of the system-rollout workflow did it."""
    register(api, GRAPH)
    status, _, body = create_system(api, max_parallel=limit)
    assert status == 201, body
    assert api.post("/v1/systems/shop/deploy")[0] == 202
    snapshots = tick_until_done(api, run, clock)
    system = api.get("/v1/systems/shop")[2]
    assert system["rollout"]["status"] == "succeeded", system["rollout"]
    assert system["rollout"]["waves"] == [["cache", "db"], ["api", "worker"], ["web"]]
    for member, deps in GRAPH.items():
        for dep in deps:
            assert first_tick(snapshots, dep, "succeeded") <= first_tick(snapshots, member)
    assert max(sum(step == "in_progress" for step in s.values()) for s in snapshots) == limit
    assert system["version_set"] == dict.fromkeys(GRAPH, "1.0.0")
    assert {m["state"] for m in system["members"]} == {"Running"}
    assert system["health"] == "Unknown"  # no member reports health yet
    executions = api.get("/v1/workflows/pilothouse-system-rollout/executions")[2]["items"]
    assert len(executions) == 1 and executions[0]["status"] == "SUCCEEDED"


def test_a_failing_member_stops_the_rollout_and_rolls_back_in_reverse_order(api, run, clock, provider):
    """Given a deployed system, when an update's web member fails to start, then web is not retried,
    nothing after it starts, and db then api... are rolled back in the reverse order of their
    changes to 1.0.0; the rollout ends rolled_back and its execution fails."""
    graph = {"db": [], "api": ["db"], "web": ["api"]}
    register(api, graph)
    assert create_system(api, members=graph, max_parallel=1)[0] == 201
    api.post("/v1/systems/shop/deploy")
    tick_until_done(api, run, clock)
    provider.broken_components.add("web")
    status, _, body = api.post(
        "/v1/systems/shop/update", {"versions": {"db": "2.0.0", "api": "2.0.0", "web": "2.0.0"}}
    )
    assert status == 202, body
    tick_until_done(api, run, clock)
    rollout = api.get("/v1/systems/shop")[2]["rollout"]
    members = rollout["members"]
    assert rollout["status"] == "rolled_back", rollout
    assert {n: m["step"] for n, m in members.items()} == {
        "db": "rolled_back",
        "api": "rolled_back",
        "web": "failed",
    }
    assert members["api"]["finished_seq"] < members["db"]["finished_seq"]  # api went back first
    assert rollout["error"].startswith("web:")
    assert [comp(api, n)["version"] for n in graph] == ["1.0.0", "1.0.0", "1.0.0"]
    executions = api.get("/v1/workflows/pilothouse-system-rollout/executions")[2]["items"]
    assert sorted(e["status"] for e in executions) == ["FAILED", "SUCCEEDED"]


def test_cycles_and_unknown_names_are_refused(api):
    """Given components whose dependencies make a cycle, creating a system of them is a 422 whose
    message spells the cycle's path; a member or a dependency naming no component is a 422 too."""
    register(api, {"a": ["b"], "b": ["c"], "c": ["a"]})
    status, _, problem = create_system(api, members=["a", "b", "c"])
    assert status == 422
    assert "a → b → c → a" in problem["detail"]
    assert problem["errors"][0]["field"] == "components"
    status, _, problem = create_system(api, name="ghosts", members=["a", "ghost"])
    assert status == 422 and problem["errors"][0]["field"] == "components[1].name"
    register(api, {"lonely": ["nowhere"]})
    status, _, problem = create_system(api, name="lonely", members=["lonely"])
    assert status == 422 and "nowhere" in problem["detail"]
    register(api, {"x": [], "y": []})
    body = {
        "name": "xy",
        "components": [{"name": "x", "depends_on": ["y"]}, {"name": "y", "depends_on": ["x"]}],
    }
    status, _, problem = api.post("/v1/systems", body)
    assert status == 422 and "x → y → x" in problem["detail"]


def test_one_rollout_at_a_time_and_least_privilege(api, run, clock, provider):
    """Given a rollout in progress, a second deploy is a 409 and deleting the system is a 409; a
    viewer can read the system but not deploy it (403)."""
    register(api, {"db": [], "api": ["db"]})
    assert create_system(api, members=["db", "api"])[0] == 201
    assert api.post("/v1/systems/shop/deploy")[0] == 202
    assert api.post("/v1/systems/shop/deploy")[0] == 409
    assert api.delete("/v1/systems/shop")[0] == 409
    viewer = api.post("/v1/api-keys", {"name": "v", "role": "viewer"})[2]["key"]
    assert api.get("/v1/systems/shop", key=viewer)[0] == 200
    assert api.post("/v1/systems/shop/deploy", key=viewer)[0] == 403
    assert api.post("/v1/systems/shop/stop", key=viewer)[0] == 403
    tick_until_done(api, run, clock)
    assert api.post("/v1/systems/shop/stop")[0] == 202
    snapshots = tick_until_done(api, run, clock)
    assert first_tick(snapshots, "api", "succeeded") <= first_tick(snapshots, "db")  # dependents first
    assert {m["state"] for m in api.get("/v1/systems/shop")[2]["members"]} == {"Stopped"}
    assert api.delete("/v1/systems/shop")[0] == 204
    assert api.get("/v1/systems/shop")[0] == 404


def test_promote_moves_the_whole_version_set_to_the_next_environment(api, run, clock, provider):
    """Given a development system on 2.0.0 and its staging twin on 1.0.0, promoting runs one rollout
    of the staging system that leaves every twin on the development version."""
    register(api, {"db": [], "api": ["db"]})
    for name, deps in {"db-staging": [], "api-staging": ["db-staging"]}.items():
        assert api.post("/v1/components", spec(name, environment="staging", dependencies=deps))[0] == 201
    assert create_system(api, members=["db", "api"])[0] == 201
    assert create_system(api, name="shop-staging", members=["db-staging", "api-staging"])[0] == 201
    api.post("/v1/systems/shop/deploy", {"versions": {"db": "2.0.0", "api": "2.0.0"}})
    tick_until_done(api, run, clock)
    api.post("/v1/systems/shop-staging/deploy")
    tick_until_done(api, run, clock, "shop-staging")
    assert api.post("/v1/systems/shop-staging/promote", {"to": "shop"})[0] == 422  # backwards
    status, _, body = api.post("/v1/systems/shop/promote", {"to": "shop-staging"})
    assert status == 202, body
    tick_until_done(api, run, clock, "shop-staging")
    staged = api.get("/v1/systems/shop-staging")[2]
    assert staged["rollout"]["action"] == "promote" and staged["rollout"]["source"] == "shop"
    assert staged["version_set"] == {"db-staging": "2.0.0", "api-staging": "2.0.0"}


def test_racing_deploys_start_one_rollout(api, run, clock, provider):
    """Given six threads deploying the same system at once, exactly one gets 202 and the others 409
    (a conflict or a rollout in progress); one rollout and one execution exist, and it succeeds."""
    import threading

    register(api, {"db": [], "api": ["db"]})
    assert create_system(api, members=["db", "api"])[0] == 201
    statuses: list[int] = []
    barrier = threading.Barrier(6)

    def deploy() -> None:
        barrier.wait()
        statuses.append(api.post("/v1/systems/shop/deploy")[0])

    threads = [threading.Thread(target=deploy) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [202] + [409] * 5
    tick_until_done(api, run, clock)
    assert len(api.get("/v1/systems/shop/rollouts")[2]["items"]) == 1
    executions = api.get("/v1/workflows/pilothouse-system-rollout/executions")[2]["items"]
    assert [e["status"] for e in executions] == ["SUCCEEDED"]


def test_stopping_the_rollout_execution_aborts_the_rollout(api, run, clock, provider):
    """Given a rollout in progress, when an admin stops its execution, then the rollout ends
    aborted (its reason kept) and the system takes a new deploy, which succeeds."""
    register(api, {"db": [], "api": ["db"]})
    assert create_system(api, members=["db", "api"], max_parallel=1)[0] == 201
    api.post("/v1/systems/shop/deploy")
    run()
    rollout = api.get("/v1/systems/shop")[2]["rollout"]
    assert rollout["status"] == "in_progress"
    status, _, body = api.post(
        f"/v1/workflows/pilothouse-system-rollout/executions/{rollout['execution']}/stop", {}
    )
    assert status == 200, body
    run()
    rollout = api.get("/v1/systems/shop")[2]["rollout"]
    assert rollout["status"] == "aborted" and "ABORTED" in rollout["error"]
    assert api.post("/v1/systems/shop/deploy")[0] == 202
    tick_until_done(api, run, clock)
    assert api.get("/v1/systems/shop")[2]["rollout"]["status"] == "succeeded"


def test_racing_advances_start_each_member_once(api, services, provider):
    """Given a rollout whose workflow step is delivered to eight workers at once (a redelivered
    task), when they all advance it together, then each startable member gets exactly one deploy
    command and none is marked failed."""
    import threading

    from pilothouse.services import system_rollouts

    register(api, {"db": [], "cache": [], "api": ["db"]})
    assert create_system(api, members=["db", "cache", "api"], max_parallel=2)[0] == 201
    rollout = api.post("/v1/systems/shop/deploy")[2]["rollout"]
    barrier = threading.Barrier(8)
    answers: list[dict] = []

    def advance() -> None:
        barrier.wait()
        answers.append(system_rollouts.advance(services, "shop", rollout["id"]))

    threads = [threading.Thread(target=advance) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(answers) == 8 and not any(a["done"] for a in answers)
    steps = {n: m["step"] for n, m in api.get("/v1/systems/shop")[2]["rollout"]["members"].items()}
    assert steps == {"db": "in_progress", "cache": "in_progress", "api": "pending"}
    for name in ("db", "cache", "api"):
        events = api.get(f"/v1/components/{name}/events")[2]["items"]
        assert [e["type"] for e in events].count("deploy.requested") == (0 if name == "api" else 1)

"""Components through the functions of template.yaml, called with API Gateway events."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from pilothouse.settings import get_settings
from pilothouse.wiring import Services, register_services
from tests.support.controlplane import drain
from tests.support.fakes import RevisionFake
from tests.support.specs import spec


@pytest.fixture
def services(env, request):
    """The services; a test that asks for ``provider`` gets it as the local provider."""
    providers = {"local": request.getfixturevalue("provider")} if "provider" in request.fixturenames else {}
    s = Services(get_settings(), providers=providers)
    register_services(s)
    return s


@pytest.fixture
def provider():
    return RevisionFake()


@pytest.fixture
def jobs(services, pool, cloud):
    """Run everything queued: jobs, and the deployment workflows they start."""
    return lambda: drain(services, pool, cloud)


def running(api, jobs, name="web", **over):
    assert api.post("/v1/components", spec(name, **over))[0] == 201
    assert api.post(f"/v1/components/{name}/deploy")[0] == 202
    jobs()
    status, _, body = api.get(f"/v1/components/{name}")
    assert body["state"] == "Running", body
    return body


def event_types(api, name):
    return [e["type"] for e in api.get(f"/v1/components/{name}/events")[2]["items"]]


def test_register_get_and_list(api):
    """Given a valid spec, when registered, then it reads back Registered and lists with filters."""
    status, headers, body = api.post("/v1/components", spec("web"))
    assert status == 201 and headers["location"] == "/v1/components/web"
    assert body["state"] == "Registered" and body["allowed_commands"] == ["deploy", "deregister"]
    api.post("/v1/components", spec("db", environment="production"))
    assert api.get("/v1/components/web")[2]["spec"]["version"] == "1.0.0"
    names = [c["name"] for c in api.get("/v1/components")[2]["items"]]
    assert names == ["db", "web"]
    prod = api.get("/v1/components", query="environment=production")[2]["items"]
    assert [c["name"] for c in prod] == ["db"]
    assert api.get("/v1/components", query="state=Running")[2]["items"] == []


def test_pagination_with_cursor(api):
    """Given 7 components, when listed 3 at a time, then the cursor walks all of them once."""
    for i in range(7):
        api.post("/v1/components", spec(f"c{i}"))
    seen, cursor = [], None
    while True:
        q = "limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = api.get("/v1/components", query=q)[2]
        seen += [c["name"] for c in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [f"c{i}" for i in range(7)]
    status, headers, body = api.get("/v1/components", query="cursor=garbage")
    assert status == 400 and body["field"] == "cursor"


def test_bad_specs_are_422_naming_the_field(api):
    """Given invalid specs, then each is a problem+json 422 whose errors name the offending field."""
    cases = {
        "name": spec("Bad Name"),
        "provider": spec(provider="mainframe"),
        "target": spec(target={"command": ["python", "app.py"]}),
        "config": spec(config={"greeting": 5}),
        "scaling": spec(scaling={"min": 5, "max": 2}),
    }
    for field, body in cases.items():
        status, headers, problem = api.post("/v1/components", body)
        assert status == 422, (field, problem)
        assert headers["content-type"] == "application/problem+json"
        assert problem["status"] == 422 and problem["type"].endswith("validation-error")
        assert any(e["field"].startswith(field) for e in problem["errors"]), (field, problem["errors"])
    status, _, problem = api.call("POST", "/v1/components", "{not json")
    assert status == 422 and problem["errors"]
    assert api.get("/v1/components")[2]["items"] == []  # nothing half-written


def test_duplicate_name_is_409(api):
    api.post("/v1/components", spec("web"))
    status, _, problem = api.post("/v1/components", spec("web"))
    assert status == 409 and problem["field"] == "name"


def test_full_lifecycle_with_events(api, provider, jobs):
    """Given a registered component, when deployed, scaled, updated and stopped, then each command
    passes through its transitional state to the table's resting state, with one event per step."""
    running(api, jobs)
    status, _, body = api.post("/v1/components/web/scale", {"replicas": 3})
    assert status == 202 and body["state"] == "Scaling"
    jobs()
    assert api.get("/v1/components/web")[2]["replicas"] == 3
    status, _, body = api.post(
        "/v1/components/web/update", {"version": "2.0.0", "config": {"greeting": "yo"}}
    )
    assert status == 202 and body["state"] == "Updating"
    jobs()
    web = api.get("/v1/components/web")[2]
    assert (web["state"], web["version"], web["spec"]["config"]) == ("Running", "2.0.0", {"greeting": "yo"})
    api.post("/v1/components/web/stop")
    jobs()
    assert api.get("/v1/components/web")[2]["state"] == "Stopped"
    assert [c[0] for c in provider.calls] == [
        "prepare",
        "shift",
        "finalize",
        "scale",
        "replicas",
        "prepare",
        "shift",
        "finalize",
        "stop",
    ]
    assert event_types(api, "web") == [
        "registered",
        "deploy.requested",
        "deploy.started",
        "deploy.deployment_started",
        "deploy.succeeded",
        "scale.requested",
        "scale.started",
        "scale.succeeded",
        "update.requested",
        "update.started",
        "update.deployment_started",
        "update.succeeded",
        "stop.requested",
        "stop.started",
        "stop.succeeded",
    ]
    assert api.delete("/v1/components/web")[0] == 204
    assert api.get("/v1/components/web")[0] == 404
    assert event_types(api, "web")[-1] == "deregistered"  # history kept


def test_illegal_commands_are_409_with_allowed_commands(api, provider, jobs):
    api.post("/v1/components", spec("web"))
    status, _, problem = api.post("/v1/components/web/stop")
    assert status == 409
    assert problem["state"] == "Registered" and problem["allowed_commands"] == ["deploy", "deregister"]
    api.post("/v1/components/web/deploy")
    status, _, problem = api.post("/v1/components/web/scale", {"replicas": 2})
    assert status == 409 and problem["state"] == "Deploying" and problem["allowed_commands"] == []
    assert api.delete("/v1/components/web")[0] == 409


def test_failed_deploy_records_reason_and_retry_recovers(api, provider, jobs):
    """Given a provider that fails, then the component is Failed with the reason and output in the
    event; retry deploys again."""
    provider.broken_versions.add("1.0.0")
    api.post("/v1/components", spec("web"))
    api.post("/v1/components/web/deploy")
    jobs()
    web = api.get("/v1/components/web")[2]
    assert web["state"] == "Failed"
    assert "1.0.0 exited at start" in web["last_error"]["reason"] and "boom" in web["last_error"]["reason"]
    failed = api.get("/v1/components/web/events", query="order=desc")[2]["items"][0]
    assert failed["type"] == "deploy.failed" and "exited at start" in failed["reason"]
    provider.broken_versions.clear()
    assert api.post("/v1/components/web/retry")[0] == 202
    jobs()
    assert api.get("/v1/components/web")[2]["state"] == "Running"


def test_failed_update_keeping_old_version_stays_running(api, provider, jobs):
    running(api, jobs)
    provider.unhealthy_versions.add("2.0.0")
    api.post("/v1/components/web/update", {"version": "2.0.0"})
    jobs()
    web = api.get("/v1/components/web")[2]
    assert (web["state"], web["version"], web["spec"]["version"]) == ("Running", "1.0.0", "1.0.0")
    assert event_types(api, "web")[-1] == "update.reverted"
    assert "unhealthy" in web["last_error"]["reason"]


def test_failed_scale_returns_to_running(api, provider, jobs):
    running(api, jobs)
    provider.fail["scale"] = "no room"
    api.post("/v1/components/web/scale", {"replicas": 4})
    jobs()
    web = api.get("/v1/components/web")[2]
    assert web["state"] == "Running" and web["replicas"] == 1
    assert event_types(api, "web")[-1] == "scale.reverted"


def test_scale_outside_policy_and_empty_update_are_422(api, provider, jobs):
    running(api, jobs)
    status, _, problem = api.post("/v1/components/web/scale", {"replicas": 9})
    assert status == 422 and problem["errors"][0]["field"] == "replicas"
    status, _, problem = api.post("/v1/components/web/update", {})
    assert status == 422
    status, _, problem = api.post("/v1/components/web/update", {"config": {"greeting": 1}})
    assert status == 422 and problem["errors"][0]["field"] == "config"
    assert api.get("/v1/components/web")[2]["state"] == "Running"


def test_redelivered_job_is_applied_once(api, services, provider, jobs):
    """Given a job message delivered twice, then the provider is called once."""
    api.post("/v1/components", spec("web"))
    api.post("/v1/components/web/deploy")
    [message] = services.queue.receive(services.settings.jobs_queue)
    services.queue.send(services.settings.jobs_queue, message.body)  # a duplicate
    services.queue.change_visibility(services.settings.jobs_queue, message.receipt_handle, 0)
    jobs()
    assert [c[0] for c in provider.calls].count("prepare") == 1
    assert api.get("/v1/components/web")[2]["state"] == "Running"


def test_lost_job_is_requeued_by_the_sweep(api, services, provider, pool, jobs, monkeypatch):
    """Given a job message that was lost, when the sweep runs later, then the job is re-enqueued."""
    import pilothouse.services.jobs as jobs_module

    api.post("/v1/components", spec("web"))
    api.post("/v1/components/web/deploy")
    services.queue.purge(services.settings.jobs_queue)
    monkeypatch.setattr(jobs_module, "STALLED_AFTER_SECONDS", -1)
    result = pool.invoke("SweepFunction", {"detail-type": "Scheduled Event", "resources": ["rule"]})
    assert result["requeued"] == ["web"]
    jobs()
    assert api.get("/v1/components/web")[2]["state"] == "Running"


def test_racing_commands_exactly_one_wins(api, provider, jobs):
    """Given a Running component, when 50 conflicting commands race, then exactly one is accepted,
    the other 49 get 409, and the record and its events stay consistent."""
    running(api, jobs)
    commands = [("scale", {"replicas": 2}), ("stop", {}), ("update", {"version": "9.9.9"})]
    barrier = threading.Barrier(50)

    def fire(i):
        cmd, body = commands[i % 3]
        barrier.wait()
        return api.post(f"/v1/components/web/{cmd}", body)[0]

    with ThreadPoolExecutor(50) as ex:
        statuses = list(ex.map(fire, range(50)))
    assert statuses.count(202) == 1 and statuses.count(409) == 49, statuses
    types = event_types(api, "web")
    assert sum(t.endswith(".requested") for t in types) == 2  # the deploy and the one winner


def test_events_404_for_unknown_component(api):
    assert api.get("/v1/components/ghost/events")[0] == 404
    assert api.get("/v1/components/ghost")[0] == 404


def test_racing_freezes_of_one_target_keep_exactly_one_reason(api):
    """Given 20 callers freezing the same environment with their own reasons at once
    Then exactly one freeze is made (201), the other 19 are answered with it (200), and it stays."""
    barrier = threading.Barrier(20)

    def fire(i):
        barrier.wait()
        return api.post("/v1/freezes", {"scope": "environment", "target": "prod", "reason": f"r{i}"})

    with ThreadPoolExecutor(20) as ex:
        answers = list(ex.map(fire, range(20)))
    statuses = [a[0] for a in answers]
    assert statuses.count(201) == 1 and statuses.count(200) == 19, statuses
    winner = next(a[2] for a in answers if a[0] == 201)
    assert all(a[2] == winner for a in answers)
    assert api.get("/v1/freezes")[2]["items"] == [winner]


def test_spec_mistakes_are_named_as_the_mistakes_people_make(api):
    """Given a spec with a typo'd key and an unquoted YAML version
    Then the 422 names the key as unknown and says to quote the version, each with its field."""
    body = spec("typo")
    body["target"] = {"comand": ["x"]}
    body["version"] = 1.0
    status, _, problem = api.post("/v1/components", body)
    assert status == 422
    by_field = {e["field"]: e["message"] for e in problem["errors"]}
    assert by_field["target.comand"].startswith("unknown key 'comand'")
    assert "put the value in quotes" in by_field["version"]

"""What a spec may name (issue 17): URLs, paths, versions, working directories and ports are checked
when a spec is registered and when a command names them, through the functions of template.yaml."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from pilothouse.settings import get_settings
from pilothouse.wiring import Services, register_services
from tests.support.controlplane import ROOT, drain
from tests.support.fakes import RevisionFake

COMMAND = ["{python}", "examples/greeter/app.py", "--port", "{port}"]
VERSIONS = {"1.0.0": {"args": ["--version", "1.0.0"]}, "2.0.0": {"args": ["--version", "2.0.0"]}}


def spec(name="web", target=None, **over):
    s = {
        "name": name,
        "provider": "local",
        "environment": "development",
        "version": "1.0.0",
        "target": {"command": COMMAND, **(target or {})},
        "scaling": {"min": 1, "max": 5},
    }
    s.update(over)
    return s


def lambda_spec(name="fn", **target):
    return {
        "name": name,
        "provider": "aws-lambda",
        "version": "1",
        "target": {"function_name": "f", **target},
    }


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
    return lambda: drain(services, pool, cloud)


def fields(problem) -> list[str]:
    return [e["field"] for e in problem.get("errors", [])] or [problem.get("field")]


def assert_422(result, field: str, *words: str):
    status, headers, problem = result
    assert status == 422, problem
    assert headers["content-type"] == "application/problem+json"
    assert field in fields(problem), (field, problem)
    for word in words:
        assert word in problem["detail"], (word, problem["detail"])
    return problem


def running(api, jobs, name="web", **over):
    assert api.post("/v1/components", spec(name, **over))[0] == 201
    assert api.post(f"/v1/components/{name}/deploy")[0] == 202
    jobs()
    body = api.get(f"/v1/components/{name}")[2]
    assert body["state"] == "Running", body
    return body


# -- URLs and paths --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/health",
        "file:///etc/passwd",
        "http://user:secret@example.com/health",
        "http://example.com/health\r\nX-Injected: yes",
        "http://example.com/he\talth",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://2852039166/",
        "http://0251.0376.0251.0376/",
        "http://[::ffff:169.254.169.254]/",
        "http://0.0.0.0:8080/",
    ],
)
def test_bad_health_urls_are_422_naming_the_field(api, url):
    """Given a Lambda target whose health_url has a bad scheme, userinfo, control characters or names
    a forbidden address, when registered, then 422 naming target.health_url and nothing is stored."""
    assert_422(api.post("/v1/components", lambda_spec(health_url=url)), "target.health_url")
    assert api.get("/v1/components/fn")[0] == 404


def test_good_health_url_with_placeholders_is_accepted(api):
    """Given a health_url with {revision} on loopback, when registered, then 201."""
    status, _, body = api.post("/v1/components", lambda_spec(health_url="http://127.0.0.1:9/rev/{revision}"))
    assert status == 201, body


def test_private_health_urls_can_be_forbidden(api, monkeypatch):
    """Given PILOTHOUSE_OUTBOUND_ALLOW_PRIVATE=false (a cloud deployment), when a health_url names
    loopback, then 422."""
    monkeypatch.setenv("PILOTHOUSE_OUTBOUND_ALLOW_PRIVATE", "false")
    result = api.post("/v1/components", lambda_spec(health_url="http://127.0.0.1:9/h"))
    assert_422(result, "target.health_url")


@pytest.mark.parametrize("path", ["/health\r\nX-Injected: 1", "/he alth", "/health\x00", "/h\x7f"])
def test_health_check_path_without_control_characters(api, path):
    """Given a health_check.path with CR/LF, spaces or other control characters, then 422 naming it."""
    assert_422(api.post("/v1/components", spec(health_check={"path": path})), "health_check.path")


# -- versions --------------------------------------------------------------------------------------


def test_registered_version_must_be_among_versions(api):
    """Given a local target with a versions map, when spec.version is not in it, then 422 naming
    version and listing the known ones."""
    assert_422(
        api.post("/v1/components", spec(version="3.0.0", target={"versions": VERSIONS})),
        "version",
        "1.0.0",
        "2.0.0",
    )


def test_update_deploy_and_rollback_to_unknown_versions_are_422(api, provider, jobs):
    """Given a Running component whose target knows 1.0.0 and 2.0.0, when update, deploy-like paths
    and rollback name 9.9.9, then 422 naming version (listing the known ones) and nothing changes."""
    running(api, jobs, target={"versions": VERSIONS})
    assert_422(api.post("/v1/components/web/update", {"version": "9.9.9"}), "version", "1.0.0", "2.0.0")
    assert_422(api.post("/v1/components/web/rollback", {"version": "9.9.9"}), "version", "1.0.0")
    body = api.get("/v1/components/web")[2]
    assert body["state"] == "Running" and body["version"] == "1.0.0"
    status, _, body = api.post("/v1/components/web/update", {"version": "2.0.0"})
    assert status == 202, body

    api.post("/v1/components", spec("other", target={"versions": VERSIONS}))
    assert_422(api.post("/v1/components/other/deploy", {"version": "9.9.9"}), "version", "2.0.0")
    assert api.get("/v1/components/other")[2]["state"] == "Registered"


def test_promotion_of_a_version_the_target_does_not_know_is_422(api, provider, jobs):
    """Given web-dev running 3.0.0 and web-stg whose versions map lacks it, when promoted, then 422
    naming version before any workflow starts."""
    running(api, jobs, "web-dev", version="3.0.0")
    running(api, jobs, "web-stg", environment="staging", target={"versions": VERSIONS})
    assert_422(api.post("/v1/promotions", {"source": "web-dev", "target": "web-stg"}), "version", "1.0.0")


def test_without_a_versions_map_any_version_goes(api, provider, jobs):
    """Given a target without a versions map, when updated to any version, then accepted (202)."""
    running(api, jobs)
    assert api.post("/v1/components/web/update", {"version": "9.9.9"})[0] == 202


# -- working directories ---------------------------------------------------------------------------


def test_cwd_outside_the_project_and_data_dirs_is_422(api, env):
    """Given cwds outside the project dir and the data dir (absolute, traversal with .., a symlink
    inside the data dir pointing out), when registered, then 422 naming target.cwd."""
    data = env / "data"
    data.mkdir(parents=True, exist_ok=True)
    outside = env / "outside"
    outside.mkdir()
    (data / "escape").symlink_to(outside, target_is_directory=True)
    for cwd in ("/etc", str(outside), "examples/../..", str(data / "escape"), str(data / ".." / "outside")):
        assert_422(api.post("/v1/components", spec(target={"cwd": cwd})), "target.cwd")
    assert api.get("/v1/components")[2]["items"] == []


def test_cwd_inside_the_roots_is_accepted(api, env):
    """Given cwds in the project dir (relative or absolute) and in the data dir, then 201."""
    (env / "data" / "work").mkdir(parents=True)
    cwds = ("examples", str(ROOT / "examples" / "greeter"), str(env / "data" / "work"), None)
    for i, cwd in enumerate(cwds):
        target = {"cwd": cwd} if cwd else {}
        status, _, body = api.post("/v1/components", spec(f"ok-{i}", target=target))
        assert status == 201, (cwd, body)


def test_cwd_roots_setting_allows_more(api, env, monkeypatch):
    """Given PILOTHOUSE_LOCAL_CWD_ROOTS naming another directory, when a cwd lies under it, then 201."""
    extra = env / "extra"
    (extra / "app").mkdir(parents=True)
    monkeypatch.setenv("PILOTHOUSE_LOCAL_CWD_ROOTS", os.pathsep.join([str(extra), "/nonexistent-root"]))
    status, _, body = api.post("/v1/components", spec(target={"cwd": str(extra / "app")}))
    assert status == 201, body


# -- ports -----------------------------------------------------------------------------------------


def test_port_taken_by_another_component_is_422_naming_it(api):
    """Given a component holding target.port 18401, when another names the same port, then 422 naming
    target.port and the holder; after the holder is deregistered, the port is free again."""
    assert api.post("/v1/components", spec("first", target={"port": 18401}))[0] == 201
    result = api.post("/v1/components", spec("second", target={"port": 18401}))
    problem = assert_422(result, "target.port", "first")
    assert problem.get("component") == "first"
    assert api.delete("/v1/components/first")[0] == 204
    assert api.post("/v1/components", spec("second", target={"port": 18401}))[0] == 201


def test_control_plane_port_is_refused(api, monkeypatch):
    """Given the control plane listening on 18500, when a spec names that port, then 422 naming
    target.port."""
    monkeypatch.setenv("PILOTHOUSE_CONTROL_PORT", "18500")
    assert_422(api.post("/v1/components", spec(target={"port": 18500})), "target.port", "control plane")


def test_racing_registrations_of_one_port_exactly_one_wins(api):
    """Given 20 registrations of different names with the same port racing, then exactly one is 201
    and the 19 others are 422 naming target.port and the winner."""
    barrier = threading.Barrier(20)

    def fire(i):
        barrier.wait()
        return api.post("/v1/components", spec(f"racer-{i}", target={"port": 18402}))

    with ThreadPoolExecutor(20) as ex:
        results = list(ex.map(fire, range(20)))
    statuses = [r[0] for r in results]
    assert statuses.count(201) == 1 and statuses.count(422) == 19, statuses
    winner = next(r[2]["name"] for r in results if r[0] == 201)
    for status, _, problem in results:
        if status == 422:
            assert "target.port" in fields(problem) and winner in problem["detail"], problem
    assert len(api.get("/v1/components")[2]["items"]) == 1


def test_register_is_atomic_with_its_port_claim(api):
    """Given a name already taken, when registered again with a free port, then 409 on the name and the
    port stays free (the claim is written in the same transaction as the record)."""
    assert api.post("/v1/components", spec("web", target={"port": 18403}))[0] == 201
    assert api.post("/v1/components", spec("web", target={"port": 18404}))[0] == 409
    assert api.post("/v1/components", spec("free", target={"port": 18404}))[0] == 201


def test_dev_server_refuses_its_own_port(env, monkeypatch):
    """Given `pilothouse dev` listening on a fixed port, when a spec names that port as target.port,
    then 422 naming target.port (the dev server tells the functions which port is its own)."""
    from pilothouse.embedded.dev import DevServer
    from pilothouse.providers.local.process import free_port
    from tests.support.controlplane import ADMIN_KEY
    from tests.support.devserver import client_for

    monkeypatch.setenv("PILOTHOUSE_ADMIN_KEY", ADMIN_KEY)
    # set (so that monkeypatch restores it, unset, after the test) then unset: the server sets it
    monkeypatch.setenv("PILOTHOUSE_CONTROL_PORT", "1")
    monkeypatch.delenv("PILOTHOUSE_CONTROL_PORT")
    port = free_port()
    server = DevServer("127.0.0.1", port, env / "data", ROOT)
    server.start()
    try:
        with client_for(server) as client:
            response = client.post("/v1/components", json=spec(target={"port": port}))
            assert response.status_code == 422, response.text
            assert "target.port" in fields(response.json())
            assert client.post("/v1/components", json=spec(target={"port": free_port()})).status_code == 201
    finally:
        server.stop()


def test_a_record_from_before_the_check_cannot_deploy_an_unknown_version(api, services):
    """Given a component stored before versions were checked (spec.version 3.0.0 outside its versions
    map), when deployed without naming a version, then 422 naming version (not the base command)."""
    from pilothouse.services.components import repo

    body = spec("legacy", target={"versions": VERSIONS})
    api.post("/v1/components", body)  # registered as 1.0.0, then rewritten as an old record would be
    record = repo(services).get("legacy")
    data = {**record.data, "spec": {**record.data["spec"], "version": "3.0.0"}}
    repo(services).update(record, data, {"type": "test.rewrite"})
    assert_422(api.post("/v1/components/legacy/deploy"), "version", "1.0.0")


@pytest.mark.parametrize(
    "target, field",
    [
        ({"cwd": "examples\x00/../.."}, "target.cwd"),
        ({"cwd": "examples\n"}, "target.cwd"),
        ({"command": ["{python}", "app\x00.py", "{port}"]}, "target.command"),
        ({"env": {"A=B": "x"}}, "target.env"),
        ({"env": {"OK": "nul\x00byte"}}, "target.env"),
        ({"versions": {"../../etc": {"args": []}}}, "target.versions"),
    ],
)
def test_local_target_fields_without_control_characters(api, target, field):
    """Given a local target whose cwd, command, env or versions carry NUL or control characters, an
    env name with '=', or a version key outside the version pattern, when registered, then 422 naming
    the field (not a 500 from the process launcher later)."""
    assert_422(api.post("/v1/components", spec(target=target)), field)


@pytest.fixture
def counting_server():
    """An HTTP server on 127.0.0.1 keeping the path of every request it gets (its URL, the paths)."""
    from http.server import BaseHTTPRequestHandler

    from tests.support.httpservers import ThreadedServer

    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the stdlib's name
            hits.append(self.path)
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadedServer(Handler)
    yield server.url, hits
    server.close()


def test_a_config_schema_reference_to_a_url_is_422_and_never_fetched(api, counting_server, loopback_only):
    # Given config schemas naming documents on a server and on the cloud's metadata address
    url, hits = counting_server
    for ref in (f"{url}/port.json", "http://169.254.169.254/latest/meta-data/iam/security-credentials/"):
        schema = {"type": "object", "properties": {"port": {"$ref": ref}}}
        # When a component is registered with one (and a config the reference would check)
        problem = assert_422(
            api.post("/v1/components", spec("refd", config_schema=schema, config={"port": 80})),
            "config",
            "cannot be resolved",
        )
        assert ref in problem["detail"]
    # Then the control plane made no request (the loopback server saw none; any other address
    # would have failed the test), and nothing was registered
    assert hits == []
    assert api.get("/v1/components/refd")[0] == 404

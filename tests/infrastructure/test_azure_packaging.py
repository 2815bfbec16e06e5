"""infra/azure: the function app indexes every operation with its trigger (as the Functions host
would, through ``app.get_functions()``), its functions answer ``azure.functions`` requests on the
embedded SQLite store, and its requirements follow pyproject.toml."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

from pilothouse.runtime.cloud_entries import azure_function_name, azure_route, entries

from ._clouds import assert_each_gets_its_own_answer, functions_of, indexed
from ._tools import ROOT

func = pytest.importorskip("azure.functions")

AZURE = ROOT / "infra" / "azure"


def load_function_app(name: str = "azure_function_app"):
    """infra/azure/function_app.py loaded by path, as the Functions worker loads it."""
    spec = importlib.util.spec_from_file_location(name, AZURE / "function_app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def function_app():
    return load_function_app()


def test_every_operation_is_indexed_with_its_trigger(function_app):
    """Given the catalogue, When the function app is indexed
    Then every HTTP operation is an anonymous HTTP trigger on its method and route, every queue
    consumer a queue trigger on the queue its setting names, every sweep a timer on its schedule in
    NCRONTAB, and only workflow tasks and the AWS-only event rule have no trigger."""
    found = indexed(function_app.app)
    wanted = {}
    for e in entries():
        if e.kind == "http":
            for index, route in enumerate(e.routes):  # one route per Azure function
                wanted[azure_function_name(e, index)] = (
                    "http",
                    e.method,
                    "/" + azure_route(route),
                    "ANONYMOUS",
                )
        elif e.kind == "queue":
            wanted[e.name] = ("queue", f"%{e.queue_setting}%", "PilothouseStorage")
        elif e.kind == "schedule":
            wanted[e.name] = ("schedule", e.ncrontab)
    assert found == wanted
    untriggered = {e.name for e in entries()} - {re.sub(r"_route\d+$", "", name) for name in found}
    assert untriggered == {e.name for e in entries() if e.kind in ("task", "aws-event")}
    assert {"deployment_prepare", "system_advance", "execution_status_changed"} <= untriggered
    assert len(found) > 100


def test_the_queue_settings_name_real_settings_and_local_settings_set_them():
    """Each %PILOTHOUSE_*_QUEUE% a trigger names is a setting, given in local.settings.json.example
    and in main.bicep's app settings with the settings' default name."""
    example = json.loads((AZURE / "local.settings.json.example").read_text())["Values"]
    bicep = (AZURE / "main.bicep").read_text()
    for e in entries():
        if e.kind == "queue":
            assert example[e.queue_setting] == e.queue_name
            assert f"'{e.queue_name}'" in bicep and f"name: '{e.queue_setting}'" in bicep


def test_host_json_serves_the_routes_without_prefix():
    host = json.loads((AZURE / "host.json").read_text())
    assert host["version"] == "2.0"
    assert host["extensions"]["http"]["routePrefix"] == ""
    assert host["extensions"]["queues"]["maxDequeueCount"] >= 1


def _bicep_queues(bicep: str) -> dict[str, int]:
    """main.bicep's ``queues`` variable: name -> visibility timeout."""
    block = re.search(r"^var queues = \[(.*?)^\]", bicep, re.MULTILINE | re.DOTALL)
    assert block, "main.bicep declares its queues in `var queues = [...]`"
    found = re.findall(r"\{ name: '([a-z0-9-]+)', visibility: (\d+) \}", block.group(1))
    return {name: int(seconds) for name, seconds in found}


def test_queue_messages_are_base64_envelopes_and_queue_metadata_is_what_the_adapter_reads():
    """The queue adapter sends Base64 envelopes, so host.json decodes Base64; main.bicep gives each
    of the suite's queues (with the wiring's visibility timeout) the metadata the adapter reads
    (visibilitytimeout, maxreceivecount = host.json's maxDequeueCount, deadletterqueue =
    <queue>-poison, the host's poison queue), declares the poison queues, and the claim-check
    container the adapter writes large messages to."""
    from pilothouse.messaging.azure_queue import AzureStorageQueue
    from pilothouse.settings import Settings
    from pilothouse.wiring import queue_visibilities

    host = json.loads((AZURE / "host.json").read_text())["extensions"]["queues"]
    assert host["messageEncoding"] == "base64"
    bicep = (AZURE / "main.bicep").read_text()
    assert _bicep_queues(bicep) == dict(queue_visibilities(Settings()))
    assert f"var maxReceiveCount = {host['maxDequeueCount']}" in bicep
    metadata = re.search(r"resource suiteQueues .*?metadata: \{\n(.*?)\n\s*\}", bicep, re.DOTALL)
    assert metadata
    assert re.findall(r"(\w+): ", metadata.group(1)) == [
        "visibilitytimeout",
        "maxreceivecount",
        "deadletterqueue",
    ]
    assert "deadletterqueue: '${queue.name}-poison'" in metadata.group(1)
    assert "name: '${queue.name}-poison'" in bicep
    import inspect

    default = inspect.signature(AzureStorageQueue).parameters["payload_container"].default
    assert f"var queuePayloadsContainerName = '{default}'" in bicep
    assert "name: queuePayloadsContainerName" in bicep


def _request(method: str, path: str, *, route_params=None, key: str | None = None, body=None, query=""):
    headers = {"content-type": "application/json"}
    if key:
        headers["authorization"] = f"Bearer {key}"
    raw = json.dumps(body).encode() if body is not None else b""
    url = f"https://pilothouse.azurewebsites.net{path}" + (f"?{query}" if query else "")
    return func.HttpRequest(
        method=method, url=url, headers=headers, route_params=route_params or {}, body=raw
    )


def _user_function(app, name):
    return functions_of(app)[name].get_user_function()


def test_http_and_queue_functions_answer_azure_requests(env, admin_key, services):
    """Given the embedded SQLite store and an admin key
    When a backup is requested through the create_backup HTTP function, its job message is handed
    to run_job as an Azure QueueMessage, and the run is read through get_backup_run
    Then the request is accepted (202), the run succeeds, and callers without a key get 401
    problem+json."""
    from azure.functions.queue import QueueMessage  # what the worker passes a queue trigger

    app = load_function_app("azure_function_app_invoke").app

    created = _user_function(app, "create_backup")(_request("POST", "/v1/backups", key=admin_key, body={}))
    assert created.status_code == 202, created.get_body()
    run = json.loads(created.get_body())
    assert created.headers["x-request-id"]

    messages = services.queue.receive(services.settings.jobs_queue, max_messages=10)
    assert len(messages) == 1
    msg = messages[0]
    # as the Azure queue adapter sends it (messaging/azure_queue.py): the host undoes the Base64
    envelope = {"id": msg.id, "t": msg.sent_at, "a": msg.attributes, "b": msg.body}
    _user_function(app, "run_job")(
        QueueMessage(id="azure-1", body=json.dumps(envelope).encode(), dequeue_count=1, pop_receipt="pop")
    )

    got = _user_function(app, "get_backup_run")(
        _request("GET", f"/v1/backup-runs/{run['id']}", route_params={"run_id": run["id"]}, key=admin_key)
    )
    assert got.status_code == 200
    assert json.loads(got.get_body())["status"] == "succeeded"

    refused = _user_function(app, "get_backup_run")(
        _request("GET", f"/v1/backup-runs/{run['id']}", route_params={"run_id": run["id"]})
    )
    assert refused.status_code == 401
    assert refused.headers["content-type"].startswith("application/problem+json")


def test_concurrent_requests_each_get_their_own_answer(env, admin_key):
    """Given 50 threads each sending 4 requests for its own components at once to one Azure
    function, with the interpreter switching threads as often as it can
    Then each answer is the 404 of its own component (no request is resolved with another's
    event: one instance of the function's module serves one invocation at a time)."""
    app = load_function_app("azure_function_app_concurrent").app
    get_component = _user_function(app, "get_component")

    def ask(name: str) -> tuple[int, dict]:
        r = get_component(
            _request("GET", f"/v1/components/{name}", route_params={"name": name}, key=admin_key)
        )
        return r.status_code, json.loads(r.get_body())

    assert_each_gets_its_own_answer(ask)


def _requirement_names(path: Path) -> set[str]:
    names = set()
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            names.add(re.split(r"[=<>!~\[; ]", line, maxsplit=1)[0].lower())
    return names


def _pyproject_names(extra: str) -> set[str]:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = project["dependencies"] + project["optional-dependencies"][extra]
    return {re.split(r"[=<>!~\[; ]", s, maxsplit=1)[0].lower() for s in specs}


@pytest.mark.parametrize("cloud", ["azure", "gcp"])
def test_requirements_follow_pyproject_and_the_lock(cloud):
    """infra/<cloud>/requirements.txt lists the package's dependencies and its cloud extra, each
    pinned to requirements-dev.lock's version."""
    path = ROOT / "infra" / cloud / "requirements.txt"
    assert _requirement_names(path) == _pyproject_names(cloud)
    lock = (ROOT / "requirements-dev.lock").read_text()
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            assert re.search(rf"^{re.escape(line)}\b", lock, re.MULTILINE | re.IGNORECASE), line


def test_function_app_loads_no_function_module_when_indexed():
    """Indexing the app imports no function's module (each loads on its first call) and no AWS or
    Google SDK."""
    import subprocess

    script = (
        "import importlib.util, json, sys\n"
        f"spec = importlib.util.spec_from_file_location('fa', {str(AZURE / 'function_app.py')!r})\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    modules = json.loads(out.stdout.splitlines()[-1])
    assert not [m for m in modules if m.startswith("pilothouse_fn_")]
    from tests.support.cloud_imports import top_level

    assert not top_level(modules) & {"boto3", "botocore", "google", "flask", "functions_framework"}
    assert "azure.functions" in modules


def _azurite_env(monkeypatch) -> str:
    """Point the queue at the session's Azurite (queues of this test's own names, created on first
    use); returns the connection string."""
    import uuid

    from tests.support.azurite import azurite_binary, session_azurite

    if azurite_binary() is None:
        pytest.skip("azurite is not installed (npm ci)")
    connection = session_azurite().connection_string
    suffix = uuid.uuid4().hex[:8]
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", connection)
    monkeypatch.setenv("PILOTHOUSE_QUEUE", "azure-queue")
    monkeypatch.setenv("PILOTHOUSE_CREATE_RESOURCES", "true")
    for setting in ("JOBS", "EXECUTIONS", "TASKS", "TASK_MESSAGES", "NOTIFICATIONS", "HEALTH"):
        monkeypatch.setenv(f"PILOTHOUSE_{setting}_QUEUE", f"{setting.lower().replace('_', '-')}-{suffix}")
    return connection


def _host_receive(connection: str, queue: str):
    """One message of ``queue`` as the Functions host hands it to a queue trigger: received with
    Base64 decoding (host.json messageEncoding), as an ``azure.functions.queue.QueueMessage``."""
    from azure.functions.queue import QueueMessage
    from azure.storage.queue import QueueClient, TextBase64DecodePolicy

    client = QueueClient.from_connection_string(
        connection, queue, message_decode_policy=TextBase64DecodePolicy()
    )
    (raw,) = list(client.receive_messages(max_messages=1, visibility_timeout=60))
    return (
        client,
        raw,
        QueueMessage(
            id=raw.id,
            body=raw.content.encode("utf-8"),
            dequeue_count=raw.dequeue_count,
            pop_receipt=raw.pop_receipt,
            insertion_time=raw.inserted_on,
        ),
    )


def test_http_and_queue_functions_on_an_azurite_queue(env, admin_key, monkeypatch):
    """Given the Azure queue adapter on Azurite (PILOTHOUSE_QUEUE=azure-queue)
    When create_backup is called over HTTP, the job message it sent is received from Azurite as the
    Functions host receives it (Base64-decoded) and handed to run_job
    Then the run succeeds: the trigger opened the adapter's envelope."""
    from pilothouse.settings import get_settings
    from pilothouse.wiring import reset_services

    connection = _azurite_env(monkeypatch)
    reset_services()
    app = load_function_app("azure_function_app_azurite").app
    created = _user_function(app, "create_backup")(_request("POST", "/v1/backups", key=admin_key, body={}))
    assert created.status_code == 202, created.get_body()
    run = json.loads(created.get_body())

    client, raw, message = _host_receive(connection, get_settings().jobs_queue)
    _user_function(app, "run_job")(message)
    client.delete_message(raw.id, raw.pop_receipt)  # what the host does after a success

    got = _user_function(app, "get_backup_run")(
        _request("GET", f"/v1/backup-runs/{run['id']}", route_params={"run_id": run["id"]}, key=admin_key)
    )
    assert got.status_code == 200 and json.loads(got.get_body())["status"] == "succeeded"
    reset_services()


def test_queue_trigger_reads_an_azurite_claim_check_and_deletes_it_once_handled(monkeypatch):
    """Given a 200 KB message sent through the Azure queue adapter (a claim check in
    pilothouse-queue-payloads) and a small one with attributes
    When each is received from Azurite as the host receives it and handed to a queue trigger
    Then the handler gets each body, id and attributes as sent; the large body's blob is deleted
    after success, and kept when the handler fails (for the retry, and then the poison queue)."""
    from pilothouse.messaging.azure_queue import AzureQueueError, AzureStorageQueue
    from pilothouse.ports import QueueSpec
    from pilothouse.runtime import azure_functions as adapt
    from pilothouse.runtime.instances import HandlerPool

    connection = _azurite_env(monkeypatch)
    queue = AzureStorageQueue(connection_string=connection)
    name = f"claims-{id(queue) % 100000}"
    queue.declare(QueueSpec(name + "-poison"))
    queue.declare(QueueSpec(name, max_receive_count=5, dead_letter_queue=name + "-poison"))
    big = "é" * 100_000
    seen: list[dict] = []
    fail = {"now": False}

    def handler(event, context):
        seen.append(event["Records"][0])
        return {"batchItemFailures": [{"itemIdentifier": "x"}] if fail["now"] else []}

    run = adapt.queue_trigger(
        HandlerPool(Path("unused/app.py"), loader=lambda path: handler),
        name="run_job",
        queue=name,
        timeout=60,
    )  # its claim checks: the adapter of the process's settings (AZURE_STORAGE_CONNECTION_STRING)

    small_id = queue.send(name, "small", attributes={"trace": "t1"})
    _, _, message = _host_receive(connection, name)
    run(message)
    assert (seen[-1]["messageId"], seen[-1]["body"]) == (small_id, "small")
    assert seen[-1]["messageAttributes"]["trace"]["stringValue"] == "t1"

    big_id = queue.send(name, big)
    client, raw, message = _host_receive(connection, name)
    ref = json.loads(raw.content)["ref"]
    fail["now"] = True
    with pytest.raises(adapt.QueueRecordFailed):
        run(message)
    assert queue.payload(ref) == big  # kept for the retry
    fail["now"] = False
    run(message)
    assert (seen[-1]["messageId"], seen[-1]["body"]) == (big_id, big)
    with pytest.raises(AzureQueueError):
        queue.payload(ref)  # deleted once handled
    handled = len(seen)
    run(message)  # the host could not delete it and it came back: handled already, not again
    assert len(seen) == handled
    client.delete_message(raw.id, raw.pop_receipt)

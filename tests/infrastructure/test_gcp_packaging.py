"""infra/gcp: main.py has a functions-framework entry point per operation, which its test client
calls (every HTTP one, and the CloudEvent ones with real Pub/Sub push envelopes on the embedded
SQLite store); the Terraform parses (python-hcl2) and names the same functions."""

from __future__ import annotations

import base64
import functools
import json
import re

import pytest

from pilothouse.runtime.cloud_entries import entries

from ._clouds import GCP, _locals, _resources, terraform

functions_framework = pytest.importorskip("functions_framework")

MAIN = str(GCP / "main.py")


@functools.cache
def client(target: str):
    return functions_framework.create_app(target=target, source=MAIN).test_client()


def _sample_path(route: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: f"sample-{m.group(1)}", route)


@pytest.mark.slow  # loads every HTTP function's module (~40 s on a shared machine)
def test_every_http_entry_point_answers_through_the_test_client(env):
    """Given every HTTP operation of the catalogue
    When its entry point is called through functions-framework's test client without credentials
    Then an operation that needs a permission answers 401 problem+json, and a public one answers
    without a server error; each answer carries the request id."""
    https = [e for e in entries() if e.kind == "http"]
    assert len(https) > 100
    for e in https:
        body = json.dumps({}) if e.method in ("POST", "PUT") else None
        answer = client(e.name).open(
            _sample_path(e.route), method=e.method, data=body, headers={"content-type": "application/json"}
        )
        assert answer.headers.get("x-request-id"), e.name
        public = e.name in ("health", "openapi", "receive_webhook", "dashboard")
        if public:
            assert answer.status_code < 500, (e.name, answer.status_code, answer.data[:300])
        else:
            assert answer.status_code == 401, (e.name, answer.status_code, answer.data[:300])
            assert answer.headers["content-type"].startswith("application/problem+json"), e.name


def test_concurrent_requests_each_get_their_own_answer(env, admin_key):
    """Given 50 threads each sending 4 requests for its own components at once to one HTTP entry
    point (as gunicorn's threads serve them), Then each answer is the 404 of its own component."""
    from ._clouds import assert_each_gets_its_own_answer

    app = functions_framework.create_app(target="get_component", source=MAIN)

    def ask(name: str) -> tuple[int, dict]:
        r = app.test_client().get(f"/v1/components/{name}", headers={"x-api-key": admin_key})
        return r.status_code, r.get_json()

    assert_each_gets_its_own_answer(ask)


def test_a_path_outside_the_route_is_a_problem_not_a_crash(env):
    """A request to an HTTP function on a path that is not its route (a gateway misrouting, a
    direct call) answers 404 problem+json."""
    answer = client("get_component").get("/v1/not-a-route/x/y")
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("application/problem+json")


def test_public_entry_points_serve_their_answer(env):
    assert client("health").get("/v1/health").status_code == 200
    document = client("openapi").get("/v1/openapi.json")
    assert document.status_code == 200 and document.get_json()["openapi"].startswith("3.1")


def _push(body: str, subscription: str = "projects/p/subscriptions/pilothouse-jobs-run-job") -> dict:
    return {
        "message": {
            "data": base64.b64encode(body.encode()).decode(),
            "messageId": "m-1",
            "publishTime": "2026-12-02T07:00:00Z",
            "attributes": {},
        },
        "subscription": subscription,
    }


def test_http_and_cloud_event_entry_points_carry_a_backup_through(env, admin_key, services):
    """Given the embedded SQLite store and an admin key
    When a backup is requested through create_backup, its job is pushed to run_job as Pub/Sub's
    raw push envelope (which functions-framework turns into a messagePublished CloudEvent), and the
    run is read through get_backup_run
    Then the run succeeded."""
    auth = {"authorization": f"Bearer {admin_key}", "content-type": "application/json"}
    created = client("create_backup").post("/v1/backups", data="{}", headers=auth)
    assert created.status_code == 202, created.data
    run = created.get_json()
    (msg,) = services.queue.receive(services.settings.jobs_queue, max_messages=10)

    pushed = client("run_job").post("/", json=_push(msg.body))
    assert pushed.status_code == 200, pushed.data

    got = client("get_backup_run").get(f"/v1/backup-runs/{run['id']}", headers=auth)
    assert got.status_code == 200 and got.get_json()["status"] == "succeeded"


def test_a_sweep_runs_from_a_scheduler_cloud_event(env):
    """A binary-mode CloudEvent (Cloud Scheduler's message on the sweep's topic) runs the sweep."""
    headers = {
        "ce-id": "1",
        "ce-specversion": "1.0",
        "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
        "ce-source": "//pubsub.googleapis.com/projects/p/topics/pilothouse-schedule-sweep",
        "content-type": "application/json",
    }
    answer = client("sweep").post("/", data=json.dumps(_push('{"schedule": "sweep"}')), headers=headers)
    assert answer.status_code == 200, answer.data


def test_a_failed_message_is_a_server_error_so_pubsub_redelivers(env):
    """A push whose data is not a Pub/Sub message's base64 text fails (5xx): Pub/Sub retries it and,
    after the subscription's max_delivery_attempts, dead-letters it."""
    bad = _push("x")
    bad["message"]["data"] = "%%%"
    answer = client("run_job").post("/", json=bad)
    assert answer.status_code >= 500


def test_entry_points_are_the_triggered_operations():
    """main.py's entry points are exactly the catalogue's HTTP, queue and schedule functions."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("gcp_main", MAIN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    wanted = {e.name: e for e in entries() if e.kind in ("http", "queue", "schedule")}
    assert wanted == module.ENTRY_POINTS
    for name in wanted:
        assert callable(getattr(module, name)) and getattr(module, name).__name__ == name


# -- Terraform ---------------------------------------------------------------------------------------


def test_every_tf_file_parses():
    parsed = terraform()
    assert {"main.tf", "iam.tf", "gateway.tf", "operations.tf", "variables.tf", "versions.tf"} <= set(parsed)


def test_terraform_declares_what_the_brief_asks():
    """Functions per entry point, Firestore, topics with push subscriptions and dead letters, a
    scheduler job per sweep, a CMEK bucket with uniform access, service accounts."""
    assert _resources("google_cloudfunctions2_function")["fn"]["for_each"]
    (db,) = _resources("google_firestore_database").values()
    assert db["type"] == "FIRESTORE_NATIVE" and db["delete_protection_state"] == "DELETE_PROTECTION_ENABLED"
    for name in ("consumer", "sweep"):
        sub = _resources("google_pubsub_subscription")[name]
        assert sub["dead_letter_policy"][0]["max_delivery_attempts"] >= 5
        assert sub["push_config"][0]["oidc_token"]
    assert _resources("google_cloud_scheduler_job")["sweep"]["time_zone"] == "Etc/UTC"
    for name, bucket in _resources("google_storage_bucket").items():
        assert bucket["uniform_bucket_level_access"] is True, name
        assert bucket["public_access_prevention"] == "enforced", name
        assert "google_kms_crypto_key.data" in bucket["encryption"][0]["default_kms_key_name"], name
    assert "fn" in _resources("google_service_account")


def _seconds(duration: str) -> int:
    assert duration.endswith("s"), duration
    return int(duration[:-1])


def test_pubsub_consumers_leave_room_for_early_pushes_of_delayed_messages():
    """A delayed message pushed early is refused (runtime/gcp_functions.NotYetDue) and comes back
    after the retry back-off; every refusal is a delivery attempt. From the minimum back-off,
    doubling up to the maximum, the port's longest delay (900 s) is refused a few times: the
    subscription's max_delivery_attempts keeps at least Pub/Sub's minimum of 5 real attempts."""
    from pilothouse.messaging.base import MAX_DELAY_SECONDS

    sub = _resources("google_pubsub_subscription")["consumer"]
    retry = sub["retry_policy"][0]
    backoff, longest = _seconds(retry["minimum_backoff"]), _seconds(retry["maximum_backoff"])
    early, waited = 1, 0  # the first push, at once
    while True:
        waited += backoff
        if waited >= MAX_DELAY_SECONDS:
            break
        early += 1
        backoff = min(longest, backoff * 2)
    assert sub["dead_letter_policy"][0]["max_delivery_attempts"] - early >= 5


def test_firestore_ttl_and_index_exemptions_and_the_service_agents_grants():
    """The store's TTL field has a TTL policy, ``data`` (JSON text, never queried) and the TTL
    field are exempt from single-field indexes, on the store's collection; Pub/Sub's service agent
    publishes to every dead-letter topic and subscribes to every pushing subscription; the Cloud
    Storage, Pub/Sub and Firestore service agents may use the CMEK key."""
    from pilothouse.settings import Settings

    fields = _resources("google_firestore_field")
    collection = _locals()["firestore_collection"]
    assert collection == Settings().firestore_collection
    assert fields["expire_time"]["field"] == "expire_time" and "ttl_config" in fields["expire_time"]
    assert fields["data"]["field"] == "data"
    for field in fields.values():
        assert field["collection"] == "${local.firestore_collection}"
        assert field["index_config"] == [{}]  # no single-field index
    publish = _resources("google_pubsub_topic_iam_member")["dead_letter_publish"]
    assert publish["for_each"] == "${google_pubsub_topic.dead_letter}"
    assert publish["role"] == "roles/pubsub.publisher" and publish["member"] == "${local.pubsub_agent}"
    subscribe = _resources("google_pubsub_subscription_iam_member")["dead_letter_subscribe"]
    assert "google_pubsub_subscription.consumer" in subscribe["for_each"]
    assert "google_pubsub_subscription.sweep" in subscribe["for_each"]
    assert subscribe["role"] == "roles/pubsub.subscriber" and subscribe["member"] == "${local.pubsub_agent}"
    grants = _resources("google_kms_crypto_key_iam_member")
    for name in ("data_for_storage", "data_for_pubsub", "data_for_firestore"):
        assert grants[name]["role"] == "roles/cloudkms.cryptoKeyEncrypterDecrypter", name
        assert grants[name]["crypto_key_id"] == "${google_kms_crypto_key.data.id}", name
    assert grants["data_for_storage"]["member"] == "${local.storage_agent}"
    assert "google_project_service_identity.firestore" in grants["data_for_firestore"]["member"]


def test_terraform_locals_name_the_triggered_operations():
    """operations.tf (generated) routes, queues and schedules are the catalogue's."""
    local = _locals()
    http = {k: (v["method"], v["route"]) for k, v in local["http_functions"].items()}
    assert http == {e.name: (e.method, e.route) for e in entries() if e.kind == "http"}
    queues = {k: v["topic"] for k, v in local["queue_functions"].items()}
    assert queues == {e.name: e.queue_name for e in entries() if e.kind == "queue"}
    sweeps = {k: v["schedule"] for k, v in local["schedule_functions"].items()}
    assert sweeps == {e.name: e.unix_cron for e in entries() if e.kind == "schedule"}
    accounts = local["service_accounts"]
    for fns in (local["http_functions"], local["queue_functions"], local["schedule_functions"]):
        for name, fn in fns.items():
            assert fn["account"] in accounts, name
            assert 6 <= len(fn["account"]) <= 30 and re.fullmatch(r"[a-z][a-z0-9-]+", fn["account"]), name


def test_least_privilege_read_only_functions_cannot_write():
    """A function whose policies only read gets a service account with Firestore's viewer role and
    no topic; the job worker can send to the queues its tasks send to."""
    local = _locals()
    accounts = local["service_accounts"]
    reader = accounts[local["http_functions"]["get_component"]["account"]]
    assert reader == {
        "firestore_role": "roles/datastore.viewer",
        "topics": [],
        "backups": False,
        "secrets": False,
    }
    health = accounts[local["http_functions"]["health"]["account"]]
    assert health["firestore_role"] == "" and health["topics"] == []
    worker = accounts[local["queue_functions"]["run_task"]["account"]]
    assert worker["firestore_role"] == "roles/datastore.user"
    assert {"pilothouse-executions", "pilothouse-tasks", "pilothouse-jobs"} <= set(worker["topics"])

"""The four modes of the portability scenario suite, as the settings a ``pilothouse dev`` subprocess
starts from (environment variables only) and the local servers behind them.

- ``embedded``: SQLite, the local queue and local blobs under the data dir (the defaults).
- ``aws``: DynamoDB, SQS and S3 on a moto server (``AWS_ENDPOINT_URL``).
- ``azure``: Azure Tables, Storage queues and Blob Storage on Azurite (``AZURE_STORAGE_CONNECTION_STRING``).
- ``gcp``: Firestore on ``@firestore-emulator/server`` (``FIRESTORE_EMULATOR_HOST``), Cloud Storage on
  gcp-storage-emulator (``STORAGE_EMULATOR_HOST``) and Pub/Sub on the small gRPC test server of
  :mod:`tests.support.pubsub_server` (``PUBSUB_EMULATOR_HOST``), each in this test process or its own.

The servers are started once per test process (the suite puts each mode's tests in one xdist
group, so one worker starts them) and stopped at the session's end. Each dev server gets names of
its own (table, collection, bucket, queues), so tests sharing a server share no state.
"""

from __future__ import annotations

import uuid
from typing import Any

from tests.support.processes import stop_at_session_end

MODES = ("embedded", "aws", "azure", "gcp")

#: the settings naming the control plane's queues (their dead-letter queues follow their names)
QUEUE_SETTINGS = (
    "JOBS_QUEUE",
    "EXECUTIONS_QUEUE",
    "TASKS_QUEUE",
    "TASK_MESSAGES_QUEUE",
    "NOTIFICATIONS_QUEUE",
    "HEALTH_QUEUE",
)

_servers: dict[str, Any] = {}


def _once(name: str, start: Any) -> Any:
    if name not in _servers:
        server = start()
        stop_at_session_end(server.stop)
        _servers[name] = server
    return _servers[name]


def _moto() -> Any:
    from tests.support.moto_server import MotoServer

    return _once("moto", lambda: MotoServer().start())


def _azurite() -> Any:
    from tests.support.azurite import session_azurite

    return session_azurite()


def _firestore() -> Any:
    from tests.support.firestore_emulator import FirestoreEmulator

    return _once("firestore", lambda: FirestoreEmulator(set_environ=False).start())


def _gcs() -> Any:
    from tests.support.gcs_emulator import GcsEmulator

    return _once("gcs", lambda: GcsEmulator(set_environ=False).start())


def _pubsub() -> Any:
    from tests.support.pubsub_server import PubSubServer

    return _once("pubsub", lambda: PubSubServer(set_environ=False).start())


def _names(tag: str, *, alnum: bool = False) -> dict[str, str]:
    """Names of this dev server's own: its queues, table (or collection) and bucket."""
    env = {f"PILOTHOUSE_{key}": f"ph-{tag}-{key.lower().replace('_', '-')}" for key in QUEUE_SETTINGS}
    env["PILOTHOUSE_TABLE_NAME"] = f"ph{tag}" if alnum else f"ph-{tag}"
    env["PILOTHOUSE_BUCKET_NAME"] = f"ph-{tag}-backups"
    return env


def settings_for(mode: str) -> dict[str, str]:
    """The environment a dev server of ``mode`` starts from (servers started on first use), with
    fresh names for its table, queues and bucket."""
    tag = uuid.uuid4().hex[:10]
    if mode == "embedded":
        return {}
    if mode == "aws":
        moto = _moto()
        return {
            "PILOTHOUSE_STORE": "dynamodb",
            "PILOTHOUSE_QUEUE": "sqs",
            "PILOTHOUSE_BLOBS": "s3",
            "AWS_ENDPOINT_URL": moto.url,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            **_names(tag),
        }
    if mode == "azure":
        azurite = _azurite()
        return {
            "PILOTHOUSE_STORE": "azure-tables",
            "PILOTHOUSE_QUEUE": "azure-queue",
            "PILOTHOUSE_BLOBS": "azure-blob",
            "AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string,
            **_names(tag, alnum=True),
        }
    if mode == "gcp":
        firestore, gcs, pubsub = _firestore(), _gcs(), _pubsub()
        return {
            "PILOTHOUSE_STORE": "firestore",
            "PILOTHOUSE_QUEUE": "pubsub",
            "PILOTHOUSE_BLOBS": "gcs",
            "GOOGLE_CLOUD_PROJECT": firestore.project,
            "FIRESTORE_EMULATOR_HOST": firestore.host,
            "STORAGE_EMULATOR_HOST": gcs.url,
            "PUBSUB_EMULATOR_HOST": pubsub.host,
            "PILOTHOUSE_FIRESTORE_COLLECTION": f"ph-{tag}",
            **_names(tag),
        }
    raise ValueError(f"unknown mode {mode!r}")


#: what each mode's dev server must NOT inherit from the test process (another cloud's endpoints)
FOREIGN = ("AWS_", "AZURE_", "GOOGLE_", "FIRESTORE_", "PUBSUB_", "STORAGE_EMULATOR")

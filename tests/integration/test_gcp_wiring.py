"""Settings alone choose the Google Cloud adapters: PILOTHOUSE_STORE=firestore, QUEUE=pubsub,
BLOBS=gcs, with the SDKs' emulator variables, against the local stand-ins started here."""

from __future__ import annotations

import uuid

import pytest

from pilothouse.settings import Settings
from pilothouse.store import Item
from pilothouse.wiring import Services


@pytest.fixture(scope="module")
def emulators():
    from tests.support.firestore_emulator import FirestoreEmulator
    from tests.support.gcs_emulator import GcsEmulator
    from tests.support.pubsub_server import PubSubServer

    with FirestoreEmulator() as firestore, GcsEmulator() as gcs, PubSubServer() as pubsub:
        yield firestore, gcs, pubsub


def test_settings_build_the_gcp_adapters(emulators, monkeypatch):
    """Given the GCP settings and emulator hosts, when the services are built, then the store,
    queue and blobs are the Firestore, Pub/Sub and Cloud Storage adapters and each works; the queue
    declares the suite's queues (with dead-letter queues) because create_resources is on."""
    firestore, _, pubsub = emulators
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", pubsub.project)
    prefix = f"w{uuid.uuid4().hex[:8]}"
    settings = Settings.from_environ(
        {
            "PILOTHOUSE_STORE": "firestore",
            "PILOTHOUSE_QUEUE": "pubsub",
            "PILOTHOUSE_BLOBS": "gcs",
            "PILOTHOUSE_GCP_PROJECT": pubsub.project,
            "PILOTHOUSE_FIRESTORE_COLLECTION": f"{prefix}-state",
            "PILOTHOUSE_BUCKET_NAME": f"{prefix}-blobs",
            "PILOTHOUSE_JOBS_QUEUE": f"{prefix}-jobs",
            "PILOTHOUSE_CREATE_RESOURCES": "true",
        }
    )
    services = Services(settings)
    try:
        assert type(services.store).__name__ == "FirestoreStore"
        assert type(services.queue).__name__ == "PubSubQueue"
        assert type(services.blobs).__name__ == "GcsBlobs"
        services.store.put(Item("P", "a", {"x": 1}), if_absent=True)
        assert services.store.get("P", "a").version == 1
        services.queue.send(f"{prefix}-jobs", "job")
        assert [m.body for m in services.queue.receive(f"{prefix}-jobs")] == ["job"]
        services.blobs.put("k", b"v")
        assert services.blobs.get("k") == b"v"
    finally:
        services.close()

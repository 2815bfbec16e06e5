"""The wiring picks the Azure adapters from settings alone (PILOTHOUSE_STORE=azure-tables,
PILOTHOUSE_QUEUE=azure-queue, PILOTHOUSE_BLOBS=azure-blob) with the SDKs' usual connection setting,
here Azurite's connection string."""

from __future__ import annotations

import uuid

import pytest

from pilothouse.errors import ConfigurationError
from pilothouse.ports import QueueSpec
from pilothouse.settings import Settings
from pilothouse.store import Item
from pilothouse.wiring import Services
from tests.support.azurite import session_azurite


@pytest.fixture
def azure_settings(monkeypatch) -> Settings:
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", session_azurite().connection_string)
    suffix = uuid.uuid4().hex[:8]
    return Settings.from_environ(
        {
            "PILOTHOUSE_STORE": "azure-tables",
            "PILOTHOUSE_QUEUE": "azure-queue",
            "PILOTHOUSE_BLOBS": "azure-blob",
            "PILOTHOUSE_TABLE_NAME": f"pilothouse{suffix}",
            "PILOTHOUSE_BUCKET_NAME": f"pilothouse-{suffix}",
            "PILOTHOUSE_JOBS_QUEUE": f"jobs-{suffix}",
            "PILOTHOUSE_EXECUTIONS_QUEUE": f"executions-{suffix}",
            "PILOTHOUSE_TASKS_QUEUE": f"tasks-{suffix}",
            "PILOTHOUSE_TASK_MESSAGES_QUEUE": f"task-messages-{suffix}",
            "PILOTHOUSE_NOTIFICATIONS_QUEUE": f"notifications-{suffix}",
            "PILOTHOUSE_HEALTH_QUEUE": f"health-{suffix}",
            "PILOTHOUSE_CREATE_RESOURCES": "true",
        }
    )


def test_settings_alone_choose_and_create_the_azure_adapters(azure_settings: Settings) -> None:
    """Given Azure settings with create_resources, When the services are built, Then the store, queue
    and blobs are the Azure adapters, their table, queues (each with a <name>-poison dead-letter
    queue) and container exist, and each works."""
    services = Services(azure_settings)

    assert type(services.store).__name__ == "AzureTableStore"
    assert services.store.transaction_scope == "partition"
    assert type(services.queue).__name__ == "AzureStorageQueue"
    assert type(services.blobs).__name__ == "AzureBlobs"

    services.store.put(Item("COMPONENT", "web", {"state": "Registered"}), if_absent=True)
    assert services.store.get("COMPONENT", "web").version == 1
    jobs = azure_settings.jobs_queue
    services.queue.send(jobs, "job")
    assert [m.body for m in services.queue.receive(jobs)] == ["job"]
    services.queue.declare(QueueSpec(jobs + "-poison"))  # declared already: re-declaring is harmless
    assert services.queue.receive(jobs + "-poison") == []
    services.blobs.put("backups/x", b"data")
    assert services.blobs.get("backups/x") == b"data"
    services.close()


def test_azure_adapters_without_a_connection_say_which_setting_is_missing(monkeypatch) -> None:
    """Given the Azure store and neither a connection string nor an account, When the store is built,
    Then a ConfigurationError names both settings."""
    monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING", raising=False)
    services = Services(Settings(store="azure-tables"))

    with pytest.raises(ConfigurationError, match="AZURE_STORAGE_CONNECTION_STRING"):
        _ = services.store


def test_a_bad_storage_account_name_is_refused() -> None:
    """Given an account name Azure could not have (upper case), When settings are read, Then they are
    refused naming the variable."""
    with pytest.raises(ConfigurationError, match="PILOTHOUSE_AZURE_STORAGE_ACCOUNT"):
        Settings.from_environ({"PILOTHOUSE_AZURE_STORAGE_ACCOUNT": "Not_Valid"})

"""The settings the Azure and Google Cloud packaging gives the functions are settings the code
reads: every ``PILOTHOUSE_*`` name in infra/azure/main.bicep, infra/azure/local.settings.json.example
and infra/gcp/*.tf is a field of :class:`pilothouse.settings.Settings` (or one of the few names an
entry point reads itself), and the literal values given are valid (the adapters' Literals among
them). A misspelt name would otherwise be ignored silently (``Settings.from_environ`` reads only
its fields) and the function would run on a default."""

from __future__ import annotations

import json
import re

import pytest

from pilothouse.settings import PREFIX, Settings

from ._tools import ROOT

AZURE = ROOT / "infra" / "azure"
GCP = ROOT / "infra" / "gcp"

#: names an entry point reads from the environment itself (not Settings), and the file that does
ENTRY_POINT_NAMES = {
    "PILOTHOUSE_FUNCTIONS_DIR": (AZURE / "function_app.py", GCP / "main.py"),
}


def _bicep_settings() -> dict[str, str | None]:
    """main.bicep's app settings: name -> literal value (None when the value is an expression)."""
    text = (AZURE / "main.bicep").read_text()
    found: dict[str, str | None] = {}
    for name, value in re.findall(r"\{ name: '([A-Za-z0-9_]+)', value: ([^}]+?) \}", text):
        literal = re.fullmatch(r"'([^'$]*)'", value.strip())
        found[name] = literal.group(1) if literal else None
    return found


def _local_settings() -> dict[str, str | None]:
    values = json.loads((AZURE / "local.settings.json.example").read_text())["Values"]
    return {k: str(v) for k, v in values.items()}


def _terraform_settings() -> dict[str, str | None]:
    """Every ``PILOTHOUSE_*`` (and ``GOOGLE_CLOUD_PROJECT``) key the Terraform assigns: name ->
    literal value (None when the value is an expression)."""
    found: dict[str, str | None] = {}
    for path in sorted(GCP.glob("*.tf")):
        for name, value in re.findall(
            r"^\s*((?:PILOTHOUSE_|GOOGLE_CLOUD_PROJECT)[A-Z0-9_]*)\s*=\s*(.+?)\s*$",
            path.read_text(),
            re.MULTILINE,
        ):
            literal = re.fullmatch(r'"([^"$]*)"', value)
            found[name] = literal.group(1) if literal else None
        # a name anywhere else in the file (a merge(...), a comment is not) is a name given too
        for name in re.findall(r"(?<![#\w])(PILOTHOUSE_[A-Z0-9_]+)\s*=", path.read_text()):
            found.setdefault(name, None)
    return found


def unknown_names(names: set[str]) -> list[str]:
    """The names among ``names`` that neither Settings nor an entry point reads."""
    fields = {PREFIX + f.upper() for f in Settings.model_fields}
    return sorted(n for n in names - fields if n not in ENTRY_POINT_NAMES)


SOURCES = {
    "main.bicep": _bicep_settings,
    "local.settings.json.example": _local_settings,
    "terraform": _terraform_settings,
}


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_every_pilothouse_name_is_a_setting_and_every_literal_is_valid(source: str) -> None:
    """Given the settings a deployment file gives the functions, Then each PILOTHOUSE_* name is a
    Settings field (or an entry point's own, which that entry point reads), and the literal values
    together make valid Settings."""
    given = SOURCES[source]()
    names = {n for n in given if n.startswith(PREFIX)}
    assert names, f"{source} gives no PILOTHOUSE_* setting"
    fields = {PREFIX + f.upper() for f in Settings.model_fields}
    unknown = unknown_names(names)
    assert unknown == [], f"{source} sets names no code reads: {unknown}"
    for name in names & set(ENTRY_POINT_NAMES):
        for reader in ENTRY_POINT_NAMES[name]:
            assert f'os.environ.get("{name}")' in reader.read_text(), (name, reader)
    literals = {n: v for n, v in given.items() if n.startswith(PREFIX) and n in fields and v is not None}
    Settings.from_environ(literals)  # raises ConfigurationError naming a bad value


def _adapters(given: dict[str, str | None]) -> tuple[str | None, str | None, str | None]:
    return given.get("PILOTHOUSE_STORE"), given.get("PILOTHOUSE_QUEUE"), given.get("PILOTHOUSE_BLOBS")


def test_azure_files_choose_the_azure_adapters_and_name_how_to_reach_them() -> None:
    """Deployed (main.bicep), the Azure adapters reach the storage account with the managed
    identity: PILOTHOUSE_AZURE_STORAGE_ACCOUNT is set (no connection string, no key); locally
    (local.settings.json.example), AZURE_STORAGE_CONNECTION_STRING names Azurite."""
    bicep, local = _bicep_settings(), _local_settings()
    for given in (bicep, local):
        assert _adapters(given) == ("azure-tables", "azure-queue", "azure-blob")
        settings = Settings.from_environ({k: v for k, v in given.items() if k.startswith(PREFIX) and v})
        assert (settings.store, settings.queue, settings.blobs) == (
            "azure-tables",
            "azure-queue",
            "azure-blob",
        )
    assert "PILOTHOUSE_AZURE_STORAGE_ACCOUNT" in bicep and "AZURE_CLIENT_ID" in bicep
    assert "AZURE_STORAGE_CONNECTION_STRING" not in bicep
    assert local.get("AZURE_STORAGE_CONNECTION_STRING") == "UseDevelopmentStorage=true"  # the SDKs' Azurite
    assert local.get("PILOTHOUSE_CREATE_RESOURCES") == "true"  # a fresh Azurite has no table or queues


def test_gcp_terraform_chooses_the_gcp_adapters_and_names_the_project() -> None:
    given = _terraform_settings()
    assert _adapters(given) == ("firestore", "pubsub", "gcs")
    assert "PILOTHOUSE_GCP_PROJECT" in given or "GOOGLE_CLOUD_PROJECT" in given
    assert "PILOTHOUSE_FUNCTION" not in given  # the entry point picks the function, nothing reads it


def test_the_name_check_reports_names_no_code_reads() -> None:
    """The check itself: the endpoint names main.bicep used to set (read by nothing) are reported,
    real settings and the entry points' own name are not."""
    given = {
        "PILOTHOUSE_AZURE_QUEUE_ENDPOINT",
        "PILOTHOUSE_AZURE_KEY_VAULT_URL",
        "PILOTHOUSE_AZURE_STORAGE_ACCOUNT",
        "PILOTHOUSE_GCP_PROJECT",
        "PILOTHOUSE_FUNCTIONS_DIR",
    }
    assert unknown_names(given) == ["PILOTHOUSE_AZURE_KEY_VAULT_URL", "PILOTHOUSE_AZURE_QUEUE_ENDPOINT"]

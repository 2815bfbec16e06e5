"""Imports stay cheap: an HTTP function on Azure loads only Azure's SDK, on Google Cloud only
functions-framework (Flask, CloudEvents); neither loads boto3 or botocore's modules, and the AWS one
loads no Azure or Google package.

One exception, stated: Powertools' package ``__init__`` probes ``import botocore`` (its user-agent
hook) wherever botocore is installed, and boto3 is a dependency of the package (Powertools'
idempotency utility needs it), so the ``botocore`` package itself (its ``__init__`` only, ~1 ms)
is in every cloud's process; none of its submodules is.
"""

from __future__ import annotations

import pytest

from tests.support.cloud_imports import load, top_level

pytest.importorskip("azure.functions")
pytest.importorskip("functions_framework")

AWS = {"boto3", "botocore", "s3transfer", "pynamodb"}
AZURE = {"azure"}
# werkzeug is not here: azure-functions uses it too (its HTTP types)
GOOGLE = {"google", "functions_framework", "flask", "cloudevents", "grpc"}


@pytest.fixture
def sqlite_env(tmp_path):
    return {
        "PILOTHOUSE_DATA_DIR": str(tmp_path / "data"),
        "PILOTHOUSE_STORE": "sqlite",
        "PILOTHOUSE_QUEUE": "local",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }


@pytest.mark.parametrize(
    ("cloud", "must", "must_not"),
    [
        ("aws", set(), AZURE | GOOGLE),
        ("azure", AZURE, AWS | GOOGLE),
        ("gcp", {"functions_framework", "flask", "cloudevents"}, AWS | AZURE),
    ],
)
def test_an_http_function_loads_only_its_clouds_sdk(cloud, must, must_not, sqlite_env):
    """Given get_component loaded as <cloud> loads it in a fresh interpreter, and one call answered
    (401, through the cloud's own request objects, on SQLite)
    Then the loaded modules include the cloud's SDK and none of the other clouds'."""
    modules = load(cloud, call=True, env=sqlite_env)["modules"]
    loaded = top_level(modules)
    assert must <= loaded, must - loaded
    if cloud != "aws":  # Powertools' probe (see above): the bare package, nothing under it
        assert not [m for m in modules if m.startswith("botocore.")]
        loaded.discard("botocore")
    assert not (loaded & must_not), loaded & must_not


def test_trigger_sdks_are_imported_only_by_their_adapters():
    """azure.functions is imported only by runtime/azure_functions.py, and flask, cloudevents and
    functions_framework only by runtime/gcp_functions.py, in the whole package."""
    import re

    from tests.support.cloud_imports import ROOT

    owners = {
        "azure.functions": "runtime/azure_functions.py",
        "flask": "runtime/gcp_functions.py",
        "cloudevents": "runtime/gcp_functions.py",
        "functions_framework": "runtime/gcp_functions.py",
    }
    package = ROOT / "shared" / "pilothouse"
    for path in package.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for module, owner in owners.items():
            pattern = rf"^\s*(import {re.escape(module)}\b|from {re.escape(module)}[\s.])"
            if re.search(pattern, text, re.MULTILINE):
                assert path.relative_to(package).as_posix() == owner, (path, module)

"""The Step Functions-compatible endpoint of ``pilothouse dev``: ``POST /sfn`` on the gateway's port.

:func:`mount` adds it to what the dev server read from template.yaml, as one more function and its
route, so requests take the gateway's path (limits, thread pool, request ids) like any other. The
function is :func:`pilothouse.api.sfn_protocol.handler`; this module is also its code file (the
function pool loads a handler from a file). Local authentication (setting ``sfn_auth=local``) is
honoured only while the server listens on a loopback address.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Any

from pilothouse.embedded.template import FunctionDef, HttpRoute, LocalCloud

FUNCTION = "PilothouseStepFunctionsApi"
PATH = "/sfn"


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from pilothouse.api.sfn_protocol import handle

    return handle(event)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def prepare_environment(host: str) -> str | None:
    """Before the settings are read: ``SFN_MOCK_CONFIG`` (Step Functions Local's variable) becomes
    the setting ``sfn_mock_config``; local authentication is turned off unless ``host`` is loopback.
    Answers a warning to print, if any."""
    if os.environ.get("SFN_MOCK_CONFIG") and not os.environ.get("PILOTHOUSE_SFN_MOCK_CONFIG"):
        os.environ["PILOTHOUSE_SFN_MOCK_CONFIG"] = os.environ["SFN_MOCK_CONFIG"]
    if os.environ.get("PILOTHOUSE_SFN_AUTH") == "local" and not is_loopback(host):
        os.environ["PILOTHOUSE_SFN_AUTH"] = "keys"
        return (
            f"PILOTHOUSE_SFN_AUTH=local ignored: the server listens on {host}, not loopback; "
            "API keys sign requests"
        )
    return None


def mount(cloud: LocalCloud) -> None:
    """Add the endpoint's function and route to ``cloud`` (what the gateway and pool serve)."""
    code = Path(__file__)
    cloud.functions[FUNCTION] = FunctionDef(FUNCTION, code.parent, f"{code.stem}.handler", timeout=330.0)
    cloud.routes.append(HttpRoute(FUNCTION, "POST", PATH))

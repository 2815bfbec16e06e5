"""``pilothouse login`` (OAuth 2.0 device authorization grant, RFC 8628) and ``pilothouse logout``.

    pilothouse login --issuer https://login.example.com/realms/acme --client-id pilothouse-cli

The CLI reads the issuer's discovery document, asks its device authorization endpoint for a code,
shows the address and the code to enter there, and polls the token endpoint (at the interval the
issuer asks, slower when told ``slow_down``) until the user approves, declines or the code expires.
The token is kept for the API URL (:mod:`pilothouse.cli.tokens`) and used by every later command
that has no API key.
"""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import typer

from pilothouse.cli.context import reports_errors, settings
from pilothouse.cli.files import InputError
from pilothouse.cli.tokens import entry_from, forget, save, token_request

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def _discover(issuer: str) -> dict[str, Any]:
    from pilothouse.net.outbound import OutboundPolicy, OutboundRefused, request

    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        response = request("GET", url, policy=OutboundPolicy(allow_private=True), timeout=15.0)
        doc = json.loads(response.content)
    except OutboundRefused as exc:
        raise InputError(f"{url} may not be requested: {exc.reason}") from None
    except (ValueError, OSError, Exception) as exc:
        raise InputError(f"cannot read {url} ({type(exc).__name__})") from None
    if not isinstance(doc, dict) or doc.get("issuer") != issuer:
        raise InputError(f"{url} does not describe the issuer {issuer}")
    for name in ("device_authorization_endpoint", "token_endpoint"):
        if not isinstance(doc.get(name), str):
            raise InputError(f"the issuer offers no {name}: it cannot sign in a command-line tool")
    return doc


def device_login(
    issuer: str, client_id: str, *, scope: str, audience: str | None, sleep=time.sleep, say=print
) -> dict[str, Any]:
    """Run the device authorization grant; the token entry to keep."""
    doc = _discover(issuer)
    form = {"client_id": client_id, "scope": scope}
    if audience:
        form["audience"] = audience
    status, device = token_request(doc["device_authorization_endpoint"], form)
    if status != 200 or not isinstance(device.get("device_code"), str):
        raise InputError(f"the issuer refused the sign-in: {device.get('error', status)}")
    where = device.get("verification_uri_complete") or device.get("verification_uri")
    say(f"To sign in, open {where}\nand enter the code: {device.get('user_code')}")
    interval = float(device.get("interval") or 5)
    deadline = time.monotonic() + float(device.get("expires_in") or 600)
    while time.monotonic() < deadline:
        sleep(interval)
        status, answer = token_request(
            doc["token_endpoint"],
            {"grant_type": DEVICE_GRANT, "device_code": device["device_code"], "client_id": client_id},
        )
        if status == 200:
            return entry_from(answer, doc["token_endpoint"], client_id)
        error = answer.get("error")
        if error == "authorization_pending":
            continue
        if error == "slow_down":
            interval += 5
            continue
        if error == "access_denied":
            raise InputError("the sign-in was declined")
        raise InputError(f"the sign-in failed: {error or status}")
    raise InputError("the code expired before the sign-in was approved; run login again")


@reports_errors
def login(
    ctx: typer.Context,
    issuer: Annotated[
        str, typer.Option("--issuer", envvar="PILOTHOUSE_OIDC_ISSUER", help="the OIDC issuer URL")
    ],
    client_id: Annotated[
        str,
        typer.Option("--client-id", envvar="PILOTHOUSE_OIDC_CLIENT_ID", help="the CLI's client id there"),
    ],
    audience: Annotated[
        str | None, typer.Option("--audience", help="ask the issuer for tokens for this audience")
    ] = None,
    scope: Annotated[
        str, typer.Option("--scope", help="scopes to ask for")
    ] = "openid profile email offline_access",
) -> None:
    """Sign in with your identity provider (OIDC device code).

    The token is kept 0600 in the user's config directory for this API URL and refreshed.
    """
    url = settings(ctx).url
    entry = device_login(issuer, client_id, scope=scope, audience=audience)
    save(url, entry)
    typer.echo(
        f"Signed in; commands to {url} now use your token (until {time.ctime(entry['expires_at'] or 0)})."
    )


@reports_errors
def logout(
    ctx: typer.Context,
    everywhere: Annotated[bool, typer.Option("--all", help="forget the tokens of every API URL")] = False,
) -> None:
    """Forget the sign-in kept for this API URL."""
    url = None if everywhere else settings(ctx).url
    gone = forget(url)
    typer.echo(f"Signed out of {', '.join(gone)}." if gone else "No sign-in was kept.")

"""OIDC tokens of ``pilothouse login``: kept per API URL in the user's config directory, refreshed.

``$XDG_CONFIG_HOME/pilothouse/tokens.json`` (the directory 0700, the file 0600, replaced
atomically under the config lock) maps an API URL to the issuer's token endpoint, the client id,
the access token, its expiry and the refresh token. A command without an API key uses the token
stored for its URL; one that expires within a minute is refreshed first (a failed refresh asks to
log in again).
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from pilothouse.cli.files import InputError
from pilothouse.cli.prog import program
from pilothouse.cli.userconfig import _locked, config_dir

#: a token this close to its expiry is refreshed before use
REFRESH_MARGIN = 60.0


def tokens_path() -> Any:
    return config_dir() / "tokens.json"


def load_all() -> dict[str, dict[str, Any]]:
    try:
        data = json.loads(tokens_path().read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        raise InputError(f"{tokens_path()} cannot be read; run {program()} logout --all") from None
    return data if isinstance(data, dict) else {}


def _write_all(data: dict[str, dict[str, Any]]) -> None:
    path = tokens_path()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, json.dumps(data, indent=1).encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def save(url: str, entry: dict[str, Any]) -> None:
    """Keep ``entry`` (access_token, refresh_token, expires_at, token_endpoint, client_id) for ``url``."""
    with _locked():
        data = load_all()
        data[url.rstrip("/")] = entry
        _write_all(data)


def forget(url: str | None) -> list[str]:
    """Drop the token kept for ``url`` (None: every token); the URLs forgotten."""
    with _locked():
        data = load_all()
        gone = list(data) if url is None else [u for u in data if u == url.rstrip("/")]
        for u in gone:
            del data[u]
        _write_all(data)
        return gone


def token_request(endpoint: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """POST a form to the issuer (through the outbound guard); status and JSON body."""
    from urllib.parse import urlencode

    from pilothouse.net.outbound import OutboundPolicy, OutboundRefused, request

    try:
        response = request(
            "POST",
            endpoint,
            policy=OutboundPolicy(allow_private=True),  # the user's own issuer may be on their network
            timeout=15.0,
            headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
            content=urlencode(form).encode(),
        )
    except OutboundRefused as exc:
        raise InputError(f"{endpoint} may not be requested: {exc.reason}") from None
    except Exception as exc:
        raise InputError(f"{endpoint} is unreachable ({type(exc).__name__})") from None
    try:
        body = json.loads(response.content)
    except ValueError:
        body = {}
    return response.status_code, body if isinstance(body, dict) else {}


def entry_from(answer: dict[str, Any], endpoint: str, client_id: str, old_refresh: str | None = None) -> dict:
    """What is kept of a token endpoint's answer."""
    access = answer.get("access_token")
    if not isinstance(access, str):
        raise InputError("the issuer's answer has no access_token")
    expires_in = answer.get("expires_in")
    return {
        "access_token": access,
        "refresh_token": answer.get("refresh_token") or old_refresh,
        "expires_at": time.time() + float(expires_in) if isinstance(expires_in, int | float) else None,
        "token_endpoint": endpoint,
        "client_id": client_id,
    }


def bearer_for(url: str) -> str | None:
    """The access token kept for ``url``, refreshed when it is about to expire (None: none kept)."""
    entry = load_all().get(url.rstrip("/"))
    if not entry:
        return None
    expires_at = entry.get("expires_at")
    if expires_at is None or expires_at - REFRESH_MARGIN > time.time():
        return str(entry["access_token"])
    refresh = entry.get("refresh_token")
    if not refresh:
        raise InputError(f"the sign-in for {url} has expired; run {program()} login")
    status, answer = token_request(
        entry["token_endpoint"],
        {"grant_type": "refresh_token", "refresh_token": refresh, "client_id": entry["client_id"]},
    )
    if status != 200:
        forget(url)
        raise InputError(f"the sign-in for {url} could not be refreshed; run {program()} login")
    fresh = entry_from(answer, entry["token_endpoint"], entry["client_id"], refresh)
    save(url, fresh)
    return str(fresh["access_token"])

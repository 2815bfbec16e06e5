"""The readme-to-cicd part of ``pilothouse demo`` (``make run``): the platform as a system.

:func:`run_platform` drives the control plane over HTTP as a user would: it registers the three
services of ``examples/readme-to-cicd`` and their system, deploys the system (each member's step
shown as it changes), registers a GitHub webhook source, sends it a *signed* push of tag ``v2.0.0``
(exactly as GitHub would: ``X-Hub-Signature-256`` over the body) and follows the rollout it
triggers — the parser goes out as a canary — then runs the ``readme-to-cicd`` workflow on the sample
README and prints the pipeline the generator made, read back from the blob the output names.
A second run finds what the first made and moves on.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.markup import escape

from pilothouse.cli.client import ApiError, Client

EXAMPLE = Path("examples/readme-to-cicd")
SYSTEM = "readme-to-cicd"
WORKFLOW = "readme-to-cicd"
SOURCE = "github"
NEW_PARSER = "2.0.0"
DONE = {"succeeded", "rolled_back", "failed", "aborted"}


def _load(project_dir: Path, name: str) -> dict[str, Any]:
    return yaml.safe_load((project_dir / EXAMPLE / name).read_text(encoding="utf-8"))


def _create(client: Client, path: str, body: dict[str, Any], console: Console, what: str) -> dict | None:
    try:
        made = client.post(path, body)
        console.print(f"  created {what}")
        return made
    except ApiError as exc:
        if exc.status != 409:
            raise
        console.print(f"  [dim]{what} exists already[/]")
        return None


def follow_rollout(client: Client, console: Console, rollout_id: str, timeout: float) -> dict[str, Any]:
    """Print each member's step as it changes until the system's rollout ``rollout_id`` ends."""
    seen: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    while True:
        view = client.get(f"/v1/systems/{SYSTEM}")
        rollout = view.get("rollout") or {}
        for name, member in (rollout.get("members") or {}).items():
            if seen.get(name) != member["step"]:
                seen[name] = member["step"]
                target = member.get("to_version") or ""
                console.print(f"    {escape(name)}: {member['step']} {escape(target)}")
        if rollout.get("id") != rollout_id or rollout.get("status") in DONE or time.monotonic() > deadline:
            return rollout
        time.sleep(0.3)


def _rollout(client: Client, console: Console, path: str, body: dict[str, Any], timeout: float) -> dict:
    try:
        view = client.post(path, body)
    except ApiError as exc:
        if exc.status != 409:
            raise
        view = client.get(f"/v1/systems/{SYSTEM}")  # one in progress already (an earlier run's)
    rollout = follow_rollout(client, console, view["rollout"]["id"], timeout)
    console.print(f"  rollout {escape(rollout['id'])}: [bold]{rollout['status']}[/]")
    return rollout


def _secret(client: Client, console: Console, project_dir: Path) -> str:
    made = _create(
        client,
        "/v1/webhook-sources",
        _load(project_dir, "webhook-source.yaml"),
        console,
        "webhook source github",
    )
    if made is not None:
        return str(made["secret"])
    return str(client.post(f"/v1/webhook-sources/{SOURCE}/rotate", {})["secret"])  # shown once: a new one


def signed_push(client: Client, secret: str, tag: str) -> tuple[int, dict[str, Any]]:
    """POST a GitHub push of ``tag`` to the receiver, signed as GitHub signs it; (status, answer)."""
    body = json.dumps(
        {
            "ref": f"refs/tags/{tag}",
            "after": uuid.uuid4().hex + uuid.uuid4().hex[:8],
            "repository": {"full_name": "acme/readme-to-cicd"},
        }
    ).encode()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
    }
    import httpx  # GitHub's side: an HTTP sender of its own, without Pilothouse's API key

    with httpx.Client(base_url=client.url, timeout=client.timeout, trust_env=False) as sender:
        answer = sender.post(f"/v1/webhooks/{SOURCE}", content=body, headers=headers)
    return answer.status_code, answer.json()


def _wait_for_webhook_rollout(client: Client, before: str | None, timeout: float) -> str | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rollout = client.get(f"/v1/systems/{SYSTEM}").get("rollout") or {}
        if rollout.get("id") and rollout["id"] != before:
            return str(rollout["id"])
        time.sleep(0.2)
    return None


def run_workflow(client: Client, project_dir: Path, timeout: float) -> dict[str, Any]:
    """Register the workflow (once), start it on the sample README and wait for its end."""
    definition = json.loads((project_dir / EXAMPLE / "readme-to-cicd.asl.json").read_text(encoding="utf-8"))
    try:
        client.post("/v1/workflows", {"name": WORKFLOW, "definition": definition})
    except ApiError as exc:
        if exc.status != 409:
            raise
        client.request("PUT", f"/v1/workflows/{WORKFLOW}", json={"definition": definition})
    readme = (project_dir / EXAMPLE / "sample-README.md").read_text(encoding="utf-8")
    started = client.post(f"/v1/workflows/{WORKFLOW}/executions", {"input": {"readme": readme}})
    deadline = time.monotonic() + timeout
    while True:
        done = client.get(f"/v1/workflows/{WORKFLOW}/executions/{started['name']}")
        if done["status"] != "RUNNING" or time.monotonic() > deadline:
            return done
        time.sleep(0.3)


def run_platform(
    client: Client,
    console: Console,
    project_dir: Path,
    read_blob: Callable[[str], bytes],
    *,
    timeout: float = 240.0,
) -> list[str]:
    """The whole scene; the problems met (empty: all went well)."""
    problems: list[str] = []
    project_dir = Path(project_dir)
    console.print("[bold]6.[/] the readme-to-cicd platform as a system")
    for part in ("parser", "detector", "generator"):
        spec = _load(project_dir, f"{part}/component.yaml")
        _create(client, "/v1/components", spec, console, f"component {spec['name']}")
    _create(client, "/v1/systems", _load(project_dir, "system.yaml"), console, f"system {SYSTEM}")
    view = client.get(f"/v1/systems/{SYSTEM}")
    if any(m["state"] != "Running" for m in view["members"]):
        console.print(f"  deploying {SYSTEM} in dependency order …")
        if _rollout(client, console, f"/v1/systems/{SYSTEM}/deploy", {}, timeout)["status"] != "succeeded":
            return [f"the deploy of system {SYSTEM} did not succeed"]
    console.print(
        f"[bold]7.[/] a signed GitHub push of tag v{NEW_PARSER}: the system rolls the parser out as a canary"
    )
    secret = _secret(client, console, project_dir)
    before = (client.get(f"/v1/systems/{SYSTEM}").get("rollout") or {}).get("id")
    status, answer = signed_push(client, secret, f"v{NEW_PARSER}")
    console.print(f"  webhook answered {status}: {escape(json.dumps(answer))}")
    parser = client.get("/v1/components/rtc-parser")
    if parser.get("version") == NEW_PARSER:
        console.print(f"  [dim]rtc-parser runs {NEW_PARSER} already (an earlier run)[/]")
    else:
        rollout_id = _wait_for_webhook_rollout(client, before, 30.0)
        if rollout_id is None:
            problems.append("the webhook started no rollout of the system")
        else:
            rollout = follow_rollout(client, console, rollout_id, timeout)
            console.print(f"  rollout {escape(rollout_id)}: [bold]{rollout['status']}[/]")
            if rollout["status"] != "succeeded":
                problems.append(f"the parser's rollout to {NEW_PARSER} ended {rollout['status']}")
    console.print("[bold]8.[/] the readme-to-cicd workflow on examples/readme-to-cicd/sample-README.md")
    done = run_workflow(client, project_dir, timeout)
    if done["status"] != "SUCCEEDED":
        problems.append(f"the workflow ended {done['status']}: {done.get('error')} {done.get('cause')}")
        return problems
    output = done["output"]
    console.print(
        f"  blob [bold]{escape(output['blob'])}[/] (parser {escape(str(output['parser_version']))}, "
        f"languages {', '.join(output['languages'])})"
    )
    console.print(read_blob(output["blob"]).decode("utf-8"), markup=False, highlight=False)
    return problems

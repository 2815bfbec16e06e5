"""The dashboard in a real browser: Debian's Chromium driven by Playwright against the real
``pilothouse dev`` (one per module), with counter and greeter deployed as the demo deploys them.

Screenshots of every page are saved under pytest's tmp dir (``.../dashboard-artifacts``; the path is
printed). Every request goes to 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import secrets
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode

import httpx
import pytest
import yaml

from tests.support import processes
from tests.support.e2e import ROOT, DevProcess, kill_marked, make_admin_key
from tests.support.oidc_issuer import LocalIssuer

pytestmark = [pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
XSS = "<script>alert(1)</script>"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: a canary with an approval gate and short bakes (seconds, not minutes)
GATED = {
    "type": "custom",
    "steps": [
        {"kind": "set_weight", "weight": 20},
        {"kind": "pause", "seconds": 2},
        {"kind": "approval"},
        {"kind": "set_weight", "weight": 100},
    ],
}
#: a canary that waits long enough to be aborted
SLOW = {"type": "custom", "steps": [{"kind": "set_weight", "weight": 30}, {"kind": "pause", "seconds": 300}]}


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[DevProcess]:
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: `make test` installs it (apt-get install chromium)")
    base = tmp_path_factory.mktemp("dashboard")
    marker = uuid.uuid4().hex
    dev = DevProcess(base / "data", base, make_admin_key(), marker)
    try:
        dev.start()
        api = httpx.Client(base_url=dev.url, headers={"Authorization": f"Bearer {dev.admin_key}"}, timeout=30)
        dev.clients.append(api)
        for example in ("counter", "greeter"):
            spec = yaml.safe_load((ROOT / f"examples/{example}/component.yaml").read_text())
            spec["target"]["cwd"] = str(ROOT)
            spec["target"]["grace_seconds"] = 1
            spec["health_check"] = {"path": "/health", "timeout_seconds": 5}
            if example == "greeter":
                spec["target"].setdefault("env", {})["GREETING_NOTE"] = XSS
            assert api.post("/v1/components", json=spec).status_code == 201
            assert api.post(f"/v1/components/{example}/deploy", json={}).status_code == 202
        for name in ("counter", "greeter"):
            wait_for(lambda n=name: api.get(f"/v1/components/{n}").json()["state"] == "Running", 60, name)
        yield dev
    finally:
        for client in dev.clients:
            client.close()
        dev.kill()
        kill_marked(marker)
        processes.kill_replicas(dev.data_dir / "processes")


def wait_for(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> Path:
    """Where the screenshots go: $PILOTHOUSE_TEST_ARTIFACTS/dashboard (CI keeps it), else pytest's tmp."""
    chosen = os.environ.get("PILOTHOUSE_TEST_ARTIFACTS")
    path = Path(chosen) / "dashboard" if chosen else tmp_path_factory.mktemp("dashboard-artifacts")
    path.mkdir(parents=True, exist_ok=True)
    print(f"\ndashboard screenshots: {path}")
    return path


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Chromium with a new, empty profile; each page is its own tab (its own session storage)."""
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), args=FLAGS, headless=True
        )
        yield context
        context.close()


def key_for(server: DevProcess, role: str, name: str | None = None) -> str:
    r = httpx.post(
        server.url + "/v1/api-keys",
        json={"name": name or f"{role} key", "role": role},
        headers={"Authorization": f"Bearer {server.admin_key}"},
        timeout=30,
    )
    assert r.status_code == 201, r.text
    return r.json()["key"]


def signed_in(browser, server: DevProcess, key: str, path: str = "/", *, viewport=None, dark=False):
    """A new tab signed in with ``key`` (through the sign-in form), at ``path``."""
    page = browser.new_page()
    if viewport:
        page.set_viewport_size(viewport)
    page.emulate_media(color_scheme="dark" if dark else "light")
    alerts: list[str] = []
    page.on("dialog", lambda d: (alerts.append(d.message), d.dismiss()))
    page.alerts = alerts  # type: ignore[attr-defined]
    page.goto(server.url + path)
    page.get_by_label("API key", exact=True).fill(key)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector("#view h1")
    return page


def seen(page, selector: str, artifacts: Path, timeout: float = 60_000) -> None:
    """Wait for ``selector``; on a timeout, keep a screenshot and say what the page showed."""
    try:
        page.wait_for_selector(selector, timeout=timeout)
    except Exception:
        shot(page, artifacts, "timeout")
        said = page.inner_text("#view")[:3000]
        raise AssertionError(f"{selector} did not show; the page said:\n{said}") from None


def shot(page, artifacts: Path, name: str) -> None:
    page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)


def axe_violations(page) -> list[dict]:
    """Serious and critical axe-core violations of the page (axe evaluated through the DevTools
    protocol, which the page's CSP does not govern)."""
    page.evaluate(AXE.read_text())
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def test_sign_in_overview_bytes_keyboard_and_axe(server, browser, artifacts):
    # Given a fresh browser, When it opens the dashboard, Then it asks for a key and nothing else loads
    page = browser.new_page()
    sizes: list[int] = []
    page.on(
        "requestfinished",
        lambda r: sizes.append(r.sizes()["responseBodySize"] + r.sizes()["responseHeadersSize"]),
    )
    page.goto(server.url + "/")
    assert page.get_by_label("API key", exact=True).is_visible()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    # When it signs in with the admin key
    page.get_by_label("API key", exact=True).fill(server.admin_key)
    page.keyboard.press("Enter")
    # Then the demo's components are listed, and the key is in session storage only
    page.wait_for_selector("text=counter")
    assert page.locator("table.list").get_by_role("link", name="greeter").is_visible()
    assert page.evaluate("sessionStorage.getItem('pilothouse.token')") == server.admin_key
    assert browser.cookies() == []
    assert server.admin_key not in page.url
    page.wait_for_load_state("networkidle")
    total = sum(sizes)
    print(f"\nfirst page load: {total} bytes transferred over {len(sizes)} requests (target < 200 KB)")
    assert total < 200 * 1024
    shot(page, artifacts, "overview")
    assert axe_violations(page) == []
    # the filters narrow the list
    page.get_by_label("Search").fill("greet")
    wait_for(lambda: "counter" not in page.locator("table.list tbody").inner_text(), 15, "the search")
    assert "greeter" in page.locator("table.list tbody").inner_text()
    page.close()


def test_phone_width_and_dark_theme(server, browser, artifacts):
    page = signed_in(
        browser,
        server,
        server.admin_key,
        "/components/counter",
        viewport={"width": 390, "height": 844},
        dark=True,
    )
    page.wait_for_selector("text=Revisions and traffic")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"the page is {overflow}px wider than a phone"
    shot(page, artifacts, "component-phone-dark")
    assert axe_violations(page) == []
    page.close()


def test_canary_from_component_page_progress_and_approval(server, browser, artifacts):
    # Given the admin on counter's page
    page = signed_in(browser, server, server.admin_key, "/components/counter")
    shot(page, artifacts, "component")
    assert axe_violations(page) == []
    # When they start a gated canary of 2.0.0 from the form and confirm it in the dialog
    page.get_by_label("Version").fill("2.0.0")
    page.get_by_label("Custom strategy").fill(json.dumps(GATED))
    page.get_by_role("button", name="Start deployment").click()
    dialog = page.locator("dialog#confirm")
    assert "Starts a deployment of counter" in dialog.inner_text()
    dialog.get_by_role("button", name="Start deployment").click()
    # Then the deployment shows up on the page (live), and its own page follows it to the approval
    link = page.locator("#component-live tr:has-text('1.0.0 → 2.0.0') a[href^='/deployments/']").first
    link.wait_for(timeout=30_000)
    link.click()
    page.wait_for_selector("h1:has-text('Deployment of counter')")
    assert page.locator("#deployment-live").get_attribute("data-mode") in ("sse", "poll", None)
    seen(page, "#deployment-live .status-line .b-awaiting_approval", artifacts)
    assert page.locator("#deployment-live").get_attribute("data-mode") == "sse"
    assert page.locator(".traffic").count() == 1
    shot(page, artifacts, "deployment-awaiting-approval")
    assert axe_violations(page) == []
    deployment_path = page.url.split(server.url, 1)[1]
    # a deployer may steer it but not approve it: no Approve button on their page
    deployer = signed_in(browser, server, key_for(server, "deployer"), deployment_path)
    seen(deployer, "#deployment-live button:has-text('Abort')", artifacts)
    assert deployer.locator("#deployment-live button:has-text('Approve')").count() == 0
    deployer.close()
    # When the admin approves it in the confirm dialog
    page.get_by_role("button", name="Approve").click()
    dialog = page.locator("dialog#confirm")
    assert "approves the waiting step" in dialog.inner_text()
    dialog.get_by_role("button", name="Approve").click()
    # Then it goes on to success, live on the page
    seen(page, "#deployment-live .status-line .b-succeeded", artifacts)
    assert "approved" in page.locator("#deployment-live").inner_text()
    shot(page, artifacts, "deployment-succeeded")
    page.close()


def test_abort_rolls_back(server, browser, artifacts):
    api = httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {server.admin_key}"}, timeout=30
    )
    server.clients.append(api)
    r = api.post("/v1/components/greeter/update", json={"version": "2.0.0", "strategy": SLOW})
    assert r.status_code == 202, r.text

    # the list already holds greeter's first deployment: wait for this one (of 2.0.0)
    def this_one() -> dict | None:
        items = api.get("/v1/deployments", params={"component": "greeter"}).json()["items"]
        return next((d for d in items if d["to_version"] == "2.0.0"), None)

    wait_for(this_one, 30, "the deployment of 2.0.0")
    dep = this_one()
    assert dep is not None
    page = signed_in(browser, server, server.admin_key, f"/deployments/{dep['id']}")
    page.wait_for_selector("#deployment-live button:has-text('Abort')", timeout=30_000)
    page.get_by_role("button", name="Abort", exact=True).click()
    dialog = page.locator("dialog#confirm")
    assert "rolls traffic back" in dialog.inner_text()
    dialog.get_by_label("Reason").fill("seen enough")
    dialog.get_by_role("button", name="Abort").click()
    ended = "#deployment-live .status-line .b-aborted, #deployment-live .status-line .b-rolled_back"
    seen(page, ended, artifacts)
    shot(page, artifacts, "deployment-aborted")
    page.get_by_role("link", name=dep["execution"][:16]).click()
    page.wait_for_selector("svg.asl .state.visited")
    shot(page, artifacts, "execution")
    assert axe_violations(page) == []
    wait_for(lambda: api.get("/v1/components/greeter").json()["version"] == "1.0.0", 30, "the rollback")
    audit = api.get("/v1/audit", params={"operation": "abort_deployment"}).json()["items"]
    assert audit and audit[0]["principal"].startswith("key:")
    page.close()


def test_viewer_sees_no_buttons(server, browser, artifacts):
    viewer = key_for(server, "viewer")
    page = signed_in(browser, server, viewer, "/components/counter")
    page.wait_for_selector("text=Revisions and traffic")
    assert page.locator("button.action, form.api-form").count() == 0
    assert page.locator("#nav-keys").is_hidden()
    shot(page, artifacts, "component-viewer")
    page.goto(server.url + "/")
    page.wait_for_selector("#view h1")
    dep = page.locator("a[href^='/deployments/']").first
    dep.click()
    page.wait_for_selector("h1:has-text('Deployment of')")
    assert page.locator("button.action").count() == 0
    page.close()


def test_xss_renders_as_text_workflows_audit_and_keys(server, browser, artifacts):
    key_for(server, "viewer", XSS)
    page = signed_in(browser, server, server.admin_key, "/keys")
    page.wait_for_selector("h1:has-text('API keys')")
    assert page.get_by_role("rowheader", name=XSS).count() == 1  # the name, as text
    shot(page, artifacts, "keys")
    assert axe_violations(page) == []
    page.goto(server.url + "/components/greeter")
    page.wait_for_selector("pre.spec")
    assert XSS in page.locator("pre.spec").inner_text()
    assert page.alerts == []  # type: ignore[attr-defined]
    page.goto(server.url + "/audit")
    page.wait_for_selector("h1:has-text('Audit log')")
    shot(page, artifacts, "audit")
    page.goto(server.url + "/workflows")
    page.wait_for_selector("h1:has-text('Workflows')")
    shot(page, artifacts, "workflows")
    page.locator("a[href^='/workflows/']").first.click()
    page.wait_for_selector("svg.asl")
    shot(page, artifacts, "workflow")
    assert axe_violations(page) == []
    page.close()


# -- OIDC sign-in: authorization code + PKCE against the local test issuer ----------------------------


class OidcDev(DevProcess):
    """``pilothouse dev`` trusting the issuers in ``issuers_json`` (PILOTHOUSE_OIDC_ISSUERS)."""

    issuers_json = "[]"

    @property
    def env(self) -> dict[str, str]:
        return {**super().env, "PILOTHOUSE_OIDC_ISSUERS": self.issuers_json}


@pytest.fixture(scope="module")
def oidc(tmp_path_factory) -> Iterator[tuple[OidcDev, LocalIssuer]]:
    """A dev server of its own trusting a local issuer whose test user is in group ``readers``
    (viewer); the dashboard's ``/callback`` is the issuer's registered redirect URI."""
    base = tmp_path_factory.mktemp("dashboard-oidc")
    marker = uuid.uuid4().hex
    with LocalIssuer() as iss:
        dev = OidcDev(base / "data", base, make_admin_key(), marker)
        dev.issuers_json = json.dumps(
            [{"issuer": iss.url, "audience": "pilothouse", "roles": [{"value": "readers", "role": "viewer"}]}]
        )
        iss.redirect_uris = {dev.url + "/callback"}
        iss.login_claims = {"sub": "oncall-7", "email": "oncall@example.test", "groups": ["readers"]}
        try:
            dev.start()
            yield dev, iss
        finally:
            dev.kill()
            kill_marked(marker)


def start_oidc_sign_in(browser, dev: OidcDev, iss: LocalIssuer):
    iss.issued.clear()
    iss.refusals.clear()
    page = browser.new_page()
    page.goto(dev.url + "/")
    return page


def no_secret_kept(browser, page, secrets_: list[str]) -> None:
    """No entry of the tab's history names a code or any of ``secrets_``; nor do localStorage or
    cookies; the PKCE verifier is gone from session storage."""
    history = browser.new_cdp_session(page).send("Page.getNavigationHistory")["entries"]
    for entry in history:
        assert "code=" not in entry["url"] and "token" not in entry["url"], entry["url"]
        assert not any(s in entry["url"] for s in secrets_)
    local = page.evaluate("JSON.stringify(Object.assign({}, localStorage))")
    assert local == "{}"
    assert browser.cookies() == [] and page.evaluate("document.cookie") == ""
    assert page.evaluate("sessionStorage.getItem('pilothouse.oidc')") is None


def test_oidc_sign_in_with_pkce_shows_the_overview(oidc, browser, artifacts):
    dev, iss = oidc
    # Given the sign-in page, When the on-call engineer signs in with the issuer
    page = start_oidc_sign_in(browser, dev, iss)
    page.get_by_role("button", name=f"Sign in with {iss.url}").click()
    # Then the issuer redirected back, the code was exchanged, and the overview shows
    seen(page, "#view h1", artifacts)
    wait_for(lambda: "oncall-7" in page.inner_text("#whoami"), 15, "whoami")
    assert "(viewer)" in page.inner_text("#whoami")
    shot(page, artifacts, "oidc-overview")
    assert iss.refusals == [] and len(iss.issued) == 3
    id_token = iss.issued[0]
    assert page.evaluate("sessionStorage.getItem('pilothouse.token')") == id_token
    # And the address bar is back at / with no code; no token kept in history, localStorage or cookies
    assert page.url == dev.url + "/"
    no_secret_kept(browser, page, iss.issued)
    # And the issuer saw a challenge, never a verifier, on the browser's way through /authorize
    authorize = [r for r in iss.requests if r.startswith("/authorize?")][-1]
    query = parse_qs(authorize.split("?", 1)[1])
    assert query["code_challenge_method"] == ["S256"] and "code_verifier" not in query
    page.close()


def test_oidc_wrong_code_verifier_is_refused_and_no_token_kept(oidc, browser, artifacts):
    dev, iss = oidc
    # Given an attacker who swaps the code_verifier on the way to the token endpoint
    sent: dict[str, str] = {}

    def swap(route) -> None:
        form = {k: v[0] for k, v in parse_qs(route.request.post_data or "").items()}
        sent.update(form)
        route.continue_(post_data=urlencode({**form, "code_verifier": secrets.token_urlsafe(32)}))

    page = start_oidc_sign_in(browser, dev, iss)
    page.route(iss.url + "/token", swap)
    page.get_by_role("button", name=f"Sign in with {iss.url}").click()
    # Then the issuer refuses it and the dashboard says so, signed out, with no token anywhere
    wait_for(lambda: "code_verifier" in page.inner_text("#signin-error"), 30, "the refusal shown")
    shot(page, artifacts, "oidc-refused")
    assert iss.refusals == ["code_verifier does not match the code_challenge"]
    assert iss.issued == []
    assert page.get_by_label("API key", exact=True).is_visible()
    assert page.evaluate("sessionStorage.getItem('pilothouse.token')") is None
    assert page.inner_text("#view").strip() == ""
    no_secret_kept(browser, page, [sent["code"]])
    # And the code is spent: even the right verifier cannot redeem it afterwards
    assert sent["grant_type"] == "authorization_code" and len(sent["code_verifier"]) == 43
    replay = httpx.post(iss.url + "/token", data=sent, timeout=10)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert iss.issued == []
    page.close()

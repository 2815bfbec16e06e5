"""The dashboard function through the local gateway: shell, assets, fragments, escaping, roles."""

from __future__ import annotations

import re

from tests.support.specs import spec

XSS = "<script>alert(1)</script>"
DEFAULT = object()


def _get(api, path: str, *, key=DEFAULT, query: str = "", headers: dict | None = None):
    """(status, headers, text) of a GET through the local gateway (answers may be HTML)."""
    key = api.key if key is DEFAULT else key
    h = {**({"authorization": f"Bearer {key}"} if key else {}), **(headers or {})}
    status, out_headers, out = api.gateway.handle("GET", path, query, h, b"")
    lowered = {k.lower(): v for k, v in out_headers.items()}
    return status, lowered, out.decode() if isinstance(out, bytes) else out


def _key(api, role: str) -> str:
    status, _, body = api.post("/v1/api-keys", {"name": f"{role} {XSS}", "role": role})
    assert status == 201, body
    return body["key"]


def test_shell_is_public_static_and_strict(api):
    # Given no key, When the browser asks for a page, Then it gets the shell with a strict CSP
    for path in ("/", "/components/web", "/deployments/abc", "/workflows", "/audit", "/keys"):
        status, headers, body = _get(api, path, key=None)
        assert status == 200, path
        csp = headers["content-security-policy"]
        assert "script-src 'self'" in csp and "style-src 'self'" in csp and "unsafe-inline" not in csp
        html = body
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), "no inline script"
        assert " style=" not in html and "<style" not in html, "no inline style"
        assert "ph_" not in html.replace('placeholder="ph_..."', "")


def test_assets_are_package_data_and_cached_by_version(api):
    status, headers, body = _get(api, "/", key=None)
    html = body
    for name in ("app.js", "app.css", "htmx.min.js"):
        url = re.search(rf"/static/{re.escape(name)}\?v=([0-9a-f]+)", html)
        assert url, name
        status, headers, _ = _get(api, "/static/" + name, key=None, query=f"v={url.group(1)}")
        assert status == 200 and "immutable" in headers["cache-control"], name
    assert _get(api, "/static/../settings.py", key=None)[0] == 404


def test_fragments_need_a_key(api):
    status, _, _ = _get(api, "/ui/overview", key=None)
    assert status == 401
    status, _, _ = _get(api, "/ui/overview", key="ph_000000000000_wrong")
    assert status == 401


def test_overview_lists_components_escaped_with_etag(api):
    # Given a component whose spec carries markup
    body = spec("web")
    body["target"]["env"] = {"GREETING": XSS}
    assert api.post("/v1/components", body)[0] == 201
    # When the overview and the component fragments are read
    status, headers, html = _get(api, "/ui/overview")
    assert status == 200 and "web" in html
    etag = headers["etag"]
    # Then an unchanged fragment answers 304 to If-None-Match
    assert _get(api, "/ui/overview", headers={"if-none-match": etag})[0] == 304
    status, _, page = _get(api, "/ui/components/web")
    assert status == 200
    assert XSS not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    # filters narrow the list
    assert "web" not in _get(api, "/ui/overview", query="q=nomatch")[2].split("Components")[1]


def test_keys_page_escapes_names_and_viewer_sees_no_buttons(api):
    viewer = _key(api, "viewer")
    status, _, page = _get(api, "/ui/keys")
    assert status == 200 and "&lt;script&gt;" in page and XSS not in page
    assert api.post("/v1/components", spec("web"))[0] == 201
    status, _, page = _get(api, "/ui/components/web", key=viewer)
    assert status == 200 and "web" in page
    assert "data-method" not in page and "api-form" not in page
    # the admin sees the actions
    assert "data-method" in _get(api, "/ui/components/web")[2]
    # a viewer may not read the keys page: the API's own refusal
    assert _get(api, "/ui/keys", key=viewer)[0] == 403


def test_unknown_pages_and_methods(api):
    assert _get(api, "/nothing/here", key=None)[0] == 404
    assert _get(api, "/ui/nothing")[0] == 404
    assert _get(api, "/ui/components/missing")[0] == 404

"""Cursors are opaque strings, and the server accepts every cursor it issued (issue 10 §4): a
listing walked page by page through ``next_cursor`` reads every item once, whatever the page size
of the next call; a cursor of another listing, or a made-up one, is a 400 naming the cursor."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.support.specs import spec


def _walk(api, path: str, sizes: list[int], extra: str = "") -> list[dict]:
    seen: list[dict] = []
    cursor: str | None = None
    for size in sizes * 20:
        query = f"limit={size}{extra}" + (f"&cursor={quote(cursor)}" if cursor else "")
        status, _, page = api.get(path, query=query)
        assert status == 200, page
        assert isinstance(page["next_cursor"], str | None)
        seen.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return seen
    raise AssertionError("the listing never ended")


@pytest.mark.parametrize("sizes", [[1], [2, 1, 3], [500]])
def test_every_issued_cursor_is_accepted_and_pages_read_each_item_once(api, sizes):
    names = [f"c{i}" for i in range(7)]
    for name in names:
        assert api.post("/v1/components", spec(name))[0] == 201
    for name in names[:4]:
        assert api.post("/v1/api-keys", {"name": name, "role": "viewer"})[0] == 201
    components = _walk(api, "/v1/components", sizes)
    assert sorted(c["name"] for c in components) == names
    filtered = _walk(api, "/v1/components", sizes, "&environment=development")
    assert [c["name"] for c in filtered] == [c["name"] for c in components]
    keys = _walk(api, "/v1/api-keys", sizes)
    assert len({k["id"] for k in keys}) == len(keys) >= 4
    audit = _walk(api, "/v1/audit", sizes)
    assert len(audit) >= len(names) + 4


def test_a_cursor_of_another_listing_or_made_up_is_a_400_naming_it(api):
    for name in ("a", "b", "c"):
        assert api.post("/v1/components", spec(name))[0] == 201
    cursor = api.get("/v1/components", query="limit=1")[2]["next_cursor"]
    assert cursor
    for path, given in (
        ("/v1/api-keys", cursor),
        ("/v1/components", "not-one-of-ours"),
        ("/v1/audit", "%FF"),
    ):
        status, headers, body = api.get(path, query=f"cursor={quote(given, safe='%')}")
        assert status == 400, body
        assert headers["content-type"].startswith("application/problem+json")
        assert body["field"] == "cursor" and body["request_id"]

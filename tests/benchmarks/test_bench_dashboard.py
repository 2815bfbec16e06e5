"""Dashboard figures (issue 16): the overview's server time for 1,000 components, and the bytes a
first page load transfers.

* Server time: ``GET /ui/overview`` through the local gateway's converter into the ``dashboard``
  function (authentication, the API's list operations in process, the template), on SQLite with
  1,000 registered components; interleaved in the same run with the anchor, a bare Powertools
  resolver answering one hello route (``tests.support.bench.bare_hello``). Target: < 300 ms.
* First load: the shell, its three assets and the overview fragment of the demo's fleet (two
  components), as a browser fetches them on its first visit (no compression: the gateway sends
  what the function answers). Target: < 200 KB. The browser suite prints the bytes Chromium counted.

    .venv/bin/python -m pytest tests/benchmarks/test_bench_dashboard.py -m benchmark -s
"""

from __future__ import annotations

import re
import time

from pilothouse.domain.components import ComponentSpec
from pilothouse.services import components as svc
from tests.support.bench import bare_hello, ratio_rows, report
from tests.support.specs import spec

FLEET = 1000
ROUNDS = 15


def _get(api, path: str, *, key: str | None, query: str = "") -> tuple[int, bytes, dict]:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    status, out_headers, body = api.gateway.handle("GET", path, query, headers, b"")
    return status, body if isinstance(body, bytes) else body.encode(), out_headers


def _first_load_bytes(api) -> tuple[int, dict[str, int]]:
    sizes: dict[str, int] = {}
    status, shell, headers = _get(api, "/", key=None)
    assert status == 200
    sizes["shell"] = len(shell) + sum(len(k) + len(v) + 4 for k, v in headers.items())
    for url in re.findall(rb'(?:src|href)="(/static/[^"]+)"', shell):
        path, _, query = url.decode().partition("?")
        status, body, headers = _get(api, path, key=None, query=query)
        assert status == 200, path
        sizes[path] = len(body) + sum(len(k) + len(v) + 4 for k, v in headers.items())
    status, body, headers = _get(api, "/ui/overview", key=api.key)
    assert status == 200
    sizes["overview fragment"] = len(body) + sum(len(k) + len(v) + 4 for k, v in headers.items())
    return sum(sizes.values()), sizes


def test_overview_of_1000_components_and_first_load(api, services):
    for name in ("counter", "greeter"):
        svc.register(services, ComponentSpec.model_validate(spec(name)), actor="bench", request_id=name)
    total, sizes = _first_load_bytes(api)
    for i in range(FLEET - 2):
        svc.register(
            services, ComponentSpec.model_validate(spec(f"svc-{i:04d}")), actor="bench", request_id=str(i)
        )
    status, page, _ = _get(api, "/ui/overview", key=api.key)
    assert status == 200 and page.count(b'href="/components/') == FLEET
    hello, hello_event = bare_hello()
    anchor, case = "anchor: bare Powertools hello", "overview, 1,000 components"
    samples: dict[str, list[float]] = {anchor: [], case: []}
    cpu: dict[str, list[float]] = {anchor: [], case: []}
    for _ in range(ROUNDS):
        for label, run in ((anchor, lambda: hello(hello_event, None)), (case, lambda: _overview(api))):
            wall, thread = time.perf_counter(), time.thread_time()
            run()
            cpu[label].append(time.thread_time() - thread)
            samples[label].append(time.perf_counter() - wall)
    rows = ratio_rows(samples, anchor, cpu)
    rows["target"] = "overview < 300 ms of server time; first page load < 200 KB"
    rows["overview fragment, 1,000 components"] = f"{len(page) / 1024:.1f} KiB"
    rows["first page load (demo fleet)"] = f"{total / 1024:.1f} KiB"
    rows.update({f"  {name}": f"{size / 1024:.1f} KiB" for name, size in sizes.items()})
    report("dashboard", rows)


def _overview(api) -> None:
    assert _get(api, "/ui/overview", key=api.key)[0] == 200

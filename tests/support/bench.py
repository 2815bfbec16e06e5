"""Printing benchmark figures."""

from __future__ import annotations

import json


def report(title: str, rows: dict) -> None:
    width = max(len(k) for k in rows)
    print(f"\n== {title}")
    for k, v in rows.items():
        print(f"   {k:<{width}}  {v}")


def quantile(samples: list[float], p: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(len(s) * p))]


def bare_hello():
    """The anchor: a bare Powertools HTTP API resolver with one hello route, as a handler."""
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

    from pilothouse.runtime.events import http_event

    app = APIGatewayHttpResolver()

    @app.get("/hello")
    def hello() -> dict:
        return {"message": "hello"}

    return app.resolve, http_event("GET", "/hello")


def ratio_rows(samples: dict[str, list[float]], anchor: str, cpu: dict[str, list[float]]) -> dict[str, str]:
    """p50/p99 of each case (wall, and the CPU time of the calling thread, steadier on a busy
    machine) and their ratios to the anchor's (same run, interleaved samples)."""
    rows = {}
    for label in samples:
        figures = []
        for kind, table in (("wall", samples), ("cpu", cpu)):
            p50, p99 = quantile(table[label], 0.5), quantile(table[label], 0.99)
            figure = f"{kind} p50 {p50 * 1000:.3f} ms p99 {p99 * 1000:.3f} ms"
            if label != anchor:
                a50, a99 = quantile(table[anchor], 0.5), quantile(table[anchor], 0.99)
                figure += f" ({p50 / a50:.1f}x, p99 {p99 / a99:.1f}x)"
            figures.append(figure)
        rows[label] = "   ".join(figures)
    return rows


def handler_latency(
    pool, admin_key: str, prefix: str = "bench"
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Interleaved samples of the anchor, get, list and register, invoked in-process with API
    Gateway events on the SQLite store (each handler called directly: no pool bookkeeping)."""
    import json
    import os
    import time

    from tests.support.specs import spec

    from pilothouse.embedded.functions import LambdaContext, load_module
    from pilothouse.runtime.events import http_event

    n = int(os.environ.get("BENCH_N", "300"))

    auth = {"authorization": f"Bearer {admin_key}", "content-type": "application/json"}
    for i in range(50):
        pool.invoke(
            "RegisterComponentFunction",
            http_event("POST", "/v1/components", headers=auth, body=json.dumps(spec(f"seed{i:03d}"))),
        )
    anchor, hello = bare_hello()
    cases = {
        "anchor: bare Powertools hello": (anchor, lambda i: hello),
        "get": (
            load_module(pool.functions["GetComponentFunction"]),
            lambda i: http_event(
                "GET", "/v1/components/seed001", headers=auth, path_parameters={"name": "seed001"}
            ),
        ),
        "list (50 items)": (
            load_module(pool.functions["ListComponentsFunction"]),
            lambda i: http_event("GET", "/v1/components", headers=auth, query="limit=50"),
        ),
        "register": (
            load_module(pool.functions["RegisterComponentFunction"]),
            lambda i: http_event(
                "POST", "/v1/components", headers=auth, body=json.dumps(spec(f"{prefix}{i:05d}"))
            ),
        ),
    }
    samples: dict[str, list[float]] = {label: [] for label in cases}
    cpu: dict[str, list[float]] = {label: [] for label in cases}
    for label, (fn, make) in cases.items():  # warm
        for _ in range(5):
            fn(make(-1), LambdaContext(label, 30))
    for i in range(n):
        for label, (fn, make) in cases.items():
            ev, ctx = make(i), LambdaContext(label, 30)
            t, c = time.perf_counter(), time.thread_time()
            result = fn(ev, ctx)
            cpu[label].append(time.thread_time() - c)
            samples[label].append(time.perf_counter() - t)
            assert result["statusCode"] in (200, 201), result
    return samples, cpu


#: the rate limiter on (as in production), with buckets no benchmark drains: its cost, not its 429s
GENEROUS_LIMITS = json.dumps(
    {
        "enabled": True,
        "rules": [
            {"operation_class": cls, "rate": 100_000, "burst": 1_000_000} for cls in ("reads", "mutations")
        ],
    }
)

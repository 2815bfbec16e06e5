"""Printing benchmark figures."""

from __future__ import annotations


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

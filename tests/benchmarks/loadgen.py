"""A small HTTP load generator run in its own process (so it does not share the server's GIL).

    python -m tests.benchmarks.loadgen URL PATH CLIENTS SECONDS [HEADER: VALUE ...]

Each client is a thread with one kept-alive connection sending GETs back to back; it prints one
JSON line: requests, errors (status other than 200 or a broken connection), req/s, p50 and p99 in ms.
"""

from __future__ import annotations

import http.client
import json
import sys
import threading
import time
from urllib.parse import urlsplit


def run(url: str, path: str, clients: int, seconds: float, headers: dict[str, str]) -> dict[str, float]:
    """Drive ``clients`` keep-alive connections for ``seconds``; return the figures."""
    parts = urlsplit(url)
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)
    stop_at = [0.0]

    def client() -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        mine: list[float] = []
        bad = 0
        start.wait()
        while time.perf_counter() < stop_at[0]:
            t = time.perf_counter()
            try:
                conn.request("GET", path, headers=headers)
                resp = conn.getresponse()
                resp.read()
                bad += resp.status != 200
            except (OSError, http.client.HTTPException):
                bad += 1
                conn.close()
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
                continue
            mine.append(time.perf_counter() - t)
        conn.close()
        with lock:
            latencies.extend(mine)
            errors[0] += bad

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    t0 = time.perf_counter()
    stop_at[0] = t0 + seconds
    start.wait()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    ordered = sorted(latencies)

    def pct(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000 if ordered else float("nan")

    return {
        "requests": len(ordered),
        "errors": errors[0],
        "rps": len(ordered) / elapsed,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
    }


if __name__ == "__main__":
    url, path, n, secs, *raw = sys.argv[1:]
    hdrs = dict(h.split(": ", 1) for h in raw)
    print(json.dumps(run(url, path, int(n), float(secs), hdrs)))

"""Alternating load rounds against two HTTP servers (an anchor and the server under test), for the
gateway benchmarks: a load generator in another process (``tests.benchmarks.loadgen``), each
server's CPU per request, and the printed ratios. Nothing is asserted about time."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from collections.abc import Callable

import psutil
from tests.support.bench import report
from tests.support.controlplane import ROOT

CLIENTS = int(os.environ.get("BENCH_CLIENTS", "8"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "2"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "4"))


def load(url: str, path: str, headers: dict[str, str], seconds: float = SECONDS) -> dict[str, float]:
    args = [f"{k}: {v}" for k, v in headers.items()]
    out = subprocess.run(
        [sys.executable, "-m", "tests.benchmarks.loadgen", url, path, str(CLIENTS), str(seconds), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
        timeout=seconds + 60,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def row_of(r: dict[str, float]) -> str:
    return (
        f"{r['rps']:7.0f} req/s   p50 {r['p50_ms']:6.2f} ms   p99 {r['p99_ms']:6.2f} ms"
        f"   ({r['errors']:.0f} errors)"
    )


class Side:
    """One server under test: where it listens, what to send, whose CPU to count."""

    def __init__(self, label: str, url: str, headers: dict[str, str], cpu: Callable[[], float]) -> None:
        self.label, self.url, self.headers, self.cpu = label, url, headers, cpu
        self.rounds: list[dict[str, float]] = []

    def run(self, path: str) -> dict[str, float]:
        before = self.cpu()
        fig = load(self.url, path, self.headers)
        fig["cpu_s"] = self.cpu() - before
        self.rounds.append(fig)
        return fig

    def row(self) -> str:
        requests = sum(r["requests"] for r in self.rounds)
        errors = sum(r["errors"] for r in self.rounds)
        return (
            f"{statistics.mean(r['rps'] for r in self.rounds):7.0f} req/s"
            f"   p50 {statistics.median(r['p50_ms'] for r in self.rounds):6.2f} ms"
            f"   p99 {statistics.median(r['p99_ms'] for r in self.rounds):6.2f} ms"
            f"   CPU {self.cpu_us():5.0f} us/req   ({errors:.0f} errors in {requests:.0f})"
        )

    def cpu_us(self) -> float:
        return sum(r["cpu_s"] for r in self.rounds) / max(1, sum(r["requests"] for r in self.rounds)) * 1e6


def process_cpu(pid: int | None = None) -> Callable[[], float]:
    proc = psutil.Process(pid)

    def cpu() -> float:
        t = proc.cpu_times()
        return t.user + t.system

    return cpu


def p99_of(side: Side) -> float:
    return statistics.median(r["p99_ms"] for r in side.rounds)


def compare(title: str, path: str, anchor: Side, gateway: Side, extra: dict[str, str]) -> None:
    """Warm both, run the alternating rounds, print the figures and ratios, check every answer."""
    for side in (anchor, gateway):
        load(side.url, path, side.headers, seconds=1)  # warm: connections, function instances
    ratios = []
    for i in range(ROUNDS):
        first, second = (anchor, gateway) if i % 2 == 0 else (gateway, anchor)
        first.run(path)
        second.run(path)
        ratios.append(gateway.rounds[-1]["rps"] / anchor.rounds[-1]["rps"])
    report(
        f"{title}, GET {path} ({CLIENTS} keep-alive clients, {ROUNDS} alternating rounds of {SECONDS:g} s)",
        {
            anchor.label: anchor.row(),
            gateway.label: gateway.row(),
            **extra,
            "throughput ratio gateway/anchor (median of rounds)": (
                f"{statistics.median(ratios):.2f}  (rounds: {', '.join(f'{r:.2f}' for r in ratios)})"
            ),
            "CPU per request ratio gateway/anchor": f"{gateway.cpu_us() / anchor.cpu_us():.2f}",
            "p99 ratio gateway/anchor (medians)": f"{p99_of(gateway) / p99_of(anchor):.2f}",
        },
    )
    for side in (anchor, gateway):
        assert all(r["errors"] == 0 and r["requests"] > 0 for r in side.rounds), side.rounds


class UvicornAnchor:
    """The anchor server: uvicorn with the pure-Python h11 parser + Starlette serving ``routes``
    (Starlette routes) on 127.0.0.1 and a free port, in a thread, as a context manager."""

    def __init__(self, routes: list) -> None:
        import socket
        import threading

        import uvicorn
        from starlette.applications import Starlette

        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that say so (else 40 ms
        # delayed-ACK stalls on every keep-alive response)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.sock.bind(("127.0.0.1", 0))
        self.server = uvicorn.Server(
            uvicorn.Config(
                Starlette(routes=routes), http="h11", loop="asyncio", log_level="warning", lifespan="off"
            )
        )
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def __enter__(self) -> UvicornAnchor:
        import time

        self.thread.start()
        while not self.server.started:
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(5)
        self.sock.close()

"""``pilothouse dev``: the whole function suite on one machine.

A :class:`DevServer` reads template.yaml and runs, in one process: the HTTP gateway, the queue
worker, the scheduler and the functions themselves, on SQLite state and a SQLite queue under the
data directory. Stopping it stops every local process it deployed; the next start brings them back.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

from rich.console import Console

from pilothouse.clock import SystemClock


class DevServer:
    def __init__(self, host: str, port: int, data_dir: Path, project_dir: Path, *, console: Console | None = None):
        self.host = host
        self.port = port
        self.data_dir = Path(data_dir).resolve()
        self.project_dir = Path(project_dir).resolve()
        self.console = console or Console(stderr=True)
        self.admin_key: str | None = None
        self._started = False

    def _environment(self) -> None:
        os.environ["PILOTHOUSE_DATA_DIR"] = str(self.data_dir)
        os.environ["PILOTHOUSE_PROJECT_DIR"] = str(self.project_dir)
        os.environ.setdefault("PILOTHOUSE_STORE", "sqlite")
        os.environ.setdefault("PILOTHOUSE_QUEUE", "local")
        os.environ.setdefault("PILOTHOUSE_CREATE_RESOURCES", "true")  # a table or bucket at an endpoint
        os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
        if self.port:  # no component may name the control plane's own port (services.components)
            os.environ["PILOTHOUSE_CONTROL_PORT"] = str(self.port)

    def start(self) -> None:
        from pilothouse.local.functions import FunctionPool
        from pilothouse.local.gateway import GatewayServer, LocalGateway
        from pilothouse.local.scheduler import ScheduledJob, Scheduler
        from pilothouse.local.template import read_cloud
        from pilothouse.messaging.base import QueueSpec
        from pilothouse.services.jobs import restore_placements
        from pilothouse.settings import get_settings
        from pilothouse.wiring import get_services

        self._environment()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        settings = get_settings()
        self.services = get_services(settings)
        cloud = read_cloud(self.project_dir, settings)
        for q in sorted(cloud.queues.values(), key=lambda q: q.dead_letter is not None):
            dlq = cloud.queues[q.dead_letter].name if q.dead_letter in cloud.queues else None
            self.services.queue.declare(
                QueueSpec(q.name, visibility_timeout=q.visibility_timeout,
                          max_receive_count=q.max_receive_count if dlq else None, dead_letter_queue=dlq)
            )
        self._admin_key()
        restored = restore_placements(self.services)
        for name, outcome in restored.items():
            self.console.print(f"[dim]restored {name}: {outcome}[/dim]")
        self.pool = FunctionPool(cloud.functions)
        from pilothouse.invokers.local import LocalInvoker
        from pilothouse.services import execution_steps

        self.services.__dict__["invoker"] = LocalInvoker(self.pool)  # Task states share the gateway's pool
        swept = execution_steps.sweep(self.services, stale_after=0)  # pick up what the last run left in flight
        if any(swept.values()):
            self.console.print(f"[dim]workflow executions resumed: {swept}[/dim]")
        self.gateway = GatewayServer(LocalGateway(cloud.routes, self.pool), self.host, self.port)
        from pilothouse.local.worker import Worker

        self.worker = Worker(self.services.queue, cloud.queue_sources, self.pool)
        self.scheduler = Scheduler(
            SystemClock(),
            [ScheduledJob(s.rule, s.expression, self._scheduled(s.function)) for s in cloud.schedules],
        )
        self.worker.start()
        self.scheduler.start()
        self.gateway.start()
        self._started = True

    def _scheduled(self, function: str):
        def fire(event: dict) -> None:
            self.pool.invoke(function, event)

        return fire

    def _admin_key(self) -> None:
        from pilothouse.services import keys

        seeded = os.environ.get("PILOTHOUSE_ADMIN_KEY")
        if seeded:
            keys.ensure_key(self.services, seeded, name="admin (PILOTHOUSE_ADMIN_KEY)")
            state = keys.seeded_key_state(self.services, seeded)
            if state != "active":
                self.console.print(
                    f"[bold red]PILOTHOUSE_ADMIN_KEY is {state}: it is not honoured.[/bold red] Use another admin "
                    "key, or mint one with: pilothouse keys recover --data-dir " + str(self.data_dir)
                )
            self.admin_key = seeded
            return
        existing, _ = keys.list_keys(self.services, limit=1)
        if not existing:
            secret, _record = keys.create_key(self.services, name="admin", role="admin", created_by="system")
            self.admin_key = secret
            self.console.print(
                f"[bold yellow]Admin API key (shown once, keep it):[/bold yellow] [bold]{secret}[/bold]"
            )

    @property
    def url(self) -> str:
        return self.gateway.url

    def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        self.gateway.stop()
        self.scheduler.stop()
        self.worker.stop()
        from pilothouse.wiring import reset_services

        reset_services()  # stops local processes (they come back on the next start)


def wait_for_interrupt() -> None:
    """Block until SIGINT or SIGTERM."""
    done = threading.Event()
    previous = {s: signal.signal(s, lambda *_: done.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not done.wait(0.5):
            pass
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def run_dev(host: str, port: int, data_dir: Path, project_dir: Path) -> None:
    """Run the local control plane until Ctrl-C."""
    console = Console(stderr=True)
    server = DevServer(host, port, data_dir, project_dir, console=console)
    server.start()
    console.print(f"[green]Pilothouse is listening on {server.url}[/green] (data in {server.data_dir}); Ctrl-C stops")
    try:
        wait_for_interrupt()
    finally:
        console.print("stopping...")
        server.stop()
        console.print("stopped")

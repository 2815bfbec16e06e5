"""``pilothouse dev``: the whole function suite on one machine.

A :class:`DevServer` reads template.yaml and runs, in one process: the HTTP gateway, the queue
worker, the scheduler and the functions themselves, on SQLite state and a SQLite queue under the
data directory. Stopping it stops every local process it deployed; the next start brings them back.

One control plane per data dir: :meth:`DevServer.start` takes ``<data-dir>/lock`` and checks its
port before it touches any state. After a restart it serves the API at once -- before it has read
a single component, so its start does not grow with their number -- and brings back what the last
run left in the background: components still being restored say ``restoring: true`` and answer
commands with 409 (Retry-After) until they are back (:mod:`pilothouse.services.restoring`).

Its clock is the wall clock, or with ``PILOTHOUSE_CLOCK_SCALE`` one that many times as fast, kept
in the data dir so that it never runs backwards over a restart (:mod:`pilothouse.embedded.dev_clock`).
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import threading
from pathlib import Path

from rich.console import Console

from pilothouse.clock import Clock
from pilothouse.embedded.datadir_lock import DataDirLock, StartRefused, check_port_free
from pilothouse.embedded.tls import TlsFiles

log = logging.getLogger(__name__)


class DevServer:
    """The local control plane: gateway, worker, scheduler and functions in this process."""

    def __init__(
        self,
        host: str,
        port: int,
        data_dir: Path,
        project_dir: Path,
        *,
        console: Console | None = None,
        tls: TlsFiles | None = None,
    ) -> None:
        #: serve HTTPS (TLS 1.3 at least) with this certificate and key
        self.tls = tls
        self.host = host
        self.port = port
        self.data_dir = Path(data_dir).resolve()
        self.project_dir = Path(project_dir).resolve()
        self.console = console or Console(stderr=True)
        self.admin_key: str | None = None
        self.restoring: list[str] = []
        self._started = False
        self._stopping = threading.Event()
        self._recovered = threading.Event()
        self._phase = threading.Lock()  # worker/scheduler start (after the restore) vs stop
        self._workers_started = False

    def _environment(self) -> None:
        os.environ["PILOTHOUSE_DATA_DIR"] = str(self.data_dir)
        os.environ["PILOTHOUSE_PROJECT_DIR"] = str(self.project_dir)
        os.environ.setdefault("PILOTHOUSE_STORE", "sqlite")
        os.environ.setdefault("PILOTHOUSE_QUEUE", "local")
        os.environ.setdefault("PILOTHOUSE_CREATE_RESOURCES", "true")  # a table or bucket at an endpoint
        os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
        if self.port:  # no component may name the control plane's own port (services.components)
            os.environ["PILOTHOUSE_CONTROL_PORT"] = str(self.port)
        from pilothouse.embedded.sfn_endpoint import prepare_environment

        warning = prepare_environment(self.host)
        if warning:
            self.console.print(f"[bold yellow]{warning}[/bold yellow]")

    def start(self, *, wait_restored: bool = True) -> None:
        """Take the data dir's lock, check the port, then serve the API at once; what the last run
        left (placements, jobs, workflow executions) is brought back in the background, and the
        worker and scheduler start once it is (see :meth:`_recover`). With ``wait_restored`` (in
        process: tests, the demo) this returns once that is done; ``pilothouse dev`` does not wait.

        Raises :class:`StartRefused` -- having changed nothing -- when another control plane holds
        the data dir or the port is taken."""
        self._lock = DataDirLock(self.data_dir)
        self._lock.acquire()
        try:
            check_port_free(self.host, self.port)
            self._start()
        except BaseException:
            self._lock.release()
            raise
        if wait_restored:
            self._recovered.wait()

    def _start(self) -> None:
        from pilothouse.embedded.functions import FunctionPool
        from pilothouse.embedded.gateway import GatewayServer, LocalGateway
        from pilothouse.embedded.invoker import LocalInvoker
        from pilothouse.embedded.scheduler import ScheduledJob, Scheduler
        from pilothouse.embedded.sfn_endpoint import mount as mount_sfn
        from pilothouse.embedded.template import read_cloud
        from pilothouse.embedded.worker import Worker
        from pilothouse.ports import QueueSpec
        from pilothouse.services import restoring
        from pilothouse.settings import get_settings
        from pilothouse.wiring import Services, register_services

        self._environment()
        settings = get_settings()
        cloud = read_cloud(self.project_dir, settings)
        self.clock = self._clock(settings.clock_scale)
        mount_sfn(cloud)  # the Step Functions-compatible endpoint, POST /sfn
        self.pool = FunctionPool(cloud.functions)
        # Task states share the gateway's pool; the functions the pool runs find these services.
        self.services = Services(settings, self.clock, invoker=LocalInvoker(self.pool))
        register_services(self.services)
        self._migrate()
        for q in sorted(cloud.queues.values(), key=lambda q: q.dead_letter is not None):
            dlq = cloud.queues[q.dead_letter].name if q.dead_letter in cloud.queues else None
            self.services.queue.declare(
                QueueSpec(
                    q.name,
                    visibility_timeout=q.visibility_timeout,
                    max_receive_count=q.max_receive_count if dlq else None,
                    dead_letter_queue=dlq,
                )
            )
        self._admin_key()
        self._recover_backup_runs()
        # listen at once: until the restore has marked what it brings back, the gate answers for it
        # (their GET says restoring, commands on them 409), however many components there are
        restoring.begin(self.services)
        self.gateway = GatewayServer(
            LocalGateway(cloud.routes, self.pool), self.host, self.port, tls=self.tls
        )
        self.worker = Worker(self.services.queue, cloud.queue_sources, self.pool)
        self.scheduler = Scheduler(
            self.clock,
            [ScheduledJob(s.rule, s.expression, self._scheduled(s.function)) for s in cloud.schedules],
            time_scale=settings.schedule_scale,
        )
        self._stopping.clear()
        self._recovered.clear()
        self.gateway.start()
        self._started = True
        self._recovery = threading.Thread(target=self._recover, name="pilothouse-restore", daemon=True)
        self._recovery.start()

    def _clock(self, scale: float) -> Clock:
        """The control plane's clock (scaled with ``PILOTHOUSE_CLOCK_SCALE``), continuing the data dir's."""
        from pilothouse.embedded.dev_clock import open_clock

        opened = open_clock(self.data_dir, scale)
        if scale != 1:
            self.console.print(
                f"[bold yellow]the control plane's clock runs {scale:g}x as fast as the wall clock"
                "[/bold yellow] (PILOTHOUSE_CLOCK_SCALE: for tests and demos)"
            )
        if opened.lead >= 1:
            self.console.print(
                f"[yellow]this data dir's clock is {opened.lead:.0f} s ahead of the wall clock[/yellow] "
                "(it ran with a scaled clock before; it keeps that lead so that stored times stay past)"
            )
        return opened.clock

    def _recover(self) -> None:
        """In the background after start: settle the replicas of this data dir the last run left
        (intents resolved, unknown ones killed), restore the placements, stop the replicas nothing
        adopted, re-enqueue the jobs the last run held, resume workflow executions -- then start
        the worker and the scheduler (so no job acts on a component still being restored)."""
        from pilothouse.services import execution_steps, restoring
        from pilothouse.services.jobs import mark_restoring, restore_placements, resume_operations

        try:
            self.restoring = mark_restoring(self.services)  # lifts the gate once they are marked
            provider = self._local_provider()
            if provider is not None:
                provider.owns_data_dir = True  # we hold <data-dir>/lock: what no record knows is ours to stop
                recovered = provider.recover_journal()
                if any(recovered.values()):
                    self.console.print(f"[dim]replicas left by the last run: {recovered}[/dim]")
            restored = restore_placements(
                self.services, cancelled=self._stopping.is_set, names=self.restoring
            )
            for name, outcome in restored.items():
                self.console.print(f"[dim]restored {name}: {outcome}[/dim]")
            if self._stopping.is_set():
                return
            if provider is not None:
                reaped = provider.reap_unmanaged()
                if reaped:
                    self.console.print(f"[dim]stopped {len(reaped)} replica(s) no component knows[/dim]")
            # one control plane per data dir and its settings (the store and queues it names, local or
            # in a cloud): no other worker holds a lease, and a job the dead run held would otherwise
            # wait out its message's visibility timeout (15 minutes on SQS, Azure and Pub/Sub)
            requeued = resume_operations(self.services)
            if requeued:
                self.console.print(f"[dim]jobs resumed: {requeued}[/dim]")
            # what the last run left in flight; the tasks its dead process held run again at once
            # (on cloud queues their messages would stay invisible for the visibility timeout)
            swept = execution_steps.sweep(self.services, stale_after=0, own_host=True)
            if any(swept.values()):
                self.console.print(f"[dim]workflow executions resumed: {swept}[/dim]")
        except Exception as exc:  # a control plane that cannot restore still has to run
            if not self._stopping.is_set():
                log.exception("restoring after the restart failed")
                self.console.print(f"[bold red]restoring after the restart failed: {exc}[/bold red]")
        finally:
            restoring.end(self.services)
            with self._phase:
                if not self._stopping.is_set():
                    self.worker.start()
                    self.scheduler.start()
                    self._workers_started = True
            # what start-up loaded (modules, schemas, settings, the restored state) lives as long as
            # the process: out of the collector's reach, a full collection walks only what requests
            # made since, instead of pausing a request for the whole heap (tens of ms at p99)
            gc.collect()  # what start-up left as garbage is not frozen with it
            gc.freeze()
            self._recovered.set()

    def _local_provider(self):
        """The local provider (None where this build has none)."""
        from pilothouse.ports import ProviderUnavailable

        try:
            return self.services.provider("local")
        except ProviderUnavailable:
            return None

    def wait_recovered(self, timeout: float = 60.0) -> bool:
        """Block until the background restore after :meth:`start` is done (True) or ``timeout``."""
        return self._recovered.wait(timeout)

    def _scheduled(self, function: str):
        def fire(event: dict) -> None:
            self.pool.invoke(function, event)

        return fire

    def _migrate(self) -> None:
        """Bring a store of an older layout to this release's before anything reads it."""
        from pilothouse.services.migrations import ensure_current

        done = ensure_current(self.services.store)
        if done and done["from"] != done["to"]:
            moved = ", ".join(f"{k} {v}" for k, v in done["moved"].items() if v) or "nothing to move"
            versions = f"{done['from']} to {done['to']}"
            self.console.print(f"[dim]store layout migrated from version {versions}: {moved}[/dim]")

    def _recover_backup_runs(self) -> None:
        """Backup runs the last (killed) control plane held go back to the job worker now."""
        from pilothouse.services.backup_runs import recover_local

        recovered = recover_local(self.services)
        if recovered:
            self.console.print(f"[dim]backup runs taken up again after a crash: {', '.join(recovered)}[/dim]")

    def _admin_key(self) -> None:
        from pilothouse.services import keys

        seeded = os.environ.get("PILOTHOUSE_ADMIN_KEY")
        if seeded:
            keys.ensure_key(self.services, seeded, name="admin (PILOTHOUSE_ADMIN_KEY)")
            state = keys.seeded_key_state(self.services, seeded)
            if state != "active":
                self.console.print(
                    f"[bold red]PILOTHOUSE_ADMIN_KEY is {state}: it is not honoured.[/bold red] Use another "
                    "admin key, or mint one with: pilothouse keys recover --data-dir " + str(self.data_dir)
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
        """Stop serving, cancel a restore still under way (without marking anything), stop the
        worker, the scheduler and every local process, and let go of the data dir."""
        if not self._started:
            return
        self._started = False
        self._stopping.set()
        self.gateway.stop()
        if not self._recovered.is_set():
            provider = self._local_provider()
            if provider is not None:
                provider.close()  # ends the restore's health waits at once
            self._recovery.join(15)
        with self._phase:
            if self._workers_started:
                self.scheduler.stop()
                self.worker.stop()
                self._workers_started = False
        from pilothouse.embedded.dev_clock import close_clock
        from pilothouse.wiring import reset_services

        reset_services()  # stops local processes (they come back on the next start)
        close_clock(self.data_dir, self.clock)  # still holding the lock
        self._lock.release()


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


def run_dev(host: str, port: int, data_dir: Path, project_dir: Path, *, tls: TlsFiles | None = None) -> None:
    """Run the local control plane until Ctrl-C (over HTTPS with ``tls``)."""
    console = Console(stderr=True)
    server = DevServer(host, port, data_dir, project_dir, console=console, tls=tls)
    try:
        server.start(wait_restored=False)
    except StartRefused as exc:
        console.print(f"[bold red]pilothouse dev cannot start:[/bold red] {exc}", soft_wrap=True)
        raise SystemExit(1) from None
    console.print(
        f"[green]Pilothouse is listening on {server.url}[/green] (data in {server.data_dir}); Ctrl-C stops"
    )
    console.print(f"[dim]Step Functions API (boto3/AWS CLI endpoint_url): {server.url}/sfn[/dim]")
    try:
        wait_for_interrupt()
    finally:
        console.print("stopping...")
        server.stop()
        console.print("stopped")

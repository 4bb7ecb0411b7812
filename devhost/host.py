"""`Host`: settings, the app's functions, uvicorn for HTTP, queue pumps and timers together."""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import tzinfo
from pathlib import Path
from typing import Any

import anyio.to_thread
import uvicorn
from starlette.applications import Starlette

from devhost.activity import Activity
from devhost.http import DEFAULT_MAX_BODY, FunctionsRouter, build_app
from devhost.index import HostFunction, app_directory, index_functions, load_app
from devhost.pump import QueuePump
from devhost.settings import Environment, apply_settings
from devhost.timers import TimerRunner, schedule_zone
from shared.runtime import release_runtime

log = logging.getLogger("devhost")


def read_route_prefix(host_json: Path) -> str:
    """host.json `extensions.http.routePrefix` ("api" when absent; "" means none)."""
    if not host_json.is_file():
        return "api"
    try:
        document = json.loads(host_json.read_text(encoding="utf-8-sig"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read {host_json}: {exc}") from None
    prefix = document.get("extensions", {}).get("http", {}).get("routePrefix")
    return "api" if prefix is None else str(prefix).strip("/")


DEFAULT_BATCH_SIZE = 1000  # the Service Bus extension's default maxMessageBatchSize


def read_batch_size(host_json: Path) -> int:
    """host.json `extensions.serviceBus.maxMessageBatchSize`: the most messages a batch
    trigger (`cardinality=many`) gets at once."""
    if not host_json.is_file():
        return DEFAULT_BATCH_SIZE
    document = json.loads(host_json.read_text(encoding="utf-8-sig"))
    value = document.get("extensions", {}).get("serviceBus", {}).get("maxMessageBatchSize", DEFAULT_BATCH_SIZE)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{host_json}: extensions.serviceBus.maxMessageBatchSize must be a positive whole number")
    return value


class Host:
    """Runs a Functions app on one machine.

    `start()` serves HTTP on a thread and returns the base URL; the uvicorn lifespan starts
    the queue pumps and timers and stops them again on `stop()`. `serve()` does the same in
    the foreground (Ctrl+C stops it). `drain()` waits until the pumped queues are quiet.
    """

    def __init__(
        self,
        app_module: str = "function_app:app",
        *,
        settings_path: str | Path = "local.settings.json",
        sample_path: str | Path | None = None,
        host_json: str | Path = "host.json",
        data_dir: str | Path | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        poll_interval: float = 0.1,
        queue_concurrency: int = 1,
        bus_options: Mapping[str, Any] | None = None,
        max_body: int | None = None,
    ):
        if poll_interval <= 0 or queue_concurrency < 1:
            raise ValueError("poll_interval must be positive and queue_concurrency >= 1")
        self.app_module = app_module
        self.settings_path = Path(settings_path)
        self.sample_path = Path(sample_path) if sample_path else None
        self.host_json = Path(host_json)
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.host = host
        self.port = port
        self.poll_interval = poll_interval
        self.queue_concurrency = queue_concurrency
        self.bus_options = dict(bus_options or {})
        self.max_body = max_body
        self.activity = Activity()
        self.functions: list[HostFunction] = []
        self.route_prefix = "api"
        self.batch_size = DEFAULT_BATCH_SIZE
        self.settings_created = False
        self.bus_path: str | None = None
        self.url: str | None = None
        self.pumps: list[QueuePump] = []
        self.timers: list[TimerRunner] = []
        self._env = Environment()
        self._prepared = False
        self._zone: tzinfo | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._server: uvicorn.Server | None = None
        self._server_thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._on_ready: Callable[[Host], None] | None = None
        self._access_was_disabled = False

    # -- setting up -------------------------------------------------------------------

    def prepare(self) -> list[HostFunction]:
        """Apply the settings, import the app and index its functions (once)."""
        if self._prepared:
            return self.functions
        try:
            self.settings_created = apply_settings(
                self.settings_path,
                sample_path=self.sample_path,
                data_dir=self.data_dir,
                env=self._env,
            )
            if self.settings_created:
                log.info("created %s from the sample", self.settings_path)
            self.route_prefix = read_route_prefix(self.host_json)
            self.batch_size = read_batch_size(self.host_json)
            app = load_app(self.app_module)
            self.functions = index_functions(app, os.environ, app_directory(self.app_module))
            self._check_bus()
            self._zone = schedule_zone()
        except BaseException:
            self._env.restore()
            raise
        self._prepared = True
        return self.functions

    def _check_bus(self) -> None:
        queues = [f for f in self.functions if f.kind == "queue" and not f.disabled]
        if not queues:
            return
        from shared.config import Settings

        settings = Settings.from_env()
        if settings.bus != "local":
            reason = f"ROSTER_BUS={settings.bus}: only the local bus is pumped on one machine"
            log.warning("queue triggers are not pumped: %s", reason)
            for fn in queues:
                fn.disabled = reason
            return
        self.bus_path = settings.bus_path

    def open_receiver(self) -> Any:
        """A LocalBus on the app's bus file (one per pump thread)."""
        from shared.bus.local import LocalBus

        assert self.bus_path is not None
        Path(self.bus_path).parent.mkdir(parents=True, exist_ok=True)
        return LocalBus(self.bus_path, **self.bus_options)

    def asgi(self) -> Starlette:
        """The ASGI app (HTTP routes plus a lifespan running pumps and timers)."""
        self.prepare()
        max_body = self.max_body
        if max_body is None:
            limit = os.environ.get("FUNCTIONS_REQUEST_BODY_SIZE_LIMIT", "")
            max_body = int(limit) if limit.isdigit() else DEFAULT_MAX_BODY
        router = FunctionsRouter(
            self.functions, self.activity, route_prefix=self.route_prefix, max_body=max_body
        )
        return build_app(router, self._lifespan)

    @asynccontextmanager
    async def _lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        self._start_workers()
        if self._on_ready is not None:
            self._on_ready(self)
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(self._stop_workers)

    # -- workers ----------------------------------------------------------------------

    def _start_workers(self) -> None:
        self._stop.clear()
        self.pumps, self.timers, self._threads = [], [], []
        for fn in self.functions:
            if fn.disabled:
                continue
            if fn.kind == "queue":
                for n in range(self.queue_concurrency):
                    worker = f"{fn.name}#{n}"
                    self.activity.register(worker)
                    pump = QueuePump(
                        fn,
                        self.open_receiver,
                        self.activity,
                        self._stop,
                        poll_interval=self.poll_interval,
                        worker=worker,
                        batch_size=self.batch_size,
                    )
                    self.pumps.append(pump)
                    self._spawn(pump.run, f"devhost-pump-{worker}")
            elif fn.kind == "timer":
                timer = TimerRunner(
                    fn, self.activity, self._stop, zone=self._zone or schedule_zone()
                )
                self.timers.append(timer)
                self._spawn(timer.run, f"devhost-timer-{fn.name}")

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _stop_workers(self, timeout: float = 10.0) -> None:
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                log.warning("%s is still running a function; left behind", thread.name)
        self._threads = []

    # -- running ----------------------------------------------------------------------

    def _make_server(self) -> uvicorn.Server:
        app = self.asgi()
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted connections inherit it; without it a pre-bound socket adds Nagle's
        # ~40 ms delayed-ACK stall to every keep-alive response.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            raise
        self._socket = sock
        port = sock.getsockname()[1]
        host = f"[{self.host}]" if family == socket.AF_INET6 else self.host
        self.url = f"http://{host}:{port}"
        config = uvicorn.Config(
            app, lifespan="on", log_config=None, access_log=False, timeout_graceful_shutdown=5
        )
        # uvicorn's access line carries the path and query, which may hold personal data;
        # the router logs the route template instead. Disabled outright: logging setups
        # (pytest's among them) may attach handlers to the non-propagating logger.
        access = logging.getLogger("uvicorn.access")
        self._access_was_disabled = access.disabled
        access.disabled = True
        self._server = uvicorn.Server(config)
        return self._server

    def start(self, timeout: float = 30.0) -> str:
        """Serve on a background thread; returns the base URL (e.g. http://127.0.0.1:53124)."""
        if self._server is not None:
            raise RuntimeError("a Host runs once; make a new one")
        try:
            server = self._make_server()
        except BaseException:
            self._close()
            raise
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [self._socket]}, name="devhost-http", daemon=True
        )
        self._server_thread = thread
        thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("devhost did not start; the log says why")
            time.sleep(0.01)
        assert self.url is not None
        return self.url

    def serve(self, on_ready: Callable[[Host], None] | None = None) -> None:
        """Serve in the foreground until interrupted; `on_ready(host)` once all is running."""
        self._on_ready = on_ready
        try:
            server = self._make_server()
            server.run(sockets=[self._socket])
        finally:
            self._close()

    def drain(self, timeout: float = 10.0) -> None:
        """Wait until no function runs and every pumped queue has no due, unlocked message."""
        if self._server is None or not self._server.started:
            raise RuntimeError("the host is not running")
        deadline = time.monotonic() + timeout
        while True:
            if not self.activity.wait_quiet(max(0.0, deadline - time.monotonic())):
                raise TimeoutError(f"devhost did not drain within {timeout}s")
            if not self._due_messages():
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"devhost did not drain within {timeout}s")
            time.sleep(self.poll_interval)

    def _due_messages(self) -> bool:
        """Whether a pumped queue still holds a message that is due now (a second look at
        the bus itself, so a quiet moment between two pumps is not taken for drained)."""
        if self.bus_path is None or not self.pumps:
            return False
        bus = self.open_receiver()
        try:
            now = bus.clock.now()
            return any(
                (due := bus.next_due(queue)) is not None and due <= now
                for queue in {pump.queue for pump in self.pumps}
            )
        finally:
            bus.close()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving, pumping and timers; undo the environment changes."""
        server, thread = self._server, self._server_thread
        if server is not None and thread is not None:
            server.should_exit = True
            thread.join(timeout)
            if thread.is_alive():
                server.force_exit = True
                thread.join(2)
        self._stop_workers(timeout)
        self._server_thread = None
        self._close()

    def _close(self) -> None:
        try:
            release_runtime()  # built from this host's environment: closed before it is restored
        finally:
            logging.getLogger("uvicorn.access").disabled = self._access_was_disabled
            if self._socket is not None:
                self._socket.close()
                self._socket = None
            self._env.restore()

    def __enter__(self) -> Host:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

"""A bulk load's chunks computed on the machine's other cores, committed in input order.

Contract (embedded SQLite store only; docs/persons.md, "Bulk load"):
- `parallel(rt, chunks)`: whether a load goes to the workers — `ROSTER_BULK_WORKERS` above 1,
  a plain `SqliteStore` (Table Storage, and a store wrapped for fault injection, stay serial)
  and more than one chunk. Dry runs never come here.
- `applied(rt, chunks, actor, classic)` answers every chunk's `RecordResult`s in input order,
  exactly what `classic` (`bulk._applied`) run chunk after chunk answers and leaves: each chunk
  is computed in a worker inside an `OptimisticUnit` (reads recorded, writes buffered, no write
  lock held), and committed only once every earlier chunk has — the commit re-validates every
  read, and a chunk whose reads changed (`Conflict`: an earlier chunk, or any other writer,
  wrote what it read) is redone classically under the write lock. While one chunk commits the
  next ones compute.
- Workers are `spawn` processes started on the first parallel load and kept (stopped with the
  Runtime, when the settings change, and at exit). Each builds its own Runtime from the
  parent's settings on the same store and bus files. Per chunk, over a Pipe:
      parent → ("compute", chunk, actor, clock, trace)  worker → ("computed", seconds)
      parent → ("commit",)   worker → ("committed", results, conflict or None, seconds) | ("raised", error)
      parent → ("drop",)     (a later chunk of a load that failed: nothing written) → ("dropped",)
  `clock` is the parent's clock (a test's travelled time included), `trace` its trace context,
  so the worker's spans and messages join the request's trace.
- A worker that dies (its pipe at EOF) is replaced, and its chunk redone classically in the
  parent when its turn comes. Idempotent: had it committed before it died, its records now
  answer `unchanged` (`stale` for an earlier record of a source id the chunk repeats), as when
  an interrupted import is started again; nothing is doubled.
- An exception inside a chunk behaves as on the serial path: what the chunk wrote before it
  stands, committed in its turn without its after-commit actions; the later chunks are
  dropped and the exception reaches the caller. So does an after-commit action (publishing)
  that fails once the chunk is durable: it is raised, never redone. A worker found dead when
  told to commit has its chunk redone in the parent, in its turn. A commit the store refuses (nothing of it
  written) is redone classically, so it fails where and as the serial path fails.
- Chunks redone (a conflict, with the table it read; a refused commit) and lost workers are
  logged (chunk numbers and table names only: no keys, no personal data) and counted in
  `STATS`, with the CPU seconds spent computing and committing (a commit, redoing included,
  holds the write lock: its share bounds what more workers give).
"""

from __future__ import annotations

import atexit
import functools
import logging
import multiprocessing
import os
import pickle
import sys
import threading
import time
import types
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from multiprocessing.connection import Connection, wait
from typing import Any

from shared import telemetry
from shared.bus import open_bus
from shared.bus.local import LocalBus
from shared.clock import Clock, SystemClock, TravelClock
from shared.config import Settings
from shared.runtime import Runtime, use_runtime
from shared.services import relay
from shared.store.optimistic import Conflict, OptimisticUnit
from shared.store.sqlite import SqliteStore

log = logging.getLogger("roster.bulk")
STATS: Counter = Counter()  # chunks, redone, lost (workers died holding one), compute_s, commit_s
Chunk = list[tuple[int, Any]]
Classic = Callable[[Runtime, Chunk, str], list]
STOP_SECONDS = 5.0


def parallel(rt: Runtime, chunks: list[Chunk]) -> bool:
    """Whether `chunks` are computed by worker processes (see the module's contract)."""
    return rt.settings.bulk_workers > 1 and len(chunks) > 1 and type(rt.store) is SqliteStore


def applied(rt: Runtime, chunks: list[Chunk], actor: str, classic: Classic) -> list:
    """Every chunk through the chain in the workers, committed in input order; the results of
    every record, in order. One load at a time has the workers: another waits for them."""
    while True:
        pool = _pool_for(rt)
        with pool.lock:
            if pool.workers:  # else stopped meanwhile (the settings changed): a new pool
                return _Load(pool, rt, chunks, actor, classic).run()


# -- the parent's side ------------------------------------------------------------------------


class Worker:
    """One worker process and the chunk it holds (None: idle)."""

    def __init__(self, context: Any, origin: tuple[Settings, str, str | None]):
        self.conn, child = context.Pipe()
        self.process = context.Process(target=serve, args=(child, *origin), name="roster-bulk", daemon=True)
        with _main_left_out():
            self.process.start()
        child.close()  # the parent keeps no copy of the worker's end: its death is EOF here
        self.chunk: int | None = None
        self.state = "idle"  # computing | computed | committing

    def send(self, *message: Any) -> None:
        self.conn.send(message)

    def receive(self) -> tuple:
        """The worker's next answer; EOFError (or OSError) when it died."""
        return self.conn.recv()

    def holding(self, chunk: int, state: str) -> None:
        self.chunk, self.state = chunk, state

    def stop(self) -> None:
        """Ask the worker to stop; killed if it does not within STOP_SECONDS."""
        try:
            self.send("stop")
        except OSError:
            pass
        self.process.join(STOP_SECONDS)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


@contextmanager
def _main_left_out() -> Iterator[None]:
    """A worker needs nothing of the parent's `__main__`: `spawn` would run it again in the
    worker (a script without a main guard would start its work over), so it is not named."""
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


class Pool:
    """The kept workers of one store, bus and settings."""

    def __init__(self, origin: tuple[Settings, str, str | None]):
        self.origin = origin
        self.context = multiprocessing.get_context("spawn")
        self.lock = threading.Lock()  # held by the load that has the workers
        self.workers = [Worker(self.context, origin) for _ in range(origin[0].bulk_workers)]

    def replaced(self, dead: Worker) -> Worker:
        """A new worker in the place of one that died."""
        dead.process.join(STOP_SECONDS)
        dead.conn.close()
        fresh = Worker(self.context, self.origin)
        self.workers[self.workers.index(dead)] = fresh
        return fresh

    def close(self) -> None:
        """Stop every worker, once the load that has them (if any) has finished."""
        with self.lock:
            for worker in self.workers:
                worker.stop()
            self.workers = []


_pool: Pool | None = None
_pool_lock = threading.Lock()


def _origin(rt: Runtime) -> tuple[Settings, str, str | None]:
    """What a worker builds its Runtime from: the settings, the store's file, the local bus's
    file (None: the bus the settings name)."""
    bus = os.path.abspath(rt.bus.path) if isinstance(rt.bus, LocalBus) else None
    return rt.settings, os.path.abspath(rt.store.path), bus


def _pool_for(rt: Runtime) -> Pool:
    """The kept pool for this runtime's store, bus and settings (another one's stopped)."""
    global _pool
    origin = _origin(rt)
    with _pool_lock:
        if _pool is not None and _pool.origin != origin:
            _pool.close()
            _pool = None
        if _pool is None:
            _pool = Pool(origin)
            rt.closers.append(functools.partial(shutdown, _pool))
        return _pool


def shutdown(pool: Pool | None = None) -> None:
    """Stop the kept workers: at exit whichever they are; the Runtime that started `pool`
    closing, only if they are still that pool's (another runtime's are not its to stop)."""
    global _pool
    with _pool_lock:
        if _pool is not None and pool in (None, _pool):
            _pool.close()
            _pool = None


atexit.register(shutdown)


class _Load:
    """One parallel load: chunks handed out to idle workers, committed strictly in order."""

    def __init__(self, pool: Pool, rt: Runtime, chunks: list[Chunk], actor: str, classic: Classic):
        self.pool, self.rt, self.chunks, self.actor, self.classic = pool, rt, chunks, actor, classic
        self.results: list[list | None] = [None] * len(chunks)
        self.handed = 0  # chunks handed out so far
        self.committed = 0  # chunks committed so far (in order)
        self.orphaned: set[int] = set()  # chunks whose worker died: redone here in their turn
        self.clock = _portable(rt.clock)
        self.trace = telemetry.carrier()

    def run(self) -> list:
        try:
            while self._advanced():
                busy = {w.conn: w for w in self.pool.workers if w.chunk is not None}
                for conn in wait(list(busy)):
                    self._heard(busy[conn])
        except BaseException:
            self._abandon()
            raise
        return [result for chunk in self.results for result in chunk]

    def _advanced(self) -> bool:
        """Hand out chunks to idle workers and move the commit on; False when all committed."""
        while self.committed < len(self.chunks):
            self._hand_out()
            turn = self.committed
            if turn in self.orphaned:
                self.results[turn] = self.classic(self.rt, self.chunks[turn], self.actor)
                self.committed += 1
                continue
            holder = next((w for w in self.pool.workers if w.chunk == turn), None)
            if holder is not None and holder.state == "computed":
                try:
                    holder.send("commit")
                except OSError:  # it died since it answered: its chunk is redone here, in its turn
                    self._lost(holder, turn)
                    continue
                holder.state = "committing"
            return True
        return False

    def _hand_out(self) -> None:
        for worker in self.pool.workers:
            if self.handed >= len(self.chunks):
                return
            if worker.chunk is None:
                try:
                    worker.send("compute", self.chunks[self.handed], self.actor, self.clock, self.trace)
                    worker.holding(self.handed, "computing")
                except OSError:
                    self._lost(worker, self.handed)
                self.handed += 1

    def _heard(self, worker: Worker) -> None:
        try:
            answer = worker.receive()
        except (EOFError, OSError):
            self._lost(worker, worker.chunk)
            return
        if answer[0] == "computed":
            worker.state = "computed"
            STATS["compute_s"] += answer[1]
            return
        chunk, worker.chunk, worker.state = worker.chunk, None, "idle"
        if answer[0] == "raised":
            raise answer[1]
        self.results[chunk] = answer[1]
        self.committed += 1
        STATS["chunks"] += 1
        STATS["commit_s"] += answer[3]
        if answer[2] is not None:
            STATS["redone"] += 1
            log.info("bulk chunk %d redone under the write lock: %s", chunk, answer[2])

    def _lost(self, worker: Worker, chunk: int | None) -> None:
        """A worker died: replaced; its chunk is redone here in its turn."""
        STATS["lost"] += 1
        log.warning("a bulk worker died holding chunk %s (%s); its chunk is redone in order", chunk, worker.state)
        self.pool.replaced(worker)
        if chunk is not None:
            self.orphaned.add(chunk)

    def _abandon(self) -> None:
        """The load failed: every chunk still held is dropped (nothing of it written), and a
        worker that cannot say so is replaced."""
        for worker in [w for w in self.pool.workers if w.chunk is not None]:
            try:
                while worker.state != "idle":
                    self._settled(worker)
            except (EOFError, OSError):
                self.pool.replaced(worker)

    @staticmethod
    def _settled(worker: Worker) -> None:
        if worker.state == "computed":
            worker.send("drop")
            worker.state = "dropping"
        answer = worker.receive()
        worker.state = "computed" if answer[0] == "computed" else "idle"
        if worker.state == "idle":
            worker.chunk = None


def _portable(clock: Clock) -> Clock:
    """The parent's clock as a worker gets it: pickled as it is (a test's travel clock stands
    where it stood, as it does while the serial load runs), or else one standing at its instant."""
    try:
        pickle.dumps(clock)
        return clock
    except (pickle.PicklingError, TypeError, AttributeError):
        return TravelClock(clock.now())


# -- the worker's side ------------------------------------------------------------------------


class HandedClock:
    """The worker's clock: the one the parent handed over with the chunk at hand."""

    def __init__(self) -> None:
        self.current: Clock = SystemClock()

    def now(self) -> datetime:
        return self.current.now()


def serve(conn: Connection, settings: Settings, store_path: str, bus_path: str | None) -> None:
    """A worker process: a Runtime on the parent's files, then chunk after chunk until told
    to stop (or the parent is gone)."""
    telemetry.setup()
    clock = HandedClock()
    store = SqliteStore(store_path)
    bus = open_bus(replace(settings, bus="local", bus_path=bus_path) if bus_path else settings, clock)
    rt = Runtime(settings, clock=clock, store=store, bus=bus)
    use_runtime(rt)
    try:
        while True:
            try:
                order = conn.recv()
            except EOFError:
                return
            if order[0] != "compute":
                return
            clock.current = order[3]
            conn.send(_chunk(rt, conn, order[1], order[2], order[4]))
    finally:
        rt.close()


def _chunk(rt: Runtime, conn: Connection, chunk: Chunk, actor: str, trace: dict[str, str]) -> tuple:
    """Compute one chunk in an optimistic unit, then commit it or drop it as the parent says."""
    from shared.services import bulk  # here: bulk imports this module

    view = OptimisticUnit(rt.store)
    try:
        with telemetry.span("bulk chunk", carried=trace):  # in the trace of the call that loads
            results, raised, started = None, None, time.process_time()
            try:
                results = bulk._applied(replace(rt, store=view), chunk, actor)
            except Exception as error:  # committed in its turn, then raised: as the serial path does
                raised = error
            conn.send(("computed", time.process_time() - started))
            if conn.recv()[0] != "commit":
                return ("dropped",)  # an open unit holds nothing: dropped, nothing written
            started = time.process_time()
            answer = _committed(rt, view, chunk, actor, results, raised, bulk._applied)
            return (*answer, time.process_time() - started) if answer[0] == "committed" else answer
    finally:
        relay.forget_unit(view)  # a unit that conflicted or was dropped leaves nothing on this thread


def _committed(rt: Runtime, view: OptimisticUnit, chunk: Chunk, actor: str, results: list | None,
               raised: Exception | None, classic: Classic) -> tuple:
    """The computed chunk committed — or, its reads changed or its commit refused (nothing of
    it written either way), redone classically: it then fails, if it does, where and as the
    serial path fails, with what the chunk wrote before the failure standing. An after-commit
    action that fails once the chunk is durable is raised, as on the serial path."""
    try:
        try:
            view.commit(run_after=raised is None)
        except Exception as refused:  # Conflict, or a write the store refused at commit
            if view.durable:
                raise
            return ("committed", classic(rt, chunk, actor), _reason(refused))
        if raised is not None:
            raise raised
        return ("committed", results, None)
    except Exception as error:
        return ("raised", _sendable(error))


def _reason(refused: Exception) -> str:
    """Why a chunk was redone, for the log: the table a conflict read — not its keys, which
    can be a source id or a name's blocking key (personal data) — else the error's type."""
    if isinstance(refused, Conflict):
        return f"a read of table {refused.table} changed"
    return f"its commit failed ({type(refused).__name__})"


def _sendable(error: Exception) -> Exception:
    """The exception itself when it survives the pipe, else one naming it."""
    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:  # an exception class whose arguments do not round-trip
        return RuntimeError(f"{type(error).__name__}: {error}")

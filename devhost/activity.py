"""Which invocations are running, whether the queue pumps have gone quiet (for drain), and
how a failed invocation is logged."""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager


class Activity:
    """Counts running invocations; pump workers report empty receives.

    Every invocation bumps an epoch when it starts and when it ends. A worker that finds its
    queue empty reports the epoch it read *before* receiving. The host is quiet when nothing
    runs and every worker has found its queue empty since the last bump: nothing that ran
    could have published a message that a worker has not looked for yet.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._epoch = 0
        self._running = 0
        self._idle: dict[str, int] = {}

    @property
    def epoch(self) -> int:
        with self._cond:
            return self._epoch

    @property
    def running(self) -> int:
        with self._cond:
            return self._running

    def register(self, worker: str) -> None:
        with self._cond:
            self._idle[worker] = -1

    def unregister(self, worker: str) -> None:
        with self._cond:
            self._idle.pop(worker, None)
            self._cond.notify_all()

    def idle(self, worker: str, epoch: int) -> None:
        """`worker` found its queue empty on a receive started at `epoch`."""
        with self._cond:
            if worker in self._idle:
                self._idle[worker] = epoch
                self._cond.notify_all()

    @contextmanager
    def invocation(self) -> Iterator[None]:
        """Around every function call (HTTP, queue, timer)."""
        with self._cond:
            self._epoch += 1
            self._running += 1
        try:
            yield
        finally:
            with self._cond:
                self._running -= 1
                self._epoch += 1
                self._cond.notify_all()

    def wait_quiet(self, timeout: float) -> bool:
        """Wait until nothing runs and every worker saw an empty queue after this call
        began; False on time-out."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._epoch += 1  # earlier empty receives may predate messages published just now
            while not self._quiet():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def _quiet(self) -> bool:
        return self._running == 0 and all(seen == self._epoch for seen in self._idle.values())


def failure(exc: BaseException) -> str:
    """The exception's type and where it was raised, without its message: messages may
    carry personal data (validation errors quote the input), so those go to DEBUG only."""
    frames = "".join(traceback.format_tb(exc.__traceback__))
    return f"{type(exc).__name__}\nTraceback (most recent call last):\n{frames.rstrip()}"

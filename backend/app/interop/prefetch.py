"""Reading the next batch from the database while the current one is being written.

An export alternates between waiting for PostgreSQL and formatting in Python; on a machine with two or more
cores, doing both at once nearly halves the time. The reading runs in a thread with a connection of its own
(so only when the session is bound to an engine; a session bound to one connection, as in the tests' rolled
back transactions, reads in line). At most ``ahead`` batches wait in memory, so memory stays bounded.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

from sqlalchemy import Engine
from sqlalchemy.orm import Session

T = TypeVar("T")
_DONE = object()


def prefetched(session: Session, produce: Callable[[Session], Iterator[T]], ahead: int = 2) -> Iterator[T]:
    """The items of ``produce(session)``, read ahead in a thread with its own session when possible."""
    bind = session.get_bind()
    if not isinstance(bind, Engine):
        yield from produce(session)
        return
    slots: queue.Queue[object] = queue.Queue(maxsize=ahead)
    stop = threading.Event()

    def run() -> None:
        try:
            with Session(bind) as own:
                for item in produce(own):
                    while not stop.is_set():
                        try:
                            slots.put(item, timeout=0.5)
                            break
                        except queue.Full:
                            continue
                    if stop.is_set():
                        return
        except BaseException as exc:  # handed to the consumer, which raises it
            slots.put(exc)
            return
        slots.put(_DONE)

    reader = threading.Thread(target=run, name="export-prefetch", daemon=True)
    reader.start()
    try:
        while True:
            item = slots.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        reader.join(timeout=10)

"""uvicorn's h11 protocol with what it lacks against slow or numerous clients.

* **Header timeout**: a client that has not sent a whole request head within
  ``header_timeout`` seconds of connecting (or of starting its next request on a kept-alive
  connection) is disconnected. uvicorn has a keep-alive timeout but none for a head that
  trickles in, so "slowloris" clients otherwise hold their connection forever.
* **Connection limit**: at most ``max_connections`` connections, kept below the process's
  descriptor limit so that ``accept()`` never fails (it would log a traceback per attempt).
  When a new connection would pass the limit, the oldest connection that is waiting for a
  request head is closed to make room (a client that sends its request at once is served
  even while hundreds of slow ones wait); when none is waiting, the new one is closed.

The body read timeout is the app's (``Guard`` in app.py), so it holds under any server.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import resource
import time
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from . import HEADER_TIMEOUT, MAX_CONNECTIONS

# asyncio accepts up to ``backlog`` connections in one go before any of them reaches
# ``connection_made`` (where the limit is applied), so that many descriptors must stay
# free on top of those for the listening socket, logs, the rule pack and threads.
BACKLOG = 128
SPARE_DESCRIPTORS = 64 + BACKLOG

log = logging.getLogger("ktriage.server.error")


def connection_limit(wanted: int = MAX_CONNECTIONS) -> int:
    """``wanted``, lowered to fit under the process's open-file limit."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return wanted
    return max(1, min(wanted, soft - SPARE_DESCRIPTORS))


def guarded_protocol(
    header_timeout: float = HEADER_TIMEOUT, max_connections: int = MAX_CONNECTIONS
) -> type[H11Protocol]:
    """An ``H11Protocol`` subclass with the header timeout and the connection limit."""
    limit = connection_limit(max_connections)
    last_warning = [0.0]

    def warn(message: str) -> None:
        now = time.monotonic()
        if now - last_warning[0] >= 10:  # at most one line per 10 s, whatever the load
            last_warning[0] = now
            log.warning(message)

    last_out_of_files = [0.0]
    quieted: set[int] = set()  # the loops whose accept errors are already one line

    def quiet_accept_errors(loop: asyncio.AbstractEventLoop) -> None:
        """Out of descriptors, asyncio logs a traceback for every failed accept (and
        retries): log one line at most every 10 s instead."""
        if id(loop) in quieted:
            return
        quieted.add(id(loop))
        previous = loop.get_exception_handler()

        def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
            exc = context.get("exception")
            if isinstance(exc, OSError) and exc.errno in (errno.EMFILE, errno.ENFILE):
                now = time.monotonic()
                if now - last_out_of_files[0] >= 10:
                    last_out_of_files[0] = now
                    log.warning("out of file descriptors: new connections wait")
                return
            if previous is not None:
                previous(loop, context)
            else:
                loop.default_exception_handler(context)

        loop.set_exception_handler(handler)

    class GuardedH11Protocol(H11Protocol):
        _head_timer: asyncio.TimerHandle | None = None
        _waiting_since: float = 0.0

        def connection_made(self, transport: Any) -> None:
            quiet_accept_errors(asyncio.get_running_loop())
            super().connection_made(transport)
            self._arm()
            if len(self.connections) > limit and not self._evict():
                warn(f"connection limit ({limit}) reached: new connections are closed")
                self.transport.abort()

        def _evict(self) -> bool:
            """Close the longest-waiting connection that has no request head yet."""
            oldest: GuardedH11Protocol | None = None
            for other in self.connections:
                if (
                    other is not self
                    and isinstance(other, GuardedH11Protocol)
                    and other._head_timer is not None
                    and (oldest is None or other._waiting_since < oldest._waiting_since)
                ):
                    oldest = other
            if oldest is None:
                return False
            warn(f"connection limit ({limit}) reached: closing connections that send nothing")
            oldest._disarm()
            oldest.connections.discard(oldest)
            oldest.transport.abort()
            return True

        def _arm(self) -> None:
            self._disarm()
            self._waiting_since = time.monotonic()
            self._head_timer = self.loop.call_later(header_timeout, self._head_timed_out)

        def _disarm(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_timed_out(self) -> None:
            self._head_timer = None
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                self.transport.close()

        def data_received(self, data: bytes) -> None:
            if self._head_timer is None and self.conn.their_state is h11.IDLE:
                self._arm()  # the next request on a kept-alive connection
            super().data_received(data)
            if self.conn.their_state is not h11.IDLE:
                self._disarm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

    return GuardedH11Protocol

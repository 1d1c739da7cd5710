"""Running work over chunks of input in order: in this process and local worker processes
together, or on a Dask cluster.

A *job* says what to do with a chunk of numbered input lines (``"batch"``: triage them;
``"diff"``: triage them with two packs and compare) and with which packs. Each process
builds the engines a job needs once and keeps them. Results always come back in input
order, with a bounded number of chunks in flight, so memory stays flat however long the
input is.

Locally, worker processes are started at once and this process triages chunks itself
while they start and whenever they are all busy: both cores work from the first line.
When this process needs the next result in order and its worker has not finished it,
it triages that chunk itself (the worker's copy is dropped), so a small input never
waits for workers to start.

On Dask (``ktriage[dask]``), the packs' files are sent to every worker once
(``Client.scatter``), each worker builds its engines once, and chunks are submitted as
tasks, a bounded number at a time. No cluster code of our own: ``dask.distributed``'s
``Client`` and ``LocalCluster``.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .engine.errors import KtriageError
from .engine.triage import Engine

Numbered = list[tuple[int, Any]]  # (1-based line number, the line)
IN_FLIGHT_PER_WORKER = 2


@dataclass(frozen=True)
class PackFiles:
    """A pack's files as bytes, to build the same pack on a machine that lacks the folder."""

    key: str  # sha256 of the files
    files: tuple[tuple[str, bytes], ...]

    @classmethod
    def of(cls, root: str | Path) -> PackFiles:
        import hashlib

        root = Path(root)
        files = []
        digest = hashlib.sha256()
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            rel = path.relative_to(root).as_posix()
            data = path.read_bytes()
            files.append((rel, data))
            digest.update(rel.encode() + b"\0" + data + b"\0")
        return cls(digest.hexdigest(), tuple(files))


PackRef = str | PackFiles  # a folder on this machine, or the files themselves


@dataclass(frozen=True)
class Job:
    kind: str  # "batch" | "diff"
    packs: tuple[PackRef, ...]


# -- in a worker (or this process) ------------------------------------------------------

_engines: dict[Any, Engine] = {}
_engines_lock = threading.Lock()


def engine_for(ref: PackRef) -> Engine:
    """The engine for a pack, built once per process."""
    key = ref if isinstance(ref, str) else ref.key
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None:
            if isinstance(ref, str):
                engine = Engine.load(ref)
            else:
                folder = Path(tempfile.mkdtemp(prefix="ktriage-pack-"))
                for rel, data in ref.files:
                    target = folder / rel
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(data)
                engine = Engine.load(folder)
            engine = _engines[key] = engine
        return engine


def adopt(ref: PackRef, engine: Engine) -> None:
    """Use ``engine`` for ``ref`` in this process (one the caller already built)."""
    key = ref if isinstance(ref, str) else ref.key
    with _engines_lock:
        _engines[key] = engine


def run_job(job: Job, chunk: Numbered) -> Any:
    engines = [engine_for(ref) for ref in job.packs]
    if job.kind == "batch":
        from .batch import triage_chunk

        return triage_chunk(engines[0], chunk)
    if job.kind == "diff":
        from .diff import diff_chunk

        return diff_chunk(engines[0], engines[1], chunk)
    raise KtriageError(f"unknown job {job.kind!r}")


def warm(job: Job) -> None:
    """Build a job's engines in this process (a worker's initializer)."""
    for ref in job.packs:
        engine_for(ref)


# -- local processes ---------------------------------------------------------------------

PARENT_CHECK_SECONDS = 0.5


def _start_worker(job: Job, parent: int) -> None:
    # Ctrl-C reaches every process of the terminal's group: the parent decides when to
    # stop (after the chunk it is writing), so a worker finishes its chunk.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A worker blocked on its task queue never learns that the parent was killed (kill -9
    # runs no clean-up): it would wait forever. It checks its parent instead.
    threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()
    warm(job)


def _exit_with(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_SECONDS)
    os._exit(1)


def _work(job: Job, chunk: Numbered) -> Any:
    return run_job(job, chunk)


def run_local(job: Job, chunks: Iterable[Numbered], workers: int | None = None) -> Iterator[Any]:
    """Each chunk's result, in order; this process and ``workers`` processes together.

    ``workers`` defaults to one per CPU; 1 keeps everything in this process.
    """
    workers = workers or os.cpu_count() or 1
    if workers <= 1:
        for chunk in chunks:
            yield run_job(job, chunk)
        return
    # spawn, not fork: a forked child would inherit durable_rules' native state and any
    # lock held by another thread at that moment.
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(
        workers, mp_context=context, initializer=_start_worker, initargs=(job, os.getpid())
    )
    # (chunk, its future, or its result when this process triaged it)
    pending: deque[tuple[Numbered, Future[Any] | None, Any]] = deque()
    limit = workers * IN_FLIGHT_PER_WORKER
    outstanding = 0  # futures in ``pending``

    def take() -> Any:
        nonlocal outstanding
        chunk, future, result = pending.popleft()
        if future is None:
            return result
        outstanding -= 1
        if future.done():
            return future.result()
        # Not done yet: its worker may still be starting. Triage it here; the worker's
        # copy, if it runs, is dropped. (Not cancelled: Python 3.11's pool fails on a
        # cancelled future when it is stopped later.)
        return run_job(job, chunk)

    try:
        for chunk in chunks:
            if outstanding < limit:
                pending.append((chunk, pool.submit(_work, job, chunk), None))
                outstanding += 1
            else:
                # every worker busy: this process takes the chunk itself
                pending.append((chunk, None, run_job(job, chunk)))
            while pending and (
                len(pending) > limit or pending[0][1] is None or pending[0][1].done()
            ):
                yield take()
        while pending:
            yield take()
    except BaseException:
        # Interrupted (Ctrl-C, SIGTERM, a closed output): the chunks not yet handed to a
        # worker are dropped; the workers finish the one each holds (milliseconds) and exit.
        # They are not killed: a worker killed while sending a result leaves it half
        # written, and the pool's manager thread then waits for the rest forever, hanging
        # this process at exit (seen about once in 20 interrupted runs).
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    # Done: let the workers finish what they hold (a few chunks at most) and exit.
    pool.shutdown(wait=True, cancel_futures=True)


# -- Dask ----------------------------------------------------------------------------------


class DaskUnavailable(KtriageError):
    """``--dask`` was asked for, but Dask is not installed or the cluster cannot be reached."""


def dask_client(address: str) -> Any:
    """A ``dask.distributed.Client``: ``"local"`` starts a ``LocalCluster`` on this
    machine (one single-threaded worker process per CPU); anything else is a scheduler
    address such as ``tcp://host:8786``."""
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise DaskUnavailable("--dask needs Dask: pip install 'ktriage[dask]'") from None
    try:
        if address == "local":
            cluster = LocalCluster(
                n_workers=os.cpu_count() or 1,
                threads_per_worker=1,  # durable_rules holds the GIL: processes, not threads
                processes=True,
                host="127.0.0.1",  # this machine only
                dashboard_address="127.0.0.1:0",  # not the shared default port 8787
            )
            client = Client(cluster)
            _clusters[id(client)] = cluster  # closed with the client (close_dask)
            return client
        return Client(address, timeout="20s")
    except (OSError, TimeoutError) as exc:
        raise DaskUnavailable(f"--dask {address}: cannot reach the scheduler: {exc}") from None
    except Exception as exc:  # e.g. RuntimeError: a local cluster that did not start
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DaskUnavailable(f"--dask {address}: the cluster did not start: {first}") from None


_clusters: dict[int, Any] = {}


def close_dask(client: Any) -> None:
    cluster = _clusters.pop(id(client), None)
    client.close()
    if cluster is not None:
        cluster.close()


def _dask_work(job: Job, chunk: Numbered) -> Any:
    return run_job(job, chunk)


def run_dask(
    job: Job, chunks: Iterable[Numbered], client: Any, in_flight: int | None = None
) -> Iterator[Any]:
    """Each chunk's result, in order, computed on the Dask cluster of ``client``."""
    remote = Job(job.kind, tuple(PackFiles.of(p) if isinstance(p, str) else p for p in job.packs))
    [shared] = client.scatter([remote], broadcast=True)
    workers = max(1, len(client.scheduler_info().get("workers", {})))
    limit = in_flight or workers * IN_FLIGHT_PER_WORKER * 2
    pending: deque[Any] = deque()
    try:
        for chunk in chunks:
            pending.append(client.submit(_dask_work, shared, chunk, pure=False))
            if len(pending) >= limit:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()

"""Process helpers of the engines: shared-memory frame slots, child set-up, bounded queues."""

from __future__ import annotations

import contextlib
import queue
import resource
import signal

import numpy as np

_POLL_S = 0.5


# glibc's M_MMAP_THRESHOLD (at most 32 MiB on 64-bit) and M_TRIM_THRESHOLD.
_MALLOPT = ((-3, 32 << 20), (-1, 256 << 20))


def keep_frame_buffers() -> None:
    """Keep freed frame-sized buffers in the heap for reuse (once per process).

    By default glibc maps a buffer of a few MB afresh and unmaps it when freed once sizes
    alternate, so frames page-fault their memory in again: the reader took 1224 faults per 1080p
    sample, 272 with this, and 5% less CPU (bench/README.md).
    """
    with contextlib.suppress(Exception):  # not glibc: nothing to tune
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        for param, value in _MALLOPT:
            libc.mallopt(param, value)


@contextlib.contextmanager
def ctrl_c_held():
    """Children start with Ctrl-C held (the signal mask survives fork and exec): one that comes
    while Python starts in them or imports their modules stays pending until child_setup drops
    it, instead of a traceback or a misleading import error. The parent's is delivered after."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def child_setup() -> None:
    """Per child: die with the parent, leave Ctrl-C to the parent, keep frame buffers."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):  # held while it started (ctrl_c_held): dropped now
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    keep_frame_buffers()
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def own_cpu() -> float:
    """CPU seconds this process has used, all its threads."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def put(q, item, stop) -> bool:
    """Put on a bounded queue, giving up when the run is stopping."""
    while not stop.is_set():
        try:
            q.put(item, timeout=_POLL_S)
            return True
        except queue.Full:
            continue
    return False


class FrameRing:
    """Shared-memory slots for original frames: the reader copies a frame in once, a worker
    reads it in place and frees the slot; only slot numbers travel through queues."""

    def __init__(self, ctx, slots: int, slot_bytes: int) -> None:
        from multiprocessing import shared_memory

        self.slot_bytes = slot_bytes
        self.shm = shared_memory.SharedMemory(create=True, size=max(1, slots * slot_bytes))
        self.name = self.shm.name
        self.free = ctx.Queue(maxsize=slots)
        for i in range(slots):
            self.free.put(i)

    def view(self, slot: int, shape: tuple) -> np.ndarray:
        return np.ndarray(shape, np.uint8, buffer=self.shm.buf, offset=slot * self.slot_bytes)

    def __getstate__(self) -> dict:
        return {"name": self.name, "slot_bytes": self.slot_bytes, "free": self.free}

    def __setstate__(self, state: dict) -> None:
        from multiprocessing import shared_memory

        self.__dict__.update(state)
        try:
            self.shm = shared_memory.SharedMemory(name=self.name, track=False)  # type: ignore[call-arg]
        except TypeError:  # Python < 3.13: the tracker keeps a set, the parent unlinks once
            self.shm = shared_memory.SharedMemory(name=self.name)

    def close(self, unlink: bool = False) -> None:
        with contextlib.suppress(Exception):
            self.shm.close()
        if unlink:
            with contextlib.suppress(Exception):
                self.shm.unlink()


def get(q, stop):
    """Get from a queue, giving up when the run is stopping."""
    while not stop.is_set():
        try:
            return q.get(timeout=_POLL_S)
        except queue.Empty:
            continue
    return None

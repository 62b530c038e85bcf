"""glibc heap tuning: return the free heap while and after a step compiles; pin the
mmap threshold."""

import contextlib
import ctypes
import ctypes.util
import functools
import os
import threading

__all__ = [
    "MMAP_THRESHOLD_BYTES",
    "pin_mmap_threshold",
    "release_free_heap",
    "ReleasesHeapAfterCompile",
    "released_after_compile",
    "releasing_free_heap",
    "RELEASE_INTERVAL_S",
]

M_MMAP_THRESHOLD = -3  # glibc <malloc.h>
# glibc's default start; pinned, it no longer grows (up to 32 MiB) after large frees.
MMAP_THRESHOLD_BYTES = 128 * 1024
# How often `releasing_free_heap` returns the free heap while a step compiles. A trim
# takes 1-10 ms; a compile of the micro search step about 10 s.
RELEASE_INTERVAL_S = 0.25


@functools.cache
def _libc():
    """The C library through ctypes, or None. Found once: `find_library` runs
    `ldconfig`, and the heap is released after every compile."""
    path = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(path) if path else None
    except OSError:
        return None


def _libc_function(name):
    """glibc's function `name` through ctypes, or None (another C library or OS)."""
    return getattr(_libc(), name, None)


def release_free_heap():
    """Returns the free pages of glibc's heaps to the system (`malloc_trim(0)`).

    Tracing and optimising a step's graph frees hundreds of MB of small blocks
    scattered through the heap; glibc keeps those pages resident, and the step's
    large activation buffers (mapped on their own) do not reuse them. At the micro
    search's default size about 130–190 MB (README, "Issue #14, sixth pass").

    Returns:
        True if memory was returned; False if none was, or where there is no glibc.
    """
    trim = _libc_function("malloc_trim")
    if trim is None:
        return False
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim(0) == 1


@contextlib.contextmanager
def releasing_free_heap(interval_s=RELEASE_INTERVAL_S):
    """Within the block, a background thread returns the free heap every `interval_s`
    seconds (`release_free_heap`); once more on leaving it.

    A step's first call traces and optimises its graph, then runs the step: the
    optimiser's garbage is freed just before the first step's activations are
    allocated, so a trim after the call comes too late for that call's peak. At the
    micro search's default size with coarse sharing and `--child_sep_conv_recompute=
    depthwise` the first step held the process's peak RSS, 1,397 MiB, and 1,286 MiB
    with this (README, "Issue #14, seventh pass"). glibc's `malloc_trim` takes each
    arena's lock, so it is safe beside the threads that allocate.

    Args:
        interval_s: float seconds between trims, > 0.
    """
    if not isinstance(interval_s, (int, float)) or isinstance(interval_s, bool) or interval_s <= 0:
        raise ValueError(f"`interval_s` must be a positive number. Received: {interval_s!r}")
    done = threading.Event()

    def release_until_done():
        while not done.wait(interval_s):
            release_free_heap()

    thread = None
    if _libc_function("malloc_trim") is not None:
        thread = threading.Thread(target=release_until_done, name="release_free_heap", daemon=True)
        thread.start()
    try:
        yield
    finally:
        done.set()
        if thread is not None:
            thread.join()
        release_free_heap()


def _tracing_count(function):
    count = getattr(function, "experimental_get_tracing_count", None)
    return count() if count is not None else None


class _ReleasedAfterCompile:
    """Calls `function`; during and after its first call, and after any call that
    traced it again, returns the free heap (`releasing_free_heap`,
    `release_free_heap`). Other attributes are the function's own."""

    def __init__(self, function):
        self.__wrapped__ = function
        self._traces = -1  # not called yet

    def __call__(self, *args, **kwargs):
        if self._traces == -1:  # the first call compiles: trim while it does
            with releasing_free_heap():
                outputs = self.__wrapped__(*args, **kwargs)
            traces = _tracing_count(self.__wrapped__)
            self._traces = traces if traces is not None else 0
            return outputs
        outputs = self.__wrapped__(*args, **kwargs)
        traces = _tracing_count(self.__wrapped__)
        if traces is not None and traces != self._traces:  # traced again
            self._traces = traces
            release_free_heap()
        return outputs

    def __getattr__(self, name):
        return getattr(self.__wrapped__, name)


def released_after_compile(function):
    """`function` (a compiled step), returning the free heap after it compiles.

    The first call (and, for a `tf.function`, any call that traces it again) traces,
    optimises and instantiates the graph. During the first call a background thread
    returns the free heap every `RELEASE_INTERVAL_S` (`releasing_free_heap`), so the
    optimiser's garbage leaves before that call's activations are allocated; after
    it, and after any retrace, the heap is returned once (`release_free_heap`),
    before the following steps allocate theirs. No `malloc_trim` on later steps.
    """
    if function is None or isinstance(function, _ReleasedAfterCompile):
        return function
    return _ReleasedAfterCompile(function)


class ReleasesHeapAfterCompile:
    """Mixin for `keras.Model`s: `fit`, `evaluate` and `predict`'s compiled functions
    return the free heap after they compile (`released_after_compile`)."""

    def make_train_function(self, force=False):
        if self.train_function is None or force:
            super().make_train_function(force=force)
            self.train_function = released_after_compile(self.train_function)
        return self.train_function

    def make_test_function(self, force=False):
        if self.test_function is None or force:
            super().make_test_function(force=force)
            self.test_function = released_after_compile(self.test_function)
        return self.test_function

    def make_predict_function(self, force=False):
        if self.predict_function is None or force:
            super().make_predict_function(force=force)
            self.predict_function = released_after_compile(self.predict_function)
        return self.predict_function


def pin_mmap_threshold(threshold=MMAP_THRESHOLD_BYTES):
    """Fixes glibc's mmap threshold at `threshold` bytes (`mallopt(M_MMAP_THRESHOLD)`).

    glibc raises its threshold to the size of every large block freed, so after the
    first train step the per-step temporaries (e.g. the PTB search's 256–512 KiB BPTT
    records) come from the heap, whose freed pages stay resident. A fixed threshold
    maps them directly and unmaps them when freed, at the cost of a system call and
    page faults per block: at PTB paper size, per (node, input), peak RSS 2,418–2,426
    instead of 2,589–2,658 MiB, the step 1.17x longer (README, "Issue #14, fifth
    pass"). The programs call it with `--pin_mmap_threshold`; a
    `MALLOC_MMAP_THRESHOLD_` already set by the user is left alone.

    Args:
        threshold: int bytes, > 0.

    Returns:
        True if the threshold was set; False where there is no glibc `mallopt`
        (another C library or OS) or the user set `MALLOC_MMAP_THRESHOLD_`.

    Raises:
        ValueError: for a threshold that is not a positive int.
    """
    if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold <= 0:
        raise ValueError(f"`threshold` must be a positive int of bytes. Received: {threshold!r}")
    if "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    mallopt = _libc_function("mallopt")
    if mallopt is None:
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return mallopt(M_MMAP_THRESHOLD, threshold) == 1

"""glibc heap tuning: return the free heap after a compile; pin the mmap threshold."""

import ctypes
import ctypes.util
import functools
import os

__all__ = [
    "MMAP_THRESHOLD_BYTES",
    "pin_mmap_threshold",
    "release_free_heap",
    "ReleasesHeapAfterCompile",
    "released_after_compile",
]

M_MMAP_THRESHOLD = -3  # glibc <malloc.h>
# glibc's default start; pinned, it no longer grows (up to 32 MiB) after large frees.
MMAP_THRESHOLD_BYTES = 128 * 1024


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


def _tracing_count(function):
    count = getattr(function, "experimental_get_tracing_count", None)
    return count() if count is not None else None


class _ReleasedAfterCompile:
    """Calls `function`; after its first call, and after any call that traced it
    again, returns the free heap (`release_free_heap`). Other attributes are the
    function's own."""

    def __init__(self, function):
        self.__wrapped__ = function
        self._traces = -1  # not called yet

    def __call__(self, *args, **kwargs):
        outputs = self.__wrapped__(*args, **kwargs)
        traces = _tracing_count(self.__wrapped__)
        if self._traces == -1 or (traces is not None and traces != self._traces):
            self._traces = traces if traces is not None else 0
            release_free_heap()
        return outputs

    def __getattr__(self, name):
        return getattr(self.__wrapped__, name)


def released_after_compile(function):
    """`function` (a compiled step), returning the free heap after it compiles.

    The first call (and, for a `tf.function`, any call that traces it again) traces,
    optimises and instantiates the graph; the garbage that leaves goes back to the
    system at once (`release_free_heap`), before the following steps allocate their
    activations. One `malloc_trim` per compile, none per step.
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

"""Pins glibc's mmap threshold, so that freed step temporaries go back to the system."""

import ctypes
import ctypes.util
import os

__all__ = ["MMAP_THRESHOLD_BYTES", "pin_mmap_threshold"]

M_MMAP_THRESHOLD = -3  # glibc <malloc.h>
# glibc's default start; pinned, it no longer grows (up to 32 MiB) after large frees.
MMAP_THRESHOLD_BYTES = 128 * 1024


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
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt if name else None
    except (OSError, AttributeError):
        mallopt = None
    if mallopt is None:
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return mallopt(M_MMAP_THRESHOLD, threshold) == 1

"""Tests for keras_enas.run.malloc."""

import ctypes
import platform
import subprocess
import sys

import pytest

from keras_enas.run import malloc


@pytest.mark.parametrize("bad", [0, -1, 1.5, "128", True])
def test_bad_threshold_is_refused(bad):
    with pytest.raises(ValueError, match="positive int of bytes"):
        malloc.pin_mmap_threshold(bad)


def _rss_after_free(env_extra, pin):
    """RSS growth (KiB) left after allocating and freeing 200 x 256 KiB blocks."""
    code = f"""
import ctypes, sys
from keras_enas.run import malloc
if {pin}: malloc.pin_mmap_threshold()
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
rss = lambda: int([l for l in open('/proc/self/status') if l.startswith('VmRSS')][0].split()[1])
big = libc.malloc(16 << 20); libc.free(big)  # raises glibc's dynamic threshold to 16 MiB
start = rss()
blocks = [libc.malloc(256 << 10) for _ in range(200)]
for b in blocks: ctypes.memset(b, 1, 256 << 10)
keep = libc.malloc(1024)  # a live chunk above them: the heap top cannot shrink
for b in blocks: libc.free(b)
print(rss() - start)
"""
    return int(
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env_extra
        ).stdout
    )


@pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
    reason="glibc's mallopt and /proc are Linux/glibc only",
)
def test_pinned_threshold_returns_freed_blocks_to_the_system(monkeypatch):
    import os

    env = {k: v for k, v in os.environ.items() if k != "MALLOC_MMAP_THRESHOLD_"}
    kept, returned = _rss_after_free(env, False), _rss_after_free(env, True)
    assert kept > 40_000  # ~50 MiB of freed blocks still resident without the pin
    assert returned < 5_000
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "1048576")
    assert malloc.pin_mmap_threshold() is False  # the user's setting wins
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_")
    assert malloc.pin_mmap_threshold() is True
    assert ctypes.CDLL(None).mallopt(-3, malloc.MMAP_THRESHOLD_BYTES) == 1

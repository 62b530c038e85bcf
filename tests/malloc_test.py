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
keep = libc.malloc(200 << 10)  # live above them (no free hole is this big): the top stays
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


_GLIBC = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
    reason="glibc's malloc_trim and /proc are Linux/glibc only",
)


# A subprocess's preamble: glibc's malloc and free through ctypes, and its RSS in KiB.
_HEAP_PROBE = """
import ctypes
from keras_enas.run import malloc
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
rss = lambda: int([l for l in open('/proc/self/status') if l.startswith('VmRSS')][0].split()[1])
"""


@_GLIBC
def test_release_free_heap_returns_scattered_free_blocks():
    """Small blocks freed between live ones stay resident until `release_free_heap`."""
    code = (
        _HEAP_PROBE
        + """
start = rss()
blocks = [libc.malloc(2048) for _ in range(40_000)]  # ~80 MiB of small blocks, in the heap
for b in blocks: ctypes.memset(b, 1, 2048)
for i, b in enumerate(blocks):  # every 16th stays: 30 KiB holes between live blocks
    if i % 16: libc.free(b)
freed = rss() - start
print(freed, int(malloc.release_free_heap()), freed - (rss() - start))
"""
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    kept, released, returned = map(int, out.stdout.split())
    assert kept > 60_000  # KiB still resident after free()
    assert released == 1
    assert returned > 40_000  # and given back by the trim (whole pages in the holes)


@_GLIBC
def test_releasing_free_heap_returns_the_heap_while_the_block_runs():
    """Freed blocks go back during the block (as during a step's compile), not only after."""
    code = (
        _HEAP_PROBE
        + """
import time
with malloc.releasing_free_heap(0.05):
    start = rss()
    blocks = [libc.malloc(2048) for _ in range(40_000)]
    for b in blocks: ctypes.memset(b, 1, 2048)
    for i, b in enumerate(blocks):
        if i % 16: libc.free(b)
    freed = rss() - start
    time.sleep(0.5)  # the block still runs: the background thread has trimmed meanwhile
    print(freed, freed - (rss() - start))
"""
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    kept, returned = map(int, out.stdout.split())
    assert kept > 60_000  # KiB resident just after free()
    assert returned > 40_000  # returned before the block ended


def test_releasing_free_heap_trims_periodically_then_stops(monkeypatch):
    import threading
    import time

    trims = []
    monkeypatch.setattr(malloc, "release_free_heap", lambda: trims.append(1) or True)
    monkeypatch.setattr(malloc, "_libc_function", lambda name: object())  # any C library
    with malloc.releasing_free_heap(0.01):
        time.sleep(0.3)
        during = len(trims)
    assert during >= 5  # every 10 ms while the block ran
    assert len(trims) == during + 1  # and once on leaving it
    time.sleep(0.1)
    assert len(trims) == during + 1  # the thread is gone
    assert not any(t.name == "release_free_heap" for t in threading.enumerate())
    with pytest.raises(RuntimeError, match="boom"), malloc.releasing_free_heap(0.01):
        raise RuntimeError("boom")  # an error in the block still stops the thread
    assert not any(t.name == "release_free_heap" for t in threading.enumerate())


@pytest.mark.parametrize("bad", [0, -0.5, "1", True, None])
def test_releasing_free_heap_refuses_a_bad_interval(bad):
    with pytest.raises(ValueError, match="positive number"), malloc.releasing_free_heap(bad):
        pass


class _Counted:
    """A stand-in compiled function: counts calls and (like a tf.function) traces."""

    def __init__(self):
        self.calls, self.traces = 0, 0

    def __call__(self, retrace=False):
        self.calls += 1
        self.traces += self.calls == 1 or retrace
        return self.calls

    def experimental_get_tracing_count(self):
        return self.traces


def test_released_after_compile_trims_after_each_compile_only(monkeypatch):
    trims = []
    monkeypatch.setattr(malloc, "release_free_heap", lambda: trims.append(1) or True)
    function = _Counted()
    wrapped = malloc.released_after_compile(function)
    assert malloc.released_after_compile(wrapped) is wrapped
    assert malloc.released_after_compile(None) is None
    assert [wrapped() for _ in range(3)] == [1, 2, 3]
    assert len(trims) == 1  # the first call compiled; the next two did not
    wrapped(retrace=True)
    wrapped()
    assert len(trims) == 2  # a new trace is a new compile
    assert wrapped.experimental_get_tracing_count() == 2  # the function's own attributes
    plain = malloc.released_after_compile(lambda: "out")  # a Keras step: no trace count
    assert [plain(), plain()] == ["out", "out"]
    assert len(trims) == 3


def test_keras_models_compile_functions_are_wrapped():
    import keras
    import numpy as np

    class Model(malloc.ReleasesHeapAfterCompile, keras.Sequential):
        pass

    model = Model([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.ones((4, 3), "float32"), np.ones((4, 1), "float32")
    model.fit(x, y, epochs=1, verbose=0)
    model.evaluate(x, y, verbose=0)
    model.predict(x, verbose=0)
    for function in (model.train_function, model.test_function, model.predict_function):
        assert isinstance(function, malloc._ReleasedAfterCompile)
        assert function._traces != -1  # called, and trimmed after it compiled
    assert model.make_train_function() is model.train_function


def test_library_models_release_the_heap_after_compiling():
    from keras_enas.search.enas import ENASSearch
    from keras_enas.tasks.cifar.classifier import ClassifierTrainer
    from keras_enas.tasks.ptb.lm_trainer import LMTrainer

    for model_class in (ENASSearch, ClassifierTrainer, LMTrainer):
        assert issubclass(model_class, malloc.ReleasesHeapAfterCompile), model_class

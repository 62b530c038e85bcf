"""`point`: named fault-injection points for the kill tests (`KERAS_ENAS_FAULT_POINT`).

`KERAS_ENAS_FAULT_POINT=name:N` makes the N-th arrival (1-based, default 1) of this
process at `point(name)` kill the process with SIGKILL, as a crash, an OOM kill or a
power cut would (no cleanup, no flushing of Python buffers). Points: `train_step`,
`controller`, `log_write` (a `log.jsonl` line written half), `log_write_cut` (after
it), `checkpoint_before`, `checkpoint_after`, `derive`, `result_write`, `export`.
Unset, `point` is a dictionary lookup.
"""

import os
import signal

ENV = "KERAS_ENAS_FAULT_POINT"
_counts = {}


def _target():
    spec = os.environ.get(ENV, "")
    name, _, count = spec.partition(":")
    return name, int(count or 1)


def point(name):
    """Kills this process here if `KERAS_ENAS_FAULT_POINT` names this point and count.

    `log_write` returns True instead when it is the target (the caller writes half a
    line, then reaches `log_write_cut`, where the process dies).
    """
    target, count = _target()
    if target != name and not (target == "log_write" and name == "log_write_cut"):
        return False
    _counts[name] = _counts.get(name, 0) + 1
    if _counts[name] != count:
        return False
    if name == "log_write":
        return True
    os.kill(os.getpid(), signal.SIGKILL)
    return False


__all__ = ["point"]

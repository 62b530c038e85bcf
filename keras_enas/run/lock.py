"""`lock`: one process per working directory (an advisory `flock` on `<workdir>/lock`)."""

import fcntl
import os

LOCK_FILE = "lock"
_held = {}  # realpath of the workdir -> open lock file, held until the process ends


def lock(workdir):
    """Takes the working directory's lock for the rest of this process (idempotent).

    The lock file holds the holder's PID. The operating system releases the lock when
    the holder dies (even by SIGKILL), so a stale lock of a dead process is taken over.

    Raises:
        ValueError: if another live process holds the lock (one line naming its PID).
    """
    key = os.path.realpath(workdir)
    if key in _held:
        return
    path = os.path.join(workdir, LOCK_FILE)
    f = open(path, "a+")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.seek(0)
        holder = f.read().strip() or "unknown"
        f.close()
        raise ValueError(
            f"Working directory {workdir} is in use by process {holder} (lock file {path}): "
            "wait for it to finish, or use another --workdir."
        ) from None
    f.seek(0)
    f.truncate()
    f.write(f"{os.getpid()}\n")
    f.flush()
    _held[key] = f


def release(workdir):
    """Releases the lock this process holds on `workdir` (no-op if none)."""
    f = _held.pop(os.path.realpath(workdir), None)
    if f is not None:
        fcntl.flock(f, fcntl.LOCK_UN)
        f.close()


__all__ = ["lock", "release"]

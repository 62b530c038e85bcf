"""What every program's `main()` shares: its flags and usage text in `--help`, `absl.app.run`."""

import os
import sys

from absl import app, flags

from keras_enas.run import malloc, quiet

__all__ = ["define_search_dry_run", "disk_error_message", "start"]


def start(doc, define_flags, run, flag_values=flags.FLAGS):
    """Defines a program's flags, makes `--help` show them, and runs it with `absl.app.run`.

    absl's `--help` lists the key flags of the main module (`sys.argv[0]`) and prints
    `__main__.__doc__`; the program's flags are defined in its own module (or in
    `keras_enas.cli`), so they are registered here as the main module's key flags, and its
    docstring becomes the usage text, whether it runs as a console script or `bin/` wrapper.

    Args:
        doc: the program's usage text (its module docstring).
        define_flags: callable defining the program's flags in `flag_values`.
        run: `run(argv) -> int`, the program's body, called once the flags are parsed
            (TensorFlow's start-up noise hidden unless `--verbosity` ≥ 1, `run/quiet.py`).
        flag_values: the `FlagValues` to define them in.
    """
    before = set(flag_values)
    define_flags()
    flags.DEFINE_boolean(
        "pin_mmap_threshold",
        False,
        "Pin glibc's mmap threshold at 128 KiB, so that freed step temporaries leave "
        "RSS instead of staying in the heap: less peak memory for a slower step "
        "(PTB paper size, per (node, input): 2.42 instead of 2.59-2.66 GiB, the step "
        "1.17x longer; README, 'Issue #14, fifth pass'). A MALLOC_MMAP_THRESHOLD_ "
        "set in the environment wins.",
        flag_values=flag_values,
    )
    for name in sorted(set(flag_values) - before):
        flag_values.register_key_flag_for_module(sys.argv[0], flag_values[name])
    sys.modules["__main__"].__doc__ = doc

    def quiet_run(argv):
        if flag_values["pin_mmap_threshold"].value:  # memory for speed (run/malloc.py)
            malloc.pin_mmap_threshold()
        quiet.quiet_tensorflow(flag_values["verbosity"].value)
        return _run_reporting_disk_errors(run, argv)

    app.run(quiet_run)


def define_search_dry_run():
    """Defines a search's `--dry_run` (an action, not a setting: not part of the config)."""
    flags.DEFINE_bool(
        "dry_run",
        False,
        "Print one JSON line — parameter count, number of architectures in the space, steps "
        "per epoch and the run's wall time estimated from a few timed steps — and exit "
        "without writing anything (no --workdir needed).",
    )


def _run_reporting_disk_errors(run, argv):
    """`run(argv)`, with a file-system error (full disk, read-only, no permission) reported
    as one line and exit status 2 instead of a traceback, and a `RunError` (divergence,
    no checkpoint restores) as one line and exit status 1. What was written before stays:
    checkpoints are written atomically, so rerunning the command resumes."""
    from keras_enas.run.errors import RunError

    program = os.path.basename(sys.argv[0]) or "keras_enas"
    try:
        return run(argv)
    except BrokenPipeError:  # e.g. `show_arc ... | head`: the reader has gone, not a disk error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as e:
        print(f"{program}: error: {disk_error_message(e)}", file=sys.stderr)
        return 2
    except RunError as e:  # divergence, no checkpoint restores: one line, exit status 1
        print(f"{program}: error: {e}", file=sys.stderr)
        return 1
    except Exception as e:
        # TensorFlow's file writers (checkpoints, TensorBoard) raise tf.errors, not OSError.
        reason = next((r for r in _DISK_REASONS if r in str(e)), None)
        if reason is None or not type(e).__module__.startswith("tensorflow"):
            raise
        print(f"{program}: error: {disk_error_message(OSError(reason))}", file=sys.stderr)
        return 2


_DISK_REASONS = ("No space left on device", "Read-only file system", "Disk quota exceeded")


def disk_error_message(error):
    """One line for an `OSError`: what failed, on which file, and what to do."""
    what = f"{error.strerror} (errno {error.errno})" if error.strerror else str(error)
    where = f": {error.filename}" if error.filename else ""
    return (
        f"{what}{where}. Files already written (finished epochs, checkpoints) are kept; "
        "fix the file system (free space, permissions) and rerun the command to resume."
    )

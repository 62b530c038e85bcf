r"""Decode an architecture string, or a search's best_architecture.json, and print it.

Examples:
    show_arc --search_space=ptb_rnn --arc_format=original --num_nodes=12 \
        --fixed_arc="0 0 0 1 1 2 1 2 0 2 0 5 1 1 0 6 1 8 1 8 1 8 1"
    show_arc --search_space=macro --fixed_arc="0 1 1 2 1 0 2 0 0 1 0 0 1 0 1 5 1 0 1 1 0"
    show_arc --arc_file=runs/macro_cpu/best_architecture.json
"""

import json
import sys

from absl import flags, logging

from keras_enas.programs import arc_flags, common

__all__ = ["define_flags", "main", "run"]

FLAGS = flags.FLAGS


def define_flags():
    """Defines the architecture flags and `--json`."""
    arc_flags.define_arc_flags(
        "shown", "Which search space the arc belongs to (ignored with --arc_file)."
    )
    flags.DEFINE_bool("json", False, "Print the decoded architecture as JSON.")


def run(argv):
    """The program's body, once the flags are parsed; returns the exit status."""
    del argv
    logging.set_verbosity(logging.WARNING)
    try:
        space, arc = arc_flags.space_and_arc("show_arc")
        architecture = space.decode(arc)
    except (ValueError, FileNotFoundError) as e:
        print(f"show_arc: error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(architecture.to_dict(), indent=2) if FLAGS.json else architecture)
    return 0


def main():
    """The `show_arc` command."""
    common.start(__doc__, define_flags, run)

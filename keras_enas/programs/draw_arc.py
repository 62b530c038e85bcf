r"""Draw an architecture string, or a search's best_architecture.json, to a PNG or SVG picture.

Examples:
    draw_arc --search_space=ptb_rnn --arc_format=original \
        --fixed_arc="0 0 0 1 1 2 1 2 0 2 0 5 1 1 0 6 1 8 1 8 1 8 1" --output=ptb_cell.png
    draw_arc --arc_file=runs/micro_cpu/best_architecture.json --output=cells.svg
"""

import sys

from absl import flags, logging

from keras_enas import draw
from keras_enas.programs import arc_flags, common
from keras_enas.search_spaces import get_spec

__all__ = ["define_flags", "main", "run"]

FLAGS = flags.FLAGS


def define_flags():
    """Defines the architecture flags and `--output`."""
    arc_flags.define_arc_flags(
        "drawn",
        "Which search space the arc belongs to: the PTB recurrent cell (ptb_rnn), whole "
        "CIFAR-10 networks (macro) or CIFAR-10 normal + reduction cells (micro). "
        "Ignored with --arc_file.",
    )
    flags.DEFINE_string(
        "output",
        None,
        "Path of the picture to write; its extension, .png or .svg, picks the format.",
        required=True,
    )


def run(argv):
    """The program's body, once the flags are parsed; returns the exit status."""
    del argv
    logging.set_verbosity(logging.WARNING)
    try:
        space, arc = arc_flags.space_and_arc("draw_arc")
        drawer = get_spec(space.name).resolve("drawer")
        path = draw.draw(space.decode(arc), FLAGS.output, drawer=drawer)
    except (ValueError, FileNotFoundError, OSError) as e:
        print(f"draw_arc: error: {e}", file=sys.stderr)
        return 2
    print(path)
    return 0


def main():
    """The `draw_arc` command."""
    common.start(__doc__, define_flags, run)

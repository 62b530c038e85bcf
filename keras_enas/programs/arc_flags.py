"""The flags and the reading of an architecture shared by `show_arc` and `draw_arc`."""

from absl import flags

from keras_enas.run import records
from keras_enas.search_spaces import infer, limits, space_names

__all__ = ["define_arc_flags", "space_and_arc"]

FLAGS = flags.FLAGS


def define_arc_flags(verb, search_space_help):
    """Defines --search_space, --fixed_arc, --arc_file, --arc_format, --num_nodes, --num_layers.

    Args:
        verb: what the program does with the record's arc ("shown", "drawn"), for help texts.
        search_space_help: the help text of `--search_space`.
    """
    flags.DEFINE_enum("search_space", "ptb_rnn", list(space_names()), search_space_help)
    flags.DEFINE_string(
        "fixed_arc",
        None,
        "The arc: space-separated integers, as the original --child_fixed_arc. "
        "Ignored (with a notice) when --arc_file is given.",
    )
    flags.DEFINE_string(
        "arc_file",
        None,
        "A search's best_architecture.json (or its working directory): its search space, "
        f"space config and arc are {verb}.",
    )
    flags.DEFINE_enum(
        "arc_format",
        "enas_lm",
        ["enas_lm", "original"],
        "ptb_rnn only: the arc's encoding and activation ids; enas_lm (the authors' corrected "
        "code, node 0 fixed to tanh) or original (melodyguan/enas, e.g. scripts/ptb_final.sh).",
    )
    flags.DEFINE_integer(
        "num_nodes",
        None,
        "ptb_rnn: nodes in the cell, node 0 included; micro: decided nodes per cell. "
        "Default: inferred from the arc's length. At most "
        f"{limits.RNN_NUM_NODES[1]} (ptb_rnn) or {limits.MICRO_NUM_NODES[1]} (micro).",
        lower_bound=1,
        upper_bound=max(limits.RNN_NUM_NODES[1], limits.MICRO_NUM_NODES[1]),
    )
    flags.DEFINE_integer(
        "num_layers",
        None,
        "macro only: layers in the network. Default: inferred from the arc's length, "
        f"L(L + 1)/2 tokens. At most {limits.MACRO_NUM_LAYERS[1]}.",
        lower_bound=limits.MACRO_NUM_LAYERS[0],
        upper_bound=limits.MACRO_NUM_LAYERS[1],
    )


def space_and_arc(program):
    """The (space, arc) the flags name.

    Args:
        program: the program's name, for the notice that --fixed_arc is ignored.

    Raises:
        ValueError: if neither --fixed_arc nor --arc_file is given, or the arc is malformed.
        FileNotFoundError: if --arc_file names no file.
    """
    if FLAGS.arc_file:
        records.ignore_fixed_arc(FLAGS.fixed_arc, FLAGS.arc_file, program)
        return records.read_architecture(FLAGS.arc_file)
    if not FLAGS.fixed_arc:
        raise ValueError("Give the architecture: --fixed_arc or --arc_file.")
    ptb = FLAGS.search_space == "ptb_rnn"
    space = infer.infer_space(
        FLAGS.search_space,
        FLAGS.fixed_arc,
        arc_format=FLAGS.arc_format if ptb or FLAGS["arc_format"].present else None,
        num_nodes=FLAGS.num_nodes,
        num_layers=FLAGS.num_layers,
    )
    return space, space.parse(FLAGS.fixed_arc)

"""Which cell to train: from a `fixed_arc` string or a search's `best_architecture.json`."""

from keras_enas.run import records
from keras_enas.search_spaces import infer, rnn

__all__ = ["architecture_record", "read_arc_file", "resolve_architecture"]


def read_arc_file(path):
    """Reads the PTB space and arc of a search's `best_architecture.json`.

    Args:
        path: the JSON file, or the search working directory that holds it.

    Returns:
        `(space, arc)`: an `RNNCellSpace` and its validated np.int32 arc.

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: if it is not valid JSON, not a ptb_rnn architecture, or its arc is
            invalid.
    """
    path, record = records.load_record(path)
    if record["search_space"] != "ptb_rnn":
        raise ValueError(
            f"{path} holds a {record['search_space']!r} architecture; training "
            "a PTB language model needs a 'ptb_rnn' one."
        )
    return records.read_architecture(path, "ptb_rnn")


def resolve_architecture(config):
    """The space and arc a `PTBFinalConfig` asks for; `(None, None)` for the LSTM baseline.

    `fixed_arc` is read in `arc_format`, with N inferred from its length unless
    `num_nodes` is set (ptb_rnn: 2N − 1 tokens original, 2(N − 1) enas_lm).

    `arc_file` given ⇒ `fixed_arc` is ignored (with a logged notice).

    Raises:
        ValueError: if neither `fixed_arc` nor `arc_file` is set for cell='enas',
            either is set for cell='lstm', or the arc is invalid.
        FileNotFoundError: if `arc_file` does not exist.
    """
    fixed_arc = records.ignore_fixed_arc(config.fixed_arc, config.arc_file)
    sources = {"fixed_arc": fixed_arc, "arc_file": config.arc_file}
    given = [name for name, value in sources.items() if value]
    if config.cell == "lstm":
        if given:
            raise ValueError(
                f"`{given[0]}` does not apply to cell='lstm' (the LSTM baseline "
                "has no architecture to choose)."
            )
        return None, None
    if not given:
        raise ValueError(
            "`fixed_arc` or `arc_file` (exactly one) must give the architecture "
            f"for cell='enas'. Received: fixed_arc={config.fixed_arc!r}, "
            f"arc_file={config.arc_file!r}"
        )
    if config.arc_file:
        return read_arc_file(config.arc_file)
    space = infer.infer_space(
        "ptb_rnn", config.fixed_arc, arc_format=config.arc_format, num_nodes=config.num_nodes
    )
    return space, space.parse(config.fixed_arc)


def architecture_record(space, arc):
    """JSON-ready description of a ptb_rnn arc: formats, decoded nodes (or the LSTM)."""
    if space is None:
        return {"cell": "lstm"}
    arcs = {}
    for fmt in rnn.ARC_FORMATS:
        try:
            arcs[fmt] = rnn.RNNCellSpace(space.num_nodes, fmt).format_arc(space.convert(arc, fmt))
        except ValueError:  # an original arc whose node 0 is not tanh has no enas_lm form
            arcs[fmt] = None
    return {
        "cell": "enas",
        "search_space": space.name,
        "space_config": space.get_config(),
        "arc_format": space.arc_format,
        "arc": space.format_arc(arc),
        "fixed_arc": arcs["original"],
        "arcs": arcs,
        "decoded": space.decode(arc).to_dict(),
    }

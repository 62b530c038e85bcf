"""Which CIFAR-10 network to train: a `fixed_arc` string or a search's `best_architecture.json`.

Pure Python (no TensorFlow), so `bin/train_cifar10` checks the architecture before
importing TensorFlow.
"""

from keras_enas.run import records
from keras_enas.search_spaces import infer

__all__ = ["architecture_record", "read_arc_file", "resolve_architecture"]


def read_arc_file(path, search_space):
    """Reads the space and arc of a search's `best_architecture.json` (or its workdir).

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: if it is not an architecture file of `search_space`, or its arc
            is invalid.
    """
    return records.read_architecture(path, search_space)


def resolve_architecture(config):
    """The `(space, arc)` a `CIFARFinalConfig` names: `fixed_arc` (size inferred) or `arc_file`.

    `arc_file` given ⇒ `fixed_arc` is ignored (with a logged notice).

    Raises:
        ValueError: if the arc's length fits no size of the space, or a token is invalid.
        FileNotFoundError: if `arc_file` does not exist.
    """
    if config.arc_file:
        records.ignore_fixed_arc(config.fixed_arc, config.arc_file)
        return read_arc_file(config.arc_file, config.search_space)
    space = infer.infer_space(config.search_space, config.fixed_arc)
    return space, space.parse(config.fixed_arc)


def architecture_record(space, arc):
    """JSON-ready description of a CIFAR arc: space, `fixed_arc`, decoded layers/cells."""
    arc = space.validate(arc)
    return {
        "search_space": space.name,
        "space_config": space.get_config(),
        "fixed_arc": space.format_arc(arc),
        "arc": space.format_arc(arc),
        "decoded": space.decode(arc).to_dict(),
        "decoded_text": str(space.decode(arc)),
    }

"""The registrations of the three built-in spaces: ptb_rnn, macro and micro (ENAS §2.1-2.4)."""

import math

from keras_enas.search_spaces import rnn
from keras_enas.search_spaces.macro import MacroSpace
from keras_enas.search_spaces.micro import MicroSpace
from keras_enas.search_spaces.registry import SpaceSpec, register_space
from keras_enas.search_spaces.rnn import RNNCellSpace
from keras_enas.search_spaces.user import UserSpace

__all__ = ["infer_macro", "infer_micro", "infer_rnn"]


def infer_rnn(num_tokens, arc_format=None, num_nodes=None):
    """ptb_rnn size from an arc's length: original has 2N - 1 tokens, enas_lm 2(N - 1)."""
    arc_format = arc_format or "enas_lm"
    if arc_format not in rnn.ARC_FORMATS:
        raise ValueError(
            f"`arc_format` must be one of {sorted(rnn.ARC_FORMATS)}. "
            f"Received: arc_format={arc_format!r}"
        )
    if num_nodes is not None:
        return {"num_nodes": num_nodes, "arc_format": arc_format}
    if arc_format == "original":
        if num_tokens % 2 == 0 or num_tokens < 3:
            raise ValueError(
                "An original ptb_rnn arc has 2N - 1 tokens with N >= 2 (an odd "
                f"number >= 3); received {num_tokens}."
            )
        return {"num_nodes": (num_tokens + 1) // 2, "arc_format": arc_format}
    if num_tokens % 2:
        raise ValueError(
            f"An enas_lm ptb_rnn arc has 2(N - 1) tokens (an even number); received {num_tokens}."
        )
    return {"num_nodes": num_tokens // 2 + 1, "arc_format": arc_format}


def infer_macro(num_tokens, num_layers=None):
    """Macro layers L from an arc's length L(L + 1) / 2."""
    if num_layers is None:
        num_layers = (math.isqrt(8 * num_tokens + 1) - 1) // 2
        if num_layers < 3 or num_layers * (num_layers + 1) // 2 != num_tokens:
            raise ValueError(
                "A macro arc has L(L + 1)/2 tokens with L >= 3 (78 for L = 12, "
                f"300 for L = 24); received {num_tokens}."
            )
    return {"num_layers": num_layers}


def infer_micro(num_tokens, num_nodes=None):
    """Micro decided nodes per cell from an arc's length 8 * num_nodes."""
    if num_nodes is None:
        if num_tokens % 8:
            raise ValueError(
                "A micro arc has 8 tokens per decided node (40 for 5 nodes); "
                f"received {num_tokens}."
            )
        num_nodes = num_tokens // 8
    return {"num_nodes": num_nodes}


_CIFAR = "keras_enas.models.cifar_models"

register_space(
    SpaceSpec(
        "ptb_rnn",
        space=RNNCellSpace,
        infer=infer_rnn,
        size_options=("arc_format", "num_nodes"),
        task="ptb",
        from_config=lambda child: {"num_nodes": child.num_nodes, "arc_format": child.arc_format},
        shared="keras_enas.models.shared_rnn_lm:SharedRNNLM",
        fixed="keras_enas.models.fixed_rnn:build_fixed_model",
        drawing="cell.png",
        loader="keras_enas.tasks.ptb.search:load_ptb_search",
    )
)
register_space(
    SpaceSpec(
        "macro",
        space=MacroSpace,
        infer=infer_macro,
        size_options=("num_layers",),
        task="cifar",
        from_config=lambda child: {"num_layers": child.num_layers},
        shared="keras_enas.models.shared_macro:SharedMacroCNN",
        fixed="keras_enas.models.fixed_macro:build_fixed_macro",
        options=f"{_CIFAR}:macro_options",
        final_callbacks=f"{_CIFAR}:no_final_callbacks",
        drawing="network.png",
        loader="keras_enas.tasks.cifar.search:load_cifar_search",
    )
)
register_space(
    SpaceSpec(
        "micro",
        space=MicroSpace,
        infer=infer_micro,
        size_options=("num_nodes",),
        task="cifar",
        from_config=lambda child: {},
        shared="keras_enas.models.shared_micro:SharedMicroCNN",
        fixed="keras_enas.models.fixed_micro:build_fixed_micro_cnn",
        options=f"{_CIFAR}:micro_options",
        final_callbacks=f"{_CIFAR}:micro_final_callbacks",
        drawing="cells.png",
        loader="keras_enas.tasks.cifar.search:load_cifar_search",
    )
)
register_space(
    SpaceSpec(
        "user",
        space=UserSpace,
        drawer="keras_enas.draw_choices:figure",
        drawing="choices.png",
        loader="keras_enas.search.user:load_registered",
    )
)

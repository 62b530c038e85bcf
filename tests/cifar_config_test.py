"""Tests of the CIFAR-10 configs, their flags, the model registry and `Standardize`."""

import pathlib

import numpy as np
import pytest
from absl import flags

from keras_enas import cli
from keras_enas.config.cifar import CIFARChildConfig, CIFARFinalConfig, CIFARSearchConfig
from keras_enas.layers.standardize import Standardize
from keras_enas.models import cifar_models
from keras_enas.models.fixed_macro import build_fixed_macro
from keras_enas.models.shared_macro import SharedMacroCNN
from keras_enas.tasks.cifar.architecture import resolve_architecture


def _flags(config_cls, *argv):
    values = flags.FlagValues()
    cli.define_flags(config_cls, values)
    values(["prog", *argv])
    return values


def test_search_flags_default_to_the_macro_search_of_the_paper():
    values = _flags(CIFARSearchConfig)
    expected = dict(
        search_space="macro",
        child_num_layers=12,
        child_filters=36,
        child_batch_size=128,
        child_lr_max=0.05,
        child_lr_min=5e-4,
        child_lr_t0=10,
        child_lr_t_mul=2,
        child_l2=2.5e-4,
        child_dropout=0.1,
        child_grad_clip=5.0,
        controller_hidden_size=64,
        controller_temperature=0.0,
        controller_tanh_constant=1.5,
        controller_learning_rate=1e-3,
        controller_entropy_weight=1e-4,
        controller_train_steps=50,
        controller_num_aggregate=20,
        controller_skip_target=0.4,
        controller_skip_weight=0.8,
        search_num_epochs=310,
        data_valid_fraction=0.1,
    )
    assert {name: values[name].value for name in expected} == expected
    assert all(values[name].help.endswith(".") for name in values)  # full-sentence help
    config = cli.config_from_flags(CIFARSearchConfig, values)
    assert config == CIFARSearchConfig()


def test_final_flags_default_to_the_macro_final_script():
    values = _flags(CIFARFinalConfig, "--fixed_arc=0 0 0 0 0 0")
    config = cli.config_from_flags(CIFARFinalConfig, values)
    c = config.child
    assert (c.filters, c.batch_size, c.lr_min, c.l2, c.dropout) == (96, 100, 1e-3, 2e-4, 0.5)
    assert config.train.num_epochs == 310 and c.cutout_size == 0
    values = _flags(CIFARFinalConfig, "--fixed_arc=0 0 0 0 0 0", "--child_cutout_size=16")
    assert cli.config_from_flags(CIFARFinalConfig, values).child.cutout_size == 16


def test_out_of_range_settings_raise():
    with pytest.raises(ValueError, match=r"`filters` must be >= 2. Received: filters=1"):
        CIFARChildConfig(filters=1)
    with pytest.raises(ValueError, match=r"`search_space` must be one of \['macro', 'micro'\]"):
        CIFARSearchConfig(search_space="ptb_rnn")
    with pytest.raises(ValueError, match=r"Exactly one architecture source must be given"):
        CIFARFinalConfig()


def test_registry_dispatches_on_the_space_name():
    space = cifar_models.space_from_config("macro", CIFARChildConfig(num_layers=5))
    assert space.num_layers == 5
    options = cifar_models.options_from_config("macro", CIFARChildConfig(filters=6))
    assert options == {"filters": 6, "dropout": 0.1}
    shared = cifar_models.build_shared_cnn(space, seed=0, **options)
    assert isinstance(shared, SharedMacroCNN) and shared.filters == 6
    arc = space.random_arc(0)
    fixed = cifar_models.build_fixed_cnn(space, arc, image_shape=(8, 8, 3), **options)
    reference = build_fixed_macro(space, arc, image_shape=(8, 8, 3), **options)
    assert fixed.count_params() == reference.count_params()
    assert cifar_models.final_callbacks("macro", fixed, CIFARChildConfig()) == []
    with pytest.raises(
        ValueError,
        match=r"No CIFAR-10 models are registered for search "
        r"space 'nope'; available: \[.*'macro'.*\]",
    ):
        cifar_models.family("nope")


def test_standardize_maps_raw_pixels_of_any_dtype():
    layer = Standardize([0.5, 0.25, 0.0], [0.5, 0.25, 1.0])
    pixels = np.array([[[[255, 0, 51]]]], np.uint8)
    expected = [[[[1.0, -1.0, 0.2]]]]
    np.testing.assert_allclose(layer(pixels), expected, rtol=1e-6)
    np.testing.assert_allclose(layer(pixels.astype(np.float32)), expected, rtol=1e-6)
    with pytest.raises(ValueError, match=r"`mean` and `std` must be 3 per-channel values"):
        Standardize([0.5] * 3, [0.0] * 3)


def test_drop_path_keep_prob_turns_on_drop_path_in_micro_final_training_only():
    values = _flags(
        CIFARFinalConfig, "--search_space=micro", "--fixed_arc=0", "--child_drop_path_keep_prob=0.6"
    )
    child = cli.config_from_flags(CIFARFinalConfig, values).child
    assert child.drop_path_keep_prob == 0.6
    final = cifar_models.options_from_config("micro", child, final=True)
    assert final["drop_path_keep_prob"] == 0.6
    assert "drop_path_keep_prob" not in cifar_models.options_from_config("micro", child)
    off = cifar_models.options_from_config("micro", CIFARChildConfig(), final=True)
    assert off["drop_path_keep_prob"] is None  # the default, 1.0, is off
    with pytest.raises(ValueError, match=r"`drop_path_keep_prob` must be <= 1.0"):
        CIFARChildConfig(drop_path_keep_prob=1.5)


CONFIGS = pathlib.Path(__file__).resolve().parents[1] / "configs"


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("cifar10_*.flags")), ids=lambda p: p.name)
def test_every_cifar_flagfile_parses_into_its_config(path):
    config_cls = CIFARSearchConfig if "_search" in path.name else CIFARFinalConfig
    extra = []  # final flagfiles without a published arc take one on the command line
    if config_cls is CIFARFinalConfig and not any(
        line.startswith("--fixed_arc=") for line in path.read_text().splitlines()
    ):
        extra = ["--fixed_arc=1 5 1 4 0 1"]
    values = _flags(config_cls, f"--flagfile={path}", *extra)
    config = cli.config_from_flags(config_cls, values)
    assert config.search_space == ("micro" if "_micro_" in path.name else "macro")
    if config_cls is CIFARFinalConfig and config.fixed_arc:
        space, arc = resolve_architecture(config)  # a published arc in a flagfile is valid
        assert space.format_arc(arc) == " ".join(config.fixed_arc.split())


def test_micro_op_selection_auto_follows_xla():
    child = CIFARChildConfig()
    assert cifar_models.options_from_config("micro", child)["op_selection"] == "switch_case"
    xla = cifar_models.options_from_config("micro", child, jit_compile=True)
    assert xla["op_selection"] == "compute_all"
    forced = CIFARChildConfig(op_selection="compute_all")
    assert cifar_models.options_from_config("micro", forced)["op_selection"] == "compute_all"
    assert "op_selection" not in cifar_models.options_from_config("micro", child, final=True)
    with pytest.raises(ValueError, match=r"`op_selection` must be one of"):
        CIFARChildConfig(op_selection="all")


def test_sep_conv_recompute_auto_follows_weight_sharing():
    def resolved(**kwargs):
        options = cifar_models.options_from_config("micro", CIFARChildConfig(**kwargs))
        return options["sep_conv_recompute"]

    assert CIFARChildConfig().sep_conv_recompute == "auto"
    assert resolved() == "none"  # fine sharing: speed first
    assert resolved(weight_sharing="coarse") == "depthwise"  # coarse: memory first
    for value in ("none", "elementwise", "depthwise"):  # an explicit choice stays
        assert resolved(sep_conv_recompute=value) == value
        assert resolved(weight_sharing="coarse", sep_conv_recompute=value) == value
    assert cifar_models.options_from_config("macro", CIFARChildConfig())  # auto: macro keeps all
    with pytest.raises(ValueError, match="`sep_conv_recompute` must be one of"):
        CIFARChildConfig(sep_conv_recompute="pointwise")

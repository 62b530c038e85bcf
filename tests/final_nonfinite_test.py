"""Issue 11 fault 2 in final training (`train_cifar10`, `train_ptb`): a non-finite step is
skipped and counted, the run stops with one line naming `--train_max_nonfinite_steps`,
and the checkpoints it leaves hold finite weights only."""

import numpy as np
import pytest
import tensorflow as tf
from cifar_test_utils import MEAN, STD, random_images, standardized

from keras_enas.config import ptb_final
from keras_enas.config.cifar import CIFARChildConfig, CIFARFinalConfig, TrainConfig
from keras_enas.data import ptb
from keras_enas.run import checkpoints, errors, workdir
from keras_enas.tasks.cifar import train as train_cifar
from keras_enas.tasks.ptb import train as train_ptb

pytestmark = pytest.mark.faults
MACRO_ARC = "1 5 1 4 0 1"


def _cifar(workdir, lr_max=0.05, limit=1):
    child = CIFARChildConfig(
        filters=4, batch_size=8, eval_batch_size=8, lr_max=lr_max, lr_min=0.0, grad_clip=0.0
    )
    train = TrainConfig(num_epochs=3, steps_per_epoch=2, max_nonfinite_steps=limit)
    config = CIFARFinalConfig(
        fixed_arc=MACRO_ARC, child=child, train=train, workdir=str(workdir), seed=2
    )
    images, labels = random_images(32, 8)
    ds = tf.data.Dataset.from_tensor_slices((standardized(images), labels)).batch(8)
    return config, dict(train_ds=ds, test_ds=ds, mean=MEAN, std=STD)


def _ptb(workdir, learning_rate=1.0, limit=1):
    train = ptb_final.FinalTrainConfig(
        num_epochs=3,
        steps_per_epoch=2,
        batch_size=4,
        bptt=5,
        learning_rate=learning_rate,
        grad_clip=0.0,
        max_nonfinite_steps=limit,
    )
    config = ptb_final.PTBFinalConfig(
        child=ptb_final.FinalModelConfig(hidden_size=8),
        train=train,
        eval=ptb_final.FinalEvalConfig(batch_size=4, bptt=20, epoch_batch_size=4),
        fixed_arc="0 3 1 1 0 2",
        workdir=str(workdir),
        seed=5,
    )
    stream = (np.arange(600) * 7 % 30).astype(np.int32)
    data = dict(
        train_ds=ptb.lm_dataset(stream, 4, 5),
        valid_tokens=stream[:100],
        test_tokens=stream[100:200],
        vocab_size=30,
    )
    return config, data


def _cifar_trainer(config):
    space, arc = train_cifar.arch_lib.resolve_architecture(config)
    model = train_cifar.build_cifar_model(config, space, arc, (8, 8, 3))
    trainer = train_cifar.build_trainer(config, model)
    return trainer, {"trainer": trainer, "optimizer": trainer.optimizer}


def _ptb_trainer(config):
    space, arc = train_ptb.arch_lib.resolve_architecture(config)
    trainer = train_ptb.build_trainer(config, train_ptb.build_ptb_model(config, 30, space, arc))
    return trainer, trainer.checkpoint_items()


def _restored_weights(config, build):
    """The weights, statistics and optimizer state of the newest checkpoint."""
    trainer, items = build(config)
    assert checkpoints.restore_latest(workdir.checkpoint_manager(config.workdir, **items))
    model = trainer.network if hasattr(trainer, "network") else trainer.lm
    return [v for v in model.variables + trainer.optimizer.variables if v.dtype != "int64"]


@pytest.mark.parametrize(
    "run, make, build, blow_up",
    [
        (train_cifar.run_cifar_training, _cifar, _cifar_trainer, dict(lr_max=1e30)),
        (train_ptb.run_ptb_training, _ptb, _ptb_trainer, dict(learning_rate=1e30)),
    ],
    ids=["train_cifar10", "train_ptb"],
)
def test_diverged_final_training_stops_with_one_line_and_finite_checkpoints(
    tmp_path, run, make, build, blow_up
):
    """A learning rate of 1e30 without clipping: the first step throws the weights far
    out, every later loss is non-finite. Those steps are skipped; the second one passes
    `--train_max_nonfinite_steps=1`. (The validation history may hold the NaN of
    a measurement; the weights, statistics and optimizer state may not.)"""
    config, data = make(tmp_path, limit=1, **blow_up)
    with pytest.raises(errors.DivergenceError) as info:
        run(config, **data)
    message = str(info.value)
    assert "\n" not in message
    assert "2 training steps" in message and "--train_max_nonfinite_steps=1" in message
    saved = sorted(p.name for p in (tmp_path / "checkpoints").glob("ckpt-*.index"))
    assert saved == ["ckpt-1.index"]  # epoch 1 (one step taken, one skipped); not epoch 2
    weights = _restored_weights(config, build)
    assert not [v.path for v in weights if not np.isfinite(v.numpy()).all()]
    assert not (tmp_path / "final_results.json").exists()


def _watched(trainer):
    """Every variable a skipped step must leave alone (the random generators' states and
    the counter excepted)."""
    return [
        v
        for v in trainer.variables + trainer.optimizer.variables
        if "seed_generator" not in v.path and "nonfinite_steps" not in v.path
    ]


def test_cifar_nonfinite_step_changes_nothing_and_is_counted(tmp_path):
    """A NaN image batch: the weights, BatchNorm statistics and optimizer are untouched."""
    config, data = _cifar(tmp_path)
    trainer, _ = _cifar_trainer(config)
    images, labels = next(iter(data["train_ds"]))
    trainer.train_on_batch(images, labels)  # a good step: builds and moves everything
    before = [v.numpy().copy() for v in _watched(trainer)]
    logs = trainer.train_on_batch(images * np.nan, labels, return_dict=True)
    after = [v.numpy() for v in _watched(trainer)]
    changed = [w.path for w, b, a in zip(_watched(trainer), before, after) if (b != a).any()]
    assert not changed
    assert int(trainer.nonfinite_steps.numpy()) == 1 and logs["final_nonfinite_steps"] == 1
    assert np.isfinite(logs["final_train_loss"])  # the mean is over the steps taken (none)

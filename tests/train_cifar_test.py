"""Tests of training a found CIFAR-10 network: the arc sources, resume, the exported model."""

import dataclasses
import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from cifar_test_utils import MACRO_FINAL, MEAN, STD, random_images, standardized

from keras_enas.config.cifar import CIFARChildConfig, CIFARFinalConfig, TrainConfig
from keras_enas.tasks.cifar import train as train_cifar
from keras_enas.tasks.cifar.architecture import read_arc_file, resolve_architecture

ARC = "1 5 1 4 0 1"


def _config(workdir=None, **train):
    child = CIFARChildConfig(filters=4, batch_size=8, eval_batch_size=8, dropout=0.5)
    settings = dict(num_epochs=2, steps_per_epoch=2)
    settings.update(train)
    return CIFARFinalConfig(
        fixed_arc=ARC, child=child, train=TrainConfig(**settings), workdir=workdir, seed=2
    )


def _datasets(count=32, size=8):
    images, labels = random_images(count, size)
    ds = tf.data.Dataset.from_tensor_slices((standardized(images), labels)).batch(
        8, drop_remainder=True
    )
    return dict(train_ds=ds, test_ds=ds, mean=MEAN, std=STD), images


def test_fixed_arc_infers_the_space_and_the_arc_file_names_it(tmp_path):
    space, arc = resolve_architecture(CIFARFinalConfig(fixed_arc=MACRO_FINAL))
    assert space.num_layers == 24 and space.format_arc(arc) == MACRO_FINAL
    record = {"search_space": "macro", "space_config": {"num_layers": 3}, "arc": ARC}
    (tmp_path / "best_architecture.json").write_text(json.dumps(record))
    for path in (tmp_path, tmp_path / "best_architecture.json"):  # the workdir or the file
        space, arc = resolve_architecture(CIFARFinalConfig(arc_file=str(path)))
        assert space.num_layers == 3 and space.format_arc(arc) == ARC


def test_arc_file_wins_over_fixed_arc_with_a_notice(tmp_path, caplog):
    (tmp_path / "best_architecture.json").write_text(
        json.dumps({"search_space": "macro", "space_config": {"num_layers": 3}, "arc": ARC})
    )
    with caplog.at_level("WARNING"):
        space, arc = resolve_architecture(
            CIFARFinalConfig(arc_file=str(tmp_path), fixed_arc="0 0 0 0 0 0 0 0 0 0")
        )
    assert space.num_layers == 3 and space.format_arc(arc) == ARC
    assert "--fixed_arc='0 0 0 0 0 0 0 0 0 0' is ignored" in caplog.text


def test_bad_architecture_sources_raise(tmp_path):
    with pytest.raises(ValueError, match=r"Exactly one architecture source must be given"):
        CIFARFinalConfig(fixed_arc="", arc_file=None)
    with pytest.raises(FileNotFoundError, match=r"Architecture file not found: x.json"):
        resolve_architecture(CIFARFinalConfig(fixed_arc=ARC, arc_file="x.json"))
    with pytest.raises(ValueError, match=r"A macro arc has L\(L \+ 1\)/2 tokens"):
        resolve_architecture(CIFARFinalConfig(fixed_arc="0 1 2 3"))
    with pytest.raises(FileNotFoundError, match=r"Architecture file not found"):
        read_arc_file(tmp_path / "missing.json", "macro")
    path = tmp_path / "arc.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match=r"is not valid JSON"):
        read_arc_file(path, "macro")
    path.write_text(json.dumps({"search_space": "ptb_rnn", "space_config": {}, "arc": "0"}))
    with pytest.raises(
        ValueError,
        match=r"holds a 'ptb_rnn' architecture, but "
        r"search_space='macro'",
    ):
        read_arc_file(path, "macro")
    path.write_text(
        json.dumps({"search_space": "macro", "space_config": {"layers": 3}, "arc": ARC})
    )
    with pytest.raises(ValueError, match=r"bad 'space_config'"):
        read_arc_file(path, "macro")


def test_training_resumes_and_the_export_serves_raw_pixels(tmp_path):
    datasets, images = _datasets()
    first = _config(str(tmp_path), num_epochs=1)
    train_cifar.run_cifar_training(first, **datasets)
    results = train_cifar.run_cifar_training(_config(str(tmp_path)), **datasets)  # resumes
    lines = [json.loads(line) for line in open(tmp_path / "log.jsonl")]
    assert [r["epoch"] for r in lines] == [1, 2]
    assert all(0 <= r["final_test_accuracy"] <= 1 for r in lines)
    assert results["epochs"] == 2 and 0 <= results["final_test_accuracy"] <= 1
    served = tf.saved_model.load(str(tmp_path / "export"))
    probabilities = served.signatures["serving_default"](images=tf.constant(images[:4]))
    probabilities = probabilities["probabilities"].numpy()
    as_float = served.serve_float(tf.constant(images[:4], tf.float32))["probabilities"].numpy()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(probabilities, as_float, rtol=1e-6)
    x = next(iter(datasets["test_ds"]))[0][:4]
    reloaded = keras.saving.load_model(tmp_path / "model.keras")
    expected = tf.nn.softmax(reloaded(x, training=False)).numpy()
    np.testing.assert_allclose(probabilities, expected, rtol=1e-4, atol=1e-6)
    exported = json.load(open(tmp_path / "export" / "architecture.json"))
    assert exported["fixed_arc"] == ARC and exported["search_space"] == "macro"
    assert exported["mean"] == [0.5] * 3 and "final_test_accuracy" in exported
    assert (tmp_path / "export" / "network.png").exists()
    other = dataclasses.replace(_config(str(tmp_path)), fixed_arc="0 5 1 4 0 1")
    with pytest.raises(ValueError, match=r"different config \(differs in: architecture\."):
        train_cifar.run_cifar_training(other, **datasets)

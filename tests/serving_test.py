"""Serving the exported SavedModels: class names, words, bad requests refused, fuzzed requests.

Issue #11.7: every bad request ends in a clear `InvalidArgumentError` (never an abort, never
an answer); issue #13.6: the exports carry the class names and the vocabulary.
"""

import collections
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from serving_test_utils import CLASS_NAMES, IMAGE_SHAPE, VOCAB, V, export_cifar, export_ptb

HERE = pathlib.Path(__file__).resolve().parent
FUZZ_SEED = 20261205


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Both tiny exports (with TFLite models), their Keras models and the loaded SavedModels."""
    root = tmp_path_factory.mktemp("serving")
    cifar_model = export_cifar(root / "cifar", tflite=True)
    ptb_model = export_ptb(root / "ptb", tflite=True)
    return {
        "dirs": (str(root / "cifar"), str(root / "ptb")),
        "cifar_model": cifar_model,
        "ptb_model": ptb_model,
        "cifar": tf.saved_model.load(str(root / "cifar")),
        "ptb": tf.saved_model.load(str(root / "ptb")),
    }


def _images(count, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (count, *IMAGE_SHAPE)).astype(np.uint8)


def _refused(function, match, **inputs):
    """`function(**inputs)` must raise `InvalidArgumentError` whose message matches `match`."""
    with pytest.raises(tf.errors.InvalidArgumentError, match=match):
        function(**{k: tf.constant(v) for k, v in inputs.items()})


# --- CIFAR: shape, dtype and range of the images (issue #11.7) ---------------------------


def test_images_of_another_size_or_channel_count_are_refused(exported):
    serve = exported["cifar"].signatures["serving_default"]
    h, w, _ = IMAGE_SHAPE
    # The 64 x 64, 16 x 16 and 1-channel requests of the issue, at this model's 8 x 8.
    for shape in ((1, 2 * h, 2 * w, 3), (1, h // 2, w // 2, 3), (1, h, w, 1), (2, h, w, 4)):
        _refused(
            serve, r"images must have shape \(batch, 8, 8, 3\)", images=np.zeros(shape, np.uint8)
        )
    for attribute in (exported["cifar"].serve, exported["cifar"].serve_float):  # also unsigned
        with pytest.raises(tf.errors.InvalidArgumentError, match=r"images must have shape"):
            attribute(tf.zeros((1, 2 * h, 2 * w, 3), attribute.input_signature[0].dtype))


def test_empty_batches_and_float_pixels_outside_0_255_are_refused(exported):
    served = exported["cifar"]
    _refused(
        served.signatures["serving_default"],
        r"at least one image",
        images=np.zeros((0, *IMAGE_SHAPE), np.uint8),
    )
    for value, match in (
        (np.nan, r"finite"),
        (np.inf, r"finite"),
        (-1.0, r"0\.\.255"),
        (256.0, r"0\.\.255"),
    ):
        images = _images(2).astype(np.float32)
        images[1, 3, 4, 2] = value
        _refused(served.signatures["serve_float"], match, images=images)


def test_a_wrong_dtype_is_refused_by_the_signature(exported):
    serve = exported["cifar"].signatures["serving_default"]
    _refused(
        serve,
        r"expected to be a uint8 tensor but is a float",
        images=np.zeros((1, *IMAGE_SHAPE), np.float32),
    )


def test_valid_images_get_probabilities_and_class_names(exported):
    served, model = exported["cifar"], exported["cifar_model"]
    images = _images(5)
    out = served.signatures["serving_default"](images=tf.constant(images))
    want = tf.nn.softmax(model((images / 255.0 - 0.5) / 0.25, training=False)).numpy()
    np.testing.assert_allclose(out["probabilities"].numpy(), want, atol=1e-5)
    best = want.argmax(axis=1)
    assert out["class_id"].numpy().tolist() == best.tolist()
    assert [n.decode() for n in out["class_name"].numpy()] == [CLASS_NAMES[i] for i in best]
    directory = exported["dirs"][0]
    with open(os.path.join(directory, "assets", "class_names.txt"), encoding="utf-8") as f:
        assert f.read().splitlines() == list(CLASS_NAMES)
    record = json.load(open(os.path.join(directory, "architecture.json")))
    assert record["class_names"] == list(CLASS_NAMES)


# --- PTB: token ids, lengths, state (issue #11.7) ----------------------------------------


def test_token_ids_outside_the_vocabulary_are_refused(exported):
    served = exported["ptb"]
    for value in (-1, V, 2**31 - 1):
        ids = np.array([[3, value, 4]], np.int32)
        _refused(
            served.signatures["sequence_log_likelihood"],
            r"token_ids must be in \[0, 50\)",
            token_ids=ids,
        )
        _refused(
            served.signatures["next_token_log_probs"],
            r"token_ids must be in \[0, 50\)",
            token_ids=ids,
            state=np.zeros((1, 12), np.float32),
        )


def test_a_length_one_sequence_scores_nothing_and_predicts_the_next_token(exported):
    served, model = exported["ptb"], exported["ptb_model"]
    out = served.signatures["sequence_log_likelihood"](token_ids=tf.constant([[7], [3]]))
    assert out["log_likelihood"].numpy().tolist() == [0.0, 0.0]
    assert out["perplexity"].numpy().tolist() == [1.0, 1.0]
    state = np.zeros((1, 12), np.float32)
    step = served.signatures["next_token_log_probs"](
        token_ids=tf.constant([[7]]), state=tf.constant(state)
    )
    logits, new_state = model([np.array([[7]], np.int32), state], training=False)
    np.testing.assert_allclose(step["log_probs"], tf.nn.log_softmax(logits), atol=1e-5)
    np.testing.assert_allclose(step["state"], new_state, atol=1e-5)
    two = served.signatures["sequence_log_likelihood"](token_ids=tf.constant([[7, 9]]))
    want = float(tf.nn.log_softmax(logits)[0, 0, 9])
    assert float(two["log_likelihood"][0]) == pytest.approx(want, abs=1e-5)


def test_empty_requests_bad_ranks_and_bad_states_are_refused(exported):
    served = exported["ptb"]
    sequence = served.signatures["sequence_log_likelihood"]
    step = served.signatures["next_token_log_probs"]
    for shape in ((1, 0), (0, 3)):
        _refused(sequence, r"at least one", token_ids=np.zeros(shape, np.int32))
    _refused(
        sequence, r"token_ids must be a \(batch, time\) matrix", token_ids=np.zeros((4,), np.int32)
    )
    ids = np.zeros((2, 3), np.int32)
    for state, match in (
        (np.zeros((2, 11), np.float32), r"state must have shape \(batch, 12\)"),
        (np.zeros((3, 12), np.float32), r"state must have shape \(batch, 12\)"),
        (np.full((2, 12), np.nan, np.float32), r"state must be finite"),
    ):
        _refused(step, match, token_ids=ids, state=state)


def test_words_are_scored_like_their_ids_and_unknown_words_as_unk(exported):
    served, directory = exported["ptb"], exported["dirs"][1]
    with open(os.path.join(directory, "assets", "vocab.txt"), encoding="utf-8") as f:
        assert tuple(f.read().splitlines()) == VOCAB
    sentence = [["<eos>", "the", "w03", "of", "zebra", "N", "<eos>"]]
    ids = [[VOCAB.index(w if w in VOCAB else "<unk>") for w in sentence[0]]]
    words = served.signatures["sequence_log_likelihood_words"](words=tf.constant(sentence))
    by_id = served.signatures["sequence_log_likelihood"](token_ids=tf.constant(ids, tf.int32))
    assert words["token_ids"].numpy().tolist() == ids
    np.testing.assert_allclose(words["log_likelihood"], by_id["log_likelihood"], atol=1e-6)
    np.testing.assert_allclose(words["perplexity"], by_id["perplexity"], rtol=1e-6)


# --- TFLite --------------------------------------------------------------------------------


def _tflite(path, **inputs):
    """Runs the TFLite model at `path` (its signature, on CPU); returns its named outputs."""
    runner = tf.lite.Interpreter(model_path=path).get_signature_runner()
    return runner(**inputs)


def test_tflite_cifar_model_agrees_with_the_saved_model(exported):
    images = _images(6, seed=4)
    want = exported["cifar"].signatures["serving_default"](images=tf.constant(images))
    got = _tflite(os.path.join(exported["dirs"][0], "model.tflite"), images=images)
    np.testing.assert_allclose(
        got["probabilities"], want["probabilities"].numpy(), atol=1e-4, rtol=0
    )


def test_tflite_ptb_model_agrees_with_the_saved_model(exported):
    ids = np.array([[4, 17, 0, 33, 9, 9, 21]], np.int32)
    state = np.random.default_rng(2).normal(0, 0.1, (1, 12)).astype(np.float32)
    want = exported["ptb"].signatures["next_token_log_probs"](
        token_ids=tf.constant(ids), state=tf.constant(state)
    )
    got = _tflite(os.path.join(exported["dirs"][1], "model.tflite"), token_ids=ids, state=state)
    np.testing.assert_allclose(got["log_probs"], want["log_probs"].numpy(), atol=1e-4, rtol=0)
    np.testing.assert_allclose(got["state"], want["state"].numpy(), atol=1e-4, rtol=0)


# --- Fuzz ----------------------------------------------------------------------------------


def test_fuzzed_serving_requests_end_in_invalid_argument_or_a_checked_answer(exported):
    """Several hundred generated requests, sent in a subprocess (an abort cannot hide)."""
    cifar_dir, ptb_dir = exported["dirs"]
    meta = json.dumps([list(IMAGE_SHAPE), 12])
    proc = subprocess.run(
        [
            sys.executable,
            str(HERE / "serving_fuzz_utils.py"),
            cifar_dir,
            ptb_dir,
            str(FUZZ_SEED),
            meta,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=""),
        cwd="/",
    )
    lines = proc.stdout.splitlines()
    started = [line[6:] for line in lines if line.startswith("START ")]
    results = [json.loads(line) for line in lines if line.startswith("{")]
    assert proc.returncode == 0, (
        f"exit {proc.returncode} during case {started[-1] if started else None!r}: "
        f"{proc.stderr[-2000:]}"
    )
    assert len(results) == len(started)
    wrong = []
    for r in results:
        allowed = {"invalid": {"InvalidArgumentError"}, "valid": {"ok"}}.get(
            r["expect"], {"ok", "InvalidArgumentError"}
        )
        if r["outcome"] not in allowed:
            wrong.append(r)
    counts = collections.Counter((r["expect"], r["outcome"]) for r in results)
    print(f"fuzzed serving requests: {len(results)}; outcomes: {dict(counts)}")
    assert not wrong, f"{len(wrong)} of {len(results)} cases: {wrong[:5]}"
    assert len(results) >= 500
    rank3 = [r for r in results if r["name"].startswith("serving_default/rank3/(8, 8, 3)")]
    assert rank3 and rank3[0]["outcome"] == "InvalidArgumentError"  # exit 134 before
    assert "images must have shape" in rank3[0]["message"]

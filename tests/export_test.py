"""Tests of the PTB export: served in a fresh process without keras_enas, same numbers; the
model.keras files load there after `import keras_enas.layers` (the README's way)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from keras_enas.config.ptb_final import PTB_FINAL_ARC
from keras_enas.models import fixed_rnn
from keras_enas.run import records
from keras_enas.search_spaces import rnn
from keras_enas.tasks.ptb import export

V, H = 50, 12
SENTENCE = [[3, 17, 4, 41, 9, 9, 28, 0, 5, 12, 33, 7]]
VOCAB = ["<eos>", "<unk>"] + [f"word{i}" for i in range(V - 2)]

# Runs in a fresh interpreter: only TensorFlow and NumPy, no keras_enas on the path.
_SERVE = """
import json, sys
import numpy as np
import tensorflow as tf
served = tf.saved_model.load(sys.argv[1])
tokens = tf.constant(json.loads(sys.argv[2]), tf.int32)
width = int(sys.argv[3])
total = served.sequence_log_likelihood(tokens)
state = tf.zeros([tokens.shape[0], width])
first = served.next_token_log_probs(token_ids=tokens[:, :5], state=state)
second = served.next_token_log_probs(token_ids=tokens[:, 5:], state=first["state"])
signature = served.signatures["sequence_log_likelihood"](token_ids=tokens)
with open(f"{sys.argv[1]}/assets/vocab.txt", encoding="utf-8") as f:
    vocab = f.read().splitlines()
words = tf.constant([[vocab[i] for i in row] for row in json.loads(sys.argv[2])])
by_words = served.signatures["sequence_log_likelihood_words"](words=words)
print(json.dumps({
    "log_likelihood": total["log_likelihood"].numpy().tolist(),
    "perplexity": total["perplexity"].numpy().tolist(),
    "signature_log_likelihood": signature["log_likelihood"].numpy().tolist(),
    "words_log_likelihood": by_words["log_likelihood"].numpy().tolist(),
    "words_token_ids": by_words["token_ids"].numpy().tolist(),
    "log_probs": np.concatenate([first["log_probs"], second["log_probs"]], 1).tolist(),
    "keras_enas_imported": any(m.startswith("keras_enas") for m in sys.modules),
}))
# model.keras, the README's way: it needs keras_enas's layers, registered by keras_enas.layers.
import keras
setup = json.loads(sys.argv[4])
try:
    keras.saving.load_model(setup["models"][0])
    print("loaded without keras_enas")
except TypeError as e:
    print("needs keras_enas:", "Could not locate class 'TiedEmbedding'" in str(e))
sys.path.insert(0, setup["repo"])  # the checkout under test
import keras_enas.layers  # noqa: F401
missing = [c for c in setup["classes"] if keras.saving.get_registered_object(c) is None]
print("unregistered after import keras_enas.layers:", missing)
for path in setup["models"]:
    model = keras.saving.load_model(path)
    inputs = dict(np.load(path + ".inputs.npz"))
    inputs = [inputs[k] for k in sorted(inputs)]
    outputs = model(inputs if len(inputs) > 1 else inputs[0], training=False)
    got = keras.ops.convert_to_numpy(outputs[0] if isinstance(outputs, (list, tuple)) else outputs)
    print("max_diff", float(np.abs(got - np.load(path + ".want.npy")).max()))
"""
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _save_keras(path, model, inputs):
    """Saves `model` as `path` (.keras) with `inputs` and its outputs beside it; returns path."""
    model.save(path)
    np.savez(path + ".inputs.npz", **{f"x{i}": x for i, x in enumerate(inputs)})
    outputs = model(inputs if len(inputs) > 1 else inputs[0], training=False)
    np.save(path + ".want.npy", np.asarray(outputs[0]))
    return path


def _serve(export_dir, tokens, width, models, classes):
    """Serves in a fresh process; returns (its JSON answer, its model.keras lines)."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH="")
    setup = json.dumps({"repo": REPO, "models": models, "classes": classes})
    proc = subprocess.run(
        [sys.executable, "-c", _SERVE, str(export_dir), json.dumps(tokens), str(width), setup],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd="/",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("{"))
    return json.loads(lines[first]), lines[first + 1 :]


def _layer_classes():
    """The registered names of every Keras class defined in keras_enas/layers/."""
    import importlib
    import pkgutil

    import keras

    import keras_enas.layers as package

    for info in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"keras_enas.layers.{info.name}")
    prefix = "keras_enas>"
    registered = keras.saving.get_custom_objects()
    return sorted(
        k
        for k, v in registered.items()
        if k.startswith(prefix) and v.__module__.startswith(package.__name__)
    )


@pytest.mark.parametrize("cell", ["enas", "lstm"])
def test_export_serves_the_same_likelihood_in_a_fresh_process(cell, tmp_path):
    space = rnn.RNNCellSpace(12, "original") if cell == "enas" else None
    arc = space.parse(PTB_FINAL_ARC) if cell == "enas" else None
    model = fixed_rnn.build_fixed_model(space, arc, V, H, cell=cell, init_range=0.4, seed=2)
    export_dir = tmp_path / "export"
    assert export.export_ptb_model(
        model, str(export_dir), space, arc, extra={"final_test_ppl": 1.5}, vocab=VOCAB
    ) == str(export_dir)
    tokens = np.asarray(SENTENCE, np.int32)
    width = model.inputs[1].shape[-1]
    logits, _ = model([tokens, np.zeros((1, width), np.float32)])
    log_probs = tf.nn.log_softmax(logits).numpy()  # (1, T, V)
    want = float(sum(log_probs[0, t, tokens[0, t + 1]] for t in range(tokens.shape[1] - 1)))
    state = np.random.default_rng(0).normal(size=(1, width)).astype(np.float32)
    models = [_save_keras(str(tmp_path / "model.keras"), model, [tokens, state])]
    classes = _layer_classes()
    assert len(classes) >= 9 and "keras_enas>AuxHead" in classes  # the CIFAR cells' too
    served, loading = _serve(export_dir, SENTENCE, width, models, classes)
    assert not served["keras_enas_imported"]
    assert loading[0] == "needs keras_enas: True"  # so the README says what to import
    assert loading[1] == "unregistered after import keras_enas.layers: []"
    assert loading[2].startswith("max_diff") and float(loading[2].split()[1]) < 1e-5, loading
    assert served["log_likelihood"][0] == pytest.approx(want, abs=1e-4)
    assert served["signature_log_likelihood"][0] == pytest.approx(want, abs=1e-4)
    assert served["words_token_ids"] == SENTENCE  # words → ids through assets/vocab.txt
    assert served["words_log_likelihood"][0] == pytest.approx(want, abs=1e-4)
    assert served["perplexity"][0] == pytest.approx(np.exp(-want / 11), rel=1e-4)
    np.testing.assert_allclose(served["log_probs"], log_probs, atol=1e-4)  # state carried
    record = json.load(open(export_dir / "architecture.json"))
    assert record["cell"] == cell and record["final_test_ppl"] == 1.5
    if cell == "enas":
        assert record["fixed_arc"] == PTB_FINAL_ARC
        assert open(export_dir / "cell.png", "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    else:
        assert not (export_dir / "cell.png").exists()


def test_architecture_files_next_to_a_search_result(tmp_path):
    space = rnn.RNNCellSpace(9, "enas_lm")
    arc = space.parse("0 2 1 0 2 1 2 2 4 0 5 0 3 2 6 2")
    path = records.draw_architecture(str(tmp_path), space, arc)
    assert path == str(tmp_path / "cell.png") and os.path.getsize(path) > 1000
    paths = export.write_architecture_files(str(tmp_path / "out"), space, arc)
    record = json.load(open(paths[0]))
    assert record["arcs"]["enas_lm"] == "0 2 1 0 2 1 2 2 4 0 5 0 3 2 6 2"
    assert record["decoded"]["loose_ends"] == [7, 8]  # node 2 reads node 1
    with pytest.raises(ValueError, match=r"expected 16 tokens"):
        records.draw_architecture(str(tmp_path), space, [0, 1])

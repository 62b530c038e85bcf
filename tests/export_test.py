"""Tests of the SavedModel export: served in a fresh process without keras_enas, same numbers."""

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
print(json.dumps({
    "log_likelihood": total["log_likelihood"].numpy().tolist(),
    "perplexity": total["perplexity"].numpy().tolist(),
    "signature_log_likelihood": signature["log_likelihood"].numpy().tolist(),
    "log_probs": np.concatenate([first["log_probs"], second["log_probs"]], 1).tolist(),
    "keras_enas_imported": any(m.startswith("keras_enas") for m in sys.modules),
}))
"""


def _serve(export_dir, tokens, width):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH="")
    proc = subprocess.run(
        [sys.executable, "-c", _SERVE, str(export_dir), json.dumps(tokens), str(width)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd="/",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("cell", ["enas", "lstm"])
def test_export_serves_the_same_likelihood_in_a_fresh_process(cell, tmp_path):
    space = rnn.RNNCellSpace(12, "original") if cell == "enas" else None
    arc = space.parse(PTB_FINAL_ARC) if cell == "enas" else None
    model = fixed_rnn.build_fixed_model(space, arc, V, H, cell=cell, init_range=0.4, seed=2)
    export_dir = tmp_path / "export"
    assert export.export_ptb_model(
        model, str(export_dir), space, arc, extra={"final_test_ppl": 1.5}
    ) == str(export_dir)
    tokens = np.asarray(SENTENCE, np.int32)
    width = model.inputs[1].shape[-1]
    logits, _ = model([tokens, np.zeros((1, width), np.float32)])
    log_probs = tf.nn.log_softmax(logits).numpy()  # (1, T, V)
    want = float(sum(log_probs[0, t, tokens[0, t + 1]] for t in range(tokens.shape[1] - 1)))
    served = _serve(export_dir, SENTENCE, width)
    assert not served["keras_enas_imported"]
    assert served["log_likelihood"][0] == pytest.approx(want, abs=1e-4)
    assert served["signature_log_likelihood"][0] == pytest.approx(want, abs=1e-4)
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

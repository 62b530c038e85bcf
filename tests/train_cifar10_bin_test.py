"""bin/train_cifar10 on the real CIFAR-10 subset: train, test, export, serve in a fresh process."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from cifar_test_utils import run_bin

# Loads the export in a fresh interpreter that never imports keras_enas.
SERVE = """
import json, sys
import numpy as np
import tensorflow as tf
served = tf.saved_model.load(sys.argv[1])
images = np.random.default_rng(0).integers(0, 256, size=(5, 32, 32, 3)).astype(np.uint8)
p8 = served.signatures["serving_default"](images=tf.constant(images))["probabilities"]
pf = served.signatures["serve_float"](images=tf.constant(images, tf.float32))["probabilities"]
names = served.signatures["serving_default"](images=tf.constant(images))["class_name"]
lite = tf.lite.Interpreter(model_path=sys.argv[1] + "/model.tflite").get_signature_runner()
print(json.dumps({"uint8": p8.numpy().tolist(), "float": pf.numpy().tolist(),
                  "names": [n.decode() for n in names.numpy()],
                  "tflite": lite(images=images)["probabilities"].tolist(),
                  "keras_enas": any(m.startswith("keras_enas") for m in sys.modules)}))
"""


@pytest.mark.e2e
@pytest.mark.slow
def test_train_cifar10_smoke_resume_and_export(shared_data, tmp_path):
    arc_file = tmp_path / "search" / "best_architecture.json"
    arc_file.parent.mkdir()
    arc_file.write_text(
        json.dumps(
            {
                "search_space": "macro",
                "space_config": {"num_layers": 3},
                "arc": "1 5 1 4 0 1",
                "fixed_arc": "1 5 1 4 0 1",
            }
        )
    )
    workdir = tmp_path / "final"
    args = [
        "--flagfile=configs/cifar10_macro_final_smoke.flags",
        f"--arc_file={arc_file}",
        f"--data_dir={shared_data / 'cifar10'}",
        f"--workdir={workdir}",
        "--export_tflite",
    ]
    proc = run_bin("train_cifar10", *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "final_test_accuracy: " in proc.stdout
    records = [json.loads(line) for line in open(workdir / "log.jsonl")]
    assert [r["epoch"] for r in records] == [1, 2]
    for key in (
        "final_train_loss",
        "final_train_accuracy",
        "final_test_loss",
        "final_test_accuracy",
        "lr",
    ):
        assert all(np.isfinite(r[key]) for r in records), key
    results = json.load(open(workdir / "final_results.json"))
    assert results["epochs"] == 2 and 0 <= results["final_test_accuracy"] <= 1
    assert results["architecture"]["fixed_arc"] == "1 5 1 4 0 1"
    export = workdir / "export"
    assert (export / "network.png").exists()
    assert json.load(open(export / "architecture.json"))["space_config"] == {"num_layers": 3}
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    served = subprocess.run(
        [sys.executable, "-c", SERVE, str(export)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=str(tmp_path),
        env=env,
    )
    assert served.returncode == 0, served.stderr[-3000:]
    out = json.loads(served.stdout.strip().splitlines()[-1])
    assert not out["keras_enas"]
    probabilities = np.asarray(out["uint8"])
    assert probabilities.shape == (5, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(probabilities, np.asarray(out["float"]), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(out["tflite"]), probabilities, atol=1e-4, rtol=0)
    labels = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship"]
    labels.append("truck")  # batches.meta's label_names, shipped with the export
    assert (export / "assets" / "class_names.txt").read_text().splitlines() == labels
    assert out["names"] == [labels[i] for i in probabilities.argmax(axis=1)]
    assert os.listdir(workdir / "tensorboard") and (workdir / "model.keras").exists()

"""Tiny PTB and CIFAR-10 data sets, generated at test time in the real files' formats.

The fast tests (`pytest -m "not e2e"`) run on these, so a clone needs no ../shared/data;
the real data sets are read only by tests marked `e2e`. Both are deterministic and carry a
learnable signal: PTB text follows a sparse Markov chain, each CIFAR class has its own
colour and stripe pattern.
"""

import os
import pickle

import numpy as np

from keras_enas.data.cifar10 import LABEL_NAMES as CLASSES


def write_ptb(directory, vocab_size=50, tokens=(6000, 1200, 1200), seed=0):
    """Writes `ptb.{train,valid,test}.txt` into `directory` (created); returns its path.

    Sentences are drawn from a Markov chain over `vocab_size - 1` words (each word has 3
    likely successors) and end at a newline (the loader's `<eos>`). Every word occurs in
    the training split, so the validation and test splits have no unknown word.

    Args:
        directory: where to write.
        vocab_size: words in the vocabulary, `<eos>` included.
        tokens: approximate number of tokens of the train, valid and test splits.
        seed: of the generator.
    """
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(vocab_size - 1)]
    successors = rng.integers(0, len(words), size=(len(words), 3))
    os.makedirs(directory, exist_ok=True)
    for split, count in zip(("train", "valid", "test"), tokens):
        lines, total = [], 0
        if split == "train":  # every word once, so the vocabulary is complete
            lines.append(" ".join(words))
            total += len(words) + 1
        while total < count:
            w = int(rng.integers(len(words)))
            sentence = [w]
            for _ in range(int(rng.integers(4, 15))):
                w = int(successors[w, rng.integers(3)])
                sentence.append(w)
            lines.append(" ".join(words[i] for i in sentence))
            total += len(sentence) + 1
        with open(os.path.join(directory, f"ptb.{split}.txt"), "w") as f:
            f.write("".join(f" {line} \n" for line in lines))
    return directory


def _images(labels, rng):
    """(N, 3072) uint8 images in the official channel-major layout; class = colour + stripes."""
    n = len(labels)
    colours = np.linspace(30, 225, 10)
    images = rng.normal(128, 40, size=(n, 3, 32, 32))
    for c in range(3):
        images[:, c] += 0.5 * (np.roll(colours, 3 * c)[labels][:, None, None] - 128)
    rows = np.arange(32)
    stripes = (rows[None, :] % (labels[:, None] % 5 + 2) == 0) * 60.0  # (N, 32)
    images[:, 0] += stripes[:, :, None]
    return np.clip(images, 0, 255).astype(np.uint8).reshape(n, 3072)


def _write_batch(path, labels, rng, name):
    batch = {
        b"batch_label": name.encode(),
        b"labels": [int(v) for v in labels],
        b"data": _images(labels, rng),
        b"filenames": [b"tiny_%05d.png" % i for i in range(len(labels))],
    }
    with open(path, "wb") as f:
        pickle.dump(batch, f, protocol=4)


def write_cifar10(directory, train_per_class=100, test_per_class=30, seed=0):
    """Writes `cifar-10-batches-py/` (data_batch_1, test_batch, batches.meta) under
    `directory` (created), class-balanced and shuffled; returns `directory`.

    Args:
        directory: where to write (it then holds `cifar-10-batches-py/`, as the real one).
        train_per_class, test_per_class: images per class in each split.
        seed: of the generator.
    """
    rng = np.random.default_rng(seed)
    batches = os.path.join(directory, "cifar-10-batches-py")
    os.makedirs(batches, exist_ok=True)
    for name, per_class in (("data_batch_1", train_per_class), ("test_batch", test_per_class)):
        labels = rng.permutation(np.repeat(np.arange(10), per_class))
        _write_batch(os.path.join(batches, name), labels, rng, name)
    meta = {b"label_names": [c.encode() for c in CLASSES], b"num_cases_per_batch": 0}
    with open(os.path.join(batches, "batches.meta"), "wb") as f:
        pickle.dump(meta, f, protocol=4)
    return directory

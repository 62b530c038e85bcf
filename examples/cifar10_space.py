"""Search your own image-classifier space on CIFAR-10 with keras_enas.ENAS, then train the winner.

Per block: the op (conv 3×3 / 5×5, separable 3×3 / 5×5, max pool), the width of a 1×1
bottleneck (16 / 32 / 64) and which earlier node feeds the block (a skip input).
Run from the repository root:  python examples/cifar10_space.py
"""

import argparse
import os
import time

import keras
import tensorflow as tf

import keras_enas as ke
from keras_enas.data import cifar10

FILTERS = 32


def block(nodes, k):
    """One searchable block: chosen input, chosen op, chosen bottleneck width."""
    x = ke.InputChoice(num_chosen=1, reduction="sum", name=f"block{k}_input")(nodes)
    x = ke.OpChoice(
        [
            keras.layers.Conv2D(FILTERS, 3, padding="same", activation="relu"),
            keras.layers.Conv2D(FILTERS, 5, padding="same", activation="relu"),
            keras.layers.SeparableConv2D(FILTERS, 3, padding="same", activation="relu"),
            keras.layers.SeparableConv2D(FILTERS, 5, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(3, 1, padding="same"),
        ],
        name=f"block{k}_op",
    )(x)
    x = ke.OpChoice(
        [
            keras.Sequential(
                [keras.layers.Conv2D(w, 1, activation="relu"), keras.layers.Conv2D(FILTERS, 1)]
            )
            for w in (16, 32, 64)
        ],
        name=f"block{k}_width",
    )(x)
    # No BatchNormalization after a choice: its moving statistics would mix every
    # sampled architecture, and rewards are computed with training=False.
    return keras.layers.ReLU()(x)


def build_supernet(num_blocks=3):
    inp = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(FILTERS, 3, padding="same", use_bias=False)(inp)
    x = keras.layers.ReLU()(keras.layers.BatchNormalization()(x))  # fixed stem: BN is fine
    nodes = [keras.layers.MaxPooling2D(2)(x)]  # 16×16
    for k in range(num_blocks):
        nodes.append(block(nodes, k))
    x = keras.layers.GlobalAveragePooling2D()(nodes[-1])
    return keras.Model(inp, keras.layers.Dense(10, activation="softmax")(x))


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--data_dir",
        default="../shared/data/cifar10",
        help="Directory holding cifar-10-batches-py.",
    )
    parser.add_argument("--search_epochs", type=int, default=3, help="ENAS search epochs.")
    parser.add_argument(
        "--final_epochs",
        type=int,
        default=5,
        help="Epochs to train the found architecture from scratch.",
    )
    parser.add_argument("--workdir", default=None, help="Optional search working directory.")
    parser.add_argument("--output_dir", default=".", help="Where the final model is saved.")
    args = parser.parse_args()
    start = time.time()
    keras.utils.set_random_seed(0)
    data = cifar10.load_cifar10(args.data_dir, download=False)
    x, y = data.x_train.astype("float32") / 255.0, data.y_train
    x_test, y_test = data.x_test.astype("float32") / 255.0, data.y_test
    n_valid = len(x) // 10
    train = (
        tf.data.Dataset.from_tensor_slices((x[n_valid:], y[n_valid:]))
        .shuffle(10000, seed=0)
        .batch(64)
    )
    valid = (x[:n_valid], y[:n_valid])

    supernet = build_supernet()
    search = ke.ENAS(
        supernet,
        loss="sparse_categorical_crossentropy",
        workdir=args.workdir,
        controller={"train_steps": 20, "num_aggregate": 5},
    )
    search.fit(train, validation_data=valid, epochs=args.search_epochs, verbose=2)
    best = search.best_architecture(num_samples=50)
    print("best architecture:", best, f"({time.time() - start:.0f} s)")

    final = ke.fixed_model(supernet, best)
    final.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    final.fit(x, y, batch_size=64, epochs=args.final_epochs, verbose=2)
    loss, accuracy = final.evaluate(x_test, y_test, verbose=0)
    print(f"final test accuracy {accuracy:.4f}, {final.count_params()} parameters")
    os.makedirs(args.output_dir, exist_ok=True)
    final.save(os.path.join(args.output_dir, "cifar10_final.keras"))
    final.export(os.path.join(args.output_dir, "cifar10_final_savedmodel"))
    print(f"total wall time {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()

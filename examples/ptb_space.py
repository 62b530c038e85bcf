"""Search your own sequence-model space on PTB with keras_enas.ENAS, then train the winner.

Per layer: the recurrent layer (LSTM / GRU / SimpleRNN) and the activation of a
feed-forward projection (tanh / relu / sigmoid / identity); the output reads one of the
layers (a skip input). Reward: 80 / validation perplexity of one minibatch (ENAS §3.3).
Run from the repository root:  python examples/ptb_space.py
"""

import argparse
import os
import time

import keras
import numpy as np
import tensorflow as tf

import keras_enas as ke
from keras_enas.data import ptb

HIDDEN, BPTT = 128, 20


def windows(tokens, limit):
    """Non-overlapping (input, next-token target) windows of BPTT tokens."""
    n = (min(len(tokens), limit) - 1) // BPTT
    x = tokens[: n * BPTT].reshape(n, BPTT)
    y = tokens[1 : n * BPTT + 1].reshape(n, BPTT)
    return x, y


def build_supernet(vocab_size, num_layers=2):
    inp = keras.Input((BPTT,), dtype="int32")
    h = keras.layers.Embedding(vocab_size, HIDDEN)(inp)
    outputs = []
    for k in range(num_layers):
        h = ke.OpChoice(
            [
                keras.layers.LSTM(HIDDEN, return_sequences=True),
                keras.layers.GRU(HIDDEN, return_sequences=True),
                keras.layers.SimpleRNN(HIDDEN, return_sequences=True),
            ],
            name=f"layer{k}_rnn",
        )(h)
        h = ke.OpChoice(
            [
                keras.layers.Dense(HIDDEN, activation=a)
                for a in ("tanh", "relu", "sigmoid", "linear")
            ],
            name=f"layer{k}_activation",
        )(h)
        outputs.append(h)
    h = ke.InputChoice(num_chosen=1, name="output_input")(outputs)
    return keras.Model(inp, keras.layers.Dense(vocab_size, activation="softmax")(h))


def perplexity_reward(y_true, y_pred):
    """ENAS §3.3: c / perplexity with c = 80."""
    ce = keras.losses.sparse_categorical_crossentropy(y_true, y_pred)
    return 80.0 / tf.exp(tf.reduce_mean(ce))


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--data_dir",
        default="../shared/data/ptb",
        help="Directory holding ptb.{train,valid,test}.txt.",
    )
    parser.add_argument(
        "--train_tokens",
        type=int,
        default=200000,
        help="Training tokens used (the first ones of the split).",
    )
    parser.add_argument("--search_epochs", type=int, default=2, help="ENAS search epochs.")
    parser.add_argument(
        "--final_epochs",
        type=int,
        default=3,
        help="Epochs to train the found architecture from scratch.",
    )
    parser.add_argument("--output_dir", default=".", help="Where the final model is saved.")
    args = parser.parse_args()
    start = time.time()
    keras.utils.set_random_seed(0)
    data = ptb.load_ptb(args.data_dir, download=False)
    vocab_size = len(data.vocab)
    x, y = windows(data.train, args.train_tokens)
    valid = windows(data.valid, 40000)
    test = windows(data.test, 40000)
    train = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=0).batch(32)

    supernet = build_supernet(vocab_size)
    search = ke.ENAS(
        supernet,
        loss="sparse_categorical_crossentropy",
        reward=perplexity_reward,
        reward_batch_size=64,
        controller={"train_steps": 20, "num_aggregate": 5},
    )
    search.fit(train, validation_data=valid, epochs=args.search_epochs, verbose=2)
    best = search.best_architecture(num_samples=30)
    print("best architecture:", best, f"({time.time() - start:.0f} s)")

    final = ke.fixed_model(supernet, best)
    final.compile("adam", "sparse_categorical_crossentropy")
    final.fit(train, epochs=args.final_epochs, verbose=2)
    test_ppl = float(np.exp(final.evaluate(*test, batch_size=64, verbose=0)))
    print(f"final test perplexity {test_ppl:.1f}, {final.count_params()} parameters")
    os.makedirs(args.output_dir, exist_ok=True)
    final.save(os.path.join(args.output_dir, "ptb_final.keras"))
    final.export(os.path.join(args.output_dir, "ptb_final_savedmodel"))
    print(f"total wall time {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()

"""Generated bad (and odd but valid) serving requests, run in a subprocess without keras_enas.

`python serving_fuzz_utils.py CIFAR_DIR PTB_DIR SEED` loads both SavedModels with
`tf.saved_model.load`, sends every case of `cases(SEED, ...)` to its signature and prints,
per case, `START <name>` before the call (so an abort names the case) and one JSON line
after it: `{"name", "expect", "outcome", "message"}`. `outcome` is the exception's class
name, `"ok"` for an answer that passed the case's checks, or `"wrong: ..."`.
Expectations: `"invalid"` (must end in `InvalidArgumentError`), `"valid"` (a checked
answer), `"either"` (a finite, checked answer or `InvalidArgumentError`).
"""

import json
import sys

import numpy as np

DTYPES = ("float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16")
DTYPES += ("bool", "string")


def _array(rng, shape, dtype, low=0, high=256):
    """A random array of `shape`; strings are random short words."""
    if dtype == "string":
        return np.array(rng.choice(["x", "", "the", "7"], size=shape), dtype=object)
    if dtype == "bool":
        return rng.integers(0, 2, size=shape).astype(bool)
    return rng.integers(low, high, size=shape).astype(dtype)


def _cifar_cases(rng, h, w):
    """(name, signature, inputs, expect) for the two image signatures."""
    cases = []
    for sig, dtype in (("serving_default", "uint8"), ("serve_float", "float32")):
        for rank in (0, 1, 2, 3, 5, 6):
            for k in range(6):
                shape = tuple(int(d) for d in rng.integers(1, 10, size=rank))
                if rank == 3 and k == 0:
                    shape = (h, w, 3)  # one image without its batch axis
                cases.append(
                    (f"{sig}/rank{rank}/{shape}", sig, _array(rng, shape, dtype), "invalid")
                )
        fixed = [(1, 2 * h, 2 * w, 3), (1, h // 2, w // 2, 3), (1, h, w, 1), (1, h, w, 4)]
        fixed += [(2, h, w + 1, 3), (1, 4 * h, 4 * w, 3)]
        while len(fixed) < 40:
            shape = (int(rng.integers(1, 4)), *(int(d) for d in rng.integers(1, 3 * h, 2)))
            shape += (int(rng.integers(1, 6)),)
            if shape[1:] != (h, w, 3):
                fixed.append(shape)
        for shape in fixed:
            cases.append((f"{sig}/shape/{shape}", sig, _array(rng, shape, dtype), "invalid"))
        for shape in ((0, h, w, 3), (1, 0, w, 3), (1, h, 0, 3), (1, h, w, 0), (0, 0, 0, 0)):
            cases.append((f"{sig}/empty/{shape}", sig, _array(rng, shape, dtype), "invalid"))
        for other in DTYPES:
            if other != dtype:
                for shape in ((1, h, w, 3), (2, h + 1, w, 3)):
                    images = _array(rng, shape, other, 0, 2)
                    cases.append((f"{sig}/dtype/{other}/{shape}", sig, images, "invalid"))
        for b in (1, 2, 5, 17):
            cases.append((f"{sig}/valid/batch{b}", sig, _array(rng, (b, h, w, 3), dtype), "valid"))
    bad_values = (np.nan, np.inf, -np.inf, 1e30, -1e30, -1.0, -1e-6, 255.001, 256.0, 3.4e38)
    for value in bad_values:
        for k in range(4):
            images = _array(rng, (int(rng.integers(1, 4)), h, w, 3), "float32")
            index = tuple(int(rng.integers(0, d)) for d in images.shape)
            images[index] = value
            cases.append((f"serve_float/value/{value}/{k}", "serve_float", images, "invalid"))
    for value in (0.0, 255.0, 127.5):
        images = np.full((2, h, w, 3), value, np.float32)
        cases.append((f"serve_float/valid/all{value}", "serve_float", images, "valid"))
    return cases


def _bad_token_ids(rng, v):
    """(name, token_ids, expect) for the two id signatures."""
    cases = []
    for rank in (0, 1, 3, 4):
        shape = tuple(int(d) for d in rng.integers(1, 5, size=rank))
        cases.append((f"rank{rank}/{shape}", _array(rng, shape, "int32", 0, v), "invalid"))
    for shape in ((0, 5), (1, 0), (0, 0), (3, 0)):
        cases.append((f"empty/{shape}", np.zeros(shape, np.int32), "invalid"))
    out = (-1, v, v + 1, -v, -(2**31), 2**31 - 1, 10 * v, -2)
    for value in out:
        for k in range(5):
            ids = _array(rng, (int(rng.integers(1, 4)), int(rng.integers(1, 7))), "int32", 0, v)
            ids[tuple(int(rng.integers(0, d)) for d in ids.shape)] = value
            cases.append((f"range/{value}/{k}", ids, "invalid"))
    for other in DTYPES:
        if other != "int32":
            cases.append((f"dtype/{other}", _array(rng, (1, 3), other, 0, 2), "invalid"))
    for b, t in ((1, 1), (3, 1), (1, 2), (2, 7)):
        cases.append((f"valid/{b}x{t}", _array(rng, (b, t), "int32", 0, v), "valid"))
    return cases


def _ptb_cases(rng, v, width, vocab):
    cases = []
    zeros = lambda b: np.zeros((b, width), np.float32)  # noqa: E731
    for name, ids, expect in _bad_token_ids(rng, v):
        sig = "sequence_log_likelihood"
        cases.append((f"{sig}/{name}", sig, {"token_ids": ids}, expect))
        b = ids.shape[0] if ids.ndim == 2 else 1
        sig = "next_token_log_probs"
        cases.append((f"{sig}/{name}", sig, {"token_ids": ids, "state": zeros(b)}, expect))
    ids = _array(rng, (2, 3), "int32", 0, v)
    states = {
        "rank1": np.zeros((width,), np.float32),
        "rank3": np.zeros((2, width, 1), np.float32),
        "narrow": zeros(2)[:, :-1],
        "wide": np.zeros((2, width + 1), np.float32),
        "width0": np.zeros((2, 0), np.float32),
        "batch1": zeros(1),
        "batch3": zeros(3),
        "float64": zeros(2).astype(np.float64),
        "int32": zeros(2).astype(np.int32),
        "string": np.full((2, width), "0", dtype=object),
    }
    for value in (np.nan, np.inf, -np.inf):
        for k in range(3):
            state = rng.normal(size=(2, width)).astype(np.float32)
            state[int(rng.integers(0, 2)), int(rng.integers(0, width))] = value
            states[f"{value}/{k}"] = state
    for name, state in states.items():
        inputs = {"token_ids": ids, "state": state}
        cases.append(
            (f"next_token_log_probs/state/{name}", "next_token_log_probs", inputs, "invalid")
        )
    for value in (1e3, 1e10, 1e30, -1e30, 3.4e38):
        inputs = {"token_ids": ids, "state": np.full((2, width), value, np.float32)}
        cases.append(
            (f"next_token_log_probs/state/huge{value}", "next_token_log_probs", inputs, "either")
        )
    words_sig = "sequence_log_likelihood_words"
    odd = [
        "",
        " ",
        "zzz",
        "The",
        "w99",
        "<EOS>",
        "\n",
        "a b",
        "x" * 10000,
        "ünïcødé",
        "\x00",
        "日本",
    ]
    for k in range(100):
        t = int(rng.integers(1, 8))
        words = rng.choice(list(vocab) + odd, size=(int(rng.integers(1, 4)), t)).astype(object)
        cases.append((f"{words_sig}/words/{k}", words_sig, {"words": words}, "valid"))
    for shape in ((), (3,), (1, 2, 2), (0, 3), (1, 0), (0, 0)):
        words = np.full(shape, "the", dtype=object)
        cases.append((f"{words_sig}/shape/{shape}", words_sig, {"words": words}, "invalid"))
    for other in DTYPES[:-1]:
        cases.append(
            (
                f"{words_sig}/dtype/{other}",
                words_sig,
                {"words": _array(rng, (1, 3), other, 0, 2)},
                "invalid",
            )
        )
    return cases


def cases(seed, image_shape, vocab_size, state_width, vocab):
    """Every generated request: `[(name, "cifar"|"ptb", signature, inputs, expect)]`."""
    rng = np.random.default_rng(seed)
    h, w, _ = image_shape
    out = [(n, "cifar", s, {"images": x}, e) for n, s, x, e in _cifar_cases(rng, h, w)]
    out += [(n, "ptb", s, x, e) for n, s, x, e in _ptb_cases(rng, vocab_size, state_width, vocab)]
    return out


def _lines(path):
    with open(path, encoding="utf-8") as f:
        return f.read().split("\n")[:-1]


def _check_images(inputs, outputs, class_names):
    p = outputs["probabilities"].numpy()
    if p.shape != (len(inputs["images"]), len(class_names)) or not np.isfinite(p).all():
        return f"probabilities {p.shape}, finite={np.isfinite(p).all()}"
    if not np.allclose(p.sum(axis=1), 1.0, atol=1e-5):
        return f"probabilities sum to {p.sum(axis=1)}"
    best = p.argmax(axis=1)
    names = [n.decode() for n in outputs["class_name"].numpy()]
    if names != [class_names[i] for i in best] or list(outputs["class_id"].numpy()) != list(best):
        return f"class_name {names} / class_id {outputs['class_id']} do not match {best}"
    return None


def _check_ptb(sig, inputs, outputs, served, vocab):
    if sig == "next_token_log_probs":
        log_probs, state = outputs["log_probs"].numpy(), outputs["state"].numpy()
        total = np.log(np.exp(log_probs.astype(np.float64)).sum(-1))
        if not (np.isfinite(log_probs).all() and np.isfinite(state).all()):
            return "non-finite answer"
        if log_probs.shape != (*inputs["token_ids"].shape, len(vocab)) or abs(total).max() > 1e-4:
            return f"log_probs {log_probs.shape} do not normalise ({abs(total).max()})"
        return None
    if sig == "sequence_log_likelihood_words":
        index = {w: i for i, w in enumerate(vocab)}
        ids = np.vectorize(lambda w: index.get(w, index["<unk>"]), otypes=[np.int32])(
            inputs["words"]
        )
        if not np.array_equal(outputs["token_ids"].numpy(), ids):
            return f"token_ids {outputs['token_ids'].numpy().tolist()} != {ids.tolist()}"
        want = served.signatures["sequence_log_likelihood"](token_ids=ids)
        inputs = {"token_ids": ids}
        if not np.allclose(outputs["log_likelihood"], want["log_likelihood"], atol=1e-5):
            return "words and ids disagree"
    ll, ppl = outputs["log_likelihood"].numpy(), outputs["perplexity"].numpy()
    if not (np.isfinite(ll).all() and np.isfinite(ppl).all()) or (ll > 1e-6).any():
        return f"log_likelihood {ll}, perplexity {ppl}"
    if inputs["token_ids"].shape[1] == 1 and not (np.all(ll == 0) and np.all(ppl == 1)):
        return f"a length-1 row scores {ll}, {ppl} (want 0, 1)"
    return None


def run(cifar_dir, ptb_dir, seed, image_shape, state_width):
    """Sends every case; prints START lines and one JSON result per case."""
    import tensorflow as tf

    served = {"cifar": tf.saved_model.load(cifar_dir), "ptb": tf.saved_model.load(ptb_dir)}
    class_names = _lines(f"{cifar_dir}/assets/class_names.txt")
    vocab = _lines(f"{ptb_dir}/assets/vocab.txt")
    for name, kind, sig, inputs, expect in cases(seed, image_shape, len(vocab), state_width, vocab):
        print(f"START {name}", flush=True)
        tensors = {
            k: tf.constant(x, tf.string if x.dtype == object else None) for k, x in inputs.items()
        }
        try:
            outputs = served[kind].signatures[sig](**tensors)
            if kind == "cifar":
                wrong = _check_images(inputs, outputs, class_names)
            else:
                wrong = _check_ptb(sig, inputs, outputs, served[kind], vocab)
            outcome, message = ("ok", "") if wrong is None else (f"wrong: {wrong}", "")
        except Exception as e:  # noqa: BLE001 - every other exception is a finding
            lines = [line for line in str(e).split("\n") if "assertion failed" in line]
            outcome, message = type(e).__name__, (lines or str(e).split("\n"))[0][:300]
        record = {"name": name, "expect": expect, "outcome": outcome, "message": message}
        print(json.dumps(record), flush=True)


if __name__ == "__main__":
    run(sys.argv[1], sys.argv[2], int(sys.argv[3]), *json.loads(sys.argv[4]))

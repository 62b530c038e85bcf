"""CIFAR-10 loading: a safe reader for the official python-batch files, with a TFDS fallback."""

import dataclasses
import io
import os
import pickle
import re
from typing import Tuple

import numpy as np

__all__ = ["BATCH_DIR", "CIFAR10Data", "LABEL_NAMES", "load_cifar10", "read_batch_file"]

BATCH_DIR = "cifar-10-batches-py"
LABEL_NAMES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
MAX_BATCH_FILE_BYTES = 256 * 2**20
_TRAIN_FILE = re.compile(r"data_batch_(\d+)")
_HOW_TO_GET = (
    "Download cifar-10-python.tar.gz (https://www.cs.toronto.edu/~kriz/cifar.html) and extract "
    "it in {d}: that creates {d}/cifar-10-batches-py/ holding data_batch_1 ... data_batch_5, "
    "test_batch and batches.meta."
)


class _UnsafePickleError(ValueError):
    pass


def _latin1_bytes(text, encoding="latin1"):
    """What `_codecs.encode` does for pickles of protocol < 3 (Python 3 writes each `bytes`
    object as `_codecs.encode(str, "latin1")`), and nothing else: no other codec runs."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise _UnsafePickleError(f"a call _codecs.encode(..., {encoding!r:.40}), not latin-1 bytes")
    return text.encode("latin1")


def _empty_bytes(*args):
    """What `bytes()` is in pickles of protocol < 3: the empty `bytes`, nothing else (a
    `bytes(10**12)` would allocate a terabyte)."""
    if args:
        raise _UnsafePickleError("a call bytes(...) with arguments, not an empty bytes object")
    return b""


def _allowed_globals():
    """The only globals a CIFAR-10 batch pickle may name: numpy's array reconstruction
    (any pickle protocol 0-5), numpy scalars, and the latin-1 `bytes` of protocols 0-2."""
    reconstruct = np.zeros(1).__reduce__()[0]  # numpy(._)core.multiarray._reconstruct
    frombuffer = np.zeros(1).__reduce_ex__(5)[0]  # numpy(._)core.numeric._frombuffer
    scalar = np.int64(0).__reduce__()[0]  # numpy(._)core.multiarray.scalar
    allowed = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): _latin1_bytes,  # bytes in protocols 0-2 from Python 3
        ("__builtin__", "bytes"): _empty_bytes,  # b"" in protocols 0-2 (e.g. 0 images)
        ("builtins", "bytes"): _empty_bytes,
    }
    for core in ("numpy.core", "numpy._core"):  # numpy < 2 (and Python 2) / numpy >= 2 names.
        allowed[(f"{core}.multiarray", "_reconstruct")] = reconstruct  # Official files.
        allowed[(f"{core}.multiarray", "scalar")] = scalar
        allowed[(f"{core}.numeric", "_frombuffer")] = frombuffer  # Re-pickled with protocol 5.
    return allowed


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles plain data and numpy arrays; refuses every other global (no code runs)."""

    def __init__(self, file, path):
        super().__init__(file, encoding="bytes")
        self._path = path
        self._allowed = _allowed_globals()

    def find_class(self, module, name):
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise _UnsafePickleError(
                f"a pickled reference to {module}.{name}, which a CIFAR-10 batch file never holds"
            ) from None


def read_batch_file(path):
    """Reads one CIFAR-10 python-batch file without executing pickled code.

    The official files name only numpy's array reconstruction (`_reconstruct`, `ndarray`,
    `dtype`; plus `_frombuffer` if re-pickled with protocol 5, numpy `scalar`s, and
    `_codecs.encode(str, "latin1")` for the `bytes` of protocols 0-2 written by Python 3):
    only those may be referenced (`_codecs.encode` only with latin-1), and anything else
    (e.g. `os.system`) is refused before it is imported or called.

    Args:
        path: path of a `data_batch_*`, `test_batch` or `batches.meta` file.

    Returns:
        The unpickled object: for the official files, a dict with `bytes` keys.

    Raises:
        ValueError: if the pickle refers to any other global, or the file is corrupt or
            truncated.
    """
    size = os.path.getsize(path)
    if size > MAX_BATCH_FILE_BYTES:
        raise ValueError(
            f"{path} is not a CIFAR-10 batch file: it has {size} bytes (an official batch has "
            f"31 MB; at most {MAX_BATCH_FILE_BYTES} are read)."
        )
    with open(path, "rb") as f:  # From memory, a length field beyond the end fails at once.
        content = io.BytesIO(f.read())
    try:
        return _BatchUnpickler(content, path).load()
    except _UnsafePickleError as e:
        raise ValueError(f"{path} contains {e}; refusing to load it.") from None
    except Exception as e:  # noqa: BLE001  (a corrupt pickle fails in many ways; all are named)
        reason = " ".join(f"{type(e).__name__}: {e}".split())[:300]
        raise ValueError(
            f"{path} is not a readable CIFAR-10 batch file (corrupt or truncated?): {reason}"
        ) from e


def _parse_batch(batch, path):
    """Checks a batch dict and returns `(images (N, 32, 32, 3) uint8, labels (N,) int32)`."""
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        keys = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
        raise ValueError(
            f"{path} must hold a dict with keys b'data' and b'labels', as the "
            f"official CIFAR-10 batches do. Received: {keys}"
        )
    data = batch[b"data"]
    if isinstance(data, np.ndarray) and data.size == 0:
        raise ValueError(
            f"{path} holds no images: b'data' has shape {data.shape}; a CIFAR-10 batch "
            "holds N >= 1 rows of 3072 bytes."
        )
    if (
        not isinstance(data, np.ndarray)
        or data.dtype != np.uint8
        or data.ndim != 2
        or data.shape[1] != 3072
    ):
        raise ValueError(
            f"b'data' in {path} must be a uint8 array of shape (N, 3072). Received: "
            f"{type(data).__name__} with shape={getattr(data, 'shape', None)}, "
            f"dtype={getattr(data, 'dtype', None)}"
        )
    labels = np.asarray(batch[b"labels"])
    if (
        labels.shape != (len(data),)
        or not np.issubdtype(labels.dtype, np.integer)
        or (labels.size and (labels.min() < 0 or labels.max() > 9))
    ):
        raise ValueError(
            f"b'labels' in {path} must be {len(data)} integers in [0, 9] (one "
            f"per image). Received: shape={labels.shape}, dtype={labels.dtype}"
        )
    # Each row is channel-major: 1024 red, 1024 green, 1024 blue values, each row-major.
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)  # (N, 32, 32, 3)
    return np.ascontiguousarray(images), labels.astype(np.int32)


@dataclasses.dataclass(frozen=True, eq=False)
class CIFAR10Data:
    """The CIFAR-10 training and test images, in file order.

    Attributes:
        x_train: uint8 array `(N, 32, 32, 3)` (NHWC); N = 50,000 for the official set.
        y_train: int32 array `(N,)` of class ids in [0, 9].
        x_test: uint8 array `(M, 32, 32, 3)`; M = 10,000 for the official set.
        y_test: int32 array `(M,)`.
        label_names: tuple of the 10 class names; a class id is its index.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    label_names: Tuple[str, ...]


def _train_files(directory):
    if not os.path.isdir(directory):
        return []
    found = [
        (int(m.group(1)), m.group(0))
        for m in map(_TRAIN_FILE.fullmatch, os.listdir(directory))
        if m
    ]
    return [os.path.join(directory, name) for _, name in sorted(found)]


def _read_split(paths):
    parts = [_parse_batch(read_batch_file(p), p) for p in paths]
    x, y = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


def _read_label_names(directory):
    path = os.path.join(directory, "batches.meta")
    if not os.path.isfile(path):
        return LABEL_NAMES
    meta = read_batch_file(path)
    names = meta.get(b"label_names") if isinstance(meta, dict) else None
    if not isinstance(names, list) or len(names) != 10:
        raise ValueError(
            f"{path} must hold a dict whose b'label_names' is a list of 10 "
            f"class names. Received: {names!r}"
        )
    return tuple(n.decode("utf-8") if isinstance(n, bytes) else str(n) for n in names)


def _load_with_tfds(data_dir, download):
    """Loads CIFAR-10 through `tfds.load("cifar10")` (its own order; needs the network)."""
    import tensorflow_datasets as tfds  # Imported lazily: only this fallback needs it.

    train, test = tfds.load(
        "cifar10", split=["train", "test"], data_dir=data_dir, download=download, as_supervised=True
    )
    arrays = []
    for ds in (train, test):
        xs, ys = zip(*tfds.as_numpy(ds.batch(10000)))
        arrays += [np.concatenate(xs).astype(np.uint8), np.concatenate(ys).astype(np.int32)]
    for a in arrays:
        a.setflags(write=False)
    return CIFAR10Data(*arrays, label_names=LABEL_NAMES)


def load_cifar10(data_dir, download=True):
    """Loads CIFAR-10 from the official python batches, falling back to TFDS.

    Every `data_batch_<k>` present is read in order of k (the official set has 1..5), then
    `test_batch`; class names come from `batches.meta` when present. The pickles are read
    with `read_batch_file`, which refuses anything but plain data and numpy arrays. If the
    files are missing, `tfds.load("cifar10", data_dir=data_dir, download=download)` is
    tried (its image order differs from the official files').

    Args:
        data_dir: the `cifar-10-batches-py` directory, or the directory holding it.
        download: passed to `tfds.load`; if False, only an already prepared TFDS copy under
            `data_dir` is used and nothing is downloaded.

    Returns:
        A `CIFAR10Data` with read-only arrays.

    Raises:
        FileNotFoundError: if the batch files are missing and TFDS cannot provide the data.
        ValueError: if a file is corrupt, truncated, unsafe or has the wrong shapes.

    Example:

    >>> data = load_cifar10("/work/shared/data/cifar10", download=False)
    >>> data.x_train.shape, data.x_test.shape
    ((10000, 32, 32, 3), (5000, 32, 32, 3))
    """
    data_dir = os.fspath(data_dir)
    candidates = [data_dir, os.path.join(data_dir, BATCH_DIR)]
    # The first candidate holding any batch file is the batch directory.
    found = [
        d for d in candidates if _train_files(d) or os.path.isfile(os.path.join(d, "test_batch"))
    ]
    directory = found[0] if found else candidates[1]
    train_paths, test_path = _train_files(directory), os.path.join(directory, "test_batch")
    missing = ([] if train_paths else ["data_batch_1 ... data_batch_5"]) + (
        [] if os.path.isfile(test_path) else ["test_batch"]
    )
    if not missing:
        x_train, y_train = _read_split(train_paths)
        x_test, y_test = _read_split([test_path])
        return CIFAR10Data(x_train, y_train, x_test, y_test, _read_label_names(directory))
    try:
        return _load_with_tfds(data_dir, download)
    except Exception as e:  # Offline downloads fail in many ways; all are reported below.
        tfds_error = e
    is_batch_dir = os.path.basename(os.path.normpath(data_dir)) == BATCH_DIR
    parent = os.path.dirname(os.path.normpath(data_dir)) if is_batch_dir else data_dir
    raise FileNotFoundError(
        f"CIFAR-10 data not found: {' and '.join(missing)} missing in {directory} (the "
        f"fallback tfds.load('cifar10', download={download}) failed too: "
        f"{type(tfds_error).__name__}: {str(tfds_error)[:300]}). " + _HOW_TO_GET.format(d=parent)
    ) from tfds_error

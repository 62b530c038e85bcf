"""Tests for keras_enas.data.cifar10 (loading, safe unpickling) and cifar10_pipeline."""

import io
import os
import pickle
import pickletools
import struct
import warnings

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from keras_enas.data import cifar10
from keras_enas.data import cifar10_pipeline as pipeline

SOURCE_MEAN = [0.4915, 0.4814, 0.4452]  # cifar10/SOURCE.md, data_batch_1, pixels / 255.
SOURCE_STD = [0.2470, 0.2437, 0.2612]


@pytest.fixture(scope="module")
def real(shared_data):
    """The real CIFAR-10 subset (e2e tests only)."""
    return cifar10.load_cifar10(shared_data / "cifar10", download=False)


@pytest.fixture(scope="module")
def data(tiny_cifar10):
    """The generated CIFAR-10 set (tests/tiny_data.py): 1000 training, 300 test images."""
    return cifar10.load_cifar10(tiny_cifar10, download=False)


@pytest.fixture(scope="module")
def stats(data):
    return pipeline.standardizer(data.x_train)


def _write_batch(path, num_images, start=0, protocol=4, overrides=None):
    """Writes an official-format batch whose image i has every pixel = start + i."""
    values = np.arange(start, start + num_images, dtype=np.uint8)
    batch = {
        b"batch_label": b"test",
        b"data": np.repeat(values[:, None], 3072, axis=1),
        b"labels": [int(v) % 10 for v in values],
        b"filenames": [b"%d.png" % v for v in values],
    }
    batch.update(overrides or {})
    with open(path, "wb") as f:
        pickle.dump(batch, f, protocol=protocol)


def _write_set(directory, train_sizes=(6,), test_size=4):
    os.makedirs(directory, exist_ok=True)
    start = 0
    for k, size in enumerate(train_sizes, 1):
        _write_batch(os.path.join(directory, f"data_batch_{k}"), size, start)
        start += size
    if test_size:
        _write_batch(os.path.join(directory, "test_batch"), test_size, 100)


# --- Loading the real files ----------------------------------------------------------------


@pytest.mark.e2e
def test_real_subset_sizes_labels_and_balance(real):
    data = real
    assert data.x_train.shape == (10000, 32, 32, 3) and data.x_train.dtype == np.uint8
    assert data.x_test.shape == (5000, 32, 32, 3) and data.x_test.dtype == np.uint8
    assert data.y_train.dtype == np.int32 and data.y_test.dtype == np.int32
    np.testing.assert_array_equal(np.bincount(data.y_train), [1000] * 10)
    np.testing.assert_array_equal(np.bincount(data.y_test), [500] * 10)
    assert data.label_names == cifar10.LABEL_NAMES
    with pytest.raises(ValueError, match="read-only"):
        data.x_train[0, 0, 0, 0] = 1


@pytest.mark.e2e
def test_real_channel_statistics_match_source(real):
    data = real
    mean, std = pipeline.standardizer(data.x_train)
    assert mean.dtype == np.float32 and mean.shape == std.shape == (3,)
    np.testing.assert_allclose(mean, SOURCE_MEAN, atol=1e-3)
    np.testing.assert_allclose(std, SOURCE_STD, atol=1e-3)
    some = data.x_train[:300].astype(np.float64) / 255  # Direct computation on a few images.
    small_mean, small_std = pipeline.standardizer(data.x_train[:300])
    np.testing.assert_allclose(small_mean, some.mean(axis=(0, 1, 2)), rtol=1e-6)
    np.testing.assert_allclose(small_std, some.std(axis=(0, 1, 2)), rtol=1e-5)


@pytest.mark.e2e
def test_pixel_layout_matches_raw_file_bytes(real, shared_data):
    data = real
    path = shared_data / "cifar10" / cifar10.BATCH_DIR / "data_batch_1"
    raw = path.read_bytes()
    # The pickled uint8 array is one contiguous run of bytes: find image 0's first pixels.
    first = data.x_train[0].transpose(2, 0, 1).reshape(-1)  # Back to channel-major.
    base = raw.find(first[:64].tobytes())
    assert base > 0 and raw[base : base + 3072] == first.tobytes()
    i, row, col = 1234, 7, 21
    for channel in range(3):  # 1024 red, then 1024 green, then 1024 blue values, row-major.
        offset = base + i * 3072 + channel * 1024 + row * 32 + col
        assert data.x_train[i, row, col, channel] == raw[offset]


def test_accepts_batch_directory_or_its_parent_and_reads_every_batch(tmp_path):
    batch_dir = tmp_path / cifar10.BATCH_DIR
    _write_set(batch_dir, train_sizes=(3, 4, 5))
    for where in (tmp_path, batch_dir):
        d = cifar10.load_cifar10(where, download=False)
        # Batches in order 1, 2, 3: image i has every pixel equal to i.
        np.testing.assert_array_equal(d.x_train[:, 5, 9, 2], np.arange(12))
        np.testing.assert_array_equal(d.y_train, np.arange(12) % 10)
        np.testing.assert_array_equal(d.x_test[:, 0, 0, 0], np.arange(100, 104))
        assert d.label_names == cifar10.LABEL_NAMES  # No batches.meta: the standard names.


class _Python2Pickler(pickle._Pickler):
    """Writes bytes as Python 2 `str` (BINSTRING), as the official files were written."""

    dispatch = dict(pickle._Pickler.dispatch)

    def _save_str(self, obj):
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = _save_str


def test_python2_pickle_with_legacy_numpy_names_loads_without_warnings(tmp_path):
    buffer = io.BytesIO()
    batch = {b"data": np.arange(2 * 3072).astype(np.uint8).reshape(2, 3072), b"labels": [3, 9]}
    _Python2Pickler(buffer, protocol=2).dump(batch)
    legacy = buffer.getvalue().replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    assert b"cnumpy.core.multiarray\n_reconstruct\n" in legacy  # A GLOBAL opcode.
    ops = {op.name for op, _, _ in pickletools.genops(legacy)}
    assert {"GLOBAL", "BINSTRING", "SHORT_BINSTRING"} <= ops and b"_codecs" not in legacy
    path = tmp_path / "data_batch_1"
    path.write_bytes(legacy)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = cifar10.read_batch_file(path)
    np.testing.assert_array_equal(loaded[b"data"], batch[b"data"])
    assert loaded[b"labels"] == [3, 9]


# --- Unsafe, corrupt and malformed files ---------------------------------------------------


class _RunsShell:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def test_malicious_pickle_is_refused_without_running(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "data_batch_1"
    _write_set(tmp_path)
    payload = {b"data": _RunsShell(f"touch {marker}"), b"labels": []}
    path.write_bytes(pickle.dumps(payload))
    with pytest.raises(
        ValueError,
        match=r"pickled reference to (os|posix|nt)\.system, which "
        r"a CIFAR-10 batch file never holds; refusing",
    ):
        cifar10.read_batch_file(path)
    # The same payload written by hand with the `os` module name, protocol 0.
    path.write_bytes(b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR.")
    with pytest.raises(ValueError, match=r"reference to os\.system.*refusing to load it"):
        cifar10.load_cifar10(tmp_path, download=False)
    assert not marker.exists()


def test_other_globals_are_refused(tmp_path):
    path = tmp_path / "test_batch"
    path.write_bytes(pickle.dumps({b"data": np.zeros((1, 3072), np.uint8), b"x": eval}))
    with pytest.raises(ValueError, match=r"reference to builtins\.eval"):
        cifar10.read_batch_file(path)


def test_truncated_and_empty_files_give_clear_errors(tmp_path):
    _write_set(tmp_path)
    path = tmp_path / "data_batch_1"
    full = path.read_bytes()
    for content in (full[: len(full) // 2], full[:40], b""):
        path.write_bytes(content)
        with pytest.raises(
            ValueError,
            match=r"data_batch_1 is not a readable CIFAR-10 batch "
            r"file \(corrupt or truncated\?\)",
        ):
            cifar10.load_cifar10(tmp_path, download=False)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (
            {b"data": np.zeros((4, 100), np.uint8)},
            r"b'data' in .* must be a uint8 array of shape "
            r"\(N, 3072\)\. Received: .*shape=\(4, 100\)",
        ),
        ({b"data": np.zeros((4, 3072), np.float32)}, r"b'data' .*dtype=float32"),
        ({b"labels": [0, 1, 2]}, r"b'labels' in .* must be 4 integers in \[0, 9\]"),
        ({b"labels": [0, 1, 2, 10]}, r"b'labels' .* must be 4 integers in \[0, 9\]"),
    ],
)
def test_wrong_shapes_and_labels_give_clear_errors(tmp_path, overrides, message):
    _write_set(tmp_path, test_size=0)
    _write_batch(tmp_path / "test_batch", 4, overrides=overrides)
    with pytest.raises(ValueError, match=message):
        cifar10.load_cifar10(tmp_path, download=False)


def test_dict_without_data_or_labels_gives_clear_error(tmp_path):
    _write_set(tmp_path)
    (tmp_path / "test_batch").write_bytes(pickle.dumps({b"images": np.zeros(3, np.uint8)}))
    with pytest.raises(
        ValueError,
        match=r"must hold a dict with keys b'data' and b'labels'.*"
        r"Received: \[b'images'\]",
    ):
        cifar10.load_cifar10(tmp_path, download=False)
    (tmp_path / "test_batch").write_bytes(pickle.dumps([1, 2]))
    with pytest.raises(ValueError, match=r"Received: list"):
        cifar10.load_cifar10(tmp_path, download=False)


def test_missing_files_raise_one_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        cifar10.load_cifar10(tmp_path / "nowhere", download=False)
    message = str(info.value)
    assert "data_batch_1 ... data_batch_5 and test_batch missing in" in message
    assert os.path.join(str(tmp_path / "nowhere"), cifar10.BATCH_DIR) in message
    assert "tfds.load('cifar10', download=False) failed" in message
    assert "cifar-10-python.tar.gz" in message and "test_batch and batches.meta" in message
    _write_set(tmp_path / cifar10.BATCH_DIR, test_size=0)
    for where in (tmp_path, tmp_path / cifar10.BATCH_DIR):  # Either way: extract in tmp_path.
        with pytest.raises(
            FileNotFoundError,
            match=r"CIFAR-10 data not found: test_batch "
            r"missing",
        ) as info:
            cifar10.load_cifar10(where, download=False)
        assert f"extract it in {tmp_path}: that creates {tmp_path}/{cifar10.BATCH_DIR}/" in (
            str(info.value)
        )


def test_tfds_fallback_when_files_are_missing(tmp_path):
    with tfds.testing.mock_data(num_examples=12):
        d = cifar10.load_cifar10(tmp_path, download=False)
    assert d.x_train.shape == d.x_test.shape == (12, 32, 32, 3)
    assert d.x_train.dtype == np.uint8 and d.y_train.dtype == np.int32
    assert d.y_train.min() >= 0 and d.y_train.max() <= 9
    assert d.label_names == cifar10.LABEL_NAMES


# --- Splits, standardisation ---------------------------------------------------------------


def test_validation_split_is_the_last_images(data):
    n = len(data.x_train)
    (x_tr, y_tr), (x_va, y_va) = pipeline.split_validation(
        data.x_train, data.y_train, valid_fraction=0.1
    )
    assert len(x_tr) == len(y_tr) == n - n // 10 and len(x_va) == len(y_va) == n // 10
    np.testing.assert_array_equal(x_va, data.x_train[-(n // 10) :])
    np.testing.assert_array_equal(y_va, data.y_train[-(n // 10) :])
    np.testing.assert_array_equal(x_tr, data.x_train[: n - n // 10])
    (x_tr, _), (x_va, _) = pipeline.split_validation(data.x_train, data.y_train, n // 2)
    assert x_tr.shape[0] == x_va.shape[0] == n // 2 and np.shares_memory(x_va, data.x_train)
    (x_tr, _), (x_va, _) = pipeline.split_validation(data.x_train, data.y_train, num_valid=0)
    assert len(x_tr) == n and len(x_va) == 0


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({}, ValueError, r"Pass exactly one of `num_valid` and `valid_fraction`"),
        ({"num_valid": 5, "valid_fraction": 0.1}, ValueError, r"exactly one.*num_valid=5"),
        (
            {"num_valid": 10},
            ValueError,
            r"`num_valid` must be smaller than the number of images "
            r"\(10\)\. Received: num_valid=10",
        ),
        ({"num_valid": -1}, ValueError, r"`num_valid` must be >= 0\. Received: num_valid=-1"),
        ({"num_valid": 2.0}, TypeError, r"`num_valid` must be an int"),
        ({"valid_fraction": 1.0}, ValueError, r"`valid_fraction` must be in \[0, 1\)"),
        ({"valid_fraction": "0.1"}, TypeError, r"`valid_fraction` must be a float"),
    ],
)
def test_split_validation_errors(kwargs, error, message):
    x, y = np.zeros((10, 32, 32, 3), np.uint8), np.zeros(10, np.int32)
    with pytest.raises(error, match=message):
        pipeline.split_validation(x, y, **kwargs)
    with pytest.raises(ValueError, match=r"`y` must hold one label per image \(10\)"):
        pipeline.split_validation(x, y[:9], 1)


def test_standardisation_gives_zero_mean_unit_std_on_train(data):
    (x_tr, y_tr), (x_va, y_va) = pipeline.split_validation(
        data.x_train, data.y_train, valid_fraction=0.1
    )
    mean, std = pipeline.standardizer(x_tr)
    batches = list(pipeline.eval_dataset(x_tr, y_tr, 256, mean, std))
    images = np.concatenate([b[0].numpy() for b in batches]).astype(np.float64)
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), y_tr)
    np.testing.assert_allclose(images.mean(axis=(0, 1, 2)), 0.0, atol=1e-4)
    np.testing.assert_allclose(images.std(axis=(0, 1, 2)), 1.0, atol=1e-4)
    expected = (x_va[:7] / 255.0 - mean) / std  # Held-out images use the train statistics.
    first = next(iter(pipeline.eval_dataset(x_va, y_va, 7, mean, std)))[0].numpy()
    np.testing.assert_allclose(first, expected, atol=1e-5)


def test_eval_dataset_keeps_order_and_remainder(data, stats):
    ds = pipeline.eval_dataset(data.x_test[:250], data.y_test[:250], 100, *stats)
    assert ds.element_spec[0].shape.as_list() == [None, 32, 32, 3]
    batches = list(ds)
    assert [len(b[1]) for b in batches] == [100, 100, 50]
    assert batches[0][0].dtype == tf.float32 and batches[0][1].dtype == tf.int32
    np.testing.assert_array_equal(batches[2][1], data.y_test[200:250])


def test_standardizer_errors():
    with pytest.raises(TypeError, match=r"`x_train` must be a uint8 numpy array.*float32"):
        pipeline.standardizer(np.zeros((2, 32, 32, 3), np.float32))
    with pytest.raises(ValueError, match=r"`x_train` must have shape \(N, 32, 32, 3\)"):
        pipeline.standardizer(np.zeros((2, 3, 32, 32), np.uint8))
    with pytest.raises(ValueError, match=r"`x_train` must hold at least one image"):
        pipeline.standardizer(np.zeros((0, 32, 32, 3), np.uint8))


# --- Augmentation ----------------------------------------------------------------------------


def _standardised(data, stats, n=64):
    return pipeline.standardize(data.x_train[:n], *stats).numpy()


def test_crops_are_shifted_copies_of_the_padded_image_and_flips(data, stats):
    images = _standardised(data, stats)
    out = pipeline.augment_batch(tf.constant(images), tf.constant([3, 4])).numpy()
    assert out.shape == (64, 32, 32, 3) and out.dtype == np.float32
    padded = np.pad(images, [(0, 0), (4, 4), (4, 4), (0, 0)])
    found = []
    for image, result in zip(padded, out):
        matches = [
            (dy, dx, flip)
            for dy in range(9)
            for dx in range(9)
            for flip in (0, 1)
            if np.array_equal(result, image[dy : dy + 32, dx : dx + 32][:, :: -1 if flip else 1])
        ]
        assert len(matches) == 1  # Exactly one shift (and flip) of the padded image.
        found.append(matches[0])
    offsets, flips, _ = pipeline.augment_params(tf.constant([3, 4]), 64)
    np.testing.assert_array_equal([m[:2] for m in found], offsets)
    np.testing.assert_array_equal([m[2] for m in found], flips)
    assert len({m[:2] for m in found}) > 20 and 10 < sum(m[2] for m in found) < 54
    assert {m[0] for m in found} == set(range(9))  # Shifts span the whole [0, 8] range.


def test_cutout_zeroes_a_clipped_square(data, stats):
    images, seed, size = tf.constant(_standardised(data, stats)), tf.constant([5, 6]), 16
    plain = pipeline.augment_batch(images, seed).numpy()
    cut = pipeline.augment_batch(images, seed, cutout=size).numpy()
    _, _, corners = pipeline.augment_params(seed, 64)
    clipped = 0
    for before, after, (top, left) in zip(plain, cut, corners.numpy()):
        square = np.zeros((32, 32), bool)
        square[top : top + size, left : left + size] = True  # Clipped at the border.
        assert square.sum() == min(size, 32 - top) * min(size, 32 - left)
        clipped += square.sum() < size * size
        np.testing.assert_array_equal(after[square], 0.0)
        np.testing.assert_array_equal(after[~square], before[~square])
    assert 0 < clipped < 64
    assert corners.numpy().min() >= 0 and corners.numpy().max() <= 31


def _synthetic(n=50):
    """Image i has every pixel = 10 + i and label i, so a batch tells which images it holds."""
    x = np.broadcast_to((10 + np.arange(n, dtype=np.uint8))[:, None, None, None], (n, 32, 32, 3))
    return np.ascontiguousarray(x), np.arange(n)


def _ids(images):
    # The centre pixel is never padding (shifts are <= 4 px) nor cut out when cutout=0.
    return np.round(images[:, 16, 16, 0] * 4).astype(int)


def test_train_dataset_epochs_shapes_and_labels():
    x, y = _synthetic()
    ds = pipeline.train_dataset(x, y, 8, [0.0] * 3, [4 / 255] * 3, seed=1)
    # With mean 0 and std 4/255, a standardised pixel is (10 + i) / 4.
    assert ds.cardinality().numpy() == 6
    assert ds.element_spec[0].shape.as_list() == [8, 32, 32, 3]
    assert ds.element_spec[1].dtype == tf.int32
    for _ in range(2):  # Each iteration is one epoch, without repetition.
        batches = list(ds)
        assert len(batches) == 6
        ids = np.concatenate([_ids(b[0].numpy()) - 10 for b in batches])
        labels = np.concatenate([b[1].numpy() for b in batches])
        np.testing.assert_array_equal(ids, labels)  # Labels travel with their images.
        assert len(set(ids)) == 48 and not np.array_equal(ids, np.sort(ids))
    ordered = pipeline.train_dataset(x, y, 8, [0.0] * 3, [4 / 255] * 3, seed=1, shuffle=False)
    np.testing.assert_array_equal(np.concatenate([b[1] for b in ordered]), np.arange(48))


def _epochs(seed, num_epochs=2, cutout=8):
    x, y = _synthetic()
    ds = pipeline.train_dataset(x, y, 16, [0.5] * 3, [0.25] * 3, seed=seed, cutout=cutout)
    return [np.concatenate([b[0].numpy() for b in ds]) for _ in range(num_epochs)]


def test_train_dataset_is_deterministic_given_the_seed():
    first, second = _epochs(seed=7), _epochs(seed=7)
    for a, b in zip(first, second):  # Epoch e of two datasets built with one seed agree.
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], first[1])  # Epochs differ from each other.
    assert not np.array_equal(first[0], _epochs(seed=8, num_epochs=1)[0])
    assert np.any(first[0] == 0.0)  # Cutout zeroes pixels that are never 0 otherwise.


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"x": np.zeros((4, 32, 32, 3), np.float32)}, TypeError, r"`x` must be a uint8 numpy"),
        ({"x": np.zeros((4, 32, 32), np.uint8)}, ValueError, r"`x` must have shape"),
        ({"y": np.zeros(3)}, ValueError, r"`y` must hold one label per image, shape \(4,\)"),
        (
            {"batch_size": 0},
            ValueError,
            r"`batch_size` must be in \[1, 4\]. Received: batch_size=0",
        ),
        ({"batch_size": 5}, ValueError, r"`batch_size` must be in \[1, 4\]"),
        ({"seed": True}, TypeError, r"`seed` must be an int. Received: seed=True"),
        ({"cutout": 33}, ValueError, r"`cutout` must be in \[0, 32\]. Received: cutout=33"),
        ({"std": [1.0, 0.0, 1.0]}, ValueError, r"`mean` and `std` must be 3 per-channel values"),
        ({"mean": [0.5, 0.5]}, ValueError, r"`mean` and `std` must be 3 per-channel values"),
    ],
)
def test_train_dataset_errors(kwargs, error, message):
    args = {
        "x": np.zeros((4, 32, 32, 3), np.uint8),
        "y": np.zeros(4),
        "batch_size": 2,
        "mean": [0.5] * 3,
        "std": [0.25] * 3,
        "seed": 0,
        **kwargs,
    }
    with pytest.raises(error, match=message):
        pipeline.train_dataset(**args)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"x": [[0] * 3] * 4}, TypeError, r"`x` must be a uint8 numpy array.*Received: list"),
        ({"y": np.zeros(5)}, ValueError, r"`y` must hold one label per image, shape \(4,\)"),
        ({"batch_size": 0}, ValueError, r"`batch_size` must be >= 1. Received: batch_size=0"),
        ({"batch_size": 2.0}, TypeError, r"`batch_size` must be an int"),
        ({"std": [0.2, 0.2, -1.0]}, ValueError, r"`mean` and `std` must be 3 per-channel values"),
    ],
)
def test_eval_dataset_errors(kwargs, error, message):
    args = {
        "x": np.zeros((4, 32, 32, 3), np.uint8),
        "y": np.zeros(4),
        "batch_size": 100,
        "mean": [0.5] * 3,
        "std": [0.25] * 3,
        **kwargs,
    }
    with pytest.raises(error, match=message):
        pipeline.eval_dataset(**args)

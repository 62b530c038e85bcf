"""Issue 11, faults 9 and 11: bad workdirs, data files and config files end in one line
naming the file, and a PTB download is kept only if its checksum is the standard file's."""

import errno
import hashlib
import pickle
import shutil
from unittest import mock

import numpy as np
import pytest

from keras_enas.data import cifar10, ptb
from keras_enas.programs import common
from keras_enas.run import workdir

CONFIG = {"child": {"num_nodes": 3}, "workdir": "w"}


def _one_line(error):
    assert "\n" not in str(error.value), str(error.value)
    return str(error.value)


# --- --workdir ------------------------------------------------------------------------------


def test_workdir_that_is_a_file(tmp_path):
    path = tmp_path / "run"
    path.write_text("not a directory")
    with pytest.raises(ValueError, match=r"`--workdir` must be a directory") as error:
        workdir.prepare(str(path), CONFIG)
    assert str(path) in _one_line(error)
    assert path.read_text() == "not a directory"


@pytest.mark.parametrize(
    "code, reason",
    [(errno.ENOSPC, "No space left on device"), (errno.EROFS, "Read-only file system")],
)
def test_workdir_on_a_full_or_read_only_file_system(tmp_path, code, reason):
    # Root ignores permissions and no small file system can be mounted here: the OSError
    # a full or read-only file system raises is injected where the workdir is written.
    failing = mock.Mock(side_effect=OSError(code, reason))
    with mock.patch.object(workdir, "open", failing, create=True):
        with pytest.raises(ValueError, match=rf"Cannot write in --workdir=.*{reason}") as error:
            workdir.prepare(str(tmp_path / "run"), CONFIG)
    _one_line(error)
    # The probe passes but the disk fills while config.json is written.
    with mock.patch.object(workdir, "write_json", failing):
        with pytest.raises(ValueError, match=rf"Cannot write .*config\.json: {reason}"):
            workdir.prepare(str(tmp_path / "run"), CONFIG)


def test_a_disk_error_during_a_run_is_one_line(capsys):
    def run(argv):
        raise OSError(errno.ENOSPC, "No space left on device", "/runs/x/log.jsonl")

    assert common._run_reporting_disk_errors(run, ["prog"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "error: No space left on device (errno 28): /runs/x/log.jsonl." in err


def test_a_full_disk_under_tensorflow_is_one_line(capsys):
    import tensorflow as tf

    def run(argv):
        raise tf.errors.ResourceExhaustedError(
            None, None, "ckpt-3_temp/part-0.data; No space left on device\n\tsome detail"
        )

    def bug(argv):
        raise tf.errors.InvalidArgumentError(None, None, "a bug, not the disk")

    assert common._run_reporting_disk_errors(run, ["prog"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error: No space left on device. Files already" in err
    with pytest.raises(tf.errors.InvalidArgumentError):  # other errors are not hidden
        common._run_reporting_disk_errors(bug, ["prog"])


# --- config.json ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content, message",
    [
        (b'{"child": ', r"config\.json is not valid JSON: Expecting value"),
        (b"[1, 2, 3]", r"config\.json must hold a JSON object. Received: a JSON list"),
        (b'{"a": "\xff\xfe"}', r"config\.json is not valid JSON: not UTF-8"),
    ],
)
def test_corrupt_config_json_is_named(tmp_path, content, message):
    (tmp_path / "config.json").write_bytes(content)
    with pytest.raises(ValueError, match=message) as error:
        workdir.prepare(str(tmp_path), CONFIG)
    assert str(tmp_path / "config.json") in _one_line(error)
    assert (tmp_path / "config.json").read_bytes() == content  # nothing overwritten


# --- PTB text files -------------------------------------------------------------------------


def _ptb_dir(tmp_path, train=b"a b c\nb c a\n", valid=b"a b\n", test=b"c a\n"):
    for split, text in zip(ptb.SPLITS, (train, valid, test)):
        (tmp_path / f"ptb.{split}.txt").write_bytes(text)
    return tmp_path


def test_empty_ptb_file_is_named(tmp_path):
    _ptb_dir(tmp_path, valid=b"")
    with pytest.raises(ValueError, match=r"ptb\.valid\.txt is empty") as error:
        ptb.load_ptb(tmp_path, download=False)
    assert "Word ''" not in _one_line(error)
    _ptb_dir(tmp_path, train=b" \n\n")
    with pytest.raises(ValueError, match=r"ptb\.train\.txt is empty"):
        ptb.load_ptb(tmp_path, download=False)


def test_non_utf8_ptb_file_is_named(tmp_path):
    _ptb_dir(tmp_path, test=b"a \xff b\n")
    with pytest.raises(ValueError, match=r"ptb\.test\.txt is not a PTB text file: not UTF-8"):
        ptb.load_ptb(tmp_path, download=False)


def test_one_line_ptb_files_and_huge_bptt_name_the_file_and_flags(tmp_path, tiny_ptb):
    data = ptb.load_ptb(_ptb_dir(tmp_path, train=b" a b c a b \n"), download=False)
    with pytest.raises(ValueError, match=r"ptb\.train\.txt has 6 tokens, fewer than one") as e:
        data.require_minibatch("train", 64, 35, ("--child_batch_size", "--child_bptt"))
    assert "--child_batch_size=64 rows x (--child_bptt=35 + 1) = 2304 tokens" in _one_line(e)
    tiny = ptb.load_ptb(tiny_ptb, download=False)
    with pytest.raises(ValueError, match=rf"ptb\.valid\.txt has {len(tiny.valid)} tokens.*bptt="):
        tiny.require_minibatch("valid", 64, 1000000, ("--child_eval_batch_size", "--child_bptt"))
    tiny.require_minibatch("valid", 2, 3)  # a setting that fits


# --- PTB download checksums (fault 11) ------------------------------------------------------


def _serve_and_download(source, target, sums):
    """`load_ptb(target)` with the files of `source` served from a file:// URL."""
    with (
        mock.patch.object(ptb, "DOWNLOAD_URL", source.as_uri() + "/"),
        mock.patch.dict(ptb.SHA256, sums),
    ):
        return ptb.load_ptb(target)


def test_tampered_download_is_refused_and_not_written(tmp_path, tiny_ptb):
    served = tmp_path / "served"
    shutil.copytree(tiny_ptb, served)
    sums = {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in served.iterdir()}
    with open(served / "ptb.valid.txt", "a") as f:
        f.write(" tampered \n")
    target = tmp_path / "data"
    with pytest.raises(FileNotFoundError, match=r"checksum mismatch \(SHA-256 [0-9a-f]{64}") as e:
        _serve_and_download(served, target, sums)
    assert "ptb.valid.txt" in _one_line(e)
    assert not (target / "ptb.valid.txt").exists()
    shutil.copy(tiny_ptb / "ptb.valid.txt", served / "ptb.valid.txt")
    data = _serve_and_download(served, target, sums)  # intact files are kept
    assert len(data.valid) == len(ptb.load_ptb(tiny_ptb, download=False).valid)


@pytest.mark.e2e
def test_standard_checksums_are_those_of_the_real_files(tmp_path, shared_data):
    # Served from file://, the standard files pass with the shipped SHA256 table.
    data = _serve_and_download(shared_data / "ptb", tmp_path / "data", {})
    assert (data.vocab_size, len(data.valid)) == (10000, 73760)


# --- CIFAR-10 batches -----------------------------------------------------------------------


def _batch(num_images):
    return {
        b"batch_label": b"training batch 1 of 5",
        b"data": np.full((num_images, 3072), 7, np.uint8),
        b"labels": [3] * num_images,
        b"filenames": [b"x.png"] * num_images,
    }


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_cifar_batch_of_every_pickle_protocol_is_read(tmp_path, protocol):
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps(_batch(3), protocol=protocol))
    images, labels = cifar10._parse_batch(cifar10.read_batch_file(path), path)
    assert images.shape == (3, 32, 32, 3) and labels.tolist() == [3, 3, 3]


def test_zero_cifar_images_are_reported_as_no_images(tmp_path):
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps(_batch(0), protocol=2))
    with pytest.raises(ValueError, match=r"data_batch_1 holds no images") as error:
        cifar10._parse_batch(cifar10.read_batch_file(path), path)
    assert "labels" not in _one_line(error)


class _Call:
    def __init__(self, function, *args):
        self.call = (function, args)

    def __reduce__(self):
        return self.call


@pytest.mark.parametrize(
    "payload, message",
    [
        (_Call(__import__("codecs").encode, "abc", "rot13"), r"_codecs\.encode\(\.\.\., 'rot13'"),
        (_Call(bytes, 10**12), r"bytes\(\.\.\.\) with arguments"),
    ],
)
def test_protocol_2_helpers_stay_safe(tmp_path, payload, message):
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({b"data": payload}, protocol=2))
    with pytest.raises(ValueError, match=message):
        cifar10.read_batch_file(path)

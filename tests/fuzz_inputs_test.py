"""Issue 11 fuzz test: >= 1,000 generated bad inputs through the programs' entry points.

Every case is made invalid on purpose (a valid arc, file or flag value corrupted in one
known way), pushed in-process through the path the programs take — `infer_space` +
`parse` (show_arc, draw_arc, train_*'s --fixed_arc), `records.read_architecture`
(--arc_file), absl flag parsing + `cli.config_from_flags` (every program's flags),
`load_ptb` + `require_minibatch` and `load_cifar10` (the data) — and must end in the
documented one-line error: a ValueError (a FileNotFoundError for missing files), or absl's
flag error, which `app.run` prints as a usage error. Never another exception type, never a
hang (each case has a 5 s alarm) and never a memory blowup (peak RSS growth is bounded).
Serving requests are fuzzed by the export tests (helper `export`).
"""

import json
import pickle
import resource
import signal
import string

import numpy as np
import pytest
from absl import flags

from keras_enas import cli
from keras_enas.config.cifar import CIFARFinalConfig, CIFARSearchConfig
from keras_enas.config.ptb import PTBSearchConfig
from keras_enas.config.ptb_final import PTBFinalConfig
from keras_enas.config.rank import RankCorrelationConfig
from keras_enas.data import cifar10, ptb
from keras_enas.run import records
from keras_enas.search_spaces import get_space, infer

SEED = 20261205
VALID = {  # one valid arc per space, and its size
    "ptb_rnn": ("0 0 1 1 0 2 2 3", {"num_nodes": 5, "arc_format": "enas_lm"}),
    "macro": ("0 3 1 2 0 1", {"num_layers": 3}),
    "micro": ("0 2 1 0 1 1 1 4", {"num_nodes": 1}),
}


class _Hang(Exception):
    pass


class Fuzzer:
    """Runs cases, counts them per category, and records every wrong outcome."""

    def __init__(self):
        self.counts, self.failures = {}, []

    def case(self, category, label, function, expected=(ValueError,)):
        self.counts[category] = self.counts.get(category, 0) + 1
        signal.setitimer(signal.ITIMER_REAL, 5.0)
        try:
            function()
        except _Hang:
            self.failures.append(f"{category} {label}: still running after 5 s")
        except expected as e:
            if "\n" in str(e).strip() or not str(e).strip():
                self.failures.append(f"{category} {label}: not one line: {str(e)[:300]!r}")
        except BaseException as e:  # noqa: BLE001  (any other type is the failure we look for)
            self.failures.append(f"{category} {label}: {type(e).__name__}: {str(e)[:200]}")
        else:
            self.failures.append(f"{category} {label}: accepted")
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)


@pytest.fixture
def fuzzer():
    def on_alarm(signum, frame):
        raise _Hang()

    previous = signal.signal(signal.SIGALRM, on_alarm)
    yield Fuzzer()
    signal.signal(signal.SIGALRM, previous)


def _bad_arcs(rng, arc):
    """Corruptions of a valid arc string, each invalid by construction."""
    tokens = arc.split()
    junk = ["x", "1.5", "", "-", "0x1", "1e3", "\x00", "None", "[1]", "3 ."]
    out = []
    for _ in range(20):
        t = list(tokens)
        t[rng.integers(len(t))] = str(int(rng.integers(50, 10**12)))  # out of range
        out.append(t)
        t = list(tokens)
        t[rng.integers(len(t))] = str(-int(rng.integers(1, 10**6)))  # negative
        out.append(t)
        t = list(tokens)
        t[rng.integers(len(t))] = str(rng.choice(junk)) or "?"  # not an integer
        out.append(t)
        n = int(rng.integers(0, 4 * len(tokens)))
        if n != len(tokens):  # wrong length (the length may fit a size: then a token fails)
            out.append([str(v) for v in rng.integers(20, 99, n)])
    out += [[], ["9"] * 100_000, ["1"] * 2_000_001, [" "], ["\t\n"]]
    return [" ".join(t) for t in out]


def test_fuzz_every_entry_point(fuzzer, tmp_path, capsys):
    rng = np.random.default_rng(SEED)
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    _fuzz_arc_strings(fuzzer, rng)
    _fuzz_arc_files(fuzzer, rng, tmp_path / "arcs")
    _fuzz_flags(fuzzer, rng)
    _fuzz_ptb_files(fuzzer, rng, tmp_path / "ptb")
    _fuzz_cifar_files(fuzzer, rng, tmp_path / "cifar")
    growth_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before) / 1024
    with capsys.disabled():
        print(f"\nfuzz cases per category: {fuzzer.counts}, total {sum(fuzzer.counts.values())}")
        print(f"fuzz peak RSS growth: {growth_mb:.0f} MB")
    assert not fuzzer.failures, "\n".join(fuzzer.failures[:30])
    assert sum(fuzzer.counts.values()) >= 1000
    assert min(fuzzer.counts.values()) >= 100
    assert growth_mb < 1024


def _fuzz_arc_strings(fuzzer, rng):
    for name, (arc, sizes) in VALID.items():
        space = get_space(name, **sizes)
        assert space.decode(space.parse(arc))  # the uncorrupted arc is valid
        for i, bad in enumerate(_bad_arcs(rng, arc)):
            # Sizes inferred from the length (show_arc's default), or given (a size flag).
            fuzzer.case("arc_strings", f"{name} #{i}", lambda name=name, bad=bad: _show(name, bad))
            fuzzer.case(
                "arc_strings",
                f"{name} #{i} sized",
                lambda name=name, bad=bad, sizes=sizes: _show(name, bad, sizes),
            )
        for size in (0, -1, 10**9, 10**18, 2**63):
            key = "num_layers" if name == "macro" else "num_nodes"
            fuzzer.case(
                "arc_strings",
                f"{name} {key}={size}",
                lambda name=name, arc=arc, s={key: size}: _show(name, arc, s),
            )


def _show(name, arc, sizes=None):
    """What show_arc does with --search_space, --fixed_arc and the size flags."""
    space = infer.infer_space(name, arc, **(sizes or {}))
    return str(space.decode(space.parse(arc)))


def _record_variants(rng):
    """best_architecture.json contents, each invalid: wrong types, huge sizes, missing keys."""
    arc, sizes = VALID["macro"]
    good = {"search_space": "macro", "space_config": sizes, "arc": arc}
    odd = [None, True, 1.5, -3, "", "x" * 1000, [], {}, [1, 2], {"a": 1}, 10**30, float("nan")]
    out = []
    for key in good:
        out.append({k: v for k, v in good.items() if k != key})  # missing key
        out += [{**good, key: value} for value in odd]  # wrong type
    for name, (arc, sizes) in VALID.items():
        key = next(iter(sizes))
        for value in (0, -5, 10**8, 10**9, 1e9, 2**62, "12", [12], None, 3.5):
            out.append({"search_space": name, "space_config": {key: value}, "arc": arc})
        out.append({"search_space": name, "space_config": {**sizes, "extra": 1}, "arc": arc})
        out += [
            {"search_space": name, "space_config": sizes, "arc": bad}
            for bad in _bad_arcs(rng, arc)[:25]
        ]
    return out


def _fuzz_arc_files(fuzzer, rng, directory):
    directory.mkdir()
    path = directory / "best_architecture.json"
    contents = [json.dumps(r).encode() for r in _record_variants(rng)]
    valid = json.dumps(
        {"search_space": "macro", "space_config": {"num_layers": 3}, "arc": "0 3 1 2 0 1"}
    )
    contents += [valid[:n].encode() for n in range(0, len(valid) - 1, 3)]  # truncated
    contents += [
        bytes(rng.integers(0, 256, int(rng.integers(1, 400)), dtype=np.uint8)) for _ in range(40)
    ]
    contents += [b"[" * 100_000, b"[]", b"null", b"3", b'"macro"', valid.encode() + b"\xff"]
    contents += [b"\xef\xbb\xbf" + valid.encode()[:-1]]  # BOM and truncated
    for i, content in enumerate(contents):
        path.write_bytes(content)
        fuzzer.case("arc_files", f"#{i} {content[:60]!r}", lambda: records.read_architecture(path))


PROGRAMS = {
    "search_ptb": PTBSearchConfig,
    "search_cifar10": CIFARSearchConfig,
    "train_cifar10": CIFARFinalConfig,
    "train_ptb": PTBFinalConfig,
    "rank_correlation": RankCorrelationConfig,
}


def _bad_values(flag, rng):
    """Values of one flag that its bounds, type or choices refuse."""
    upper, lower = (
        getattr(flag.parser, "upper_bound", None),
        getattr(flag.parser, "lower_bound", None),
    )
    if isinstance(flag, flags.EnumFlag) or getattr(flag.parser, "enum_values", None):
        return ["", "nope", "MACRO", "0", "enas lm"]
    if isinstance(flag.default, bool) or flag.flag_type() == "bool":
        return None  # absl parses any --flag/--noflag; values are checked by absl itself
    if flag.flag_type() in ("int", "float"):
        values = ["abc", "", "1e", "--1", "0x", "1,5"]
        if upper is not None:
            values += [str(upper + 1), str(upper * 10**6)]
        if lower is not None:
            values += [str(lower - 1), str(lower - 10**9)]
        if flag.flag_type() == "int":
            values += ["1.5", "1e9"]
        else:
            values += ["nan", "inf", "-inf"]
        return values
    return None


def _fuzz_flags(fuzzer, rng):
    for program, config_cls in PROGRAMS.items():
        values = flags.FlagValues()
        cli.define_flags(config_cls, values)
        required = ["--fixed_arc=0 1 2"] if config_cls is CIFARFinalConfig else []
        for name in sorted(values):
            bad = _bad_values(values[name], rng)
            for value in bad or []:
                argv = ["prog", *required, f"--{name}={value}"]
                fuzzer.case(
                    "flags",
                    f"{program} --{name}={value!r}",
                    lambda c=config_cls, v=values, a=argv: _config(c, v, a),
                    expected=(ValueError, flags.Error),
                )
        # Values in bounds one by one, refused together (the PTB shared-cell budget).
        if config_cls is PTBSearchConfig:
            for n in range(16, 33):
                argv = ["prog", f"--child_num_nodes={n}", "--child_hidden_size=4096"]
                fuzzer.case(
                    "flags",
                    f"{program} budget N={n}",
                    lambda c=config_cls, v=values, a=argv: _config(c, v, a),
                )


def _config(config_cls, values, argv):
    """The programs' flag -> config path: absl parsing, then `cli.config_from_flags`."""
    values.unparse_flags()
    values(argv)
    return cli.config_from_flags(config_cls, values)


def _ptb_variants(rng):
    """(train, valid, test) byte contents; each set fails to load or to give a minibatch."""
    words = [w.encode() for w in ("the", "cat", "sat", "on", "a", "mat")]
    line = b" " + b" ".join(words) + b" \n"
    big = line * 200  # ~1,400 tokens: fits 4 x 36 and the tests' batches, not 64 x 36
    out = [
        (b"", line, line),
        (line, b"", line),
        (line, line, b""),
        (b"   \n\n", line, line),
        (line, b"\n", line),
        (line, b" unknownword \n", line),
        (line, line, b" the dog \n"),
        (line, line, line),  # one line each: too short for a minibatch
        (big, line, line),
        (big, big, b" \xff\xfe \n"),
        (b"\x80" + big, big, big),
        (big, big[:-5] + b"\xc3", big),
    ]
    for _ in range(140):
        choice = int(rng.integers(3))
        garbage = bytes(rng.integers(0, 256, int(rng.integers(1, 300)), dtype=np.uint8))
        texts = [big, big, big]
        if choice == 0:  # random bytes in one split
            texts[int(rng.integers(3))] = garbage
        elif choice == 1:  # a word the training split lacks
            texts[1 + int(rng.integers(2))] = (
                big + b" " + "".join(rng.choice(list(string.ascii_lowercase), 12)).encode() + b" \n"
            )
        else:  # all fine but too short for the requested minibatch
            texts = [line * int(rng.integers(1, 4))] * 3
        out.append(tuple(texts))
    return out


def _fuzz_ptb_files(fuzzer, rng, directory):
    directory.mkdir()
    for i, texts in enumerate(_ptb_variants(rng)):
        for split, text in zip(ptb.SPLITS, texts):
            (directory / f"ptb.{split}.txt").write_bytes(text)
        fuzzer.case("ptb_files", f"ptb #{i}", lambda: _load_ptb_like_search_ptb(directory))
    fuzzer.case(
        "ptb_files",
        "ptb missing",
        lambda: ptb.load_ptb(directory / "none", download=False),
        expected=(FileNotFoundError,),
    )


def _load_ptb_like_search_ptb(directory):
    data = ptb.load_ptb(directory, download=False)
    data.require_minibatch("train", 64, 35, ("--child_batch_size", "--child_bptt"))
    data.require_minibatch("valid", 64, 35, ("--child_eval_batch_size", "--child_bptt"))


class _Evil:
    def __init__(self, call):
        self.call = call

    def __reduce__(self):
        return self.call


def _cifar_variants(rng):
    """Pickled batch files, each refused: corrupt, unsafe, wrong shapes, types or labels."""
    n = 4
    good = {
        b"data": np.zeros((n, 3072), np.uint8),
        b"labels": [1] * n,
        b"batch_label": b"x",
        b"filenames": [b"a.png"] * n,
    }
    out = []
    variants = [
        {b"data": np.zeros((0, 3072), np.uint8), b"labels": []},
        {b"data": np.zeros((n, 3071), np.uint8)},
        {b"data": np.zeros((n, 3072), np.float32)},
        {b"data": np.zeros((n, 32, 32, 3), np.uint8)},
        {b"data": [[0] * 3072] * n},
        {b"data": "images"},
        {b"labels": [10] * n},
        {b"labels": [-1] * n},
        {b"labels": [1] * (n + 1)},
        {b"labels": ["a"] * n},
        {b"labels": [1.5] * n},
        {b"labels": None},
    ]
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        for change in variants:
            out.append(pickle.dumps({**good, **change}, protocol=protocol))
        out.append(pickle.dumps([good], protocol=protocol))
        out.append(pickle.dumps({b"labels": [1]}, protocol=protocol))
        for call in (
            (__import__("os").system, ("true",)),
            (eval, ("1",)),
            (__import__("codecs").encode, ("x", "rot13")),
            (bytes, (10**12,)),
            (np.ones, ((10**6, 10**6),)),
        ):
            out.append(pickle.dumps({b"data": _Evil(call), b"labels": []}, protocol=protocol))
    valid = pickle.dumps(good, protocol=2)
    out += [valid[:k] for k in range(0, len(valid), max(1, len(valid) // 25))]  # truncated
    out += [
        bytes(rng.integers(0, 256, int(rng.integers(1, 500)), dtype=np.uint8)) for _ in range(40)
    ]
    return out


def _fuzz_cifar_files(fuzzer, rng, directory):
    directory.mkdir()
    good = pickle.dumps({b"data": np.zeros((4, 3072), np.uint8), b"labels": [1] * 4}, protocol=2)
    (directory / "test_batch").write_bytes(good)
    for i, content in enumerate(_cifar_variants(rng)):
        (directory / "data_batch_1").write_bytes(content)
        fuzzer.case(
            "cifar_files", f"cifar #{i}", lambda: cifar10.load_cifar10(directory, download=False)
        )

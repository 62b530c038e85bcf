"""Checks BUILD is truthful (one target per file, deps == imports), and checks tools/gen_build.py.

The checker is independent of the generator: it resolves imports through a table of dotted module
names, where the generator probes paths."""

import ast
import pathlib
import re
import subprocess
import sys
import tempfile

from absl.testing import absltest

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _label(src):
    parts = src.removesuffix(".py").split("/")
    return "_".join("init" if p == "__init__" else p for p in parts)


def _expected_kinds(root):
    kinds = {f"bin/{p.name}": "py_binary" for p in (root / "bin").glob("*") if p.is_file()}
    for top in ("keras_enas", "tests", "tools", "benchmarks"):
        for path in (root / top).rglob("*.py"):
            src = path.relative_to(root).as_posix()
            if top in ("tools", "benchmarks"):  # programs have a __main__ guard; helpers not
                runs = 'if __name__ == "__main__":' in path.read_text()
                kinds[src] = "py_binary" if runs else "py_library"
            else:
                kinds[src] = "py_test" if src.endswith("_test.py") else "py_library"
    return kinds


def _module_names(root, kinds):
    """Maps (scope, dotted name) -> file or None (namespace dir); scope "" is the repo root."""
    names = {}
    for src in kinds:
        if src.startswith("bin/") and not src.endswith(".py"):
            continue
        parts = src.removesuffix(".py").removesuffix("/__init__").split("/")
        for i in range(1, len(parts)):
            names.setdefault(("", ".".join(parts[:i])), None)
        names[("", ".".join(parts))] = src
        parent = "/".join(parts[:-1])
        if not (root / parent / "__init__.py").exists():  # a script dir is on its import path
            names[(parent, parts[-1])] = src
    return names


def _requirements(root):
    dists = {}
    for fname in ("requirements.txt", "requirements-dev.txt"):
        path = root / fname
        for line in path.read_text().splitlines() if path.exists() else []:
            dist = re.split(r"[\s<>=!~;\[#]", line.strip(), maxsplit=1)[0]
            if dist:
                key = dist.lower().replace("-", "_")
                dists[key[:-3] if key.endswith("_py") else key] = dist
    return dists


def _imported_names(src, tree):
    """Yields (lineno, [dotted names, most specific first], name that the last must define)."""
    package = src.split("/")[:-1]  # the package a module (or __init__.py) belongs to
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, [alias.name], None
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                prefix = package[: len(package) - (node.level - 1)]
                base = ".".join(prefix + ([node.module] if node.module else []))
            for a in node.names:  # `from m import n`: the submodule m.n, else a name n in m
                names = [base] if a.name == "*" else [f"{base}.{a.name}".lstrip("."), base]
                yield node.lineno, names, None if a.name == "*" else a.name


def _bound_names(path):
    """Names a module may define; "*" when it cannot be known (star import, __getattr__)."""
    bound = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add("*" if node.name == "__getattr__" else node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bound.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update(
                a.name if a.name == "*" else a.asname or a.name.split(".")[0] for a in node.names
            )
    return bound


def _expected_deps(root, src, names, requirements, problems):
    tree = ast.parse((root / src).read_text(), filename=src)
    scope = src.rsplit("/", 1)[0]
    deps = set()
    for lineno, candidates, name in _imported_names(src, tree):
        hits = [(c, names.get((s, c))) for c in candidates for s in (scope, "")]
        hits = [
            f
            for c, f in hits
            if f and (name is None or c != candidates[-1] or {name, "*"} & _bound_names(root / f))
        ]
        top = candidates[-1].split(".")[0]
        if hits:
            deps.add(":" + _label(hits[0]))
        elif any((s, top) in names for s in (scope, "")):
            problems.append(f"{src}:{lineno}: unresolved first-party import {candidates[0]}")
        elif top in requirements:
            deps.add(f'requirement("{requirements[top]}")')
        elif top not in sys.stdlib_module_names:
            problems.append(f"{src}:{lineno}: {top!r} is not in requirements*.txt")
    deps.discard(":" + _label(src))
    return deps


def parse_build(text):
    """Returns {name: {"kind", "srcs", "deps", "main"}} and a list of problems."""
    targets, problems = {}, []
    for stmt in ast.parse(text).body:
        call = stmt.value if isinstance(stmt, ast.Expr) else None
        kind = getattr(getattr(call, "func", None), "id", None)
        if kind not in ("py_library", "py_test", "py_binary"):
            problems += [] if kind == "load" else [f"BUILD:{stmt.lineno}: unexpected statement"]
            continue
        args = {kw.arg: kw.value for kw in call.keywords}
        name = ast.literal_eval(args["name"])
        if name in targets:
            problems.append(f"duplicate target name {name!r}")
        targets[name] = {
            "kind": kind,
            "srcs": ast.literal_eval(args.get("srcs", ast.List([]))),
            "deps": [
                d.value if isinstance(d, ast.Constant) else ast.unparse(d).replace("'", '"')
                for d in getattr(args.get("deps"), "elts", [])
            ],
            "main": ast.literal_eval(args["main"]) if "main" in args else None,
        }
    return targets, problems


def check_build(root):
    """Every problem that makes `root`/BUILD untruthful, as readable strings."""
    root = pathlib.Path(root)
    targets, problems = parse_build((root / "BUILD").read_text())
    kinds = _expected_kinds(root)
    names, requirements = _module_names(root, kinds), _requirements(root)
    by_src = {}
    for name, t in targets.items():
        if len(t["srcs"]) != 1 or t["srcs"][0] not in kinds:
            problems.append(f"target {name!r} has srcs {t['srcs']}, not one existing source")
        for src in t["srcs"]:
            by_src.setdefault(src, []).append(name)
    for src, kind in sorted(kinds.items()):
        owners = by_src.get(src, [])
        if len(owners) != 1:
            problems.append(f"{src} must have exactly one target; has {owners}")
            continue
        t = targets[owners[0]]
        if owners[0] != _label(src) or t["kind"] != kind:
            problems.append(
                f"{src}: expected {kind} {_label(src)!r}, got {t['kind']} {owners[0]!r}"
            )
        if kind == "py_binary" and t["main"] != src:
            problems.append(f"{src}: py_binary main must be {src!r}")
        if len(set(t["deps"])) != len(t["deps"]):
            problems.append(f"{src}: duplicate deps {t['deps']}")
        want, got = _expected_deps(root, src, names, requirements, problems), set(t["deps"])
        if got != want:
            problems.append(f"{src}: deps missing {sorted(want - got)}, extra {sorted(got - want)}")
        for dep in want:
            dep_kind = targets.get(dep[1:], {}).get("kind")
            if dep.startswith(":") and dep_kind not in (None, "py_library"):
                problems.append(f"{src}: depends on {dep}, a {dep_kind}")
    problems += _cycles(
        {n: [d[1:] for d in t["deps"] if d.startswith(":")] for n, t in targets.items()}
    )
    return problems


def _cycles(graph):
    problems, done = [], set()

    def visit(node, path):
        for dep in graph.get(node, []):
            if dep in path:
                problems.append("dependency cycle: " + " -> ".join(path + [dep]))
            elif dep not in done:
                visit(dep, path + [dep])
        done.add(node)

    for node in (n for n in sorted(graph) if n not in done):
        visit(node, [node])
    return problems


SYNTHETIC_TREE = {
    "requirements.txt": "numpy>=1.2  # comment\nabsl-py\n",
    "requirements-dev.txt": "pytest\n",
    "keras_enas/__init__.py": "from keras_enas.sub import b\n",
    "keras_enas/core.py": "import os\nimport numpy as np\nimport keras_enas.sub.b as bb\n",
    "keras_enas/sub/__init__.py": "from .b import B\n",
    "keras_enas/sub/b.py": "class B:\n    pass\n\n\ndef f():\n    from absl import logging\n",
    "keras_enas/sub/c.py": "from __future__ import annotations\nfrom . import b\n"
    "from .. import core\nfrom keras_enas.sub import B, b as b2\nfrom keras_enas import sub\n",
    "tests/helpers.py": "import keras_enas.core\nfrom keras_enas.sub.b import B\n",
    "tests/c_test.py": "import helpers\nimport pytest\nfrom keras_enas.sub.c import *\n",
    "bin/run": "#!/usr/bin/env python\nfrom keras_enas import core\n",
    "tools/t.py": 'import sys\n\nimport u\n\nif __name__ == "__main__":\n    sys.exit(0)\n',
    "tools/u.py": "import os\n",
}
SYNTHETIC_DEPS = {  # Derived by hand from SYNTHETIC_TREE.
    "keras_enas_init": {":keras_enas_sub_b"},
    "keras_enas_core": {":keras_enas_sub_b", 'requirement("numpy")'},
    "keras_enas_sub_init": {":keras_enas_sub_b"},
    "keras_enas_sub_b": {'requirement("absl-py")'},
    "keras_enas_sub_c": {":keras_enas_sub_b", ":keras_enas_core", ":keras_enas_sub_init"},
    "tests_helpers": {":keras_enas_core", ":keras_enas_sub_b"},
    "tests_c_test": {":tests_helpers", ":keras_enas_sub_c", 'requirement("pytest")'},
    "bin_run": {":keras_enas_core"},
    "tools_t": {":tools_u"},
    "tools_u": set(),
}
MISTAKES = [  # (text in the generated BUILD, hand edit, problem it must cause)
    (
        '["tests/helpers.py"],\n    deps = [\n        ":keras_enas_core",\n',
        '["tests/helpers.py"],\n    deps = [\n',
        r"tests/helpers\.py: deps missing \[':keras_enas_core'\], extra \[\]",
    ),
    (
        'requirement("absl-py")',
        '":tests_helpers"',
        r"b\.py: deps missing \['requirement\(\"absl-py\"\)'\], extra \[':tests_helpers'\]",
    ),
    ('name = "tools_t"', 'name = "tools_x"', r"tools/t\.py: expected py_binary 'tools_t'"),
    (
        'srcs = ["tools/t.py"]',
        'srcs = ["tools/gone.py"]',
        r"tools/t\.py must have exactly one target; has \[\]",
    ),
    ("py_test(", "py_library(", r"expected py_test 'tests_c_test', got py_library"),
    ('main = "bin/run"', 'main = "bin/other"', r"bin/run: py_binary main must be"),
]


def _run_generator(root):
    return subprocess.run(
        [sys.executable, str(ROOT / "tools" / "gen_build.py"), "--root", str(root)],
        capture_output=True,
        text=True,
        check=False,
    )


class BuildFileTest(absltest.TestCase):
    def setUp(self):
        super().setUp()
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.root = pathlib.Path(tmp.name)
        self.write_tree(SYNTHETIC_TREE)

    def write_tree(self, files):  # {relative path: text}
        for path, text in files.items():
            (self.root / path).parent.mkdir(parents=True, exist_ok=True)
            (self.root / path).write_text(text)

    def assertProblem(self, regex):
        self.assertTrue(any(re.search(regex, p) for p in check_build(self.root)), regex)

    def test_repository_build_is_truthful_and_documented(self):
        self.assertEqual(check_build(ROOT), [])
        header = (ROOT / "BUILD").read_text().split("load(")[0]
        for word in ("Label", "py_library", "py_test", "py_binary", "requirement(", "__init__"):
            self.assertIn(word, header)

    def test_generator_output_matches_hand_derived_deps(self):
        self.assertEqual(_run_generator(self.root).returncode, 0)
        targets, problems = parse_build((self.root / "BUILD").read_text())
        self.assertEqual(problems, [])
        self.assertEqual({n: set(t["deps"]) for n, t in targets.items()}, SYNTHETIC_DEPS)
        kinds = {n: t["kind"] for n, t in targets.items() if t["kind"] != "py_library"}
        self.assertEqual(
            kinds, {"bin_run": "py_binary", "tools_t": "py_binary", "tests_c_test": "py_test"}
        )
        self.assertEqual(check_build(self.root), [])

    def test_hand_edited_mistakes_are_caught(self):
        self.assertEqual(_run_generator(self.root).returncode, 0)
        clean = (self.root / "BUILD").read_text()
        for old, new, regex in MISTAKES:
            with self.subTest(regex=regex):
                self.assertIn(old, clean)
                (self.root / "BUILD").write_text(clean.replace(old, new, 1))
                self.assertProblem(regex)

    def test_cycles_unresolved_and_unlisted_imports_are_reported(self):
        self.write_tree(
            {
                "keras_enas/sub/b.py": "from keras_enas.sub import B\n",  # B lives in __init__
                "keras_enas/core.py": "import yaml\nfrom keras_enas import missing\n",
            }
        )
        result = _run_generator(self.root)
        self.assertEqual(result.returncode, 1)
        self.assertIn("third-party import 'yaml' is not in requirements", result.stderr)
        self.assertIn("core.py:2: cannot resolve a first-party import", result.stderr)
        self.assertProblem(r"core\.py:1: 'yaml' is not in requirements")
        self.assertProblem(r"core\.py:2: unresolved first-party import keras_enas\.missing")
        self.assertProblem(r"dependency cycle: .*keras_enas_sub_b -> keras_enas_sub_init")

    def test_new_module_without_target_is_reported(self):
        self.assertEqual(_run_generator(self.root).returncode, 0)
        self.write_tree({"keras_enas/new.py": "import keras_enas.core\n"})
        self.assertProblem(r"keras_enas/new\.py must have exactly one target; has \[\]")
        self.assertEqual(_run_generator(self.root).returncode, 0)
        self.assertEqual(check_build(self.root), [])


if __name__ == "__main__":
    absltest.main()

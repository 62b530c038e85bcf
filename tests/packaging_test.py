"""pyproject.toml: one version, dependencies from requirements*.txt, one entry point per bin/
wrapper (the same `main()`), setup.py a shim."""

import ast
import importlib
import pathlib
import re

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

import keras_enas

REPO = pathlib.Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


def test_version_and_dependencies_have_one_source_each():
    project, dynamic = PYPROJECT["project"], PYPROJECT["tool"]["setuptools"]["dynamic"]
    for key in ("version", "dependencies", "optional-dependencies"):
        assert key in project["dynamic"] and key not in project, key
    assert dynamic["version"] == {"attr": "keras_enas.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", keras_enas.__version__)
    assert dynamic["dependencies"] == {"file": ["requirements.txt"]}
    assert dynamic["optional-dependencies"] == {"dev": {"file": ["requirements-dev.txt"]}}
    # setuptools reads the files as bare requirement lines: no inline comments, no pip options.
    for name in ("requirements.txt", "requirements-dev.txt"):
        for line in (REPO / name).read_text().splitlines():
            assert line.startswith("#") or ("#" not in line and not line.startswith("-")), line
    dev = (REPO / "requirements-dev.txt").read_text()
    assert re.search(r"^pytest\b", dev, re.M) and re.search(r"^ruff==", dev, re.M)


def test_setup_py_is_a_shim():
    tree = ast.parse((REPO / "setup.py").read_text())
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    assert len(calls) == 1 and not calls[0].args and not calls[0].keywords
    assert ast.unparse(calls[0].func) == "setuptools.setup"


def test_every_bin_wrapper_is_an_entry_point_calling_the_same_main():
    scripts = PYPROJECT["project"]["scripts"]
    wrappers = sorted(p.name for p in (REPO / "bin").iterdir() if p.is_file())
    assert sorted(scripts) == wrappers
    for name, target in scripts.items():
        module_name, function = target.split(":")
        assert module_name == f"keras_enas.programs.{name}" and function == "main"
        assert callable(getattr(importlib.import_module(module_name), function))
        tree = ast.parse((REPO / "bin" / name).read_text())
        imports = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        assert [ast.unparse(n) for n in imports] == [f"from keras_enas.programs import {name}"]
        calls = [ast.unparse(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)]
        assert calls == [f"{name}.main"], name

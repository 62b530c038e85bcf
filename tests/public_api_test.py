"""The public API: `keras_enas.__all__` resolves and is typed; every module declares `__all__`
(the public classes and functions it defines, nothing it lacks)."""

import ast
import inspect
import pathlib

import pytest

import keras_enas

PACKAGE = pathlib.Path(keras_enas.__file__).resolve().parent
MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p != PACKAGE / "__init__.py")


def test_all_is_the_lazy_api_and_every_name_resolves():
    assert sorted(keras_enas.__all__) == sorted(keras_enas._API)
    assert len(set(keras_enas.__all__)) == len(keras_enas.__all__)
    for name in keras_enas.__all__:
        assert getattr(keras_enas, name).__name__ == name


def _unannotated(function, skip_self):
    signature = inspect.signature(function)
    params = list(signature.parameters.values())[1 if skip_self else 0 :]
    missing = [p.name for p in params if p.annotation is inspect.Parameter.empty]
    if signature.return_annotation is inspect.Signature.empty:
        missing.append("return")
    return missing


@pytest.mark.parametrize("name", keras_enas.__all__)
def test_public_api_is_type_hinted(name):
    obj = getattr(keras_enas, name)
    if inspect.isclass(obj):
        if "__init__" in vars(obj):  # classes without their own constructor inherit Keras'
            assert _unannotated(obj.__init__, skip_self=True) == [], name
    else:
        assert _unannotated(obj, skip_self=False) == [], name


def _module_all(tree):
    for node in tree.body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == [
            "__all__"
        ]:
            return ast.literal_eval(node.value)
    return None


def _bound_names(tree):
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
    return names


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_every_module_declares_all(path):
    tree = ast.parse(path.read_text())
    exported = _module_all(tree)
    assert exported is not None, f"{path} has no literal __all__"
    assert len(set(exported)) == len(exported)
    assert set(exported) <= _bound_names(tree), set(exported) - _bound_names(tree)
    defined = {
        node.name
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_")
    }
    assert defined <= set(exported), f"public but not in __all__: {sorted(defined - set(exported))}"

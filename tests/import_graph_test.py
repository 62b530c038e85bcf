"""Checks the folder-level import graph of keras_enas/ (read from the code) against design.md.

A node is a sub-package of keras_enas (`search`, `tasks`, `run`, ...) or a top-level module
(`controller`, `draw`, ...); `keras_enas/__init__.py` only names its API by import strings.
"""

import ast
import itertools
import pathlib

from absl.testing import absltest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "keras_enas"
THIRD_PARTY_TF = ("tensorflow", "keras", "tf_keras")


def _imports(path):
    """Absolute module names imported by `path` (functions' lazy imports included)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module)
            names += [f"{node.module}.{alias.name}" for alias in node.names]
    return names


def _node(parts):
    """The graph node of a module path inside keras_enas (`("search", "enas")` → `search`)."""
    return parts[0].removesuffix(".py")


def _files():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).parts
        if parts == ("__init__.py",):
            continue
        yield path, _node(parts)


def folder_graph():
    """`{node: {imported node: [file, ...]}}` of keras_enas, self-edges dropped."""
    nodes = {node for _, node in _files()}
    graph = {node: {} for node in nodes}
    for path, node in _files():
        for name in _imports(path):
            parts = name.split(".")
            if parts[0] != "keras_enas" or len(parts) < 2 or parts[1] not in nodes:
                continue
            if parts[1] != node:
                graph[node].setdefault(parts[1], []).append(path.relative_to(ROOT).as_posix())
    return graph


def find_cycle(graph):
    """One cycle of `graph` as a list of nodes, or None."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


class ImportGraphTest(absltest.TestCase):
    def test_find_cycle_sees_a_cycle(self):
        self.assertEqual(
            find_cycle({"a": {"b": []}, "b": {"c": []}, "c": {"a": []}}), ["a", "b", "c", "a"]
        )
        self.assertIsNone(find_cycle({"a": {"b": []}, "b": {}, "c": {"a": []}}))

    def test_folders_import_each_other_without_cycles(self):
        graph = folder_graph()
        self.assertIn("search", graph)
        cycle = find_cycle(graph)
        where = ""
        if cycle:
            where = "; ".join(
                f"{a} → {b} in {graph[a][b][0]}" for a, b in itertools.pairwise(cycle)
            )
        self.assertIsNone(cycle, f"import cycle between folders: {where}")

    def test_search_spaces_import_no_tensorflow(self):
        for path in sorted((PACKAGE / "search_spaces").rglob("*.py")):
            for name in _imports(path):
                top = name.split(".")[0]
                self.assertNotIn(top, THIRD_PARTY_TF, f"{path} imports {name}")
                if top == "keras_enas":
                    self.assertTrue(
                        name.startswith("keras_enas.search_spaces"),
                        f"{path} imports {name} outside search_spaces/",
                    )

    def test_no_module_imports_bin_or_tests(self):
        for path in sorted(PACKAGE.rglob("*.py")):
            for name in _imports(path):
                self.assertNotIn(
                    name.split(".")[0], ("bin", "tests", "conftest"), f"{path} imports {name}"
                )

    def test_only_entry_points_import_data(self):
        for path, node in _files():
            if node in ("data", "programs"):
                continue
            for name in _imports(path):
                self.assertFalse(
                    name.startswith("keras_enas.data"),
                    f"{path} imports {name}: only the programs (keras_enas/programs/, "
                    "bin/) and tests may import data/",
                )

    def test_nothing_in_the_package_imports_the_programs(self):
        # The programs sit on top: they touch absl flags and data/, the library never does.
        for path, node in _files():
            if node == "programs":
                continue
            for name in _imports(path):
                self.assertFalse(name.startswith("keras_enas.programs"), f"{path} imports {name}")


if __name__ == "__main__":
    absltest.main()

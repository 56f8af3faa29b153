"""The package's folders are its layers: a module imports only its own layer or lower ones, and no two parts
import each other (directly or round a circle). Read from the source with ``ast``, so imports inside functions
and under ``TYPE_CHECKING`` count too: a lazy import is still a dependency, and a typing-only one still says a
lower layer knows about a higher one.
"""

import ast
from pathlib import Path
from typing import Any

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
ROOT = SRC / "hourglass"

# Lowest first. A part is a module or package; a module belongs to the longest part its name starts with.
LAYERS = [
    (
        "hourglass.errors",
        "hourglass.params",
        "hourglass.atomic",
        "hourglass.schema",
    ),  # foundations; the schema is the validation language
    ("hourglass.data", "hourglass.models"),  # inputs, scaling and noise; the networks
    ("hourglass.runtime", "hourglass.storage"),  # device, threads and forward passes; model folders on disk
    ("hourglass.training",),  # the loop, checkpoints, processes, the neighbor layout, the code prior
    # Autoencoder and the estimators' base; the network runner (a saved model run alone), the steps of fit,
    # save/load, the notebook card
    (
        "hourglass.estimator",
        "hourglass.base",
        "hourglass.inference",
        "hourglass.fitting",
        "hourglass.persistence",
        "hourglass.card",
    ),
    ("hourglass.anomaly", "hourglass.evaluations", "hourglass.registry"),  # built on the estimator; load's classes
    ("hourglass",),  # the public names (hourglass.Autoencoder, hourglass.load, ...), loaded lazily
    ("hourglass.viz",),
    ("hourglass.explorer",),
    ("hourglass.demo", "hourglass.export"),  # the demo; ONNX graphs, checked against PyTorch and the explorer
    ("hourglass.cli", "hourglass.__main__"),
]
LAYER = {part: level for level, parts in enumerate(LAYERS) for part in parts}
# The version string lives in the root package (pyproject reads it there); Python loads the root before any
# of its submodules, so reading it is no dependency on the layers above.
VERSION = "hourglass.__version__"
LAYER[VERSION] = 0


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    path = SRC.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def part_of(name: str) -> str:
    return max((p for p in LAYER if name == p or name.startswith(p + ".")), key=len)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports(path: Path) -> list[tuple[str, int, bool]]:
    """(module imported, line, under TYPE_CHECKING) for every hourglass import in the file."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[tuple[str, int, bool]] = []

    def visit(node: ast.AST, typing_only: bool) -> None:
        if isinstance(node, ast.Import):
            found.extend((a.name, node.lineno, typing_only) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from .x import y
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            for alias in node.names:
                target = f"{base}.{alias.name}"
                if target == VERSION or is_module(target):
                    found.append((target, node.lineno, typing_only))
                else:  # a name defined in the module `base`
                    found.append((base, node.lineno, typing_only))
        for child in ast.iter_child_nodes(node):
            visit(child, typing_only or (isinstance(node, ast.If) and _is_type_checking(node) and child in node.body))

    visit(ast.parse(path.read_text(), str(path)), False)
    return [(target, line, t) for target, line, t in found if target == "hourglass" or target.startswith("hourglass.")]


def import_graph() -> dict[str, list[tuple[str, str, int, bool]]]:
    """Each module: (imported module, file, line, typing only)."""
    return {
        module_name(path): [(target, str(path.relative_to(SRC)), line, t) for target, line, t in imports(path)]
        for path in sorted(ROOT.rglob("*.py"))
    }


def upward_imports(graph) -> list[str]:
    bad = []
    for module, targets in graph.items():
        for target, where, line, typing_only in targets:
            if LAYER[part_of(target)] > LAYER[part_of(module)]:
                kind = "typing-only " if typing_only else ""
                bad.append(f"{where}:{line}: {module} ({part_of(module)}) {kind}imports higher layer {target}")
    return bad


def circles(edges: dict[str, Any]) -> list[list[str]]:
    """Every circle a depth-first walk of ``edges`` (node -> nodes it imports) meets, each as its path."""
    found, done = [], set()

    def walk(node: str, stack: list[str]) -> None:
        if node in stack:
            found.append([*stack[stack.index(node) :], node])
            return
        if node in done:
            return
        for nxt in sorted(edges.get(node, ())):
            walk(nxt, [*stack, node])
        done.add(node)

    for start in sorted(edges):
        walk(start, [])
    return found


def part_cycles(graph) -> list[list[str]]:
    edges: dict[str, set[str]] = {}
    for module, targets in graph.items():
        for target, *_ in targets:
            a, b = part_of(module), part_of(target)
            if a != b and b != VERSION:
                edges.setdefault(a, set()).add(b)
    return circles(edges)


def test_every_module_has_a_layer():
    for path in ROOT.rglob("*.py"):
        name = module_name(path)
        assert name == "hourglass" or part_of(name) != "hourglass", f"{path}: add its part to LAYERS"


def test_imports_point_to_the_same_layer_or_lower():
    graph = import_graph()
    assert sum(len(t) for t in graph.values()) > 100  # the parser sees the imports at all
    assert upward_imports(graph) == []


def test_no_import_circles_between_parts():
    assert part_cycles(import_graph()) == []


@pytest.mark.parametrize(
    "extra, expect",
    [
        # the estimator reaching up to the anomaly detector, lazily, as load() once did
        ({"hourglass.estimator": [("hourglass.anomaly.detector", "estimator.py", 1, False)]}, "upward"),
        ({"hourglass.data.scaling": [("hourglass.viz", "data/scaling.py", 1, True)]}, "upward"),
        # two parts of one layer importing each other
        (
            {
                "hourglass.data.dataset": [("hourglass.models.base", "data/dataset.py", 1, False)],
                "hourglass.models.base": [("hourglass.data", "models/base.py", 1, True)],
            },
            "cycle",
        ),
    ],
)
def test_the_checks_catch_a_bad_import(extra, expect):
    graph = import_graph()
    for module, targets in extra.items():
        graph[module] = graph[module] + targets
    if expect == "upward":
        assert upward_imports(graph)
    else:
        assert upward_imports(graph) == [] and part_cycles(graph)


def module_cycles(graph) -> list[list[str]]:
    """Circles between modules (a package is its __init__), lazy and typing-only imports included."""
    edges = {m: sorted({t for t, *_ in targets if t in graph and t != m}) for m, targets in graph.items()}
    # A submodule reaching its own package's __init__ for a name is no circle of meaning: Python loads the package
    # first. Leave that one edge out (the package importing the submodule is the real dependency).
    for module in edges:
        edges[module] = [t for t in edges[module] if not module.startswith(t + ".")]
    return circles(edges)


def test_no_module_imports_another_in_a_circle():
    assert module_cycles(import_graph()) == []


def test_the_module_check_catches_a_circle():
    graph = import_graph()
    graph["hourglass.demo.run"] = [*graph["hourglass.demo.run"], ("hourglass.demo.story", "demo/run.py", 1, True)]
    assert module_cycles(graph)

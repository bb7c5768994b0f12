"""The package's layers run one way (docs/architecture.md): every `import` in src/polyhead,
inside functions too, goes to the same layer or a lower one; no two files import each other
(no cycle of any length); no source file is over 400 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "polyhead"

# Lowest first. A module belongs to the layer of its longest matching prefix.
LAYERS = [
    (
        "errors, metrics, reports",
        ["errors", "version", "evaluate", "embedding_metrics", "kind_metrics", "report", "card"],
    ),
    ("data", ["data"]),
    ("model", ["model"]),
    ("predict", ["predict"]),
    ("config, plan", ["config", "plan"]),
    ("features", ["features"]),
    ("engine", ["engine"]),
    ("compare, export, serve, hub, tune", ["compare", "export", "serve", "hub", "tune"]),
    ("python face", ["", "api"]),  # polyhead/__init__.py
    ("cli, demo", ["cli", "demo"]),
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> int:
    rest = module.removeprefix("polyhead").removeprefix(".")
    best, best_len = None, -1
    for i, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            hit = rest == prefix or rest.startswith(prefix + ".") or (prefix == "" and rest == "")
            if hit and len(prefix) > best_len:
                best, best_len = i, len(prefix)
    assert best is not None, f"{module} is in no layer; add it to LAYERS and docs/architecture.md"
    return best


def resolve(target: str) -> str | None:
    """The polyhead module a dotted import name loads (a name inside a module -> that module)."""
    parts = target.split(".")
    while parts:
        name = ".".join(parts)
        base = SRC.joinpath(*parts)
        if base.with_suffix(".py").exists() or (base / "__init__.py").exists():
            return name
        parts.pop()
    return None


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, polyhead module) for every import in the file, wherever it sits; a string given
    to import_module counts too."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{a.name}" for a in node.names]
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "id", getattr(node.func, "attr", None)) == "import_module"
        ):
            names = [
                a.value
                for a in node.args
                if isinstance(a, ast.Constant) and isinstance(a.value, str)
            ]
        for name in names:
            if name == "polyhead" or name.startswith("polyhead."):
                module = resolve(name)
                if module:
                    found.append((node.lineno, module))
    return found


def source_files() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for path in source_files():
        me = module_name(path)
        edges[me] = {m for _, m in imports_of(path) if m != me}
    return edges


def test_no_import_goes_up_a_layer():
    upward = []
    for path in source_files():
        me = module_name(path)
        for line, target in imports_of(path):
            if layer_of(target) > layer_of(me):
                where = f"{path.relative_to(SRC)}:{line}"
                upward.append(
                    f"{where}: {me} ({LAYERS[layer_of(me)][0]}) imports "
                    f"{target} ({LAYERS[layer_of(target)][0]})"
                )
    assert not upward, "\n".join(upward)


def test_no_import_cycle():
    edges = graph()
    # Tarjan's strongly connected components: any component of 2+ files is a cycle.
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in list(edges):
        if v not in index:
            visit(v)
    assert not cycles, cycles


@pytest.mark.parametrize("path", source_files(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_source_files_stay_small(path):
    assert len(path.read_text().splitlines()) <= 400


def test_the_check_sees_imports_inside_functions(tmp_path):
    """The check would catch a lower layer importing a higher one inside a function."""
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from polyhead.engine.train import train\n")
    assert imports_of(probe) == [(2, "polyhead.engine.train")]
    assert layer_of("polyhead.engine.train") > layer_of("polyhead.data.rows")


def test_the_graph_holds_the_known_edges():
    edges = graph()
    assert "polyhead.data.align" in edges["polyhead.model.multitask"]
    assert "polyhead.api" in edges["polyhead.cli.train"]  # inside a function

"""The import structure of raphael/: no circles, and the arrows run one way (docs/interfaces.md, "Layers").

Every `import` / `from ... import` of a raphael module anywhere in a file counts (module level or inside a
function), relative imports resolved. A package's __init__ importing its own submodules is not a circle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "raphael"
ENTRY_POINTS = {"raphael.train", "raphael.sample", "raphael.evaluate", "raphael.probe", "raphael.bench"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(name: str, path: Path) -> set[str]:
    """Every module the module `name` (file `path`) imports (third-party ones by their full dotted name)."""
    found = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}  # `from pkg import submodule`
    return found


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}
GRAPH = {name: {m for m in imports_of(name, path) if m in MODULES and m != name} for name, path in MODULES.items()}


def own_submodule(importer: str, imported: str) -> bool:
    return MODULES[importer].name == "__init__.py" and imported.startswith(importer + ".")


def find_cycle() -> list[str] | None:
    edges = {a: {b for b in bs if not own_submodule(a, b) and not own_submodule(b, a)} for a, bs in GRAPH.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_no_import_circle_inside_the_package():
    assert find_cycle() is None, " -> ".join(find_cycle() or [])


def offenders(importers: str, forbidden) -> list[str]:
    return sorted(f"{name} imports {m}" for name, path in MODULES.items()
                  if name == importers or name.startswith(importers + ".")
                  for m in imports_of(name, path) if forbidden(m))


@pytest.mark.parametrize("importers, forbidden, why", [
    ("raphael.nn", lambda m: m.split(".")[0] == "lightning" or m.startswith("raphael.data"),
     "networks know neither Lightning nor the data pipeline"),
    ("raphael.data", lambda m: m.startswith("raphael.nn"), "the data pipeline knows no network"),
    ("raphael.data", lambda m: m.startswith("raphael.tasks"), "the data pipeline knows no task (a task writes its shards)"),
    ("raphael.diffusion", lambda m: m.startswith("raphael.nn"), "the sampler takes a callable, not a network class"),
    ("raphael", lambda m: m.split(".")[0] == "tests", "the package never imports the tests"),
])
def test_forbidden_arrows(importers, forbidden, why):
    assert offenders(importers, forbidden) == [], why


def test_nothing_in_the_package_imports_an_entry_point():
    bad = sorted(f"{name} imports {m}" for name, path in MODULES.items() for m in imports_of(name, path)
                 if m in ENTRY_POINTS and m != name)
    assert bad == [], "entry points are thin: their work lives in modules the package may import"


def test_the_checker_sees_a_circle_and_a_forbidden_arrow(tmp_path, monkeypatch):
    """The checks above can fail: a made-up a -> b -> a circle and an nn -> data arrow are caught."""
    monkeypatch.setitem(GRAPH, "raphael.run.errors", GRAPH["raphael.run.errors"] | {"raphael.run.validation"})
    assert find_cycle() is not None
    fake = tmp_path / "fake.py"
    fake.write_text("from raphael.data.shards import expand_urls\nimport lightning\n")
    monkeypatch.setitem(MODULES, "raphael.nn.fake", fake)
    assert len(offenders("raphael.nn", lambda m: m.split(".")[0] == "lightning" or m.startswith("raphael.data"))) == 3

"""The package is layered (DESIGN.md): a module imports only from its own layer or the layers below,
never inside a function, and the import graph has no cycle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "nfields"
LAYERS = ["core", "fields", "tasks", "data", "lit", "run", "analysis"]  # bottom to top


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def nfields_imports(tree: ast.AST, current: str, is_pkg: bool) -> list[tuple[str, int, bool]]:
    """(imported nfields module, line, at module level) for every import in a module's tree."""
    top = {id(n) for n in getattr(tree, "body", [])}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import: resolve against the current package
                base = current.split(".")[: len(current.split(".")) - node.level + (1 if is_pkg else 0)]
                names = [".".join(base + ([node.module] if node.module else []))]
            else:
                names = [node.module or ""]
        else:
            continue
        for name in names:
            if name == "nfields" or name.startswith("nfields."):
                out.append((name, node.lineno, id(node) in top))
    return out


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else None


def graph() -> dict[str, list[tuple[str, int, bool]]]:
    return {
        module_name(p): nfields_imports(ast.parse(p.read_text()), module_name(p), p.name == "__init__.py")
        for p in sorted(PACKAGE.rglob("*.py"))
    }


def test_top_level_is_the_layers() -> None:
    entries = sorted(p.name for p in PACKAGE.iterdir() if p.name != "__pycache__")
    assert entries == sorted([*LAYERS, "__init__.py"]), entries


def test_imports_go_only_downward_and_never_inside_functions() -> None:
    problems = []
    for module, imports in graph().items():
        own = layer_of(module)
        for target, line, top_level in imports:
            where = f"{module}:{line} imports {target}"
            if not top_level and "TYPE_CHECKING" not in where:
                problems.append(f"{where} inside a function or block")
            them = layer_of(target)
            if own and them and LAYERS.index(them) > LAYERS.index(own):
                problems.append(f"{where}: {them} is above {own}")
    assert not problems, "\n".join(problems)


def test_no_import_cycle() -> None:
    edges = {m: {t for t, _, _ in imps if t in graph_modules()} for m, imps in graph().items()}
    state: dict[str, int] = {}

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for t in sorted(edges.get(m, ())):
            if state.get(t) == 1:
                pytest.fail("import cycle: " + " -> ".join([*path[path.index(t) :], t]) if t in path else t)
            if t not in state:
                visit(t, [*path, t])
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m, [m])


def graph_modules() -> set[str]:
    return {module_name(p) for p in PACKAGE.rglob("*.py")}


def test_the_checker_sees_a_violation(tmp_path: Path) -> None:
    """The walk itself must catch an upward import and one inside a function (guards the test above)."""
    src = "from nfields.run.build import x\n\ndef f():\n    import nfields.analysis.report\n"
    imports = nfields_imports(ast.parse(src), "nfields.core.thing", False)
    assert [(t, top) for t, _, top in imports] == [("nfields.run.build", True), ("nfields.analysis.report", False)]
    assert LAYERS.index(layer_of("nfields.run.build")) > LAYERS.index(layer_of("nfields.core.thing"))


def test_the_model_layers_know_nothing_of_lightning() -> None:
    """core, fields and tasks are plain PyTorch: a field or a task is usable (and testable) without a trainer;
    Lightning enters at data (its DataModules) and lit."""
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if layer_of(module_name(path)) not in ("core", "fields", "tasks"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            names += [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            problems += [f"{module_name(path)}:{node.lineno} imports {n}" for n in names if "lightning" in n]
    assert not problems, "\n".join(problems)

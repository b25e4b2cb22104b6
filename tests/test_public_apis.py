"""nfields uses the libraries it builds on through their public APIs: no private attribute of another object
(`x._name`), no private module or name imported, no attribute of an imported module reassigned (a
monkey-patch). A Lightning, Hydra or torch upgrade then breaks nothing that their changelogs do not announce.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted([*(ROOT / "nfields").rglob("*.py"), *(ROOT / "scripts").rglob("*.py"), ROOT / "train.py"])

# Underscored names that are public by their owner's own documentation, each with the reason.
ALLOWED_ATTRIBUTES = {
    "_target_": "Hydra's config key for the class to instantiate",
    "_partial_": "Hydra's config key for a partial",
    "_version": "a tensor's version counter: the documented way to see an in-place change (fields/encodings/base.py)",
}
ALLOWED_PREFIXES = {"_foreach_": "torch's multi-tensor ops, what torch.optim's own Adam is written with"}
ALLOWED_MODULES = {"torch.utils._pytree": "torch's pytree utilities (no public alias in this torch)"}


def private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def own_names(tree: ast.AST) -> set[str]:
    """The private names a file defines itself: `self._x = ...`, class attributes and methods named _x."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) and private(node.attr):
            names.add(node.attr)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and private(node.name):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) and private(node.id):
            names.add(node.id)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and private(node.target.id):
            names.add(node.target.id)
    return names


def findings(source: str, rel: str) -> list[str]:
    """Every private access, private import and module-attribute assignment in `source` (the file `rel`)
    -> 'file:line: what'."""
    tree, out = ast.parse(source), []
    modules = {a.asname or a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    modules |= {
        a.asname or a.name
        for n in ast.walk(tree)
        if isinstance(n, ast.ImportFrom)
        for a in n.names
        if n.module and a.name.islower() and not a.name.startswith("_")
    }
    own = own_names(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and private(node.attr):
            owner = node.value
            if isinstance(owner, ast.Name) and owner.id in ("self", "cls") and node.attr in own:
                continue  # the class's own state (an inherited private one, a base library's, is not)
            if node.attr in ALLOWED_ATTRIBUTES or any(node.attr.startswith(p) for p in ALLOWED_PREFIXES):
                continue
            out.append(f"{rel}:{node.lineno}: .{node.attr} of {ast.unparse(owner)}")
        elif isinstance(node, ast.ImportFrom) and node.module and node.module not in ALLOWED_MODULES:
            names = [a.name for a in node.names if private(a.name)]
            if any(private(part) for part in node.module.split(".")) or names:
                out.append(f"{rel}:{node.lineno}: from {node.module} import {', '.join(names) or '...'}")
        elif isinstance(node, ast.Assign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id in modules:
                    out.append(f"{rel}:{node.lineno}: {ast.unparse(t)} = ... (a monkey-patch)")
    return out


def test_no_private_attribute_import_or_monkey_patch() -> None:
    found = [f for path in SOURCES for f in findings(path.read_text(), str(path.relative_to(ROOT)))]
    assert not found, "private APIs used:\n" + "\n".join(found)


@pytest.mark.parametrize(
    "code",
    [
        "trainer.fit_loop.epoch_loop._batches_that_stepped",  # Lightning's loop internals
        "strategy._model_averager",
        "from pytorch_lightning.strategies.launchers.subprocess_script import _hydra_subprocess_cmd",
        "from hydra._internal.utils import _locate",
        "import pytorch_lightning\npytorch_lightning.seed_everything = print",
        "from pytorch_lightning.strategies.launchers import subprocess_script\nsubprocess_script.x = 1",
        "class L(WandbLogger):\n    def f(self):\n        return self._wandb_init",  # a base class's private state
    ],
)
def test_the_scan_finds_what_it_forbids(code: str) -> None:
    assert findings(code, "probe.py"), code


def test_the_scan_allows_the_module_s_own_state_and_public_names() -> None:
    ok = "import torch\nself._cache = 1\ncfg._target_\nx = torch.zeros(1)\nobj.attr = 2\n"
    assert findings(ok, "probe.py") == []

"""core/ is layered by pipeline stage; these tests keep it that way.

    errors, config, progress, testpause, memory, jsonable, plain_text, whole
    <  data  <  model  <  serve  <  ops  <  cli

A module imports only from its own layer or the layers below it (lazy imports inside
functions count too), `core/model` uses none of the store-backed data modules (a notebook
fits a model without a store), and nothing under core/ imports streamlit or the pages.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parent.parent / "core"
RANK = {"errors": 0, "config": 0, "testpause": 0, "progress": 0, "memory": 0, "jsonable": 0,
        "plain_text": 0, "whole": 0, "data": 1, "model": 2, "serve": 3, "ops": 4,
        "cli": 5, "__main__": 5, "__init__": 5}


def _name(path: Path) -> str:
    parts = path.relative_to(CORE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module this file imports, at the top or inside functions."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


MODULES = {_name(p): _imports(p) for p in sorted(CORE.rglob("*.py"))}
CORE_MODULES = set(MODULES)


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


SHARED = {f"core.{name}" for name, rank in RANK.items() if rank == 0}


def _core_deps(module: str) -> set[str]:
    """The core modules `module` imports (sub-package `__init__`s hold nothing)."""
    return {m for m in MODULES[module] - {module}
            if m in SHARED or (m in CORE_MODULES and m.count(".") >= 2)}


def _store_backed() -> set[str]:
    """core.data modules that reach core.data.store through their imports."""
    backed = {"core.data.store"}
    changed = True
    while changed:
        changed = False
        for module in MODULES:
            if module.startswith("core.data.") and module not in backed \
                    and _core_deps(module) & backed:
                backed.add(module)
                changed = True
    return backed


def test_every_module_sits_in_a_known_layer():
    unknown = sorted(m for m in MODULES if _layer(m) not in RANK)
    assert not unknown, f"modules outside the layers {sorted(RANK)}: {unknown}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_only_from_its_layer_or_below(module):
    rank = RANK[_layer(module)]
    upward = sorted(dep for dep in _core_deps(module) if RANK[_layer(dep)] > rank)
    assert not upward, f"{module} (layer {_layer(module)}) imports from above: {upward}"


def test_model_needs_no_store():
    backed = _store_backed()
    assert {"core.data.store", "core.data.datasets", "core.data.ingest"} <= backed
    offending = {m: sorted(_core_deps(m) & backed) for m in MODULES
                 if m.startswith("core.model.") and _core_deps(m) & backed}
    assert not offending, f"core/model uses the store: {offending}"


def test_core_never_imports_streamlit_or_the_pages():
    offending = {m: sorted(i for i in imports
                           if i.split(".")[0] in {"streamlit", "app_pages", "ui", "app"})
                 for m, imports in MODULES.items()}
    assert not {m: i for m, i in offending.items() if i}


def loaded_in_a_fresh_process(statements: str, modules: tuple[str, ...]) -> list[str]:
    """Which of `modules` a new Python process has imported after `statements`."""
    code = (f"import sys; {statements}; "
            f"print(','.join(m for m in {modules!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=CORE.parent, timeout=120, check=True).stdout.strip()
    return out.split(",") if out else []


def test_fitting_a_model_loads_no_store_in_a_fresh_process():
    """What a notebook imports for `CampaignModel` pulls in neither the store nor duckdb."""
    loaded = loaded_in_a_fresh_process("import core; core.CampaignModel; core.read_terms",
                                       ("core.data.store", "duckdb", "streamlit"))
    assert loaded == [], f"importing the notebook API loaded {loaded}"


def test_the_cli_and_the_registry_load_no_modelling_library_in_a_fresh_process():
    """`python -m core models` (and every command that reads the registry) imported
    gensim, scipy.stats and scikit-learn at the top of modules it only needed a function
    of: 2.6 s a command, 1.1 s without them. They load where a model is fitted or read."""
    loaded = loaded_in_a_fresh_process("import core.cli, core.serve.registry",
                                       ("gensim", "sklearn", "scipy.stats"))
    assert loaded == [], f"importing the CLI and the registry loaded {loaded}"

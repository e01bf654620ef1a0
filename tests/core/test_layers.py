"""The structure the layers promise (.importlinter, docs/architecture.md)."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

APPS = ("core", "tenants", "users", "events", "audit", "ledger", "closeout", "webhooks", "providers",
        "reconciliation", "console", "demo", "zentra_site")


def _modules():
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path


def _imports_inside_functions(path: Path) -> list[str]:
    found = []

    def visit(node: ast.AST, function: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                visit(child, child.name)
            elif isinstance(child, (ast.Import, ast.ImportFrom)):
                if function is not None and not (function == "ready" and path.name == "apps.py"):
                    found.append(f"{path.relative_to(ROOT)}:{child.lineno} in {function}()")
            else:
                visit(child, function)

    visit(ast.parse(path.read_text()), None)
    return found


def test_no_import_inside_a_function_but_in_app_ready():
    """An import inside a function hides a cycle between modules; only
    AppConfig.ready() may import late (Django loads models first)."""
    found = [hit for path in _modules() for hit in _imports_inside_functions(path)]
    assert found == []


def test_ready_imports_say_why():
    missing = []
    for path in ROOT.glob("*/apps.py"):
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            if line.startswith(("        from ", "        import ")):
                # One comment may explain a group of imports: look up the group.
                j = i
                while j > 0 and (lines[j].startswith(("        from ", "        import ")) or not lines[j].strip()):
                    if "#" in lines[j]:
                        break
                    j -= 1
                if "#" not in lines[j]:
                    missing.append(f"{path.relative_to(ROOT)}:{i + 1}")
    assert missing == []


def test_the_layer_contract_holds():
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "Contracts: 1 kept, 0 broken." in done.stdout

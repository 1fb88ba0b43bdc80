# SPDX-License-Identifier: GPL-2.0-or-later
"""The package's tiers: stdlib-only host and CLI, imports only downwards, and no import cycle.

Tiers, bottom up: the shared base (the package's top-level modules), host/, cli/, installer/,
then the front-ends tui/ and installer/cli.py (imgbase-install), then the anaconda glue
(service/, categories/, tui/spokes/).  Every module is found by walking the package, so a new
module is checked without anyone adding it to a list.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.repo import ROOT as REPO_ROOT

PKG = "org_ovirt_imgbased"
ROOT = REPO_ROOT
TOP = ROOT / PKG


def all_modules() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its __init__)."""
    found = {}
    for path in sorted(TOP.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = all_modules()


def tier(module: str) -> int:
    """The tier rank of a module: higher tiers may import lower ones, never the reverse."""
    rel = module.split(".")[1:]
    if rel[:2] == ["tui", "spokes"] or rel[:1] in (["service"], ["categories"]):
        return 5
    if rel[:1] == ["tui"] or rel[:2] == ["installer", "cli"]:
        return 4
    if rel[:1] == ["installer"]:
        return 3
    if rel[:1] == ["cli"] or rel == ["__main__"]:
        return 2
    if rel[:1] == ["host"]:
        return 1
    return 0


def imports_of(module: str) -> set[str]:
    """The package modules that module imports anywhere (top level, functions, TYPE_CHECKING)."""
    tree = ast.parse(MODULES[module].read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == PKG}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == PKG:
            assert node.level == 0, f"{module}: relative import; the package uses absolute imports"
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in MODULES else node.module)
    return {m for m in found if m in MODULES and m != module}


def test_every_module_is_in_a_tier_and_imports_only_downwards():
    """No module imports one of a higher tier (host never reaches the installer, UI or glue)."""
    wrong = [f"{m} (tier {tier(m)}) imports {dep} (tier {tier(dep)})"
             for m in MODULES for dep in sorted(imports_of(m)) if tier(dep) > tier(m)]
    assert wrong == []


def test_host_imports_nothing_from_installer_ui_or_glue():
    """The host library stands alone: nothing from installer/, tui/, service/, categories/ or cli/."""
    above = ("installer", "tui", "service", "categories", "cli")
    host = [m for m in MODULES if m.startswith(f"{PKG}.host")]
    assert len(host) > 30
    wrong = [f"{m} -> {d}" for m in host for d in imports_of(m) if d.split(".")[1] in above]
    assert wrong == []


def test_no_import_cycle():
    """The import graph of the package (every import, lazy ones too) has no cycle."""
    graph = {m: imports_of(m) for m in MODULES}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                cycles.append(path[path.index(dep):] + [dep] if dep in path else [node, dep])
            elif dep not in state:
                visit(dep, path + [dep])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_host_and_cli_need_no_site_packages():
    """python -S (no site-packages at all) imports every base, host and CLI module and runs --help."""
    stdlib_tier = sorted(m for m in MODULES if tier(m) <= 2 and not m.endswith("__main__"))
    assert f"{PKG}.host.boot.entries" in stdlib_tier and f"{PKG}.cli.update" in stdlib_tier
    code = "; ".join(f"import {m}" for m in stdlib_tier)
    subprocess.run([sys.executable, "-S", "-c", code], cwd=ROOT, check=True)
    out = subprocess.run([sys.executable, "-S", "-m", PKG, "--help"], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    assert "update" in out and "rollback" in out


def test_anaconda_directories_hold_only_their_modules():
    """anaconda imports every .py file in <addon>/tui/spokes and <addon>/categories: only ours are there."""
    for where, expected in (("tui/spokes", {"__init__.py", "imgbased.py"}),
                            ("categories", {"__init__.py", "imgbased.py"})):
        assert {p.name for p in (TOP / where).glob("*.py")} == expected


def imports_pyanaconda(path: Path) -> bool:
    """Whether a Python file imports pyanaconda (any form, at any depth)."""
    try:
        tree = ast.parse(path.read_text(errors="replace"))
    except SyntaxError:
        return False
    for node in ast.walk(tree):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module or ""] if isinstance(node, ast.ImportFrom) else []
        if any(n == "pyanaconda" or n.startswith("pyanaconda.") for n in names):
            return True
    return False


def test_pyanaconda_is_imported_only_by_the_anaconda_glue():
    """The glue (service/, tui/, gui/, categories/), tests and the installer's launcher import pyanaconda."""
    launcher = ROOT / "image-tools/installer-recipe/overlay/usr/libexec/imgbased-installer/anaconda-run"
    allowed = {"service", "tui", "gui", "categories", "tests"}
    files = [p for p in ROOT.rglob("*.py") if ".venv" not in p.parts and not allowed & set(p.parts)]
    assert any(p.parent.name == "installerlib" for p in files) and TOP / "host/fetch.py" in files
    assert [str(p.relative_to(ROOT)) for p in files if imports_pyanaconda(p)] == []
    assert imports_pyanaconda(launcher), "the installer's launcher is where anaconda is started"


def test_every_module_below_the_glue_imports():
    """Every module up to the front-ends imports in the test venv (the glue needs anaconda itself)."""
    below_glue = sorted(m for m in MODULES if tier(m) <= 4 and not m.endswith("__main__"))
    assert f"{PKG}.installer.cli" in below_glue and f"{PKG}.tui.screens" in below_glue
    code = "; ".join(f"import {m}" for m in below_glue)
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_every_directory_is_a_package():
    """Each directory has an __init__.py, so packaging (find_packages) ships every module."""
    missing = [str(d.relative_to(ROOT)) for d in [TOP, *TOP.rglob("*")]
               if d.is_dir() and d.name != "__pycache__" and not (d / "__init__.py").exists()]
    assert missing == []

"""The package keeps one direction of flow: load -> validate -> context -> render -> verify ->
write, with the CLI on top. Read from the modules' own imports and calls (the AST), so a new
shortcut fails here rather than in a review."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "codemate_tfgen"
MODULES = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem not in ("__init__", "__main__"))

# Each step sees the steps before it and the shared leaves, never a later one.
ORDER = ["spec", "validate", "context", "render", "verify", "tree", "pipeline", "cli"]
LATER = {step: set(ORDER[index + 1:]) for index, step in enumerate(ORDER)}


def tree(module: str) -> ast.Module:
    return ast.parse((PACKAGE / f"{module}.py").read_text("utf-8"))


def imported(module: str) -> set[str]:
    """The codemate_tfgen modules a module imports, at the top or inside functions."""
    found = set()
    for node in ast.walk(tree(module)):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("codemate_tfgen"):
            found.add(node.module.removeprefix("codemate_tfgen").lstrip(".") or "")
            if node.module == "codemate_tfgen":
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name.removeprefix("codemate_tfgen.") for alias in node.names
                         if alias.name.startswith("codemate_tfgen"))
    return {name.split(".")[0] for name in found if name}


def test_every_step_is_in_the_order_or_a_leaf():
    assert set(ORDER) <= set(MODULES)


@pytest.mark.parametrize("module", [m for m in ORDER if LATER[m]])
def test_a_step_imports_no_later_step(module):
    assert imported(module) & LATER[module] == set()


def test_the_writer_and_the_renderer_share_the_layout_not_each_other():
    assert "render" not in imported("tree")
    assert "layout" in imported("tree") and "layout" in imported("render")


def test_only_the_cli_prints():
    """Library code reports through what it returns (and the reporter the CLI gives it)."""
    for module in MODULES:
        if module == "cli":
            continue
        calls = [node for node in ast.walk(tree(module)) if isinstance(node, ast.Call)]
        printing = [c.lineno for c in calls if isinstance(c.func, ast.Name) and c.func.id == "print"]
        echoing = [c.lineno for c in calls if isinstance(c.func, ast.Attribute) and c.func.attr == "echo"
                   and isinstance(c.func.value, ast.Name) and c.func.value.id == "click"]
        assert (printing, echoing) == ([], []), module


def test_only_gitrefs_runs_git():
    for module in MODULES:
        uses = any(isinstance(node, (ast.Import, ast.ImportFrom))
                   and "subprocess" in ([a.name for a in node.names] if isinstance(node, ast.Import) else [node.module])
                   for node in ast.walk(tree(module)))
        assert uses == (module == "gitrefs"), module


def test_the_cli_offers_the_scenarios_the_cost_model_knows():
    from codemate_tfgen import cli, cost, scenarios

    option = next(p for p in cli.cost.params if p.name == "scenario")
    assert tuple(option.type.choices) == scenarios.SCENARIOS
    assert cost.OPTIMIZATIONS is scenarios.OPTIMIZATIONS
    assert set(cost.APPLY) == set(scenarios.OPTIMIZATIONS)

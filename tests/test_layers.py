"""The package keeps one direction of flow: load -> validate -> context -> render -> verify ->
write, with the CLI on top. Read from the modules' own imports and calls (the AST), so a new
shortcut fails here rather than in a review."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "codemate_tfgen"
# Every module by its dotted name below the package: "cli", "spec.load", "render.templates", ...
MODULES = sorted(".".join(p.relative_to(PACKAGE).with_suffix("").parts) for p in PACKAGE.rglob("*.py")
                 if p.stem not in ("__init__", "__main__") and "templates" not in p.relative_to(PACKAGE).parts[:-1])

# Each stage sees the stages before it and the shared leaves, never a later one; inside a stage's
# package, its modules keep the same order.
ORDER = ["spec.load", "spec.validate", "render.context", "render.templates", "verify.crossref", "tree",
         "pipeline", "cli"]
STAGES = ["spec", "render", "verify", "tree", "pipeline", "cli"]
LATER = {step: set(ORDER[index + 1:]) | set(STAGES[STAGES.index(step.split(".")[0]) + 1:])
         for index, step in enumerate(ORDER)}


def tree(module: str) -> ast.Module:
    return ast.parse((PACKAGE / f"{module.replace('.', '/')}.py").read_text("utf-8"))


def imported(module: str) -> set[str]:
    """The codemate_tfgen modules a module imports, at the top or inside functions, as dotted names
    below the package; a subpackage imported whole (`from codemate_tfgen.spec import load`) counts
    as each module it names and as the package."""
    found = set()
    for node in ast.walk(tree(module)):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("codemate_tfgen"):
            base = node.module.removeprefix("codemate_tfgen").lstrip(".")
            if base:
                found.add(base)
            if base in ("", *{m.split(".")[0] for m in MODULES if "." in m}):
                found.update(f"{base}.{alias.name}".lstrip(".") for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name.removeprefix("codemate_tfgen.") for alias in node.names
                         if alias.name.startswith("codemate_tfgen."))
    return {name for name in found if name in MODULES} | {name.split(".")[0] for name in found}


def test_every_step_is_in_the_order_or_a_leaf():
    assert set(ORDER) <= set(MODULES)


@pytest.mark.parametrize("module", [m for m in ORDER if LATER[m]])
def test_a_step_imports_no_later_step(module):
    assert imported(module) & LATER[module] == set()


@pytest.mark.parametrize("module", [m for m in MODULES if m.split(".")[0] in STAGES and m not in ORDER])
def test_a_stage_module_imports_no_later_stage(module):
    stage = module.split(".")[0]
    assert imported(module) & set(STAGES[STAGES.index(stage) + 1:]) == set()


def test_cost_reads_specs_and_renders_nothing():
    """The estimate works from a valid spec: the render, verify and write stages are not its business."""
    for module in (m for m in MODULES if m.startswith("cost.")):
        assert imported(module) & {"render", "verify", "tree", "pipeline", "cli"} == set(), module


def test_the_writer_and_the_renderer_share_the_layout_not_each_other():
    assert "render" not in imported("tree")
    assert "layout" in imported("tree") and "layout" in imported("render.templates")


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


def test_only_the_cli_names_its_options():
    """An error raised below the CLI names the value it refuses; the CLI, which knows the option
    that gave it, names the option (cli._option). The options are read from the commands."""
    from codemate_tfgen import cli

    options = {opt for command in cli.main.commands.values() for param in command.params
               for opt in param.opts if opt.startswith("--")}
    for module in MODULES:
        if module == "cli":
            continue
        raised = [node for node in ast.walk(tree(module)) if isinstance(node, ast.Raise)]
        texts = [(raise_.lineno, piece.value) for raise_ in raised for piece in ast.walk(raise_)
                 if isinstance(piece, ast.Constant) and isinstance(piece.value, str)]
        named = [(line, option) for line, text in texts for option in options
                 if any(word.strip(".,;:()'\"") == option for word in text.split())]
        assert named == [], module


def test_only_gitrefs_runs_git():
    for module in MODULES:
        uses = any(isinstance(node, (ast.Import, ast.ImportFrom))
                   and "subprocess" in ([a.name for a in node.names] if isinstance(node, ast.Import) else [node.module])
                   for node in ast.walk(tree(module)))
        assert uses == (module == "gitrefs"), module


def test_the_cli_offers_the_scenarios_the_cost_model_knows():
    from codemate_tfgen import cli
    from codemate_tfgen.cost import model as cost
    from codemate_tfgen.cost import scenarios

    option = next(p for p in cli.cost.params if p.name == "scenario")
    assert tuple(option.type.choices) == scenarios.SCENARIOS
    assert cost.OPTIMIZATIONS is scenarios.OPTIMIZATIONS
    assert set(cost.APPLY) == set(scenarios.OPTIMIZATIONS)


def test_test_modules_import_no_other_test_module():
    """What tests share lives in conftest (fixtures, the project's paths) and support (helpers):
    a test module that imports another runs that one's module-level work and ties the two."""
    tests = Path(__file__).resolve().parent
    for path in sorted(tests.rglob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not [n for n in names if n.split(".")[-1].startswith("test_")], path.relative_to(tests)


def test_templates_take_decisions_from_the_context():
    """Whether an optional part exists is decided once, in render/context.py (Flags, Service):
    a template that tests the spec values for it (`settings.x is defined`, `{% if settings.x %}`)
    decides it again."""
    import re

    templates = PACKAGE.parent / "templates"
    found = [f"{path.relative_to(templates)}:{number}" for path in sorted(templates.rglob("*.j2"))
             for number, line in enumerate(path.read_text("utf-8").splitlines(), 1)
             if re.search(r"\bsettings(\.\w+)+ is (not )?defined|\{%-?\s*(el)?if\b[^%]*\bsettings\.", line)]
    assert found == []

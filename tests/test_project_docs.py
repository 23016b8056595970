"""The project's own documentation (README.md and docs/) holds together: every relative link
names a file that exists and, with a #fragment, a heading that file has (GitHub's anchors)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def anchors(page: Path) -> set[str]:
    """GitHub's anchor of each heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"```.*?```", "", page.read_text("utf-8"), flags=re.DOTALL)
    headings = re.findall(r"^#+ (.+)$", text, re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def links(page: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", page.read_text("utf-8"), flags=re.DOTALL)
    return [target for target in LINK.findall(text) if not re.match(r"[a-z]+:", target)]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_relative_links_resolve(page):
    broken = []
    for target in links(page):
        path, _, fragment = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif fragment and linked.suffix == ".md" and fragment not in anchors(linked):
            broken.append(f"{target}: no such heading in {linked.relative_to(REPO)}")
    assert broken == []


def test_every_docs_page_is_linked_from_the_readme():
    listed = {Path(target.partition("#")[0]).name for target in links(REPO / "README.md")}
    assert sorted(p.name for p in PAGES[1:] if p.name not in listed) == []


def benchmark_script():
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location("benchmark", REPO / "scripts" / "benchmark.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_the_performance_figures_are_the_benchmarks_own():
    """docs/performance.md's figures are one block written by `scripts/benchmark.py --docs`:
    its targets are the script's, with the script's limits (a target or limit changed in the
    script and not re-measured shows here)."""
    bench = benchmark_script()
    text = (REPO / "docs" / "performance.md").read_text("utf-8")
    assert text.count(bench.DOCS_BEGIN) == 1 and text.count(bench.DOCS_END) == 1
    block = text.split(bench.DOCS_BEGIN)[1].split(bench.DOCS_END)[0]
    assert re.search(r"^`python scripts/benchmark\.py[^`]*` on \d{4}-\d{2}-\d{2}: ", block.strip(), re.M)
    table = block.split("| target | limit |", 1)[1].split("\n\n", 1)[0]
    rows = re.findall(r"^\| (.+?) \| ([\d.]+)(x| s| MB) \| ", table, re.M)
    limits = {name: (float(limit), unit) for name, limit, unit in rows}
    assert len(limits) == len(bench.TARGETS)
    assert sorted(limit for limit, _ in limits.values()) == sorted(bench.TARGETS.values())


def test_the_tree_map_names_every_script():
    """The scripts line of docs/generated-tree.md is the scripts templates/scripts/ renders."""
    drawn = re.search(r"scripts/\{([\w,-]+)\}\.sh", (REPO / "docs" / "generated-tree.md").read_text("utf-8"))
    assert drawn
    rendered = {p.name.removesuffix(".sh.j2") for p in (REPO / "templates" / "scripts").glob("[!_]*.sh.j2")}
    assert set(drawn[1].split(",")) == rendered


def test_the_tree_map_names_every_module_in_the_layout_and_the_parts():
    """docs/generated-tree.md draws the modules (`group/{a,b}/` lines) and maps the design's parts
    to them: a module added under templates/modules/ or removed shows up here."""
    text = (REPO / "docs" / "generated-tree.md").read_text("utf-8")
    root = REPO / "templates" / "modules"
    modules = {path.parent.relative_to(root).as_posix() for path in root.glob("*/*/main.tf.j2")}
    groups = {module.split("/")[0] for module in modules}
    drawn = {f"{group}/{name}" for group, names in re.findall(r"(\w+)/\{?([\w,-]+)\}?/", text.split("```")[1])
             if group in groups for name in names.split(",")}
    assert drawn == modules
    table = "\n".join(line for line in text.splitlines() if line.startswith("| "))
    assert {m for m in modules if not re.search(rf"(?<![\w-]){re.escape(m.split('/')[1])}(?![\w-])", table)} == set()

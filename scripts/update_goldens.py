#!/usr/bin/env python3
"""Regenerate every golden tree after an intended change, then review `git diff` and commit:

- generated/ from specs/ (what `tfgen render --all` writes);
- tests/golden/<variant>/generated/ from tests/golden/<variant>/specs/: each variant's tree
  without modules/, which every variant shares with generated/ (tests/test_golden.py checks).

    .venv/bin/python scripts/update_goldens.py
    python scripts/update_goldens.py --check   # the commit hook: exit 1 and the command when a variant is stale
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
GOLDEN = REPO / "tests" / "golden"
sys.path.insert(0, str(REPO))

from codemate_tfgen import pipeline  # noqa: E402
from codemate_tfgen.project import locate  # noqa: E402


def variant_files(variant: Path) -> dict[str, str]:
    """A variant's rendered tree as the golden directory keeps it: without the shared modules."""
    files = pipeline.build(locate(REPO, variant / "specs"), ())[0]
    return {path: text for path, text in files.items() if not path.startswith("infrastructure/modules/")}


def committed_files(variant: Path) -> dict[str, str]:
    target = variant / "generated"
    return {path.relative_to(target).as_posix(): path.read_text("utf-8")
            for path in sorted(target.rglob("*")) if path.is_file()}


def check() -> int:
    """Exit 1 naming each stale variant and its changed files: a template or tfgen change that
    alters a variant must commit the variant's new tree with it, as tests/test_golden.py requires."""
    stale = 0
    for variant in sorted(p for p in GOLDEN.iterdir() if (p / "specs").is_dir()):
        fresh, committed = variant_files(variant), committed_files(variant)
        changed = sorted(path for path in set(fresh) | set(committed) if fresh.get(path) != committed.get(path))
        if changed:
            stale += 1
            where = variant.relative_to(REPO) / "generated"
            print(f"{where}: stale: {', '.join(changed)}", file=sys.stderr)
    if stale:
        print("golden variants are stale; run `python scripts/update_goldens.py` and commit the result",
              file=sys.stderr)
    return 1 if stale else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 with the command to run when a golden variant is stale")
    if parser.parse_args().check:
        return check()
    drift = pipeline.render_to_disk(locate(REPO), ())
    print(f"generated/: {len(drift.changed) + len(drift.missing) + len(drift.orphaned)} files changed")
    for variant in sorted(p for p in GOLDEN.iterdir() if (p / "specs").is_dir()):
        target = variant / "generated"
        shutil.rmtree(target, ignore_errors=True)
        files = variant_files(variant)
        for path, text in files.items():
            (target / path).parent.mkdir(parents=True, exist_ok=True)
            (target / path).write_text(text, "utf-8")
        print(f"{target.relative_to(REPO)}: {len(files)} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())

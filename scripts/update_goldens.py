#!/usr/bin/env python3
"""Regenerate every golden tree after an intended change, then review `git diff` and commit:

- generated/ from specs/ (what `tfgen render --all` writes);
- tests/golden/<variant>/generated/ from tests/golden/<variant>/specs/: each variant's tree
  without modules/, which every variant shares with generated/ (tests/test_golden.py checks).

    .venv/bin/python scripts/update_goldens.py
"""

from __future__ import annotations

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


def main() -> int:
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

"""The code style configured in pyproject.toml ([tool.ruff]) holds for the package, its tests and
scripts: checked here, so CI refuses what a local editor might not have flagged."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_ruff_finds_nothing():
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "codemate_tfgen", "tests", "scripts"],
                          cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr

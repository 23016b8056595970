"""Credentials never pass through tfgen: realistic key shapes in spec strings are refused
(exit 2, naming the field), and no generated file contains anything shaped like one."""

from __future__ import annotations

import re

import pytest
import yaml
from conftest import SPECS, project_of
from support import credential_shapes

from codemate_tfgen import pipeline

# Shapes as real credentials have them (made-up values; the AWS ones follow AWS's documented form).
SECRETS = {
    "aws_access_key_id": "AKIA2E0A8F3B244C9986",
    "aws_session_key_id": "ASIAY34FZKBOKMUTVV7A",
    "aws_secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "aws_secret_access_key_no_slash": "Zx8bQ2mN4vR7tY1uK3pL6sD9fG0hJ5wE2aC4xV7b",
    "anthropic_key": "sk-ant-api03-Qm9vYmFyQmF6UXV4cXV1eC1hYmNkZWZnaGlqa2xtbm9w",
    "github_token": "ghp_R2h1YlRva2VuRXhhbXBsZTEyMzQ1Njc4OTBhYg",
    "pem_private_key": "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo\n"
                       "-----END RSA PRIVATE KEY-----",
    "openssh_private_key": "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU=\n",
}

# Spec fields that take a string, how a secret would sit in them, and the JSON path reported.
FIELDS = {
    "tag value": (("tags", "Owner"), "{}", '$.tags.Owner'),
    "tag value inside text": (("tags", "Note"), "key={} (rotate!)", '$.tags.Note'),
    "alarm email": (("monitoring", "alarm_email"), "{}@code1398.io", "$.monitoring.alarm_email"),
    "branch": (("cicd", "branch"), "feature/{}", "$.cicd.branch"),
    "health check path": (("services", "frontend", "health_check_path"), "/{}",
                          "$.services.frontend.health_check_path"),
    "lock table": (("backend", "dynamodb_table"), "{}", "$.backend.dynamodb_table"),
    "unknown key": (("network", "access"), "{}", "$.network.access"),
}


def _set(data: dict, path: tuple[str, ...], value: str) -> None:
    for key in path[:-1]:
        data = data.setdefault(key, {})
    data[path[-1]] = value


@pytest.mark.parametrize("secret", sorted(SECRETS))
@pytest.mark.parametrize("field", sorted(FIELDS))
def test_credential_in_a_spec_is_refused(cli, specs, tmp_path, secret, field):
    path, shape, json_path = FIELDS[field]
    dev = specs / "dev.yaml"
    data = yaml.safe_load(dev.read_text("utf-8"))
    _set(data, path, shape.format(SECRETS[secret]))
    dev.write_text(yaml.safe_dump(data, sort_keys=False), "utf-8")
    code, out, err = cli("render", "dev", "--specs", "specs", "--out", tmp_path / "out")
    assert code == 2, out + err
    flagged = [line for line in err.splitlines() if f": {json_path}: looks like " in line]
    assert flagged and flagged[0].startswith("specs/dev.yaml:"), err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_shapes_find_every_sample():
    """The scan below is only as good as the shapes: each sample credential is found."""
    for name, value in SECRETS.items():
        assert credential_shapes(f"x {value} y"), name


def test_no_generated_file_holds_a_credential():
    files, _owners = pipeline.build(project_of(SPECS), ())
    assert files
    paths = frozenset(files)
    leaks = {path: found for path, text in files.items() if (found := credential_shapes(text, paths))}
    assert leaks == {}


def test_secret_key_shapes_do_not_flag_ordinary_values():
    """Guard against the shapes refusing normal specs: long lowercase names, paths, hashes."""
    ordinary = ["codemate-terraform-state", "/api/health", "feature/add-login-page", "a" * 40,
                "0123456789abcdef0123456789abcdef01234567", "ELBSecurityPolicy-TLS13-1-2-2021-06"]
    for value in ordinary:
        assert not credential_shapes(value), value
    assert not re.search(r"\s", "".join(ordinary))

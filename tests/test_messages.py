"""Messages about what a user changed land where the user changed it, on the tests' own spec set
(tests/fixtures/project): a copied environment's conflicts at the copy, a broken environment as
itself, a template mistake at its template line, and `tfgen new`'s placeholders.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import edit

from codemate_tfgen.cli import main


@pytest.fixture
def here(project: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The private project of the fixture specs (conftest), as the working directory."""
    monkeypatch.chdir(project)
    return project


def tfgen(*args: object) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def git(project: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=project,
                   check=True, capture_output=True)


def committed(project: Path) -> Path:
    git(project, "init", "-q")
    git(project, "add", "specs")
    git(project, "commit", "-q", "-m", "specs")
    return project


def copy_staging_to_qa(project: Path) -> None:
    """qa.yaml as a user makes it: staging.yaml copied, a host of its own (a shared one is the
    error below), its deploy branch and CORS origin left as staging's."""
    text = (project / "specs" / "staging.yaml").read_text()
    (project / "specs" / "qa.yaml").write_text(text.replace("hostname: codemate-staging", "hostname: codemate-qa"))


def test_a_copy_git_does_not_know_yet_gets_the_warnings(here):
    committed(here)
    copy_staging_to_qa(here)
    code, _out, err = tfgen("validate")
    assert code == 0, err
    assert [line.split(":")[0] for line in err.splitlines()] == ["specs/qa.yaml", "specs/qa.yaml"]
    assert "qa deploys branch staging of Nharu/codemate, as staging does (specs/staging.yaml:" in err
    assert "qa allows the CORS origin https://codemate-staging.code1398.io, as staging does" in err


def test_a_copy_keeping_the_host_is_refused_at_the_copy(here):
    committed(here)
    shutil.copy(here / "specs" / "staging.yaml", here / "specs" / "qa.yaml")
    for command in (["validate"], ["validate", "staging"], ["render", "--dry-run"]):
        code, _out, err = tfgen(*command)
        assert code == 2
        [error] = [line for line in err.splitlines() if "warning" not in line]
        assert error.startswith("specs/qa.yaml:11:13: $.dns.hostname: codemate-staging.code1398.io is "
                                "staging's host"), command


def test_a_copy_committed_later_is_the_newer(here):
    committed(here)
    copy_staging_to_qa(here)
    git(here, "add", "specs/qa.yaml")
    git(here, "commit", "-q", "-m", "qa")
    code, _out, err = tfgen("validate")
    assert (code, {line.split(":")[0] for line in err.splitlines()}) == (0, {"specs/qa.yaml"})


def test_without_git_the_environment_the_generated_tree_lacks_is_the_newer(here):
    code, _out, err = tfgen("render", "--all")
    assert code == 0, err
    copy_staging_to_qa(here)
    (here / "specs" / "qa.yaml").rename(here / "specs" / "a-qa.yaml")  # sorts before staging
    code, _out, err = tfgen("validate")
    assert (code, {line.split(":")[0] for line in err.splitlines()}) == (0, {"specs/a-qa.yaml"})


def test_a_priority_clash_names_the_rule_just_added(here):
    """A service added above the others in one file: the clash is its rule's, not the old one's."""
    committed(here)
    edit(here / "specs" / "_common.yaml", "services:\n  frontend:\n",
         "services:\n  admin:\n    cpu: 256\n    memory: 512\n    port: 3002\n    health_check_path: /health\n"
         "    desired_count: 1\n    min_count: 1\n    max_count: 1\n    cpu_target: 70\n    routing:\n      rules:\n"
         "        - priority: 90\n          paths: [/admin/*]\n  frontend:\n")
    code, _out, err = tfgen("validate", "dev")
    assert code == 2
    assert err == ("specs/_common.yaml:56:21: $.services.admin.routing.rules[0].priority: priority 90 is also used "
                   "by $.services.frontend.routing.rules[0]; each rule needs its own\n")


def test_a_relation_names_the_value_set_in_the_environment(here):
    """qa changes a task's CPU; the memory it no longer fits comes from _common.yaml."""
    copy_staging_to_qa(here)
    edit(here / "specs" / "qa.yaml", "  frontend: {desired_count: 2,", "  frontend: {cpu: 4096, desired_count: 2,")
    code, _out, err = tfgen("validate", "qa")
    assert code == 2
    assert err.startswith("specs/qa.yaml:15:19: $.services.frontend.cpu: Fargate does not accept 1024 MiB with "
                          "4096 CPU units")


@pytest.mark.parametrize("command", ["validate", "cost", "render"])
def test_a_broken_environment_is_reported_as_itself(here, command):
    """prod owns the account baseline: without it dev would be told to take it over."""
    (here / "specs" / "prod.yaml").write_text((here / "specs" / "prod.yaml").read_text() + "oops: [\n")
    code, out, err = tfgen(command, "dev")
    assert code == 2
    lines = err.splitlines()
    assert re.match(r"specs/prod\.yaml:\d+:\d+: \$: invalid YAML: this '\[' is never closed", lines[0])
    assert lines[1].startswith("tfgen: dev cannot be checked until prod loads and validates")
    assert "baseline" not in lines[0] and "set it in" not in err
    assert len(lines) == 2 and out == ""


def test_render_help_says_what_an_unselected_environment_does():
    code, out, _err = tfgen("render", "--help")
    assert code == 0
    assert "every environment in the specs folder validates (also those not selected" in " ".join(out.split())


@pytest.mark.parametrize("command", ["validate", "cost", "new"])
def test_commands_that_do_not_render_do_not_say_they_do(command):
    code, out, _err = tfgen(command, "--help")
    assert code == 0
    text = " ".join(out.split())
    assert "renders nothing" in text and "tfgen renders" not in text


def test_cost_against_a_spec_file_elsewhere_reads_the_projects_bases(here, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "staging.yaml"
    shutil.copy(here / "specs" / "staging.yaml", elsewhere)  # extends: _common.yaml, not beside it
    edit(elsewhere, "tasks: {frontend: 2, backend: 2}", "tasks: {frontend: 3, backend: 2}")
    code, out, err = tfgen("cost", "staging", "--against", elsewhere)
    assert code == 0, err
    assert out.splitlines()[-1].startswith("delta: -$")


# --- templates ------------------------------------------------------------------------------

APPLICATION = "templates/environments/main/application.tf.j2"
SECRETS_LINE = "{{ service.name | hcl_key }} = {{ service.secret_names | hcl }}"


def line_of(path: str, text: str) -> int:
    return next(n for n, line in enumerate(Path(path).read_text().splitlines(), 1) if text in line)


@pytest.mark.parametrize(("old", "new", "message"), [
    (SECRETS_LINE, SECRETS_LINE.replace("service.secret", "servce.secret"),
     ":39: 'servce' is undefined; did you mean 'service'?"),
    (SECRETS_LINE, SECRETS_LINE.replace("secret_names", "secret_namez"),
     ":47: a Service has no attribute 'secret_namez'; did you mean 'secret_names'?"),
    (SECRETS_LINE, SECRETS_LINE.replace("| hcl }}", "| hcll }}"),
     ":62: No filter named 'hcll'; did you mean 'hcl'?"),
    (SECRETS_LINE, SECRETS_LINE.replace("| hcl }}", "| hcl }"), ": unexpected '}'"),
    (SECRETS_LINE, "{% if service.secret_names %}" + SECRETS_LINE,
     ": {% if %} is never closed: Jinja reached line "),
    ('"${var.project}-{{ service.name }}-tg-${var.environment}"',
     '"${var.projet}-{{ service.name }}-tg-${var.environment}"',
     ":30: var.projet is not declared in the module's variables.tf; did you mean 'project'?"),
], ids=["undefined_name", "undefined_attribute", "unknown_filter", "syntax", "unclosed_block", "undeclared_variable"])
def test_a_template_mistake_is_the_users(here, old, new, message):
    line = line_of(APPLICATION, old)
    edit(here / APPLICATION, old, new)
    code, out, err = tfgen("render", "dev", "--dry-run")
    assert code == 2, err
    assert err.startswith(f"{APPLICATION}:{line}{message}"), err
    assert "internal error" not in err and len(err.splitlines()) == 1


# --- tfgen new ------------------------------------------------------------------------------

def test_new_marks_what_must_differ_and_validation_lists_it(here):
    code, out, err = tfgen("new", "qa", "--from", "staging")
    assert (code, err) == (0, "")
    listed = [line.strip() for line in out.splitlines()[1:]]
    assert [line.split(": ")[1] for line in listed] == [
        "$.dns.hostname", "$.storage.cors_allowed_origins[0]", "$.cicd.branch", "$.budget.monthly_limit_usd"]
    code, _out, err = tfgen("validate", "qa")
    assert code == 2
    assert err.splitlines() == listed
    assert "still to set: qa's own host name (staging has codemate-staging)" in err
    # The rest is staging's, comments and all.
    text = (here / "specs" / "qa.yaml").read_text()
    assert "extends: _common.yaml" in text and "# A release branch rehearses" in text


def test_new_adds_what_the_source_inherits_and_validates_once_set(here):
    """dev's branch and budget come from _common.yaml: the copy gets lines of its own for them."""
    code, _out, err = tfgen("new", "qa", "--from", "dev")
    assert code == 0, err
    path = here / "specs" / "qa.yaml"
    text = path.read_text()
    values = {"hostname": "codemate-qa", "cors_allowed_origins": '["https://codemate-qa.code1398.io"]',
              "branch": "qa", "monthly_limit_usd": "200"}
    for key, value in values.items():
        text = re.sub(rf"{key}: .*TODO:.*", f"{key}: {value}", text)
    path.write_text(text)
    code, out, err = tfgen("validate")
    assert (code, err) == (0, "")


@pytest.mark.parametrize(("args", "message"), [
    (["new", "staging", "--from", "dev"], "specs/staging.yaml exists already"),
    (["new", "qa", "--from", "stagin"], "--from stagin: no environment 'stagin' in specs; did you mean 'staging'?"),
    (["new", "QA", "--from", "dev"], "'QA': not an environment name"),
])
def test_new_refuses(here, args, message):
    code, _out, err = tfgen(*args)
    assert code == 2
    assert err.startswith(message)
    assert not (here / "specs" / "qa.yaml").exists()

"""Command line: assembles the pipeline steps and maps outcomes to exit codes.

Exit codes: 0 success, 1 stale tree or findings, 2 bad input or usage, 3 a bug in tfgen.
"""

from __future__ import annotations

import contextlib
import functools
import json
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from codemate_tfgen import __version__
from codemate_tfgen.cost.scenarios import SCENARIOS
from codemate_tfgen.errors import (
    ReplacementRefused,
    SpecProblem,
    SpecWarning,
    TfgenError,
    UsageError,
    ValueRefused,
)

if TYPE_CHECKING:
    from codemate_tfgen.project import Project
    from codemate_tfgen.report import Reporter

EXIT_OK, EXIT_STALE, EXIT_USAGE, EXIT_BUG = 0, 1, 2, 3


def _guarded(command: Callable[..., int]) -> Callable[..., Any]:
    """The one place where outcomes become exit codes."""

    @click.option("--debug", is_flag=True, help="Show the traceback of an internal error.")
    @functools.wraps(command)
    def wrapper(*args: Any, debug: bool, **kwargs: Any) -> None:
        # With --format json the specs' warnings and the errors go into the one JSON document.
        as_json = kwargs.get("fmt") == "json"
        warned: list[SpecProblem] = click.get_current_context().meta.setdefault(_WARNED, [])
        try:
            with _spec_warnings_on_stderr(warned if as_json else None):
                code = command(*args, **kwargs)
        except click.ClickException:
            raise  # click reports usage errors itself, with exit code 2
        except TfgenError as exc:
            if as_json:
                from codemate_tfgen import report

                click.echo(report.document(report.error_problems(exc) + _warnings_json()))
            else:
                for line in exc.lines():
                    click.echo(line, err=True)
            code = exc.exit_code
        except KeyboardInterrupt:
            click.echo("tfgen: interrupted; nothing was written", err=True)
            code = 130
        except Exception as exc:
            code = _unexpected(exc, debug)
        sys.exit(code)

    return wrapper


_WARNED = "tfgen.warned"  # the click context's list of the specs' warnings, kept for --format json


def _warnings_json() -> list[dict[str, Any]]:
    from codemate_tfgen import report

    return [report.problem(found, report.WARNING) for found in click.get_current_context().meta.get(_WARNED, [])]


@contextlib.contextmanager
def _spec_warnings_on_stderr(kept: list[SpecProblem] | None = None) -> Iterator[None]:
    """Warnings about the specs become lines on stderr like errors, printed as they come (all of
    them: each names its own value), or are appended to `kept`; other warnings are shown as
    Python shows them."""
    with warnings.catch_warnings():
        show = warnings.showwarning

        def print_spec_warning(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
            if isinstance(message, SpecWarning) and kept is not None:
                kept.append(message.problem)
            elif issubclass(category, SpecWarning):
                click.echo(str(message), err=True)
            else:
                show(message, category, *args, **kwargs)

        warnings.simplefilter("always", SpecWarning)
        warnings.showwarning = print_spec_warning
        yield


def _unexpected(exc: Exception, debug: bool) -> int:
    """A file system refusal (permissions, read-only, full disk) is the user's to fix; anything
    else is a bug: one line, traceback only on request. (Jinja's TemplateNotFound is an OSError
    without errno: a bug.)"""
    if isinstance(exc, OSError) and exc.errno is not None:
        where = f"{exc.filename}: " if exc.filename else ""
        click.echo(f"tfgen: {where}{exc.strerror or exc} (errno {exc.errno})", err=True)
        return EXIT_USAGE
    if debug:
        import traceback  # only an internal error needs it

        traceback.print_exc()
    summary = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
    click.echo(f"tfgen: internal error (a bug in tfgen, not in your spec): {summary}. "
               "Rerun with --debug and report the traceback.", err=True)
    return EXIT_BUG


_PROJECT_HELP = ("The project: a folder holding specs/ and templates/ [default: the nearest such folder from the "
                 "working directory upward].")
# Only the commands that render (and write or compare generated files) say which templates they use.
_project_option = click.option(
    "--project", "project_dir", type=click.Path(path_type=Path), metavar="DIR",
    help=_PROJECT_HELP + " tfgen renders PROJECT/templates, whichever way it was installed; the templates shipped "
                         "with tfgen only when PROJECT has no templates/ folder.")
_project_option_reading = click.option(
    "--project", "project_dir", type=click.Path(path_type=Path), metavar="DIR",
    help=_PROJECT_HELP + " This command reads PROJECT/specs only; it renders nothing.")
_specs_option = click.option("--specs", "specs_dir", type=click.Path(path_type=Path), metavar="DIR",
                             help="Directory of environment specs [default: PROJECT/specs].")
_out_option = click.option("--out", "out_dir", type=click.Path(path_type=Path), metavar="DIR",
                           help="Output root; tfgen manages OUT/infrastructure [default: PROJECT/generated].")


@contextlib.contextmanager
def _option(flag: str) -> Iterator[None]:
    """Library errors name the value they refuse; the CLI names the option that gave it."""
    try:
        yield
    except ValueRefused as exc:
        raise UsageError(f"{flag} {exc}") from None


def _project_options(*, out: bool) -> Callable[[Callable[..., int]], Callable[..., int]]:
    """--project, --specs and (with out) --out, handed to the command as one located Project."""

    def decorate(command: Callable[..., int]) -> Callable[..., int]:
        @functools.wraps(command)
        def wrapper(*args: Any, project_dir: Path | None, specs_dir: Path | None, out_dir: Path | None = None,
                    **kwargs: Any) -> int:
            from codemate_tfgen.project import locate

            if specs_dir is not None and not specs_dir.is_dir():
                raise UsageError(f"--specs {specs_dir}: specs directory not found")
            if project_dir is None:
                try:
                    project = locate(None, specs_dir, out_dir)
                except UsageError as exc:
                    raise UsageError(f"{exc}; run tfgen inside a project or give --project DIR") from None
            else:
                with _option("--project"):
                    project = locate(project_dir, specs_dir, out_dir)
            return command(*args, project=project, **kwargs)

        project_option = _project_option if out else _project_option_reading
        for option in reversed([project_option, _specs_option, *([_out_option] if out else [])]):
            wrapper = option(wrapper)
        return wrapper

    return decorate


_format_option = click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
    help="text for a terminal, json for editors and CI (one versioned shape: docs/team-workflow.md).")


def _echo_json(**fields: Any) -> None:
    """The command's outcome as the one JSON document, with the specs' warnings as its problems."""
    from codemate_tfgen import report

    click.echo(report.document(_warnings_json(), **fields))


_all_option = click.option("--all", "all_envs", is_flag=True,
                           help="Every environment in the specs directory (the default without ENV).")


@click.group(name="tfgen", context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="tfgen")
def main() -> None:
    """Generate CodeMate's AWS infrastructure as plain, verified Terraform.

    One YAML spec per environment (specs/<env>.yaml) is validated, rendered through the
    templates and verified in memory; only then is generated/infrastructure replaced, in one
    atomic step.

    tfgen works on a project: the nearest folder from the working directory upward that holds
    specs/ and templates/ (or --project DIR). It reads that project's specs/ and templates/ and
    writes its generated/, whichever way tfgen was installed.

    \b
    Exit codes: 0 ok, 1 stale or findings, 2 bad input or usage, 3 internal error.
    """


def _names(envs: tuple[str, ...], all_envs: bool) -> tuple[str, ...]:
    if envs and all_envs:
        raise click.UsageError("name environments or give --all, not both")
    return envs


@main.command()
@click.argument("envs", metavar="[ENV]...", nargs=-1)
@_all_option
@click.option("--dry-run", is_flag=True, help="Render and verify, print what would change, write nothing.")
@click.option("--diff", "show_diff", is_flag=True, help="With --dry-run: print the unified diff of each file that "
              "would change.")
@_format_option
@click.option("--allow-replace", is_flag=True,
              help="Write a change that destroys and recreates a stateful resource of a protected environment "
                   "(database deletion protection on), once its data is safe, or a blue/green service's target "
                   "groups (its paths answer 503 until the deployment moves the traffic).")
@_guarded
@_project_options(out=True)
def render(envs: tuple[str, ...], all_envs: bool, project: Project, dry_run: bool, show_diff: bool,
           fmt: str, allow_replace: bool) -> int:
    """Render, verify, then write the Terraform tree.

    Nothing is written unless every environment in the specs folder validates (also those not
    selected: the rules across environments and the generated README and scripts read every
    spec; a broken one is reported as itself) and the whole tree verifies; files tfgen generated
    before and no longer generates are removed, files it never generated are left alone. A
    Terraform file it did not generate in a folder of generated Terraform (e.g.
    environments/dev/extra.tf) gets a warning: Terraform loads it, and `tfgen check` fails until
    it is moved or removed.

    A spec change that would destroy and recreate a database, cache, bucket, KMS key, ECR
    repository or the state (compared with the tree on disk) is named with the safe way to
    make it; in an environment whose database has deletion protection it is refused (exit 2)
    unless --allow-replace is given. A root whose spec is gone is refused: see `tfgen retire`.

    \b
    Examples:
      tfgen render --all          # every environment
      tfgen render dev            # only dev (and the shared modules)
      tfgen render prod --dry-run --diff
      tfgen render --dry-run --format json   # what would change, with each file's diff
    """
    from codemate_tfgen import pipeline

    if show_diff and not dry_run:
        raise click.UsageError("--diff shows what --dry-run would change; give --dry-run")
    names = _names(envs, all_envs)
    reporter = _reporter(project)
    if dry_run:
        drift = pipeline.check(project, names)
    else:
        try:
            drift = pipeline.render_to_disk(project, names, reporter.waiting(), allow_replace)
        except ReplacementRefused as exc:
            raise UsageError("\n".join([*exc.changes, "tfgen: these changes replace stateful resources of a protected "
                                        "environment (database deletion protection on), a blue/green service's "
                                        "target groups, or fail the database's apply (an engine_version RDS refuses "
                                        "or defers); make them the safe way, or render with --allow-replace once "
                                        "the data is safe and the outage accepted"])) from None
    if fmt == "json":
        _echo_json(drift=drift)
    else:
        reporter.rendered(drift, dry_run=dry_run, diff=show_diff)
    return EXIT_OK


@main.command()
@click.argument("envs", metavar="[ENV]...", nargs=-1)
@_all_option
@_format_option
@_guarded
@_project_options(out=True)
def check(envs: tuple[str, ...], all_envs: bool, project: Project, fmt: str) -> int:
    """Fail with a diff when the generated tree is stale (read-only).

    Renders in memory and compares with OUT/infrastructure: prints a unified diff for each
    changed file and lists missing and orphaned files, and foreign ones: Terraform files
    (.tf, .tf.json, .tfvars) tfgen did not generate, in a folder of generated Terraform, which
    Terraform would load with them. Exit 0 when up to date, 1 when stale or foreign files are
    there.

    \b
    Examples:
      tfgen check                 # in a pre-commit hook or CI
      tfgen check prod --out build/generated
    """
    from codemate_tfgen import pipeline

    drift = pipeline.check(project, _names(envs, all_envs))
    if fmt == "json":
        _echo_json(drift=drift)
    else:
        _reporter(project).checked(drift, click.get_current_context().find_root().info_name)
    return EXIT_OK if drift.passes_check else EXIT_STALE


@main.command()
@click.argument("envs", metavar="ENV...", nargs=-1, required=True)
@_guarded
@_project_options(out=True)
def retire(envs: tuple[str, ...], project: Project) -> int:
    """Remove the generated root of environments whose spec was removed.

    The one way an environment leaves the tree: `render` and `check` refuse a root whose spec
    is gone, since its infrastructure may still be live and the scripts would no longer
    destroy it. Destroy the environment first, while its spec and root exist, then remove its
    spec and retire it; the other environments, the modules and the scripts are rendered as
    by `tfgen render`. An environment without the record scripts/destroy.sh leaves in its root
    once its state is empty (environments/ENV/.destroyed) is refused.

    \b
    Example:
      scripts/destroy.sh qa && git rm specs/qa.yaml && tfgen retire qa
    """
    from codemate_tfgen import pipeline

    reporter = _reporter(project)
    reporter.rendered(pipeline.retire(project, envs, reporter.waiting()), dry_run=False)
    click.echo(f"tfgen: retired {', '.join(envs)}: the scripts no longer know {'it' if len(envs) == 1 else 'them'}")
    return EXIT_OK


def _reporter(project: Project) -> Reporter:
    from codemate_tfgen.layout import ROOT
    from codemate_tfgen.report import Reporter
    from codemate_tfgen.spec.load import display_path

    return Reporter(click.echo, display_path(project.out / ROOT))


@main.command()
@click.argument("envs", metavar="[ENV]...", nargs=-1)
@_all_option
@_format_option
@_guarded
@_project_options(out=False)
def validate(envs: tuple[str, ...], all_envs: bool, project: Project, fmt: str) -> int:
    """Validate specs against the schema and the semantic rules only.

    \b
    Examples:
      tfgen validate              # every environment
      tfgen validate dev prod
    """
    from codemate_tfgen.spec.valid import load_valid_specs, select

    names = select(project.specs, _names(envs, all_envs))
    load_valid_specs(project.specs, names, out=project.out)
    if fmt == "json":
        _echo_json()
    else:
        click.echo(f"tfgen: {', '.join(names) or 'no environments'}: valid")
    return EXIT_OK


@main.command()
@click.argument("envs", metavar="[ENV]...", nargs=-1)
@_all_option
@click.option("--format", "fmt", type=click.Choice(["table", "markdown", "json"]), default="table",
              show_default=True, help="table for a terminal, markdown for a pull request, json for scripts.")
@click.option("--scenario", "scenario", multiple=True, metavar="NAME", default=("baseline",),
              show_default=True,
              type=click.Choice(SCENARIOS),
              help="baseline, optimized (the environment's usage.optimizations) or one optimization; "
                   "repeat to combine.")
@click.option("--against", "ref", metavar="REF",
              help="Print the monthly difference from REF: a git revision (its specs directory) "
                   "or a spec file (the bases it extends are read beside it, else from the specs directory).")
@_guarded
@_project_options(out=False)
def cost(envs: tuple[str, ...], all_envs: bool, project: Project, fmt: str, scenario: tuple[str, ...],
         ref: str | None) -> int:
    """Estimate the monthly AWS cost of environments from their specs.

    Resources come from the spec, quantities from its `usage` section, unit prices from the
    price book codemate_tfgen/data/prices-<region>.yaml (AWS's list prices for instances and
    Fargate, the design document's for the rest) with the project's specs/_prices.yaml over it
    (docs/cost.md). One ENV prints its line items, the total, each category's share and what is
    not priced; several (or --all, the default) are put side by side with their total and each
    one's share of its budget. With --against the last line is the monthly delta; the exit code is 0.

    \b
    Examples:
      tfgen cost dev                          # line items, total, category shares
      tfgen cost --all --format markdown      # environments side by side
      tfgen cost prod --scenario optimized    # the document's optimizations
      tfgen cost prod --against origin/main   # what this branch changes, line by line
      tfgen cost prod --against /tmp/prod.yaml
    """
    from codemate_tfgen.cost import model as costing
    from codemate_tfgen.cost import view as costview
    from codemate_tfgen.spec.valid import load_valid_specs, select

    names = select(project.specs, _names(envs, all_envs))
    specs = load_valid_specs(project.specs, names, out=project.out)
    estimates = [costing.estimate(spec, scenario) for spec in specs]
    if ref is not None:
        with _option("--against"):
            before = costing.reference_estimates(ref, project.specs, names, scenario)
        pairs = [(before[s.name], e) for s, e in zip(specs, estimates, strict=True)]
        text = costview.difference(pairs, ref, fmt)
    elif len(estimates) == 1:
        optimized = estimates[0].applied
        baseline = costing.estimate(specs[0]) if optimized else None
        text = costview.single(estimates[0], fmt, baseline)
    else:
        text = costview.side_by_side(estimates, fmt)
    if fmt == "json":
        _echo_json(**json.loads(text))  # the estimates inside the one shape every --format json has
    else:
        click.echo(text)
    return EXIT_OK


@main.command()
@click.option("--since", "ref", metavar="REF",
              help="The git revision to compare with [default: the merge base of HEAD with the default branch].")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="text for a terminal, json (a list of {environment, reasons}) for a CI matrix.")
@_guarded
@_project_options(out=False)
def affected(project: Project, ref: str | None, fmt: str) -> int:
    """List the environments whose Terraform a change touches, with the reasons.

    Renders the working tree and REF (its own specs, templates and, in tfgen's repository, its
    code, from an export: nothing is checked out) and compares the Terraform each environment's
    root loads: its own files and those of every module it calls. A change to a shared module
    lists every environment that calls it; a change to documentation lists none. Exit 0.

    \b
    Examples:
      tfgen affected                          # since the merge base with the default branch
      tfgen affected --since HEAD~1
      tfgen affected --format json            # [{"environment": "dev", "reasons": [...]}]
    """
    from codemate_tfgen import affected as changes

    with _option("--since"):
        since, found = changes.affected(project, ref)
    if fmt == "json":
        click.echo(json.dumps([entry.as_json() for entry in found], indent=2))
        return EXIT_OK
    for entry in found:
        click.echo(f"{entry.environment}: {', '.join(entry.reasons)}")
    click.echo(f"tfgen: {len(found) or 'no'} environment{'' if len(found) == 1 else 's'} affected since {since}")
    return EXIT_OK


@main.command()
@click.argument("target", metavar="PATH[:LINE]")
@_guarded
@_project_options(out=True)
def explain(target: str, project: Project) -> int:
    """Show where a generated line comes from: template line and spec values.

    Renders the tree afresh and names, for LINE of PATH (every line without LINE), the
    template file and line that wrote it and, in an environment's root, the spec values it
    reads (file:line:column). A module's values come from its callers: only its template is
    named.

    \b
    Examples:
      tfgen explain generated/infrastructure/environments/dev/main.tf:42
      tfgen explain generated/infrastructure/environments/prod/terraform.tfvars
    """
    from codemate_tfgen import explain as provenance

    path, line = provenance.parse_target(target)
    key, lines, stale = provenance.explain(project, path, line)
    if stale:
        click.echo(f"tfgen: warning: {path} differs from a fresh render; explaining the fresh render "
                   "(run `tfgen render` to update it)", err=True)
    for found in lines:
        where = str(found.origin) if found.origin else "header" if found.text.strip() else "-"
        click.echo(f"{key}:{found.number}: {found.text.strip()}" if line is not None
                   else f"{found.number:>5}  {where}" + "".join(f"  {v}" for v in found.values))
        if line is not None:
            click.echo(f"  template: {where}")
            for value in found.values:
                click.echo(f"  spec: {value}")
    return EXIT_OK


@main.command(name="new")
@click.argument("env", metavar="ENV")
@click.option("--from", "source", required=True, metavar="SOURCE",
              help="The environment whose spec the new one starts from.")
@_guarded
@_project_options(out=False)
def new(env: str, source: str, project: Project) -> int:
    """Write specs/ENV.yaml, a copy of SOURCE's spec with what must differ marked.

    The copy keeps SOURCE's comments, base (extends) and values, except the ones two
    environments must not share: the host name, the deploy branch, the CORS origins and the
    budget. Each of those holds a TODO placeholder saying what to set; validation refuses the
    spec, naming each one, until all are set. Nothing else is written: render once the spec
    validates. An ENV that exists already, or a SOURCE that does not, exits 2.

    \b
    Examples:
      tfgen new qa --from staging     # then edit specs/qa.yaml
      tfgen validate qa               # lists the TODOs still to set
      tfgen render qa
    """
    from codemate_tfgen.errors import SpecError
    from codemate_tfgen.spec.load import display_path, load_spec
    from codemate_tfgen.spec.scaffold import new_environment
    from codemate_tfgen.spec.validate import placeholder_problems

    with _option("--from"):
        written = new_environment(project.specs, env, source)
    click.echo(f"tfgen: wrote {display_path(written)} from {source}; set each of these, then `tfgen render {env}`:")
    try:
        todo = placeholder_problems(load_spec(project.specs, env))
    except SpecError as exc:  # the copy reads as its source did: a problem there is one here
        todo = exc.problems
    for problem in sorted(todo, key=lambda problem: problem.order()):
        click.echo(f"  {problem}")
    return EXIT_OK


@main.command()
@_guarded
def schema() -> int:
    """Print the JSON Schema of a spec file.

    Specs name it in their first line (`# yaml-language-server: $schema=...`) so editors
    complete and check them.

    \b
    Example:
      tfgen schema > spec.schema.json
    """
    from codemate_tfgen.spec.schema import spec_schema

    click.echo(json.dumps(spec_schema(), indent=2))
    return EXIT_OK

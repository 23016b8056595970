"""Errors are values with a location; the CLI maps each kind to one exit code."""

from __future__ import annotations

from dataclasses import dataclass


class TfgenError(Exception):
    """Base of every error tfgen reports on purpose (exit code 2 unless stated otherwise)."""

    exit_code = 2

    def lines(self) -> list[str]:
        return [str(self)]


@dataclass(frozen=True)
class Location:
    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class SpecProblem:
    """One problem in a spec: where it is, which field, what is wrong."""

    location: Location
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.path}: {self.message}"

    def order(self) -> tuple[str, int, int, str]:
        """Problems are reported in file order: by file, line, column, then field."""
        return self.location.file, self.location.line, self.location.column, self.path


@dataclass(frozen=True, order=True)
class Finding:
    """One problem verification found: the file and line it is about (a generated file, or the
    spec that sets a value nothing renders), what is wrong, and once located, the template line
    that wrote it ("templates/<name>:<line>"; pipeline.locate renders again with tracing)."""

    file: str
    line: int
    message: str
    template: str | None = None
    # The variable a reference names that its module never declares: when a template wrote the
    # reference, the mistake is the template's (reported at the template line, exit 2).
    undeclared: str | None = None

    def __str__(self) -> str:
        origin = f" (from {self.template})" if self.template else ""
        return f"{self.file}:{self.line}: {self.message}{origin}"


class SpecWarning(UserWarning):
    """Something in valid specs that is most likely a mistake (warnings.warn; the CLI prints it,
    or lists it with --format json)."""

    def __init__(self, problem: SpecProblem):
        super().__init__(str(problem))
        self.problem = problem


class SpecError(TfgenError):
    """All problems found in the specs of one run, reported together."""

    def __init__(self, problems: list[SpecProblem]):
        self.problems = sorted(problems, key=SpecProblem.order)
        super().__init__("\n".join(str(p) for p in self.problems))

    def lines(self) -> list[str]:
        return [str(p) for p in self.problems]


class BrokenSibling(SpecError):
    """Environments a command did not name do not load or validate: their problems, and why they
    stop the command (the rules across environments read every spec)."""

    def __init__(self, problems: list[SpecProblem], broken: list[str], named: list[str]):
        self.broken, self.named = broken, named
        super().__init__(problems)

    def lines(self) -> list[str]:
        named = ", ".join(self.named) or "no environment"
        return super().lines() + [
            f"tfgen: {named} cannot be checked until {', '.join(self.broken)} loads and validates: the rules across "
            "environments (one account baseline, hosts, state buckets, lock tables, hosted zones) read every spec "
            "in the folder, as do the README and scripts `tfgen render` writes; fix it, or move it out of the folder"]


class UsageError(TfgenError):
    """A command line or file system situation the user has to fix."""


class ReplacementRefused(UsageError):
    """Changes that would replace stateful resources of a protected environment, a blue/green
    service's target groups, or an engine_version change that fails the database's apply
    (verify.replacing), a line each; the CLI says how to make them anyway."""

    def __init__(self, changes: list[str]):
        self.changes = changes
        super().__init__("\n".join(changes))


class ValueRefused(UsageError):
    """A value the user gave (a revision, an environment to copy) that cannot be used. The message
    names the value; the CLI adds the option that gave it."""


class TemplateMistake(TfgenError):
    """A template the project's user wrote does not render: an undefined name, a block left open,
    Jinja syntax, a Terraform variable it never declares. Each line names template:line."""

    def __init__(self, lines: list[str]):
        self.messages = lines
        super().__init__("\n".join(lines))

    def lines(self) -> list[str]:
        return list(self.messages)


class VerificationError(TfgenError):
    """Generated output failed verification: findings in the output, so nothing was written."""

    exit_code = 1

    def __init__(self, findings: list[Finding]):
        self.findings = findings
        super().__init__("\n".join(map(str, findings)))

    def lines(self) -> list[str]:
        return [f"verification: {f}" for f in self.findings]

"""The one way specs become valid specs: every command (validate, render, check, cost, and the
revisions `cost --against` reads, explain) loads and validates a specs directory through load_valid_specs,
so no two commands disagree on one spec."""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable
from pathlib import Path

from codemate_tfgen import gitrefs
from codemate_tfgen.errors import BrokenSibling, SpecError, SpecProblem, SpecWarning
from codemate_tfgen.layout import ROOT
from codemate_tfgen.spec import crosscheck
from codemate_tfgen.spec.load import Spec, environment_names, load_spec
from codemate_tfgen.spec.validate import topology_problems, validate


def select(specs_dir: Path, names: tuple[str, ...]) -> list[str]:
    """The environments a command works on: the ones named, else every spec in the directory."""
    return list(dict.fromkeys(names)) if names else environment_names(specs_dir)


def load_valid_specs(specs_dir: Path, names: list[str], out: Path | None = None, *,
                     every: bool = False) -> list[Spec]:
    """Load and validate every named environment, reporting the problems of all of them together.

    The rules across environments (validate.topology_problems: accounts, hosts, state buckets,
    zones) see every environment of the directory, named or not, so one that does not load or
    validate stops them: its own problems are reported (BrokenSibling), never a conclusion drawn
    without it. A conflict, and what the valid specs share that they should not (a SpecWarning,
    see crosscheck), is reported at the newer environment (`newness`; `out` is the output root
    whose generated tree knows the older ones). Returns the named specs, or with `every` all of
    them (the named first).
    """
    specs, shared = valid_specs(specs_dir, names, out, every=every)
    for problem in shared:
        warnings.warn(SpecWarning(problem), stacklevel=2)
    return specs


def valid_specs(specs_dir: Path, names: list[str], out: Path | None = None, *,
                every: bool = False) -> tuple[list[Spec], list[SpecProblem]]:
    """load_valid_specs, with its warnings returned instead of issued."""
    specs: list[Spec] = []
    others: list[Spec] = []
    problems: list[SpecProblem] = []
    broken: dict[str, list[SpecProblem]] = {}
    for name in dict.fromkeys(names + environment_names(specs_dir)):  # the named ones first
        if problems and name not in names:
            break  # the others only matter to the rules across environments, which wait for these
        try:
            spec = load_spec(specs_dir, name)
            validate(spec)
        except SpecError as exc:
            if name in names:
                problems.extend(p for p in exc.problems if p not in problems)
            else:
                broken[name] = exc.problems
            continue
        (specs if name in names else others).append(spec)
    if problems:
        raise SpecError(problems)
    if broken:
        raise BrokenSibling([p for found in broken.values() for p in found], list(broken), names)
    newer = newness(specs_dir, out, names)
    problems.extend(topology_problems(specs + others, newer))
    if problems:
        raise SpecError(problems)
    shared = list(crosscheck.shared_values(specs + others if every else specs, newer))
    return specs + others if every else specs, shared


def newness(specs_dir: Path, out: Path | None, selected: list[str]) -> Callable[[Spec], tuple]:
    """A sort key putting the environment a user added last at the end: a spec git has not
    committed yet, else the one committed later; else one the generated tree does not have yet;
    else one the command names; else the later name. git is asked only when two specs conflict."""
    ages = functools.cache(lambda: gitrefs.added_order(specs_dir) or {})

    def key(spec: Spec) -> tuple:
        file = Path(spec.files[-1]).name
        known = out is not None and (out / ROOT / "environments" / spec.name).is_dir()
        return ages().get(file, math.inf) if ages() else 0, not known, spec.name in selected, spec.name

    return key

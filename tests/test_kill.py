"""SIGKILL during `tfgen render --all`, and two renders at once: the tree is never a mix.

The render runs in a process forked from a server that has already imported tfgen
(the same as `python -m codemate_tfgen render --all ...`, minus interpreter start-up), so the
kill moments spread over the render itself: delays are uniform in [0, 1.2 x the measured
render duration]. After each kill the managed tree must be byte-identical to the tree before
the render (old) or after it (new), and the next render must succeed and remove the staging
directory the killed one left behind.
"""

from __future__ import annotations

import collections
import fcntl
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from conftest import REPO, SPECS, project_of, tree_files

from codemate_tfgen import pipeline
from codemate_tfgen.tree import STAGING_PREFIX

pytestmark = pytest.mark.slow  # hundreds of processes: not in `scripts/test.sh --fast`

KILLS = 80

# A fork server: imports everything a render needs once, then for each JSON request forks a
# child that is `tfgen ARGV...` (the same click command as `python -m codemate_tfgen`), and
# either waits for it or SIGKILLs it `delay` seconds after the fork. Forking skips interpreter
# start-up and imports, so kill moments spread over the render itself, and the runs stay quick.
SERVER = r"""
import json, os, signal, sys, time
import codemate_tfgen.cli, codemate_tfgen.pipeline, codemate_tfgen.render.templates, codemate_tfgen.tree
import codemate_tfgen.spec.validate, codemate_tfgen.verify.crossref, hcl2, jinja2, jsonschema, yaml

def child(argv, log):
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    code = 0
    try:
        codemate_tfgen.cli.main(args=argv, prog_name="tfgen")
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)

def wait(pid, started, delay):
    killed = False
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return {"code": os.waitstatus_to_exitcode(status), "killed": killed,
                    "elapsed": time.monotonic() - started}
        if delay is not None and not killed and time.monotonic() - started >= delay:
            os.kill(pid, signal.SIGKILL)
            killed = True
        time.sleep(0.0005)

for line in sys.stdin:
    request = json.loads(line)
    started, pids = time.monotonic(), []
    for argv, log in request["runs"]:
        pid = os.fork()
        if pid == 0:
            child(argv, log)
        pids.append(pid)
    results = [wait(pid, started, request.get("delay")) for pid in pids]
    print(json.dumps(results), flush=True)
"""


class ForkServer:
    def __init__(self, logs: Path):
        env = {**os.environ,
               "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
        self.logs = logs
        self.process = subprocess.Popen([sys.executable, "-c", SERVER], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True, env=env)

    def render(self, *pairs: tuple[Path, Path], delay: float | None = None) -> list[dict]:
        """Run `tfgen render --all --specs S --out O` for each (S, O) at once; kill after delay."""
        return self.run(*(["render", "--all", "--project", str(REPO), "--specs", str(specs), "--out", str(out)]
                          for specs, out in pairs),
                        delay=delay)

    def run(self, *argvs: list[str], delay: float | None = None) -> list[dict]:
        """Run `tfgen ARGV` for each argv at once; kill after delay. Logs: self.logs/<i>.log."""
        runs = [(argv, str(self.logs / f"{i}.log")) for i, argv in enumerate(argvs)]
        for _argv, log in runs:
            Path(log).unlink(missing_ok=True)
        self.process.stdin.write(json.dumps({"runs": runs, "delay": delay}) + "\n")
        self.process.stdin.flush()
        results = json.loads(self.process.stdout.readline())
        for result, (_argv, log) in zip(results, runs, strict=True):
            # A child killed at once never opened its log.
            result["log"] = Path(log).read_text(errors="replace") if Path(log).exists() else ""
        return results

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    forks = ForkServer(tmp_path_factory.mktemp("logs"))
    yield forks
    forks.close()


def managed_tree(out: Path) -> dict[str, bytes]:
    return tree_files(out / "infrastructure")


def staging_leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if p.name.startswith(STAGING_PREFIX)) if out.exists() else []


def old_specs(root: Path) -> Path:
    """The real specs as they were "before": another tag value. (Not an environment fewer: a render
    that would drop an environment's root is refused until `tfgen retire`, and the concurrent test
    renders these over the new tree.)"""
    specs = root / "old-specs"
    shutil.copytree(SPECS, specs)
    common = specs / "_common.yaml"
    data = yaml.safe_load(common.read_text("utf-8"))
    data["tags"] = {**data.get("tags", {}), "Revision": "old"}
    common.write_text(yaml.safe_dump(data, sort_keys=False), "utf-8")
    return specs


@pytest.fixture(scope="module")
def trees(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """old/new specs and the complete trees they render (new rendered over old, as in the test)."""
    root = tmp_path_factory.mktemp("kill")
    new_specs = root / "new-specs"
    shutil.copytree(SPECS, new_specs)
    old_out, new_out = root / "old-out", root / "new-out"
    specs = old_specs(root)
    pipeline.render_to_disk(project_of(specs, old_out), ())
    shutil.copytree(old_out, new_out)
    pipeline.render_to_disk(project_of(new_specs, new_out), ())
    assert managed_tree(old_out) != managed_tree(new_out)
    return {"root": root, "old_specs": specs, "new_specs": new_specs, "old": old_out, "new": new_out}


def reset(out: Path, source: Path) -> None:
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(source, out, symlinks=True)


def timed_render(server: ForkServer, trees: dict[str, Path], out: Path) -> float:
    """One render old -> new, not killed, as the kill loop makes them; its duration."""
    reset(out, trees["old"])
    [result] = server.render((trees["new_specs"], out))
    assert result["code"] == 0, result["log"]
    assert managed_tree(out) == managed_tree(trees["new"])
    return result["elapsed"]


def test_sigkill_during_render_leaves_old_or_new_tree(server: ForkServer, trees: dict[str, Path], capsys) -> None:
    out = trees["root"] / "out"
    old, new = managed_tree(trees["old"]), managed_tree(trees["new"])
    # Durations depend on what the disk still has to flush (every file is fsynced): the longest
    # of a few renders, re-measured every tenth run in the loop's own conditions, so the delays
    # reach past the end of a slow render too.
    duration = max(timed_render(server, trees, out) for _ in range(3))
    rng = random.Random(20261127)
    outcomes: collections.Counter[str] = collections.Counter()
    delays = []
    for run in range(KILLS):
        if run % 10 == 9:
            duration = max(duration, timed_render(server, trees, out))
        reset(out, trees["old"])
        delays.append(rng.uniform(0, 1.2 * duration))
        [result] = server.render((trees["new_specs"], out), delay=delays[-1])
        assert result["code"] in (0, -signal.SIGKILL), result["log"]
        after = managed_tree(out)
        assert after in (old, new), "a killed render left a tree that is neither the old nor the new one"
        assert {p.name for p in out.iterdir()} - {"infrastructure"} == set(staging_leftovers(out))
        outcomes["old" if after == old else "new"] += 1
        outcomes["killed" if result["code"] else "finished"] += 1
        outcomes["staging left behind"] += bool(staging_leftovers(out))
        # The next render succeeds and clears what the killed one left behind.
        pipeline.render_to_disk(project_of(trees["new_specs"], out), ())
        assert managed_tree(out) == new
        assert staging_leftovers(out) == []
    with capsys.disabled():
        print(f"\n[hardening] kill test: {KILLS} runs, longest render {duration:.3f} s, delays "
              f"{min(delays):.3f}-{max(delays):.3f} s: {dict(sorted(outcomes.items()))}")
    assert outcomes["old"] + outcomes["new"] == KILLS
    assert outcomes["old"] and outcomes["new"], "kills should land both before and after the swap"


def test_concurrent_renders_never_mix(server: ForkServer, trees: dict[str, Path]) -> None:
    """Two renders of different specs into one output root at once: one complete tree wins."""
    out = trees["root"] / "concurrent"
    old, new = managed_tree(trees["old"]), managed_tree(trees["new"])
    for attempt in range(10):
        reset(out, trees["old"] if attempt % 2 else trees["new"])
        pairs = [(trees["old_specs"], out), (trees["new_specs"], out)]
        results = server.render(*(pairs if attempt % 3 else pairs[::-1]))
        assert [r["code"] for r in results] == [0, 0], [r["log"] for r in results]
        assert managed_tree(out) in (old, new), "two renders at once produced a mixed tree"
        assert staging_leftovers(out) == []


def test_second_render_waits_for_the_lock(server: ForkServer, trees: dict[str, Path]) -> None:
    out = trees["root"] / "locked"
    reset(out, trees["old"])
    fd = os.open(out, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        # Killed after 3 s while it waits: it must not have written anything by then.
        [result] = server.render((trees["new_specs"], out), delay=3.0)
        assert result["code"] == -signal.SIGKILL, result["log"]
        assert "another render is writing" in result["log"]
        assert managed_tree(out) == managed_tree(trees["old"])
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    [result] = server.render((trees["new_specs"], out))
    assert result["code"] == 0, result["log"]
    assert managed_tree(out) == managed_tree(trees["new"])


def test_concurrent_renders_of_different_environments_both_land(server: ForkServer, trees: dict[str, Path]):
    """`render dev` and `render prod` at once: each keeps the other's files as they are on disk
    when it writes (read under the lock), so neither change is lost."""
    root = trees["root"]
    changed = root / "changed-specs"
    shutil.rmtree(changed, ignore_errors=True)
    shutil.copytree(trees["new_specs"], changed)
    for env in ("dev", "prod"):
        spec = changed / f"{env}.yaml"
        spec.write_text(spec.read_text("utf-8") + f"\ntags:\n  Change: {env}\n", "utf-8")
    expected = root / "changed-out"
    reset(expected, trees["new"])
    for env in ("dev", "prod"):  # one after the other
        pipeline.render_to_disk(project_of(changed, expected), (env,))
    out = root / "two-envs"
    reset(out, trees["new"])
    fd = os.open(out, os.O_RDONLY | os.O_DIRECTORY)
    results: list[dict] = []
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # both renders get as far as the lock, then wait
        both = threading.Thread(target=lambda: results.extend(server.run(
            ["render", "dev", "--project", str(REPO), "--specs", str(changed), "--out", str(out)],
            ["render", "prod", "--project", str(REPO), "--specs", str(changed), "--out", str(out)])))
        both.start()
        logs = [server.logs / "0.log", server.logs / "1.log"]
        deadline = time.monotonic() + 120
        while not all(log.exists() and "another render" in log.read_text() for log in logs):
            assert time.monotonic() < deadline and both.is_alive(), [r["log"] for r in results]
            time.sleep(0.05)
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    both.join(timeout=120)
    assert [r["code"] for r in results] == [0, 0], [r["log"] for r in results]
    assert managed_tree(out) == managed_tree(expected), "one environment's render was lost"

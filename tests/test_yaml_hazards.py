"""Hostile YAML where a spec is expected: bounded time and memory, and one clear exit-2 error.

Each case runs tfgen in a subprocess with its address space limited to 1 GiB and a 20 s
timeout (generous bounds, not timing assertions): an expansion bomb, a huge file, deep nesting
or a special file must end in an error naming the file, never in a hang, a MemoryError or a
traceback.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import REPO

pytestmark = pytest.mark.slow  # a process per case: not in `scripts/test.sh --fast`

MEMORY_LIMIT = 1 << 30
TIME_LIMIT = 20
ERROR_LINE = re.compile(r'(?P<file>specs/[^:]+):\d+:\d+: \$(?:\.[A-Za-z_][\w-]*|\[\d+\]|\["(?:[^"\\]|\\.)*"\])*: .+')


# The limit is set by the child itself, not by a preexec_fn: a preexec_fn makes subprocess fork
# and run Python in the child, and with the stand-in provider's gRPC threads alive in this process
# gRPC's fork handlers then write to the child's stderr now and then (seen in CI as an
# "epoll_wait error: Bad file descriptor" line before tfgen's own error).
LIMITED = ("import resource, runpy, sys; "
           f"resource.setrlimit(resource.RLIMIT_AS, ({MEMORY_LIMIT}, {MEMORY_LIMIT})); "
           "sys.argv.pop(0); runpy.run_module(sys.argv[0], run_name='__main__', alter_sys=True)")


def run_limited(cwd: Path, module: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m MODULE ARGS` from this checkout, in cwd, with bounded memory and time."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-c", LIMITED, module, *args], cwd=cwd, env=env, text=True,
                          capture_output=True, timeout=TIME_LIMIT, check=False)


def run_tfgen(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_limited(cwd, "codemate_tfgen", *args)


def _replace(path: Path, content: bytes) -> None:
    path.unlink()
    path.write_bytes(content)


def billion_laughs(specs: Path) -> None:
    lines = ["extends: _common.yaml", 'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    names = "abcdefghij"
    for previous, name in zip(names, names[1:], strict=False):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 9) + "]")
    _replace(specs / "dev.yaml", ("\n".join(lines) + "\n").encode())


def huge_file(specs: Path) -> None:
    padding = b"# padding padding padding padding padding padding padding padding\n" * 20_000
    _replace(specs / "dev.yaml", (specs / "dev.yaml").read_bytes() + padding)


def huge_list(specs: Path) -> None:
    _replace(specs / "dev.yaml", b"extends: _common.yaml\ntags:\n" + b"- 1\n" * 250_000)


def huge_flow_list(specs: Path) -> None:
    _replace(specs / "dev.yaml", b"extends: _common.yaml\ntags: [" + b"1," * 500_000 + b"1]\n")


def deep_flow(specs: Path) -> None:
    _replace(specs / "dev.yaml", b"extends: _common.yaml\ntags: " + b"[" * 200_000 + b"]" * 200_000 + b"\n")


def deep_block(specs: Path) -> None:
    lines = [b"extends: _common.yaml"] + [b"  " * i + b"k%d:" % i for i in range(500)] + [b"  " * 500 + b"v"]
    _replace(specs / "dev.yaml", b"\n".join(lines) + b"\n")


def non_utf8(specs: Path) -> None:
    _replace(specs / "dev.yaml", b"extends: _common.yaml\ntags:\n  Owner: caf\xe9\n")


def utf16(specs: Path) -> None:
    _replace(specs / "dev.yaml", (specs / "dev.yaml").read_text("utf-8").encode("utf-16"))


def tabs(specs: Path) -> None:
    _replace(specs / "dev.yaml", b"extends: _common.yaml\ndns:\n\thostname: codemate-dev\n")


def nul_byte(specs: Path) -> None:
    _replace(specs / "dev.yaml", b"extends: _common.yaml\ntags:\n  Owner: a\x00b\n")


def empty(specs: Path) -> None:
    _replace(specs / "dev.yaml", b"")


def directory(specs: Path) -> None:
    (specs / "dev.yaml").unlink()
    (specs / "dev.yaml").mkdir()


def fifo(specs: Path) -> None:
    (specs / "dev.yaml").unlink()
    os.mkfifo(specs / "dev.yaml")


def base_is_fifo(specs: Path) -> None:
    (specs / "_common.yaml").unlink()
    os.mkfifo(specs / "_common.yaml")


def symlink_to_dev_zero(specs: Path) -> None:
    (specs / "dev.yaml").unlink()
    (specs / "dev.yaml").symlink_to("/dev/zero")


def base_is_dev_zero(specs: Path) -> None:
    (specs / "_common.yaml").unlink()
    (specs / "_common.yaml").symlink_to("/dev/zero")


# case -> (how to break the specs, the file the error must name, words the error must contain)
HAZARDS: dict[str, tuple[Callable[[Path], None], str, str]] = {
    "billion_laughs": (billion_laughs, "specs/dev.yaml", "more than 10000 values"),
    "huge_file": (huge_file, "specs/dev.yaml", "larger than 1048576 bytes"),
    "huge_list": (huge_list, "specs/dev.yaml", "more than 10000 values"),
    "huge_flow_list": (huge_flow_list, "specs/dev.yaml", "more than 10000 values"),
    "deep_flow": (deep_flow, "specs/dev.yaml", "too deeply nested"),
    "deep_block": (deep_block, "specs/dev.yaml", "too deeply nested"),
    "non_utf8": (non_utf8, "specs/dev.yaml", "not valid UTF-8"),
    "utf16": (utf16, "specs/dev.yaml", "not valid UTF-8"),
    "tabs": (tabs, "specs/dev.yaml", "invalid YAML"),
    "nul_byte": (nul_byte, "specs/dev.yaml", "invalid YAML"),
    "empty": (empty, "specs/dev.yaml", "spec file is empty"),
    "directory": (directory, "specs/dev.yaml", "is a directory"),
    "fifo": (fifo, "specs/dev.yaml", "not a regular file"),
    "base_is_fifo": (base_is_fifo, "specs/_common.yaml", "not a regular file"),
    "symlink_to_dev_zero": (symlink_to_dev_zero, "specs/dev.yaml", "not a regular file"),
    "base_is_dev_zero": (base_is_dev_zero, "specs/_common.yaml", "not a regular file"),
}


@pytest.mark.parametrize("case", sorted(HAZARDS))
def test_hazard_is_a_clear_error_in_bounded_time_and_memory(specs: Path, tmp_path: Path, case: str) -> None:
    breaker, file, words = HAZARDS[case]
    breaker(specs)
    result = run_tfgen(tmp_path, "validate", "dev", "--specs", "specs")
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert lines and all(ERROR_LINE.fullmatch(line) for line in lines), result.stderr
    assert any(line.startswith(f"{file}:") and words in line for line in lines), result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr


@pytest.mark.parametrize("case", ["billion_laughs", "deep_flow", "fifo"])
def test_render_writes_nothing_for_a_hazard(specs: Path, tmp_path: Path, case: str) -> None:
    HAZARDS[case][0](specs)
    result = run_tfgen(tmp_path, "render", "--all", "--specs", "specs", "--out", "out")
    assert result.returncode == 2, result.stderr
    assert HAZARDS[case][1] in result.stderr
    assert not (tmp_path / "out").exists()


def test_the_memory_limit_binds_the_child(tmp_path: Path) -> None:
    (tmp_path / "grab.py").write_text(f"bytearray({MEMORY_LIMIT})\n")
    result = run_limited(tmp_path, "grab")
    assert result.returncode == 1 and "MemoryError" in result.stderr, result.stderr


# Paths the fork hook below touches; hooks cannot be unregistered, so it stays inert unless armed.
FORK_MARKERS: list[Path] = []
os.register_at_fork(after_in_child=lambda: [marker.touch() for marker in FORK_MARKERS])


def test_no_python_runs_in_the_child_before_exec(specs: Path, tmp_path: Path) -> None:
    """Python code in a forked child of this multi-threaded process is what let gRPC write there."""
    marker = tmp_path / "forked"
    FORK_MARKERS.append(marker)
    try:
        result = run_tfgen(tmp_path, "validate", "dev", "--specs", "specs")
    finally:
        FORK_MARKERS.remove(marker)
    assert result.returncode == 0, result.stderr
    assert not marker.exists()

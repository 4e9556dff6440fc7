"""Every benchmark script explains itself with --help instead of running (or crashing)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted([*ROOT.glob("bench/bench_*.py"), ROOT / "bench" / "load" / "run.py"])


def test_the_bench_scripts_are_all_found() -> None:
    assert len(SCRIPTS) >= 7


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_a_bench_script_answers_help_without_running(script: Path) -> None:
    done = subprocess.run(  # noqa: S603 - our own scripts, with the interpreter running the tests
        [sys.executable, str(script), "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("usage:"), done.stdout[:500]
    assert "machine:" not in done.stdout  # nothing was measured

"""The README's two commands stay true: CI runs the test command; the main job runs here."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq

from tests.conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")
SETUP = "python3 -m venv .venv && . .venv/bin/activate && "


def _commands() -> list[str]:
    section = README.split("## The two commands", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", section, flags=re.S)


def test_readme_shows_exactly_two_commands_that_set_up_first() -> None:
    commands = _commands()
    assert len(commands) == 2
    assert all(command.startswith(SETUP) for command in commands)


def test_ci_runs_the_readme_test_command() -> None:
    test_command = _commands()[1]
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    for step in test_command.removeprefix(SETUP).split(" && "):
        step = step.replace("pip install", "python -m pip install")
        assert step in ci, f"CI does not run the README step: {step}"


def test_readme_main_job_runs_on_the_sample(tmp_path: Path) -> None:
    """Run the main job exactly as written after set-up (the environment is already set up)."""
    job = _commands()[0].split(" && ")[-1]
    argv = shlex.split(job)
    assert argv[:2] == ["drg", "group"]
    output = tmp_path / "grouped.parquet"
    argv[argv.index("-o") + 1] = str(output)
    drg = shutil.which("drg") or str(Path(sys.executable).with_name("drg"))
    done = subprocess.run([drg, *argv[1:]], cwd=REPO, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    grouped = pq.read_table(output)
    assert grouped.num_rows >= 9_000
    assert len(set(grouped.column("drg").to_pylist())) >= 628

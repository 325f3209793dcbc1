"""`stomper fix --resume` told something new: each option honoured or refused, and said which.

A run is killed (with its children) while its agent works on the second of
three files; resumes that try to change what cannot change halfway are
refused with one line and change nothing; a resume with a new agent and
more parallelism says so, and the new agent fixes the files not yet done.
"""

from __future__ import annotations

import json
from pathlib import Path

from conftest import fake_agent, git

from tests.faults.checkout_state import CheckoutState
from tests.faults.killing import kill_tree
from tests.faults.test_crash import FIXED, assert_complete, plan, project, start, stomper, wait_for

SECOND = "value = {n}  # by the second agent\n"


def test_resume_refuses_what_cannot_change_and_honours_the_rest(repo: Path, tmp_path: Path) -> None:
    files, script = project(repo, tmp_path, 3)
    base = git(repo, "rev-parse", "HEAD").strip()
    marker = tmp_path / "agent-at-work"
    plan(script, files, {files[1]: {"mark": str(marker), "delay": 60}})
    run = start(repo, script, "-j", "1")
    wait_for(marker, run)
    kill_tree(run)
    (record,) = (repo / ".git" / "stomper" / "runs").glob("*/run.json")
    run_id = record.parent.name
    before = CheckoutState.capture(repo)
    assert before.files[files[0]] == ("file", FIXED.format(n=0).encode())

    refusals = {
        ("--no-commit",): "in no-commit mode: it commits its fixes, and a run cannot change that halfway",
        ("--allow-dirty",): "in no-commit mode: it commits its fixes, and a run cannot change that halfway",
        ("--diff",): "in diff mode: it commits its fixes, and a run cannot change that halfway",
        ("--tools", "ruff,mypy"): "with a different tools: the run's failing files were found with it",
        ("pkg/mod2.py",): "on other files: it goes on with the 4 files it started with",
        ("--exclude", "pkg/mod2.py"): "on other files: it goes on with the 4 files it started with",
    }
    for given, why in refusals.items():
        done = stomper(repo, "fix", *given, "--agent", "true", "--resume")
        ending = {
            "in": "; resume without the option, or start a new run",
            "with": "; resume with the setting as it was, or start a new run",
            "on": "; resume without naming files, or start a new run",
        }[why.split()[0]]
        said = [line for line in done.stderr.splitlines() if line.startswith("stomper: error:")]
        assert (done.returncode, said) == (2, [f"stomper: error: cannot resume run {run_id} {why}{ending}"]), given
        after = CheckoutState.capture(repo)
        assert (after.files, after.index, after.refs) == (before.files, before.index, before.refs), given
        assert json.loads(record.read_text())["status"] != "completed"

    done = stomper(repo, "fix", "--resume", "--dry-run")
    assert (done.returncode, done.stderr.splitlines()) == (2, ["stomper: error: --resume does not go with --dry-run"])

    second = tmp_path / "second" / "agent.json"
    second.parent.mkdir()
    second.write_text(json.dumps({p: {"content": SECOND.format(n=n)} for n, p in enumerate(files)}))
    new_agent = fake_agent(second)
    done = stomper(repo, "fix", "--resume", "--agent", new_agent, "-j", "2", "--tools", "ruff")

    assert done.returncode == 0, done.stdout + done.stderr
    assert f"resuming run {run_id}, with the new agent.command, parallel for the files not yet done" in done.stderr
    called = [json.loads(line)["file"] for line in (second.parent / "calls.jsonl").read_text().splitlines()]
    assert sorted(called) == files[1:]
    expected = {files[0]: FIXED.format(n=0), **{p: SECOND.format(n=n) for n, p in enumerate(files) if n > 0}}
    assert_complete(repo, files, base, expected)

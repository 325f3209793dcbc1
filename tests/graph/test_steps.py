"""Each file's report says where its time went, step by step, and the steps add up to no more than its time."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from conftest import commit_all, fake_agent, stomper, write

from stomper import merge
from stomper.graph.steps import StepTimes, Stopwatch

DOC = Path(__file__).parents[2] / "docs" / "json-schema.md"
SCHEMA = json.loads(DOC.read_text().split("```json fix-report-schema\n", 1)[1].split("```", 1)[0])
jsonschema.Draft202012Validator.check_schema(SCHEMA)
STEPS = ("worktree", "fixer", "verify", "integration", "apply")

BROKEN = "def value() -> int:\n    return undefined_name\n"
FIXED = "def value() -> int:\n    return 0\n"


def run_fix(
    repo: Path, tmp_path: Path, plan: dict[str, Any], *args: str, status: int = 0
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    script = tmp_path / "script.json"
    script.write_text(json.dumps(plan))
    report = tmp_path / "report.json"
    done = stomper(
        repo,
        "fix",
        "--tools",
        "ruff",
        "--fixer",
        "agent",
        "--agent",
        fake_agent(script),
        "--parallel",
        "2",
        "--report",
        str(report),
        *args,
    )
    assert done.returncode == status, done.stdout + done.stderr
    data = json.loads(report.read_text())
    jsonschema.Draft202012Validator(SCHEMA).validate(data)
    calls = [json.loads(line) for line in (tmp_path / "calls.jsonl").read_text().splitlines()]
    return data, calls


def agent_seconds(calls: list[dict[str, Any]], path: str) -> float:
    return sum(c["end"] - c["start"] for c in calls if c["file"] == path)


def test_every_step_of_every_file_is_timed_and_within_its_seconds(repo: Path, tmp_path: Path) -> None:
    write(repo, {"pkg/__init__.py": "", "pkg/a.py": BROKEN, "pkg/b.py": BROKEN})
    commit_all(repo, "broken")
    # a.py: the first attempt is rejected (still broken), so it is fixed and verified twice.
    plan = {
        "pkg/a.py": {"delay": 0.2, "content": [BROKEN.replace("value", "other"), FIXED]},
        "pkg/b.py": {"delay": 0.3, "content": FIXED},
    }

    data, calls = run_fix(repo, tmp_path, plan)

    assert data["summary"]["files_fixed"] == 2
    files = data["run"]["files"]
    assert set(files) == {"pkg/a.py", "pkg/b.py"}
    for path, entry in files.items():
        steps = entry["steps"]
        assert list(steps) == list(STEPS)
        # Each step that had work to do took time; in commit mode every one did.
        assert all(steps[s] > 0 for s in ("worktree", "fixer", "verify", "apply")), (path, steps)
        # The agent's own run (as it recorded it) is inside the fixer step, never in another.
        assert steps["fixer"] >= round(agent_seconds(calls, path), 3) - 0.001, (path, steps)
        assert steps["fixer"] < entry["seconds"]
        assert sum(steps.values()) <= entry["seconds"] + 0.003, (path, entry)  # each rounded to 1 ms
    # Two attempts on a.py: two agent runs inside its fixer step.
    assert sum(c["file"] == "pkg/a.py" for c in calls) == 2
    assert files["pkg/a.py"]["steps"]["fixer"] >= 0.4
    # The run's steps are the files' summed.
    for step in STEPS:
        assert data["run"]["steps"][step] == pytest.approx(sum(f["steps"][step] for f in files.values()), abs=0.003)


def test_nothing_is_applied_with_diff_so_apply_takes_no_time(repo: Path, tmp_path: Path) -> None:
    write(repo, {"pkg/__init__.py": "", "pkg/a.py": BROKEN})
    commit_all(repo, "broken")

    data, _ = run_fix(repo, tmp_path, {"pkg/a.py": {"content": FIXED}}, "--diff", status=1)  # 1: it printed a fix

    (entry,) = data["run"]["files"].values()
    assert entry["steps"]["apply"] == 0
    assert entry["steps"]["fixer"] > 0 and entry["steps"]["verify"] > 0
    assert sum(entry["steps"].values()) <= entry["seconds"] + 0.003


def test_a_file_no_fixer_handles_spent_no_time_in_any_step(repo: Path, tmp_path: Path) -> None:
    write(repo, {"pkg/__init__.py": "", "pkg/a.py": BROKEN})
    commit_all(repo, "broken")
    report = tmp_path / "report.json"

    # ruff cannot fix an undefined name: the file is skipped before it gets a worktree.
    done = stomper(repo, "fix", "--tools", "ruff", "--fixer", "ruff", "--report", str(report))

    assert done.returncode == 1, done.stdout + done.stderr
    assert json.loads(report.read_text())["files"][0]["outcome"] == "skipped"
    data = json.loads(report.read_text())
    jsonschema.Draft202012Validator(SCHEMA).validate(data)
    assert data["run"]["files"]["pkg/a.py"]["steps"] == dict.fromkeys(STEPS, 0.0)


async def test_landing_splits_the_wait_for_the_lock_from_the_work_under_it() -> None:
    clock = Stopwatch()
    order: list[str] = []

    async def apply(on_lock: Any) -> str:
        order.append("waiting")
        on_lock()
        order.append("applying")
        return "applied"

    assert await clock.landing(apply, locked=lambda: order.append("locked")) == "applied"
    assert order == ["waiting", "locked", "applying"]
    times = clock.times()
    assert times.integration >= 0 and times.apply >= 0
    assert times.total == times.integration + times.apply


async def test_landing_that_fails_still_counts_its_time() -> None:
    clock = Stopwatch()

    async def refused(on_lock: Any) -> None:
        raise RuntimeError("not applied")

    with pytest.raises(RuntimeError):
        await clock.landing(refused, locked=lambda: None)
    # Never locked: all of it was handing over, none of it applying.
    assert clock.times().apply == 0
    assert StepTimes().total == 0


def test_merged_shards_sum_their_steps() -> None:
    def shard(run_id: str, path: str, steps: dict[str, float]) -> dict[str, Any]:
        return {
            "version": 1,
            "mode": "diff",
            "files": [{"path": path}],
            "tool_errors": [],
            "summary": {"files_failing": 1},
            "run": {
                "id": run_id,
                "seconds": 2.0,
                "steps": steps,
                "combined_checks": 1,
                "files": {path: {"steps": steps}},
            },
        }

    one = dict.fromkeys(STEPS, 0.25)
    two = dict(zip(STEPS, (1.0, 2.0, 3.0, 0.5, 0.0), strict=True))

    merged = merge.reports([shard("r1", "a.py", one), shard("r2", "b.py", two)])

    assert merged["run"]["steps"] == dict(zip(STEPS, (1.25, 2.25, 3.25, 0.75, 0.25), strict=True))
    assert merged["run"]["combined_checks"] == 2
    assert list(merged["run"]) == ["id", "seconds", "steps", "combined_checks", "files"]  # as one run writes them

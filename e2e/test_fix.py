"""`stomper fix` end to end: real git, real ruff and mypy, a fake agent that is a real executable."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import STOMPER, commit_all, fake_agent, git, process_gone, stomper, stray_worktrees, write
from invariant import assert_gate_kept, check

import stomper as stomper_package

BROKEN = 'def value() -> int:\n    return "{n}"\n'
FIXED = "def value() -> int:\n    return {n}\n"
WORSE = 'def value() -> int:\n    return "{n}"\n\n\ndef more() -> str:\n    return 1\n'


def agent_args(script: Path) -> list[str]:
    return ["--fixer", "agent", "--agent", fake_agent(script)]


def make_project(repo: Path, count: int) -> list[str]:
    paths = [f"pkg/mod{n}.py" for n in range(count)]
    write(repo, {"pkg/__init__.py": "", **{p: BROKEN.format(n=n) for n, p in enumerate(paths)}})
    commit_all(repo, "broken project")
    return paths


def script(tmp_path: Path, plan: dict[str, Any]) -> Path:
    path = tmp_path / "agent" / "script.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(plan))
    return path


def calls(script_path: Path) -> list[dict[str, Any]]:
    log = script_path.parent / "calls.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def peak_overlap(intervals: list[tuple[float, float]]) -> int:
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    peak = running = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    return peak


def assert_no_leftovers(repo: Path) -> None:
    assert git(repo, "worktree", "list").count("\n") == 1
    assert git(repo, "branch", "--list").strip() == "* main"
    assert not stray_worktrees(repo / ".git" / "stomper")
    subprocess.run(["git", "fsck", "--no-dangling"], cwd=repo, check=True, capture_output=True)


def test_fixes_eight_files_four_at_a_time_one_commit_each(repo: Path, tmp_path: Path) -> None:
    paths = make_project(repo, 8)
    plan = script(tmp_path, {p: {"content": FIXED.format(n=n), "delay": 0.3} for n, p in enumerate(paths)})
    report = tmp_path / "report.json"
    before = check(repo, "--tools", "ruff,mypy")

    done = stomper(repo, "fix", "--parallel", "4", "--tools", "ruff,mypy", *agent_args(plan), "--report", str(report))

    assert done.returncode == 0, done.stderr
    subjects = git(repo, "log", "--format=%s", "HEAD~8..HEAD").splitlines()
    assert sorted(subjects) == sorted(f"fix(stomper): resolve mypy return-value in {p}" for p in paths)
    assert git(repo, "rev-list", "--count", "HEAD") == "9\n"
    assert git(repo, "status", "--porcelain") == ""
    for n, p in enumerate(paths):
        assert (repo / p).read_text() == FIXED.format(n=n)
        assert git(repo, "show", "--name-only", "--format=", f":/resolve mypy return-value in {p}") == f"{p}\n"
    assert_no_leftovers(repo)
    data = json.loads(report.read_text())
    assert [f["path"] for f in data["files"]] == paths
    assert {f["outcome"] for f in data["files"]} == {"fixed"}
    assert data["summary"]["diagnostics_fixed"] == 8
    assert data["summary"]["diagnostics_remaining"] == 0
    assert data["summary"]["attempts"] == 8
    prompts = [c["prompt"] for c in calls(plan)]
    assert all("[mypy return-value] Incompatible return value type" in p for p in prompts)
    assert {c["env_file"] for c in calls(plan)} == set(paths)
    assert_gate_kept(repo, before, report, "--tools", "ruff,mypy")


@pytest.mark.parametrize(("parallel", "delay"), [(1, 0.3), (4, 1.0)])
def test_parallel_bounds_how_many_agents_run_at_once(repo: Path, tmp_path: Path, parallel: int, delay: float) -> None:
    # The delay keeps each agent running long enough that agents allowed to overlap do.
    paths = make_project(repo, 8)
    plan = script(tmp_path, {p: {"content": FIXED.format(n=n), "delay": delay} for n, p in enumerate(paths)})

    done = stomper(repo, "fix", "--parallel", str(parallel), "--tools", "ruff,mypy", *agent_args(plan))

    assert done.returncode == 0, done.stderr
    intervals = [(c["start"], c["end"]) for c in calls(plan)]
    assert len(intervals) == 8
    assert peak_overlap(intervals) == parallel


def test_report_is_the_same_whatever_order_files_finish_in(repo: Path, tmp_path: Path) -> None:
    paths = make_project(repo, 4)
    reports = []
    for delays in ([0.0, 0.2, 0.4, 0.6], [0.6, 0.4, 0.2, 0.0]):
        git(repo, "reset", "--quiet", "--hard", git(repo, "rev-list", "--max-parents=0", "HEAD").strip())
        (tmp_path / "agent" / "calls.jsonl").unlink(missing_ok=True)
        plan = script(
            tmp_path,
            {p: {"content": FIXED.format(n=n), "delay": d} for (n, p), d in zip(enumerate(paths), delays, strict=True)},
        )
        report = tmp_path / f"report{len(reports)}.json"
        assert (
            stomper(repo, "fix", "-j", "4", "--tools", "mypy", *agent_args(plan), "--report", str(report)).returncode
            == 0
        )
        data = json.loads(report.read_text())
        del data["run"]
        reports.append(data)
    assert reports[0] == reports[1]


def test_failures_are_per_file_and_leave_the_checkout_untouched(repo: Path, tmp_path: Path) -> None:
    paths = make_project(repo, 5)
    fails, worse, other, ok, conflict = paths
    plan = script(
        tmp_path,
        {
            fails: {"exit": 3},
            worse: {"content": WORSE.format(n=1)},
            other: {"content": FIXED.format(n=2), "also": {"pkg/__init__.py": "x = 1\n"}},
            ok: {"content": FIXED.format(n=3)},
            conflict: {"content": FIXED.format(n=4), "edit_checkout": "# the user's own edit\n"},
        },
    )
    report = tmp_path / "report.json"

    done = stomper(
        repo,
        "fix",
        "-j",
        "3",
        "--no-commit",
        "--tools",
        "ruff,mypy",
        "--max-attempts",
        "2",
        *agent_args(plan),
        "--report",
        str(report),
        env={"FAKE_AGENT_CHECKOUT": str(repo)},
    )

    assert done.returncode == 1, done.stderr
    results = {f["path"]: f for f in json.loads(report.read_text())["files"]}
    assert {p: r["outcome"] for p, r in results.items()} == {
        fails: "failed",
        worse: "failed",
        other: "failed",
        ok: "fixed",
        conflict: "failed",
    }
    assert "exited with status 3" in results[fails]["detail"]
    assert results[fails]["attempts"] == 2
    assert "introduced" in results[worse]["detail"] and "return-value" in results[worse]["detail"]
    assert "also changed pkg/__init__.py" in results[other]["detail"]
    assert "changed in your checkout" in results[conflict]["detail"]
    # Verified but not applied: the checkout still has every problem it had.
    assert results[conflict]["diagnostics_remaining"] == results[conflict]["diagnostics_before"]
    kept = Path(results[conflict]["kept_patch"])
    assert kept.is_relative_to(repo / ".git" / "stomper" / "patches")
    assert (
        results[conflict]["hint"] == f"look at the verified fix kept at {kept}, and apply it by hand if it still fits"
    )
    assert (
        results[worse]["detail"]
        == f"2 attempts did not pass verification: the fix introduced mypy return-value in {worse}:6"
    )
    assert results[ok]["hint"] == ""
    assert f"+++ b/{conflict}" in kept.read_text()
    # Only the verified fix reached the checkout; the user's edit is as they left it.
    status = sorted(git(repo, "status", "--porcelain").splitlines())
    assert status == sorted([f" M {ok}", f" M {conflict}"])
    assert (repo / ok).read_text() == FIXED.format(n=3)
    assert (repo / conflict).read_text() == "# the user's own edit\n"
    for path, n in ((fails, 0), (worse, 1), (other, 2)):
        assert (repo / path).read_text() == BROKEN.format(n=n)
    assert (repo / "pkg/__init__.py").read_text() == ""
    assert_no_leftovers(repo)


def test_a_fix_of_a_file_the_user_staged_meanwhile_is_kept_not_half_applied(repo: Path, tmp_path: Path) -> None:
    (path,) = make_project(repo, 1)
    # Mid-run, "the user" stages another version of the file: the working tree still matches the
    # snapshot, but `git apply --index` must refuse the patch.
    plan = script(tmp_path, {path: {"content": FIXED.format(n=0), "stage_checkout": "# staged by the user\n"}})
    report = tmp_path / "report.json"

    done = stomper(
        repo,
        "fix",
        "--tools",
        "mypy",
        *agent_args(plan),
        "--report",
        str(report),
        env={"FAKE_AGENT_CHECKOUT": str(repo)},
    )

    assert done.returncode == 1
    (result,) = json.loads(report.read_text())["files"]
    assert result["outcome"] == "failed"
    assert result["detail"] == f"{path} changed in your index since the run started; fix not applied"
    assert f"+++ b/{path}" in Path(result["kept_patch"]).read_text()
    assert (repo / path).read_text() == BROKEN.format(n=0)
    assert git(repo, "show", f":{path}") == "# staged by the user\n"
    assert git(repo, "rev-list", "--count", "HEAD") == "1\n"
    assert_no_leftovers(repo)


def test_agent_timeout_kills_its_children(repo: Path, tmp_path: Path) -> None:
    (path,) = make_project(repo, 1)
    plan = script(tmp_path, {path: {"spawn_sleeper": True, "hang": True}})
    write(repo, {"stomper.toml": "[agent]\ntimeout = 2\n"})
    commit_all(repo, "config")

    done = stomper(repo, "fix", "--tools", "mypy", "--max-attempts", "1", *agent_args(plan))

    assert done.returncode == 1
    assert "ran longer than 2s" in done.stderr
    assert process_gone(int((tmp_path / "agent" / "sleeper.pid").read_text()))
    assert (repo / path).read_text() == BROKEN.format(n=0)
    assert_no_leftovers(repo)


def test_ruff_fixer_needs_no_ai_and_says_how_to_enable_one(repo: Path) -> None:
    write(repo, {"a.py": "import os\nimport sys\n\nprint(sys.argv)\n", "b.py": "def f() -> int:\n    return 'x'\n"})
    commit_all(repo)

    done = stomper(repo, "fix", "--tools", "ruff,mypy")

    assert done.returncode == 1
    assert (repo / "a.py").read_text() == "import sys\n\nprint(sys.argv)\n"
    assert git(repo, "log", "-1", "--format=%s") == "fix(stomper): resolve ruff F401 in a.py\n"
    assert "skipped b.py: 0/1 fixed in 0.0s - no AI fixer configured" in done.stderr
    assert "b.py:2:12: [mypy return-value] Incompatible return value type" in done.stdout
    assert "  why: no AI fixer configured\n" in done.stdout
    assert "next: to fix what ruff cannot, give it an agent, stomper fix --agent claude" in done.stdout
    assert_no_leftovers(repo)


def test_dirty_tree_is_refused_in_commit_mode_and_kept_with_allow_dirty(repo: Path) -> None:
    write(repo, {"a.py": "import os\n\nX = 1\n", "notes.py": "x = 1\n"})
    commit_all(repo)
    (repo / "notes.py").write_text("x = 2  # my work in progress\n")

    refused = stomper(repo, "fix", "--tools", "ruff")
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        "stomper: error: your working tree has uncommitted changes; commit or stash them, "
        "or use --allow-dirty (fixes are then left uncommitted) or --no-commit"
    ]

    allowed = stomper(repo, "fix", "--tools", "ruff", "--allow-dirty")
    assert allowed.returncode == 0, allowed.stderr
    assert (repo / "a.py").read_text() == "\nX = 1\n"
    assert (repo / "notes.py").read_text() == "x = 2  # my work in progress\n"
    assert git(repo, "rev-list", "--count", "HEAD") == "1\n"


def test_diff_mode_prints_the_patch_and_changes_nothing(repo: Path) -> None:
    write(repo, {"a.py": "import os\n\nX = 1\n"})
    head = commit_all(repo)

    done = stomper(repo, "fix", "--tools", "ruff", "--diff")

    # As `ruff check --diff`: a printed fix is a change still to make.
    assert done.returncode == 1
    assert "--- a/a.py\n+++ b/a.py\n" in done.stdout and "-import os\n" in done.stdout
    assert (repo / "a.py").read_text() == "import os\n\nX = 1\n"
    assert git(repo, "rev-parse", "HEAD").strip() == head
    applied = subprocess.run(
        ["git", "apply", "--check", "-"], cwd=repo, input=done.stdout[done.stdout.index("diff --git") :], text=True
    )
    assert applied.returncode == 0


def test_dry_run_shows_the_plan(repo: Path) -> None:
    write(repo, {"a.py": "import os\n\nX = 1\n", "b.py": "import os\n\n\ndef f() -> int:\n    return 'x'\n"})
    commit_all(repo)

    done = stomper(repo, "fix", "--tools", "ruff,mypy", "--dry-run", "-j", "3")

    assert done.returncode == 1
    assert "would try 2 file(s) with ruff, 3 at a time" in done.stdout
    assert "  a.py: 1 ruff can try (ruff F401)\n" in done.stdout
    assert "  b.py: 1 ruff can try (ruff F401); 1 need an AI fixer (mypy return-value)\n" in done.stdout
    assert "next: to fix what ruff cannot, give it an agent, stomper fix --agent claude" in done.stdout
    assert (repo / "a.py").read_text() == "import os\n\nX = 1\n"


def test_dry_run_with_an_agent_gives_it_what_ruff_cannot_fix(repo: Path, tmp_path: Path) -> None:
    write(repo, {"b.py": "import os\n\n\ndef f() -> int:\n    return 'x'\n"})
    commit_all(repo)

    done = stomper(repo, "fix", "--tools", "ruff,mypy", "--dry-run", "--agent", "true")

    assert done.returncode == 1
    assert "would try 1 file(s) with ruff then agent, 1 at a time" in done.stdout
    assert "  b.py: 1 ruff can try (ruff F401); 1 agent can try (mypy return-value)\n" in done.stdout
    assert "next:" not in done.stdout


def test_configured_excludes_hold_for_fix(repo: Path) -> None:
    write(repo, {"a.py": "import os\n\nX = 1\n", "vendored/b.py": "import os\n\nY = 1\n"})
    write(repo, {"stomper.toml": 'exclude = ["vendored/*"]\n'})
    commit_all(repo)

    done = stomper(repo, "fix", "--tools", "ruff")

    assert done.returncode == 0, done.stderr
    assert (repo / "a.py").read_text() == "\nX = 1\n"
    assert (repo / "vendored/b.py").read_text() == "import os\n\nY = 1\n"


def test_version() -> None:
    done = subprocess.run([str(STOMPER), "--version"], capture_output=True, text=True)
    assert done.returncode == 0
    assert done.stdout == f"stomper {importlib.metadata.version('stomper-fix')}\n"
    assert importlib.metadata.version("stomper-fix") == stomper_package.__version__

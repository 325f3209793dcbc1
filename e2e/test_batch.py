"""ruff's fixes of every failing file in one batch: one ruff run, verified together, landed one commit per file.

A `ruff` in front of the real one on PATH logs every argv it is given, so the
tests count ruff's fix runs rather than trusting the report.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from conftest import commit_all, fake_agent, git, stomper, write
from invariant import assert_gate_kept, check

REAL_RUFF = Path(sys.executable).with_name("ruff")
UNUSED = "import json\nimport sys\n\nprint(sys.argv)\n"
CLEAN = "import sys\n\nprint(sys.argv)\n"


def logging_ruff(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """An environment whose `ruff` logs its arguments, one JSON list a line, then runs the real ruff."""
    bin_dir, log = tmp_path / "bin", tmp_path / "ruff-calls.jsonl"
    bin_dir.mkdir()
    wrapper = bin_dir / "ruff"
    wrapper.write_text(
        f"#!{sys.executable}\nimport json, os, sys\n"
        f"with open({str(log)!r}, 'a') as log:\n    log.write(json.dumps(sys.argv[1:]) + '\\n')\n"
        f"os.execv({str(REAL_RUFF)!r}, [{str(REAL_RUFF)!r}, *sys.argv[1:]])\n"
    )
    wrapper.chmod(0o755)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}, log


def scripted_agent(tmp_path: Path, contents: dict[str, str]) -> tuple[str, Path]:
    """The fake agent's command, writing `contents` (path -> text), and the script it follows."""
    script = tmp_path / "agent" / "script.json"
    script.parent.mkdir()
    script.write_text(json.dumps({path: {"content": text} for path, text in contents.items()}))
    return fake_agent(script), script


def fix_runs(log: Path) -> list[list[str]]:
    """The argv of every `ruff check --fix` logged."""
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    return [argv for argv in calls if argv[:1] == ["check"] and "--fix" in argv]


def checks(log: Path) -> list[list[str]]:
    """The files of every `ruff check` without `--fix` logged (the run's checks and verifications), in order."""
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    return [argv[argv.index("--") + 1 :] for argv in calls if argv[:1] == ["check"] and "--fix" not in argv]


def commits(repo: Path, base: str) -> list[tuple[str, list[str]]]:
    """(subject, files touched) of each commit after `base`, oldest first."""
    found = []
    for commit in git(repo, "rev-list", "--reverse", f"{base}..HEAD").split():
        subject = git(repo, "log", "-1", "--format=%s", commit).strip()
        found.append((subject, git(repo, "show", "--name-only", "--format=", commit).split()))
    return found


def report(path: Path) -> dict[str, dict[str, Any]]:
    return {f["path"]: f for f in json.loads(path.read_text())["files"]}


def test_many_files_take_one_ruff_fix_run_and_land_one_commit_each(repo: Path, tmp_path: Path) -> None:
    paths = [f"pkg/mod{n:02}.py" for n in range(12)]
    write(repo, {"pkg/__init__.py": "", **dict.fromkeys(paths, UNUSED)})
    base = commit_all(repo, "unused imports")
    env, log = logging_ruff(tmp_path)

    done = stomper(repo, "fix", "--tools", "ruff", "--report", str(tmp_path / "report.json"), env=env)

    assert done.returncode == 0, done.stdout + done.stderr
    (run,) = fix_runs(log)
    assert run[run.index("--") + 1 :] == paths
    assert commits(repo, base) == [(f"fix(stomper): resolve ruff F401 in {p}", [p]) for p in paths]
    body = git(repo, "log", "-1", "--format=%b").strip()
    assert body == "- line 1: ruff F401: `json` imported but unused"
    assert all((repo / p).read_text() == CLEAN for p in paths)
    files = report(tmp_path / "report.json")
    assert sorted(files) == paths
    for path in paths:
        assert (files[path]["outcome"], files[path]["attempts"], files[path]["fixers"]) == ("fixed", 1, ["ruff"])
    assert git(repo, "status", "--porcelain") == ""
    assert stomper(repo, "check", "--tools", "ruff").returncode == 0


def test_a_fix_that_breaks_another_file_is_left_out_and_the_others_land(repo: Path, tmp_path: Path) -> None:
    write(
        repo,
        {
            "pkg/__init__.py": "",
            # ruff removes `os` from a.py: b.py, which takes it from there, breaks.
            "pkg/a.py": "import os\n\nVALUE = 1\n",
            "pkg/b.py": "import sys\n\nfrom pkg.a import os\n\nprint(os.sep)\n",
            "pkg/c.py": UNUSED,
            "pkg/d.py": UNUSED,
        },
    )
    base = commit_all(repo, "a re-exported import")
    env, log = logging_ruff(tmp_path)

    done = stomper(repo, "fix", "--tools", "ruff,mypy", "--report", str(tmp_path / "report.json"), env=env)

    assert done.returncode == 1, done.stdout + done.stderr
    runs = fix_runs(log)
    assert runs[0][runs[0].index("--") + 1 :] == ["pkg/a.py", "pkg/b.py", "pkg/c.py", "pkg/d.py"]
    # a.py, left to its own branch, is tried there alone, and refused there too.
    assert [argv[argv.index("--") + 1 :] for argv in runs[1:]] == [["pkg/a.py"]]
    assert sorted(files for _, files in commits(repo, base)) == [["pkg/b.py"], ["pkg/c.py"], ["pkg/d.py"]]
    assert (repo / "pkg/a.py").read_text() == "import os\n\nVALUE = 1\n"
    assert (repo / "pkg/b.py").read_text() == "\nfrom pkg.a import os\n\nprint(os.sep)\n"
    files = report(tmp_path / "report.json")
    assert files["pkg/a.py"]["outcome"] == "failed"
    assert "the fix introduced mypy attr-defined in pkg/b.py" in files["pkg/a.py"]["detail"]
    assert [files[p]["outcome"] for p in ("pkg/b.py", "pkg/c.py", "pkg/d.py")] == ["fixed"] * 3
    checked = stomper(repo, "check", "--tools", "ruff,mypy", "--format", "json")
    left = [(d["path"], d["code"]) for d in json.loads(checked.stdout)["diagnostics"]]
    assert left == [("pkg/a.py", "F401")]


def test_a_file_that_needs_an_ai_too_gets_only_what_ruff_left(repo: Path, tmp_path: Path) -> None:
    write(
        repo,
        {
            "pkg/__init__.py": "",
            "pkg/mixed.py": "import os\n\nvalue = undefined_name\n",
            "pkg/plain.py": UNUSED,
            "pkg/other.py": UNUSED,
        },
    )
    base = commit_all(repo, "mixed")
    env, log = logging_ruff(tmp_path)
    agent, script = scripted_agent(tmp_path, {"pkg/mixed.py": "value = 1\n"})

    done = stomper(repo, "fix", "--tools", "ruff", "--agent", agent, "--report", str(tmp_path / "report.json"), env=env)

    assert done.returncode == 0, done.stdout + done.stderr
    (run,) = fix_runs(log)
    assert run[run.index("--") + 1 :] == ["pkg/mixed.py", "pkg/other.py", "pkg/plain.py"]
    (call,) = [json.loads(line) for line in (script.parent / "calls.jsonl").read_text().splitlines()]
    assert call["file"] == "pkg/mixed.py"
    # The agent starts from ruff's fix, and is told only what ruff left.
    assert call["seen"] == "\nvalue = undefined_name\n"
    assert "F821" in call["prompt"] and "F401" not in call["prompt"]
    assert sorted(commits(repo, base)) == [
        ("fix(stomper): resolve ruff F401 in pkg/other.py", ["pkg/other.py"]),
        ("fix(stomper): resolve ruff F401 in pkg/plain.py", ["pkg/plain.py"]),
        ("fix(stomper): resolve ruff F401, ruff F821 in pkg/mixed.py", ["pkg/mixed.py"]),
    ]
    assert (repo / "pkg/mixed.py").read_text() == "value = 1\n"
    files = report(tmp_path / "report.json")
    assert (files["pkg/mixed.py"]["outcome"], files["pkg/mixed.py"]["attempts"]) == ("fixed", 2)
    assert files["pkg/mixed.py"]["fixers"] == ["agent", "ruff"]
    assert [len(files[p]["diagnostics_before"]) for p in sorted(files)] == [2, 1, 1]


def test_without_an_ai_what_ruff_leaves_is_reported_from_the_batch(repo: Path, tmp_path: Path) -> None:
    write(repo, {"pkg/__init__.py": "", "pkg/mixed.py": "import os\n\nvalue = undefined_name\n", "pkg/p.py": UNUSED})
    base = commit_all(repo, "mixed")
    env, log = logging_ruff(tmp_path)

    done = stomper(repo, "fix", "--tools", "ruff", "--report", str(tmp_path / "report.json"), env=env)

    assert done.returncode == 1, done.stdout + done.stderr
    assert len(fix_runs(log)) == 1
    assert sorted(subject for subject, _ in commits(repo, base)) == [
        "fix(stomper): resolve ruff F401 in pkg/mixed.py",
        "fix(stomper): resolve ruff F401 in pkg/p.py",
    ]
    mixed = report(tmp_path / "report.json")["pkg/mixed.py"]
    assert (mixed["outcome"], mixed["detail"]) == ("partial", "no AI fixer configured")
    assert [d["code"] for d in mixed["diagnostics_remaining"]] == ["F821"]
    assert "pkg/mixed.py:2:9: [ruff F821] Undefined name `undefined_name`" in done.stdout


def test_diff_prints_each_files_patch_and_changes_nothing(repo: Path, tmp_path: Path) -> None:
    paths = ["a.py", "é.py", "d.py"]  # git quotes é in its headers: that patch is cut out another way
    write(repo, dict.fromkeys(paths, UNUSED))
    base = commit_all(repo, "unused")
    env, log = logging_ruff(tmp_path)

    done = stomper(repo, "fix", "--tools", "ruff", "--diff", env=env)

    assert done.returncode == 1, done.stdout + done.stderr
    assert len(fix_runs(log)) == 1
    assert git(repo, "rev-parse", "HEAD").strip() == base
    assert git(repo, "status", "--porcelain") == ""
    patch = tmp_path / "fix.patch"
    patch.write_text(done.stdout[done.stdout.index("diff --git") :])
    # Each file's patch, one after another, is the whole change: it applies, and leaves ruff nothing.
    git(repo, "apply", "--check", str(patch))
    assert patch.read_text().count("diff --git") == 3
    git(repo, "apply", str(patch))
    assert all((repo / p).read_text() == CLEAN for p in paths)


def test_the_hook_fixes_every_staged_file_in_one_ruff_run_and_leaves_them_unstaged(repo: Path, tmp_path: Path) -> None:
    paths = [f"mod{n}.py" for n in range(6)]
    write(repo, {"stomper.toml": 'tools = ["ruff"]\n', **dict.fromkeys(paths, CLEAN)})
    base = commit_all(repo, "clean")
    write(repo, dict.fromkeys(paths, UNUSED))
    git(repo, "add", *paths)
    env, log = logging_ruff(tmp_path)

    done = stomper(repo, "fix", "--hook", env=env)

    assert done.returncode == 1, done.stdout + done.stderr
    assert "stomper: fixed 6 file(s) in the working tree" in done.stderr
    assert len(fix_runs(log)) == 1
    assert git(repo, "rev-parse", "HEAD").strip() == base
    # Fixed in the working tree, what is staged as it was: the user looks, then stages.
    assert all((repo / p).read_text() == CLEAN for p in paths)
    assert git(repo, "diff", "--cached", "--name-only").split() == paths
    assert git(repo, "diff", "--name-only").split() == paths
    assert all(git(repo, "show", f":{p}") == UNUSED for p in paths)


def test_the_reports_recheck_of_a_batch_that_landed_whole_runs_no_tool(repo: Path, tmp_path: Path) -> None:
    paths = ["pkg/mixed.py", "pkg/other.py", "pkg/plain.py"]
    write(repo, {"pkg/__init__.py": "", "pkg/mixed.py": "import os\n\nvalue = undefined_name\n"})
    write(repo, dict.fromkeys(paths[1:], UNUSED))
    commit_all(repo, "mixed")
    before = check(repo, "--tools", "ruff")
    env, log = logging_ruff(tmp_path)

    done = stomper(repo, "fix", "--tools", "ruff", "--report", str(tmp_path / "report.json"), env=env)

    assert done.returncode == 1, done.stdout + done.stderr
    # The run's check (which is the batch's before too) and the batch's after: nothing else, since the
    # integrated result is the batch's verified tree.
    assert checks(log) == [["pkg/__init__.py", *paths], paths]
    data = assert_gate_kept(repo, before, tmp_path / "report.json", "--tools", "ruff")
    left = {f["path"]: [(d["code"], d["line"]) for d in f["diagnostics_remaining"]] for f in data["files"]}
    # What ruff left in mixed.py, where its fix moved it: found in the batch's tree, not the snapshot's.
    assert left == {"pkg/mixed.py": [("F821", 2)], "pkg/other.py": [], "pkg/plain.py": []}


def test_the_reports_recheck_runs_when_a_later_fix_changed_the_batchs_tree(repo: Path, tmp_path: Path) -> None:
    paths = ["pkg/mixed.py", "pkg/other.py", "pkg/plain.py"]
    write(repo, {"pkg/__init__.py": "", "pkg/mixed.py": "import os\n\na = undefined_one\nb = undefined_two\n"})
    write(repo, dict.fromkeys(paths[1:], UNUSED))
    commit_all(repo, "mixed")
    before = check(repo, "--tools", "ruff")
    env, log = logging_ruff(tmp_path)
    # The agent fixes one of the two and moves the other: only a check of the final tree knows where it is.
    agent, _ = scripted_agent(tmp_path, {"pkg/mixed.py": "a = 1\n\n\nb = undefined_two\n"})

    done = stomper(repo, "fix", "--tools", "ruff", "--agent", agent, "--report", str(tmp_path / "report.json"), env=env)

    assert done.returncode == 1, done.stdout + done.stderr
    runs = checks(log)
    assert runs[:2] == [["pkg/__init__.py", *paths], paths]
    # mixed.py's branch verifies the agent's fix on its own file; then the report's recheck checks the whole result.
    assert runs[-2:] == [["pkg/mixed.py"], paths]
    data = assert_gate_kept(repo, before, tmp_path / "report.json", "--tools", "ruff")
    left = {f["path"]: [(d["code"], d["line"]) for d in f["diagnostics_remaining"]] for f in data["files"]}
    assert left == {"pkg/mixed.py": [("F821", 4)], "pkg/other.py": [], "pkg/plain.py": []}
    assert (repo / "pkg/mixed.py").read_text() == "a = 1\n\n\nb = undefined_two\n"

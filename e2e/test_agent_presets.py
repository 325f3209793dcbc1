"""`--agent NAME`: each preset runs its CLI with the argv that CLI needs to edit unattended.

The CLIs are `fake_cli.py` installed under their real names first on PATH: they
record their argv, stdin and prompt file, and edit only when their argv grants
what the real CLI needs (see fake_cli.py), so a wrong argv fails the run.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import commit_all, git, stomper, write

FAKE_CLI = Path(__file__).with_name("fake_cli.py")
BROKEN = 'def value() -> int:\n    return "1"\n'
FIXED = "def value() -> int:\n    return 1\n"
PATH = "pkg/mod.py"


def install(tmp_path: Path, *names: str) -> Path:
    """A directory holding the fake CLI under `names`, each a real executable."""
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir(exist_ok=True)
    body = FAKE_CLI.read_text().replace("#!/usr/bin/env python3", f"#!{sys.executable}", 1)
    for name in names:
        (bin_dir / name).write_text(body)
        (bin_dir / name).chmod(0o755)
    return bin_dir


def on_path(bin_dir: Path) -> dict[str, str]:
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


def calls(bin_dir: Path) -> list[dict[str, Any]]:
    log = bin_dir / "calls.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def broken_project(repo: Path) -> None:
    write(repo, {"pkg/__init__.py": "", PATH: BROKEN})
    commit_all(repo, "broken")


PROMPT_START = f"Fix the following problems in the file {PATH}."


@pytest.mark.parametrize(
    ("preset", "executable", "argv", "prompt_on_stdin"),
    [
        ("claude", "claude", ["-p", "--permission-mode", "acceptEdits"], True),
        ("codex", "codex", ["exec", "--sandbox", "workspace-write", "-"], True),
        ("gemini", "gemini", ["--approval-mode", "auto_edit"], True),
        ("opencode", "opencode", ["run"], True),
    ],
)
def test_a_stdin_preset_runs_its_cli_with_the_exact_argv_and_the_fix_lands(
    repo: Path, tmp_path: Path, preset: str, executable: str, argv: list[str], prompt_on_stdin: bool
) -> None:
    broken_project(repo)
    bin_dir = install(tmp_path, executable)

    done = stomper(repo, "fix", "--tools", "mypy", "--agent", preset, env=on_path(bin_dir))

    assert done.returncode == 0, done.stdout + done.stderr
    assert (repo / PATH).read_text() == FIXED
    assert git(repo, "log", "-1", "--format=%s") == f"fix(stomper): resolve mypy return-value in {PATH}\n"
    [call] = calls(bin_dir)
    assert call["name"] == executable
    assert call["argv"] == argv
    assert call["stdin"].startswith(PROMPT_START) and "mypy return-value" in call["stdin"]
    # It ran in its worktree, never in the user's checkout.
    assert Path(call["cwd"]) != repo and (repo / ".git" / "stomper") in Path(call["cwd"]).parents


def test_aider_gets_its_prompt_as_a_message_file_and_commits_nothing_itself(repo: Path, tmp_path: Path) -> None:
    broken_project(repo)
    bin_dir = install(tmp_path, "aider")

    done = stomper(repo, "fix", "--tools", "mypy", "--agent", "aider", env=on_path(bin_dir))

    assert done.returncode == 0, done.stdout + done.stderr
    assert (repo / PATH).read_text() == FIXED
    [call] = calls(bin_dir)
    assert call["argv"][:-2] == [
        "--yes-always",
        "--no-auto-commits",
        "--no-gitignore",
        "--no-check-update",
        "--map-tokens",
        "0",
        "--chat-history-file",
        os.devnull,
        "--input-history-file",
        os.devnull,
        "--message-file",
    ]
    assert call["argv"][-1] == PATH
    prompt_file = Path(call["argv"][-2])
    assert Path(call["cwd"]) not in prompt_file.parents  # never part of the fix
    assert call["message_file"].startswith(PROMPT_START)
    assert call["stdin"] == ""


def test_cursor_gets_its_prompt_as_an_argument_and_nothing_on_stdin(repo: Path, tmp_path: Path) -> None:
    broken_project(repo)
    bin_dir = install(tmp_path, "cursor-agent")

    done = stomper(repo, "fix", "--tools", "mypy", "--agent", "cursor", env=on_path(bin_dir))

    assert done.returncode == 0, done.stdout + done.stderr
    assert (repo / PATH).read_text() == FIXED
    [call] = calls(bin_dir)
    assert call["argv"][0] == "-p"
    assert len(call["argv"]) == 2 and call["argv"][1].startswith(PROMPT_START)
    assert "--force" not in call["argv"]
    assert call["stdin"] == ""


def test_the_preset_can_be_set_in_stomper_toml(repo: Path, tmp_path: Path) -> None:
    write(repo, {"stomper.toml": 'tools = ["mypy"]\n\n[agent]\npreset = "codex"\n'})
    broken_project(repo)
    bin_dir = install(tmp_path, "codex")

    done = stomper(repo, "fix", env=on_path(bin_dir))

    assert done.returncode == 0, done.stdout + done.stderr
    assert [c["argv"] for c in calls(bin_dir)] == [["exec", "--sandbox", "workspace-write", "-"]]


def test_an_explicit_command_overrides_the_configured_preset(repo: Path, tmp_path: Path) -> None:
    write(repo, {"stomper.toml": 'tools = ["mypy"]\n\n[agent]\npreset = "codex"\n'})
    broken_project(repo)
    bin_dir = install(tmp_path, "codex", "claude")

    done = stomper(
        repo,
        "fix",
        "--agent",
        "claude -p --dangerously-skip-permissions --model x {file}",
        env=on_path(bin_dir),
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert [(c["name"], c["argv"]) for c in calls(bin_dir)] == [
        ("claude", ["-p", "--dangerously-skip-permissions", "--model", "x", PATH])
    ]
    # A command of one's own still gets the prompt on stdin, as documented.
    assert calls(bin_dir)[0]["stdin"].startswith(PROMPT_START)


def test_a_preset_on_the_command_line_overrides_a_configured_command(repo: Path, tmp_path: Path) -> None:
    write(repo, {"stomper.toml": 'tools = ["mypy"]\n\n[agent]\ncommand = ["no-such-agent", "{file}"]\n'})
    broken_project(repo)
    bin_dir = install(tmp_path, "gemini")

    done = stomper(repo, "fix", "--agent", "gemini", env=on_path(bin_dir))

    assert done.returncode == 0, done.stdout + done.stderr
    assert [c["argv"] for c in calls(bin_dir)] == [["--approval-mode", "auto_edit"]]


def test_an_agent_that_cannot_edit_is_told_so_and_not_tried_a_third_time(repo: Path, tmp_path: Path) -> None:
    broken_project(repo)
    bin_dir = install(tmp_path, "claude")
    report = tmp_path / "report.json"

    # The recipe the docs used to give: print mode without edit permission.
    done = stomper(
        repo,
        "fix",
        "--tools",
        "mypy",
        "--agent",
        "claude -p",
        "--max-attempts",
        "3",
        "--report",
        str(report),
        env=on_path(bin_dir),
    )

    assert done.returncode == 1
    assert (repo / PATH).read_text() == BROKEN
    assert len(calls(bin_dir)) == 2
    [entry] = json.loads(report.read_text())["files"]
    assert entry["attempts"] == 2
    assert "the agent changed nothing: does it have permission to edit?" in entry["detail"]
    assert "the agent changed nothing: does it have permission to edit?" in done.stdout + done.stderr


def test_a_missing_agent_stops_the_run_before_any_work(repo: Path, tmp_path: Path) -> None:
    broken_project(repo)
    empty = install(tmp_path)  # no CLI in it

    done = stomper(repo, "fix", "--tools", "mypy", "--agent", "claude", env=on_path(empty))

    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "stomper: error: the agent 'claude' is not on PATH: install it (npm install -g @anthropic-ai/claude-code), "
        "or set agent.command (--agent 'CMD {file}') to one that is"
    ]
    runs = repo / ".git" / "stomper" / "runs"
    assert not runs.exists() or not any(runs.iterdir())  # no run recorded, so none to resume
    assert git(repo, "log", "--format=%s") == "broken\n"


def test_a_misspelt_agent_is_a_command_that_is_not_found_and_the_known_ones_are_named(repo: Path) -> None:
    broken_project(repo)

    done = stomper(repo, "fix", "--tools", "mypy", "--agent", "clade")

    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "stomper: error: the agent 'clade' is not on PATH; "
        "the known agents are --agent claude, codex, aider, gemini, cursor, opencode"
    ]


@pytest.mark.parametrize("kind", ["missing", "not executable", "a directory"])
def test_a_command_whose_program_cannot_run_stops_the_run(repo: Path, tmp_path: Path, kind: str) -> None:
    broken_project(repo)
    program = tmp_path / "my-agent"
    if kind == "not executable":
        program.write_text("#!/bin/sh\n")
    elif kind == "a directory":
        program.mkdir()

    done = stomper(repo, "fix", "--tools", "mypy", "--agent", f"{program} {{file}}")

    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1
    assert str(program) in done.stderr
    assert "fixed" not in done.stdout


def test_a_missing_agent_is_not_looked_for_when_a_model_is_used_instead(repo: Path) -> None:
    broken_project(repo)
    shutil.rmtree(repo / "pkg")
    write(repo, {"a.py": "import os\n"})
    commit_all(repo)

    done = stomper(repo, "fix", "--tools", "ruff", "--fixer", "ruff", "--agent", "claude")

    assert done.returncode == 0, done.stderr
    assert "claude" not in done.stderr

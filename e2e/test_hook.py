"""`stomper fix --hook` as git and pre-commit run it: real commits, real hooks, the real pre-commit tool."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from conftest import BIN, STOMPER, commit_all, git, write

HERE = Path(__file__).resolve().parents[1]

UNUSED = "import os\nimport sys\n\nprint(sys.argv)\n"
CLEAN = "import sys\n\nprint(sys.argv)\n"
UNDEFINED = "def value() -> int:\n    return missing\n"


def attempt_commit(repo: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "commit", "-m", "change", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=600,
    )


def index_is_sound(repo: Path) -> None:
    subprocess.run(["git", "fsck", "--no-dangling"], cwd=repo, check=True, capture_output=True)
    assert not (repo / ".git" / "index.lock").exists()
    assert git(repo, "worktree", "list").count("\n") == 1


@pytest.fixture
def hooked(repo: Path) -> Path:
    """A repository whose plain git pre-commit hook runs `stomper fix --hook`, as a hand-written hook would."""
    write(repo, {"stomper.toml": 'tools = ["ruff"]\n', "app.py": CLEAN, "other.py": CLEAN})
    commit_all(repo, "clean project")
    hook = repo / ".git" / "hooks" / "pre-commit"
    hook.write_text(f"#!/bin/sh\nexec {STOMPER} fix --hook\n")
    hook.chmod(0o755)
    return repo


@pytest.mark.parametrize("how", [["-a"], ["app.py"]], ids=["commit -a", "commit path"])
def test_a_git_hook_under_a_temporary_index_fixes_the_working_tree_and_stops_the_commit(
    hooked: Path, how: list[str]
) -> None:
    # Both commit forms run the hook with GIT_INDEX_FILE set to a temporary index.
    (hooked / "app.py").write_text(UNUSED)
    head = git(hooked, "rev-parse", "HEAD")

    refused = attempt_commit(hooked, *how)

    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "stomper: fixed 1 file(s) in the working tree" in refused.stderr
    assert git(hooked, "rev-parse", "HEAD") == head
    assert (hooked / "app.py").read_text() == CLEAN
    # The real index was not touched: app.py is exactly what HEAD holds, so the fix shows as clean.
    assert git(hooked, "status", "--porcelain") == ""
    index_is_sound(hooked)

    (hooked / "other.py").write_text(UNUSED)
    git(hooked, "add", "other.py")
    refused = attempt_commit(hooked)
    assert refused.returncode == 1
    assert (hooked / "other.py").read_text() == CLEAN
    git(hooked, "add", "other.py")
    assert git(hooked, "status", "--porcelain") == ""  # the fix undid the change: nothing left to commit


def test_a_git_hook_that_cannot_fix_everything_says_what_is_left(hooked: Path) -> None:
    (hooked / "app.py").write_text(UNUSED + UNDEFINED)
    git(hooked, "add", "app.py")

    refused = attempt_commit(hooked)

    assert refused.returncode == 1
    assert "app.py:5:12: [ruff F821] Undefined name `missing`" in refused.stderr
    assert "1 diagnostic(s) in 1 file(s) remain that stomper could not fix" in refused.stderr
    assert (hooked / "app.py").read_text() == CLEAN + UNDEFINED
    assert git(hooked, "diff", "--cached", "--name-only") == "app.py\n"  # staged as it was
    index_is_sound(hooked)


def test_nothing_to_fix_exits_0_and_commits(hooked: Path) -> None:
    (hooked / "app.py").write_text(CLEAN + "print(1)\n")
    git(hooked, "add", "app.py")
    done = attempt_commit(hooked)
    assert done.returncode == 0, done.stderr
    assert git(hooked, "status", "--porcelain") == ""


def test_an_unreachable_model_is_one_line_and_ruff_still_fixes(repo: Path) -> None:
    write(
        repo,
        {
            "stomper.toml": 'tools = ["ruff"]\nmodel = "openai:gpt-4o-mini"\n[llm]\nbase_url = "http://127.0.0.1:9/v1"\n',
            "app.py": UNUSED + UNDEFINED,
        },
    )
    commit_all(repo)
    env = {**os.environ, "OPENAI_API_KEY": "sk-test-not-a-key"}

    done = subprocess.run([str(STOMPER), "fix", "--hook", "app.py"], cwd=repo, capture_output=True, text=True, env=env)

    assert done.returncode == 1
    said = [line for line in done.stderr.splitlines() if "unreachable" in line]
    assert len(said) == 1
    assert said[0].startswith("stomper: the model openai:gpt-4o-mini is unreachable (127.0.0.1:9")
    assert said[0].endswith("; fixing without it")
    assert (repo / "app.py").read_text() == CLEAN + UNDEFINED
    assert git(repo, "log", "--format=%s") == "commit\n"  # the hook never commits

    only_llm = subprocess.run(
        [str(STOMPER), "fix", "--hook", "--fixer", "llm", "app.py"], cwd=repo, capture_output=True, text=True, env=env
    )
    assert only_llm.returncode == 2
    assert (
        only_llm.stderr.strip()
        .splitlines()[-1]
        .startswith("stomper: error: the model openai:gpt-4o-mini is unreachable (127.0.0.1:9")
    )


def hook_repository(tmp_path: Path) -> tuple[Path, str]:
    """This working tree as pre-commit would fetch it: a git repository at a commit (uncommitted work included)."""
    source = tmp_path / "stomper-hook-repo"
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=HERE,
        capture_output=True,
        check=True,
    ).stdout
    for name in filter(None, listed.decode().split("\0")):
        if (HERE / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(HERE / name, source / name)
    git(source, "init", "--quiet", "--initial-branch=main")
    return source, commit_all(source, "stomper as of this test")


@pytest.mark.slow
def test_the_real_pre_commit_runs_the_hook_from_this_repository(repo: Path, tmp_path: Path) -> None:
    hooks, rev = hook_repository(tmp_path)
    write(
        repo,
        {
            ".pre-commit-config.yaml": f"repos:\n- repo: {hooks}\n  rev: {rev}\n  hooks:\n  - id: stomper\n",
            "stomper.toml": 'tools = ["ruff"]\n',
            "app.py": CLEAN,
        },
    )
    commit_all(repo, "project")
    env = {"PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home")}
    subprocess.run([str(BIN / "pre-commit"), "install"], cwd=repo, check=True, capture_output=True)
    (repo / "app.py").write_text(UNUSED)
    git(repo, "add", "app.py")
    started = time.monotonic()

    refused = attempt_commit(repo, env=env)

    print(f"first commit, pre-commit building the hook's environment: {time.monotonic() - started:.0f}s")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    said = refused.stdout + refused.stderr  # git sends a hook's output to stderr
    print(said)
    assert "stomper fix" in said and "Failed" in said
    assert "files were modified by this hook" in said
    assert (repo / "app.py").read_text() == CLEAN
    assert git(repo, "log", "--format=%s") == "project\n"
    index_is_sound(repo)

    git(repo, "add", "app.py")
    (repo / "other.py").write_text(CLEAN)
    git(repo, "add", "other.py")
    accepted = attempt_commit(repo, env=env)

    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert "Passed" in accepted.stdout + accepted.stderr
    assert git(repo, "log", "--format=%s") == "change\nproject\n"
    assert git(repo, "status", "--porcelain") == ""
    assert git(repo, "show", "--format=", "--name-only", "HEAD") == "other.py\n"
    index_is_sound(repo)


def test_the_first_commit_of_a_repository_goes_through(repo: Path) -> None:
    # Before the first commit there is nothing to make worktrees from; blocking it would block every new repository.
    write(repo, {"stomper.toml": 'tools = ["ruff"]\n', "app.py": UNUSED})
    hook = repo / ".git" / "hooks" / "pre-commit"
    hook.write_text(f"#!/bin/sh\nexec {STOMPER} fix --hook\n")
    hook.chmod(0o755)
    git(repo, "add", "-A")

    done = attempt_commit(repo)

    assert done.returncode == 0, done.stderr
    assert "no commit yet to fix against" in done.stderr
    assert git(repo, "log", "--format=%s") == "change\n"


@pytest.mark.slow
def test_the_real_pre_commit_passes_args_and_stubs_and_skips_tools_the_hook_lacks(repo: Path, tmp_path: Path) -> None:
    hooks, rev = hook_repository(tmp_path)

    def configure(args: str) -> None:
        config = f"repos:\n- repo: {hooks}\n  rev: {rev}\n  hooks:\n  - id: stomper-check\n{args}"
        write(repo, {".pre-commit-config.yaml": config})
        git(repo, "add", ".pre-commit-config.yaml")

    write(repo, {"app.py": CLEAN})
    configure("    args: [--tools, ruff]\n")
    commit_all(repo, "project")
    subprocess.run([str(BIN / "pre-commit"), "install"], cwd=repo, check=True, capture_output=True)
    # No stomper.toml: every tool is configured. The hook's environment has stomper and ruff only, and PATH
    # holds no other mypy or pytest (this test's own virtualenv is left out of it).
    env = {"PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"), "PATH": "/usr/local/bin:/usr/bin:/bin"}
    write(repo, {"stub.pyi": "import os\n"})
    git(repo, "add", "stub.pyi")

    with_args = attempt_commit(repo, env=env)

    said = with_args.stdout + with_args.stderr
    assert with_args.returncode == 1, said
    assert "stub.pyi" in said and "F401" in said  # a staged stub reaches the hook
    assert "no such file" not in said and "not found" not in said  # `--tools ruff` is an option, not two files
    assert "skipped" not in said

    configure("")
    without_args = attempt_commit(repo, env=env)

    said = without_args.stdout + without_args.stderr
    assert without_args.returncode == 1, said
    assert "stomper: mypy and pytest not installed in this hook's environment, skipped; " in said
    assert "add mypy and pytest to the hook's additional_dependencies" in said
    assert "stub.pyi" in said and "F401" in said
    assert git(repo, "log", "--format=%s") == "project\n"

"""What lands is exactly what was verified, whatever the user's git configuration or an agent does to git.

Each case runs the real `stomper fix` on a real repository whose git is
configured as a user's might be (a real global config file, or the
repository's own), or with an agent (a real executable) that reaches for
the git state all worktrees share: per-worktree config, refs, the stash.
Then the checkout is compared with what it held before (`checkout_state`).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import STOMPER, git

from tests.faults.checkout_state import CheckoutState, assert_only_fixed
from tests.faults.killing import kill_tree
from tests.faults.test_hostile_output import FIXED, TARGET, fix, project

USER = "utils.py"
"""A file at the top with the target's base name: where a patch without prefixes lands."""


def global_config(tmp_path: Path, text: str) -> dict[str, str]:
    """The environment of a user whose ~/.gitconfig holds `text`."""
    config = tmp_path / "gitconfig"
    config.write_text(textwrap.dedent(text))
    return {"GIT_CONFIG_GLOBAL": str(config)}


def fix_command(agent: Path) -> list[str]:
    agent_command = f"{sys.executable} {agent} {{file}}"
    return [str(STOMPER), "fix", "--tools", "ruff", "--fixer", "agent", "--agent", agent_command, "--max-attempts", "1"]


def run_agent(
    repo: Path, tmp_path: Path, body: str, *args: str, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], dict[str, dict[str, Any]]]:
    """`stomper fix` with an agent whose Python `body` runs in its worktree (`target` is the file's path)."""
    agent = tmp_path / "agent.py"
    agent.write_text(
        "import os, pathlib, subprocess, sys, time\n"
        "target = sys.argv[1]\n"
        "def git(*args):\n"
        "    subprocess.run(['git', *args], check=True, capture_output=True)\n" + textwrap.dedent(body)
    )
    report = tmp_path / "report.json"
    done = subprocess.run(
        [*fix_command(agent), "--report", str(report), *args],
        cwd=repo,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )
    assert "Traceback" not in done.stderr, done.stderr
    results = {f["path"]: f for f in json.loads(report.read_text())["files"]} if report.exists() else {}
    return done, results


WRITE_FIX = f"pathlib.Path(target).write_text({FIXED!r})\n"


# The user's git configuration


@pytest.mark.parametrize(
    "config",
    [
        "[diff]\n\tnoprefix = true\n",
        "[diff]\n\tmnemonicPrefix = true\n\trelative = true\n",
        "[color]\n\tui = always\n\tdiff = always\n",
        "[diff]\n\texternal = /bin/false\n",
        "[diff]\n\tcontext = 0\n",
        "[core]\n\tpager = false\n\tquotePath = false\n",
    ],
    ids=["noprefix", "mnemonic-relative", "color-always", "external-diff", "no-context", "pager"],
)
def test_the_users_diff_settings_do_not_change_what_is_applied(repo: Path, tmp_path: Path, config: str) -> None:
    project(repo, {USER: "# the user's own\n"})
    before = CheckoutState.capture(repo)

    results = fix(repo, tmp_path, {TARGET: {"content": FIXED}}, env=global_config(tmp_path, config))

    assert results[TARGET]["outcome"] == "fixed", results[TARGET]
    assert_only_fixed(repo, before, {TARGET: FIXED})


def test_the_kept_patch_and_diff_output_are_plain_whatever_the_users_diff_settings(repo: Path, tmp_path: Path) -> None:
    project(repo)
    env = global_config(tmp_path, "[diff]\n\tnoprefix = true\n\texternal = /bin/false\n[color]\n\tui = always\n")

    out = tmp_path / "fixes.patch"

    fix(repo, tmp_path, {TARGET: {"content": FIXED}}, "--diff", "--patch", str(out), env=env)

    patch = out.read_text()
    assert f"--- a/{TARGET}\n+++ b/{TARGET}\n" in patch
    assert "\x1b[" not in patch
    applied = subprocess.run(["git", "apply", "--check", "-"], cwd=repo, input=patch, text=True, capture_output=True)
    assert applied.returncode == 0, applied.stderr


def test_apply_whitespace_fix_does_not_change_the_verified_bytes(repo: Path, tmp_path: Path) -> None:
    project(repo)
    spaced = 'def value() -> str:\n    return """a   \nb"""\n'
    before = CheckoutState.capture(repo)

    results = fix(
        repo, tmp_path, {TARGET: {"content": spaced}}, env=global_config(tmp_path, "[apply]\n\twhitespace = fix\n")
    )

    assert results[TARGET]["outcome"] == "fixed", results[TARGET]
    assert_only_fixed(repo, before, {TARGET: spaced})
    assert git(repo, "show", f"HEAD:{TARGET}") == spaced


def test_autocrlf_does_not_make_an_untouched_file_look_changed(repo: Path, tmp_path: Path) -> None:
    # Committed with LF; then the user turns autocrlf on, as Windows users do: their checkout keeps its LF files.
    project(repo)
    env = global_config(tmp_path, "[core]\n\tautocrlf = true\n")

    results = fix(repo, tmp_path, {TARGET: {"content": FIXED}}, env=env)

    assert results[TARGET]["outcome"] == "fixed", results[TARGET]
    assert git(repo, "show", f"HEAD:{TARGET}") == FIXED
    assert (repo / TARGET).read_bytes().replace(b"\r\n", b"\n") == FIXED.encode()
    status = subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True, text=True, env=env)
    assert status.stdout == ""
    assert git(repo, "rev-list", "--count", "HEAD") == "2\n"


def test_an_eol_attribute_does_not_make_an_untouched_file_look_changed(repo: Path, tmp_path: Path) -> None:
    project(repo, {".gitattributes": "*.py text eol=crlf\n"})
    # The user's checkout holds the files as committed (LF): git only converts at checkout.

    results = fix(repo, tmp_path, {TARGET: {"content": FIXED}})

    assert results[TARGET]["outcome"] == "fixed", results[TARGET]
    assert git(repo, "show", f"HEAD:{TARGET}") == FIXED
    assert git(repo, "status", "--porcelain") == ""


# Commits git cannot make


def failing_gpg(tmp_path: Path) -> dict[str, str]:
    gpg = tmp_path / "gpg"
    gpg.write_text("#!/bin/sh\necho 'gpg: signing failed: No pinentry' >&2\nexit 2\n")
    gpg.chmod(0o755)
    return global_config(tmp_path, f"[commit]\n\tgpgSign = true\n[gpg]\n\tprogram = {gpg}\n")


def no_identity(tmp_path: Path) -> dict[str, str]:
    """A user who told git never to guess an identity, and has none configured."""
    return global_config(tmp_path, "[user]\n\tuseConfigOnly = true\n")


@pytest.mark.parametrize("why", ["gpg-fails", "no-identity"])
def test_a_commit_git_cannot_make_refuses_the_run_before_it_starts(repo: Path, tmp_path: Path, why: str) -> None:
    project(repo)
    before = CheckoutState.capture(repo)
    env = {**os.environ, **(failing_gpg(tmp_path) if why == "gpg-fails" else no_identity(tmp_path))}
    if why == "no-identity":
        env = {k: v for k, v in env.items() if not k.startswith(("GIT_AUTHOR_", "GIT_COMMITTER_")) and k != "EMAIL"}

    done = subprocess.run(
        [str(STOMPER), "fix", "--tools", "ruff"], cwd=repo, capture_output=True, text=True, env=env, timeout=120
    )

    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("stomper: error: cannot commit in this repository ("), lines
    assert lines[0].endswith("; fix that, or use --no-commit")
    assert_only_fixed(repo, before)


@pytest.mark.parametrize("output", ["--branch", "--patch"])
def test_branch_or_patch_with_no_identity_is_refused_before_any_work(repo: Path, tmp_path: Path, output: str) -> None:
    project(repo)
    before = CheckoutState.capture(repo)
    env = {**os.environ, **no_identity(tmp_path)}
    env = {k: v for k, v in env.items() if not k.startswith(("GIT_AUTHOR_", "GIT_COMMITTER_")) and k != "EMAIL"}
    target = "fixes" if output == "--branch" else str(tmp_path / "fixes.patch")

    done = subprocess.run(
        [str(STOMPER), "fix", "--tools", "ruff", output, target],
        cwd=repo,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )

    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip().splitlines() == [
        "stomper: error: --branch and --patch commit the fixes, and git has no identity to commit them with "
        "(user.useConfigOnly is set); set user.name and user.email"
    ]
    assert git(repo, "branch", "--list", "fixes") == ""
    assert not (tmp_path / "fixes.patch").exists()
    assert_only_fixed(repo, before)


def test_with_no_commit_a_repository_that_cannot_commit_is_still_fixed(repo: Path, tmp_path: Path) -> None:
    project(repo)
    before = CheckoutState.capture(repo)

    results = fix(repo, tmp_path, {TARGET: {"content": FIXED}}, "--no-commit", env=failing_gpg(tmp_path))

    assert results[TARGET]["outcome"] == "fixed", results[TARGET]
    assert_only_fixed(repo, before, {TARGET: FIXED}, committed=False)


# What an agent may not change


def test_a_mode_an_agent_changed_is_not_committed(repo: Path, tmp_path: Path) -> None:
    project(repo)
    before = CheckoutState.capture(repo)

    script = "#!/usr/bin/env python3\n" + FIXED  # ruff's EXE rules pass it: only its mode is not a fix
    _, results = run_agent(repo, tmp_path, f"pathlib.Path(target).write_text({script!r})\nos.chmod(target, 0o755)\n")

    assert results[TARGET]["outcome"] == "failed"
    assert results[TARGET]["detail"] == f"the fix changes the mode of {TARGET} (100644 to 100755); not applied"
    assert_only_fixed(repo, before)


@pytest.mark.parametrize("setting", ["hooksPath", "fsmonitor"])
def test_a_program_planted_through_config_worktree_never_runs(repo: Path, tmp_path: Path, setting: str) -> None:
    git(repo, "config", "core.repositoryformatversion", "1")
    git(repo, "config", "extensions.worktreeConfig", "true")
    project(repo)
    ran = tmp_path / "ran"
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    for name in ("post-commit", "pre-commit", "post-index-change", "reference-transaction"):
        (hooks / name).write_text(f"#!/bin/sh\necho {name} >> {ran}\n")
        (hooks / name).chmod(0o755)
    monitor = tmp_path / "fsmonitor"
    monitor.write_text(f"#!/bin/sh\necho fsmonitor >> {ran}\n")
    monitor.chmod(0o755)
    value = hooks if setting == "hooksPath" else monitor
    body = (
        WRITE_FIX
        + "common = subprocess.run(['git', 'rev-parse', '--git-common-dir'], capture_output=True, text=True)\n"
        + f"pathlib.Path(common.stdout.strip(), 'config.worktree').write_text('[core]\\n\\t{setting} = {value}\\n')\n"
    )

    _, results = run_agent(repo, tmp_path, body)

    assert results[TARGET]["outcome"] == "failed"
    assert "the fixer changed git's own files (.git/config.worktree)" in results[TARGET]["detail"]
    assert not ran.exists(), ran.read_text()
    assert git(repo, "rev-list", "--count", "HEAD") == "1\n"


def test_refs_an_agent_changes_are_put_back_and_its_attempt_refused(repo: Path, tmp_path: Path) -> None:
    project(repo)
    git(repo, "branch", "feature")
    git(repo, "tag", "v1")
    git(repo, "pack-refs", "--all")
    git(repo, "branch", "loose")
    (repo / "notes.txt").write_text("the user's stashed work\n")
    git(repo, "stash", "push", "--quiet")
    before = CheckoutState.capture(repo)
    body = WRITE_FIX + textwrap.dedent(
        """\
        git("stash", "drop")
        git("branch", "agents-branch")
        git("tag", "agents-tag")
        git("branch", "-D", "feature")
        git("tag", "-d", "v1")
        git("update-ref", "refs/heads/loose", "HEAD~0")
        """
    )

    _, results = run_agent(repo, tmp_path, body)

    assert results[TARGET]["outcome"] == "failed"
    assert "the fixer changed the repository's refs (" in results[TARGET]["detail"]
    assert "they were put back (what they pointed at is kept under refs/stomper/kept/)" in results[TARGET]["detail"]
    assert_only_fixed(repo, before)
    git(repo, "stash", "pop", "--quiet")
    assert (repo / "notes.txt").read_text() == "the user's stashed work\n"
    # Had a change been the user's own, nothing of it is lost: the refs it made are kept.
    kept = git(repo, "for-each-ref", "--format=%(refname)", "refs/stomper/kept/").split()
    assert {ref.split("/", 4)[4] for ref in kept} == {"heads/agents-branch", "tags/agents-tag"}


# The branch the run started on


def test_a_branch_switch_mid_run_stops_the_run_and_it_resumes_on_its_branch(repo: Path, tmp_path: Path) -> None:
    project(repo, {"pkg/other.py": "import sys\n"})
    started, go = tmp_path / "started", tmp_path / "go"
    body = textwrap.dedent(
        f"""\
        pathlib.Path({str(started)!r}).touch()
        while not pathlib.Path({str(go)!r}).exists():
            time.sleep(0.05)
        pathlib.Path(target).write_text("x = 1\\n")
        """
    )
    agent = tmp_path / "agent.py"
    agent.write_text("import pathlib, sys, time\ntarget = sys.argv[1]\n" + body)
    report = tmp_path / "report.json"
    run = subprocess.Popen(
        [*fix_command(agent), "--parallel", "1", "--report", str(report)],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    while not started.exists():
        assert run.poll() is None, run.communicate()
        time.sleep(0.05)
    main = git(repo, "rev-parse", "main").strip()

    git(repo, "switch", "--quiet", "-c", "elsewhere")
    go.touch()
    out, err = run.communicate(timeout=120)

    assert run.returncode == 2, out + err
    (said,) = err.strip().splitlines()[-1:]
    assert said.startswith("stomper: error: HEAD moved from main to elsewhere since the run started; fix of pkg/")
    assert "not applied; check out main again, then resume with: stomper fix --resume " in said
    assert git(repo, "rev-parse", "main").strip() == main
    assert git(repo, "rev-parse", "elsewhere").strip() == main
    assert git(repo, "status", "--porcelain") == ""

    git(repo, "switch", "--quiet", "main")
    resumed = subprocess.run([str(STOMPER), "fix", "--resume"], cwd=repo, capture_output=True, text=True, timeout=120)

    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert git(repo, "show", f"main:{TARGET}") == git(repo, "show", "main:pkg/other.py") == "x = 1\n"
    assert git(repo, "rev-list", "--count", "main") == "3\n"
    assert git(repo, "rev-parse", "elsewhere").strip() == main
    assert git(repo, "status", "--porcelain") == ""


# What was verified is what lands


def test_a_file_rewritten_while_it_is_verified_never_lands(repo: Path, tmp_path: Path) -> None:
    """An agent leaves a process behind that rewrites the file while mypy checks it: the rewrite must not land."""
    project(repo)
    signals = {name: tmp_path / name for name in ("daemon", "verifying", "rewritten")}
    wrapper = repo / ".venv" / "bin" / "mypy"
    wrapper.parent.mkdir(parents=True)
    wrapper.write_text(
        "#!/bin/sh\n"
        f'case "$PWD" in *.git/stomper/worktrees/*) if [ -e {signals["daemon"]} ]; then\n'
        f"  touch {signals['verifying']}; n=0; while [ ! -e {signals['rewritten']} ] && [ $n -lt 100 ]; do\n"
        "    sleep 0.1; n=$((n + 1)); done; fi ;; esac\n"
        f'exec {Path(sys.executable).with_name("mypy")} "$@"\n'
    )
    wrapper.chmod(0o755)
    daemon = textwrap.dedent(
        f"""\
        import pathlib, sys, time
        for _ in range(300):
            if pathlib.Path({str(signals["verifying"])!r}).exists():
                pathlib.Path(sys.argv[1]).write_text("x = 1\\n")  # the user's function, gone
                pathlib.Path({str(signals["rewritten"])!r}).touch()
                break
            time.sleep(0.1)
        """
    )
    body = WRITE_FIX + textwrap.dedent(
        f"""\
        child = subprocess.Popen([sys.executable, "-c", {daemon!r}, os.path.abspath(target)], start_new_session=True)
        pathlib.Path({str(tmp_path / "daemon.pid")!r}).write_text(str(child.pid))
        pathlib.Path({str(signals["daemon"])!r}).touch()
        """
    )
    before = CheckoutState.capture(repo)

    try:
        _, results = run_agent(repo, tmp_path, body, "--tools", "ruff,mypy")
    finally:
        with contextlib.suppress(OSError, ValueError):
            os.kill(int((tmp_path / "daemon.pid").read_text()), signal.SIGKILL)

    # Either the daemon died with its attempt (a sandbox) and the verified fix landed, or it did not and the
    # attempt was refused; never does its rewrite land.
    if results[TARGET]["outcome"] == "fixed":
        assert_only_fixed(repo, before, {TARGET: FIXED})
    else:
        assert "files changed in the worktree while the fix was verified (pkg/mod.py)" in results[TARGET]["detail"]
        assert_only_fixed(repo, before)


def test_a_run_is_resumed_only_in_the_checkout_it_started_in(repo: Path, tmp_path: Path) -> None:
    project(repo)
    linked = tmp_path / "linked"
    git(repo, "worktree", "add", "--quiet", "-b", "side", str(linked))
    started = tmp_path / "started"
    agent = tmp_path / "agent.py"
    agent.write_text(f"import pathlib, time\npathlib.Path({str(started)!r}).touch()\ntime.sleep(1000)\n")
    run = subprocess.Popen(fix_command(agent), cwd=linked, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while not started.exists():
        assert run.poll() is None, run.communicate()
        time.sleep(0.05)
    kill_tree(run)  # stomper and its sleeping agent: nothing of the test outlives it
    run.communicate(timeout=60)
    agent.write_text(f"import pathlib, sys\npathlib.Path(sys.argv[1]).write_text({FIXED!r})\n")

    elsewhere = subprocess.run([*fix_command(agent), "--resume"], cwd=repo, capture_output=True, text=True, timeout=120)
    there = subprocess.run([*fix_command(agent), "--resume"], cwd=linked, capture_output=True, text=True, timeout=120)

    assert elsewhere.returncode == 2, elsewhere.stdout + elsewhere.stderr
    assert elsewhere.stderr.strip().endswith(f"started in {linked.resolve()}; resume it there")
    assert there.returncode == 0, there.stdout + there.stderr
    assert git(linked, "show", f"side:{TARGET}") == FIXED
    assert git(repo, "show", f"main:{TARGET}") != FIXED

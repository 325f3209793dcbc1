"""Bad input: one clear line and exit 2, never a traceback, and the checkout as it was.

Each case runs the real `stomper fix` in a subprocess on a real repository
(or a directory that is not one) made wrong in one way.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import STOMPER, commit_all, fake_agent, git, write

from tests.faults.checkout_state import CheckoutState, assert_only_fixed

UNUSED_IMPORT = "import os\n\nprint(1)\n"
FIXED = "\nprint(1)\n"


def stomper(
    cwd: Path, *args: str, env: dict[str, str] | None = None, argv: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [*(argv or [str(STOMPER)]), "fix", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )
    assert "Traceback" not in done.stdout + done.stderr
    return done


def one_error(done: subprocess.CompletedProcess[str], message: str) -> None:
    """Exit 2 and `message` as stderr's only line."""
    assert (done.returncode, done.stderr.splitlines()) == (2, [f"stomper: error: {message}"]), done.stdout


def project(repo: Path, files: dict[str, str] | None = None) -> CheckoutState:
    write(repo, {".gitignore": ".venv/\n", "a.py": UNUSED_IMPORT, **(files or {})})
    commit_all(repo)
    return CheckoutState.capture(repo)


def test_not_a_git_repository(tmp_path: Path) -> None:
    write(tmp_path, {"a.py": UNUSED_IMPORT})

    done = stomper(tmp_path, "--tools", "ruff")

    one_error(done, f"{tmp_path} is not inside a git repository; stomper fix works on git repositories only")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.py"]
    assert (tmp_path / "a.py").read_text() == UNUSED_IMPORT


def test_a_repository_without_commits(repo: Path) -> None:
    write(repo, {"a.py": UNUSED_IMPORT})
    git(repo, "add", "a.py")
    before = CheckoutState.capture(repo)

    done = stomper(repo, "--tools", "ruff")

    one_error(done, "the repository has no commits yet; commit your files once, then run stomper fix")
    assert_only_fixed(repo, before)


def test_a_detached_head_in_commit_mode(repo: Path) -> None:
    project(repo)
    git(repo, "checkout", "--quiet", "--detach")
    before = CheckoutState.capture(repo)

    done = stomper(repo, "--tools", "ruff")

    one_error(done, "HEAD is detached; check out a branch first, or use --no-commit to leave the fixes uncommitted")
    assert_only_fixed(repo, before)


def test_a_path_that_does_not_exist(repo: Path) -> None:
    before = project(repo)

    one_error(stomper(repo, "--tools", "ruff", "a.py", "nope.py"), "nope.py: no such file or directory")

    assert_only_fixed(repo, before)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("tools = [\n", "not valid TOML: "),
        ("tool = ['ruff']\n", "unknown key 'tool'"),
        ("parallel = 0\n", "parallel: Input should be greater than or equal to 1 (got 0)"),
        ("max_patch_bytes = 'big'\n", "max_patch_bytes: Input should be a valid integer"),
    ],
    ids=["syntax", "unknown-key", "bad-value", "bad-limit"],
)
def test_a_malformed_stomper_toml(repo: Path, config: str, message: str) -> None:
    before = project(repo, {"stomper.toml": config})

    done = stomper(repo, "--tools", "ruff")

    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert line.startswith(f"stomper: error: {repo / 'stomper.toml'}: ") and message in line
    assert_only_fixed(repo, before)


def test_binary_and_non_utf8_files_are_skipped_and_the_rest_fixed(repo: Path) -> None:
    write(repo, {".gitignore": ".venv/\n", "a.py": UNUSED_IMPORT})
    (repo / "latin.py").write_bytes(b"# caf\xe9\nimport os\n")
    (repo / "blob.py").write_bytes(b"\x00\x01import os\n")
    commit_all(repo)
    before = CheckoutState.capture(repo)

    done = stomper(repo, "--tools", "ruff,mypy")

    assert done.returncode == 0, done.stdout + done.stderr
    assert "skipped blob.py: it is a binary file" in done.stderr.splitlines()
    assert "skipped latin.py: it is not UTF-8 text (byte 5 is 0xe9)" in done.stderr.splitlines()
    assert_only_fixed(repo, before, {"a.py": FIXED})


def test_an_unreadable_file(repo: Path) -> None:
    before = project(repo, {"secret.py": "x = 1\n"})
    (repo / "secret.py").chmod(0)
    setpriv = shutil.which("setpriv")
    if os.geteuid() == 0 and setpriv is None:
        pytest.skip("running as root, and without setpriv root reads a file whatever its mode")
    # As root, drop the capabilities that let root read whatever the mode says.
    as_user = [setpriv, "--bounding-set=-dac_override,-dac_read_search", "--"] if os.geteuid() == 0 else []

    done = stomper(repo, "--tools", "ruff", argv=[*as_user, str(STOMPER)])

    one_error(done, "secret.py: cannot be read (Permission denied)")
    (repo / "secret.py").chmod(0o644)
    assert_only_fixed(repo, before)


def _only(tmp_path: Path, *programs: str) -> str:
    """A PATH directory holding only `programs`."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name in programs:
        found = shutil.which(name)
        assert found is not None
        (bin_dir / name).symlink_to(found)
    return str(bin_dir)


def _stomper_without_tools(tmp_path: Path) -> list[str]:
    """stomper's own interpreter, seen from a virtualenv with no tools beside it."""
    view = tmp_path / "view"
    (view / "bin").mkdir(parents=True)
    (view / "bin" / "python").symlink_to(sys.executable)
    (view / "lib").symlink_to(Path(sys.prefix) / "lib")
    shutil.copy(Path(sys.prefix) / "pyvenv.cfg", view / "pyvenv.cfg")
    return [str(view / "bin" / "python"), "-m", "stomper"]


@pytest.mark.parametrize("missing", ["ruff", "mypy"])
def test_a_tool_that_is_not_installed(repo: Path, tmp_path: Path, missing: str) -> None:
    before = project(repo)
    path = _only(tmp_path, "git", *(["ruff"] if missing == "mypy" else []))

    done = stomper(repo, "--tools", "ruff,mypy", env={"PATH": path}, argv=_stomper_without_tools(tmp_path))

    remedy = {
        "ruff": "install it (pip install ruff)",
        "mypy": 'install it (pip install mypy) or leave it out: tools = ["ruff"] in stomper.toml, or --tools ruff',
    }[missing]
    one_error(done, f"{missing}: not found in {repo / '.venv'}, on PATH, or beside stomper; {remedy}")
    assert_only_fixed(repo, before)
    assert not (repo / ".git" / "stomper" / "runs").exists()


def test_a_project_tool_that_is_not_executable(repo: Path) -> None:
    before = project(repo, {".venv/bin/mypy": "#!/bin/sh\n"})

    done = stomper(repo, "--tools", "ruff,mypy")

    one_error(done, f"mypy: {repo / '.venv' / 'bin' / 'mypy'} is not executable")
    assert_only_fixed(repo, before)


def _crashing(repo: Path, name: str, only_in_worktrees: bool = False) -> None:
    """The project's own `name`, which crashes (everywhere, or only where stomper verifies)."""
    real = shutil.which(name)
    crash = 'echo "Traceback (most recent call last):" >&2; echo "RuntimeError: it broke" >&2; exit 2'
    body = (
        f'case "$PWD" in *.git/stomper/worktrees/*) {crash} ;; esac\nexec {real} "$@"' if only_in_worktrees else crash
    )
    write(repo, {f".venv/bin/{name}": f"#!/bin/sh\n{body}\n"})
    (repo / ".venv" / "bin" / name).chmod(0o755)


def test_a_tool_that_crashes(repo: Path) -> None:
    _crashing(repo, "ruff")
    before = project(repo)

    done = stomper(repo, "--tools", "ruff")

    assert done.returncode == 2
    errors = [line for line in done.stdout.splitlines() if "error" in line]
    assert errors == ["tool error ruff: ruff exited with status 2: RuntimeError: it broke"]
    assert_only_fixed(repo, before)


def test_a_tool_that_crashes_while_verifying_fails_the_file(repo: Path, tmp_path: Path) -> None:
    _crashing(repo, "ruff", only_in_worktrees=True)
    before = project(repo, {"b.py": UNUSED_IMPORT})
    report = tmp_path / "report.json"

    done = stomper(repo, "--tools", "ruff", "--report", str(report))

    assert done.returncode == 1, done.stdout + done.stderr
    files = json.loads(report.read_text())["files"]
    assert [(f["path"], f["outcome"]) for f in files] == [("a.py", "failed"), ("b.py", "failed")]
    # ruff's look before the fix is the run's first check (in the checkout, where ruff works): the
    # crash is met when ruff checks the fix in the worktree, which is then not applied.
    assert {f["detail"] for f in files} == {"ruff check exited with status 2: RuntimeError: it broke"}
    assert_only_fixed(repo, before)


def test_git_is_not_installed(repo: Path, tmp_path: Path) -> None:
    before = project(repo)

    done = stomper(repo, "--tools", "ruff", env={"PATH": _only(tmp_path)})

    one_error(done, "git: not found (is it installed and on PATH?)")
    assert_only_fixed(repo, before)


def test_a_checker_that_crashes_while_verifying_an_agents_fix_fails_the_file(repo: Path, tmp_path: Path) -> None:
    _crashing(repo, "mypy", only_in_worktrees=True)
    before = project(repo, {"b.py": "def f() -> int:\n    return 'x'\n"})
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"b.py": {"content": "def f() -> int:\n    return 1\n"}}))
    agent = fake_agent(script)
    report = tmp_path / "report.json"

    done = stomper(
        repo, "--tools", "mypy", "--fixer", "agent", "--agent", agent, "--max-attempts", "1", "--report", str(report)
    )

    assert done.returncode == 1, done.stdout + done.stderr
    [result] = json.loads(report.read_text())["files"]
    assert (result["path"], result["outcome"]) == ("b.py", "failed")
    assert result["detail"] == (
        "The tools could not check the file before any change: mypy: mypy failed: RuntimeError: it broke"
    )
    assert_only_fixed(repo, before)


@pytest.mark.parametrize("where", ["a-directory", "under-a-file/report.json"])
def test_a_report_path_that_cannot_be_written(repo: Path, where: str) -> None:
    before = project(repo, {"under-a-file": "the user's\n"})
    (repo / "a-directory").mkdir()

    done = stomper(repo, "--tools", "ruff", "--report", where)

    if where == "a-directory":
        one_error(done, "--report a-directory: is a directory; give the path of a file")
        assert_only_fixed(repo, before)
    else:
        # Said after the run, whose fixes stand.
        assert done.stderr.splitlines()[-1] == (f"stomper: error: cannot write the report to {where}: Not a directory")
        assert done.returncode == 2
        assert_only_fixed(repo, before, {"a.py": FIXED})

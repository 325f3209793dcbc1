"""The documentation says what the code does: the graph it draws, the options it names, the workflow it ships."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml
from typer.testing import CliRunner

from stomper.cli import app
from stomper.graph.build import build_graph

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "examples").glob("*.yml"))]


def test_architecture_shows_the_graph_stomper_draws() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text()
    block = re.search(r"```mermaid\n(.*?)```", text, re.S)
    assert block is not None
    assert block.group(1) == build_graph().get_graph().draw_mermaid()


def test_every_fix_option_the_docs_use_exists() -> None:
    help_text = CliRunner().invoke(app, ["fix", "--help"], terminal_width=200).output
    known = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", help_text))
    used = set()
    for path in DOCS:
        for line in path.read_text().splitlines():
            if "stomper fix" in line:
                # Not what is quoted: an agent's own options in --agent '...'.
                options = re.sub(r"'[^']*'", "", line.split("stomper fix", 1)[1])
                used.update(re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", options))
    assert {"--hook", "--ci", "--sarif", "--patch", "--branch"} <= used
    assert used - known == set()


def test_the_pull_request_workflow_splits_the_run_from_the_push() -> None:
    workflow = yaml.safe_load((ROOT / "examples" / "github-pull-request.yml").read_text())
    assert set(workflow[True]) == {"pull_request"}  # YAML 1.1 reads the key `on` as True
    run, push = workflow["jobs"]["stomper"], workflow["jobs"]["push"]
    assert run["permissions"] == {"contents": "read", "security-events": "write"}
    assert push["permissions"] == {"contents": "write"}
    assert push["needs"] == "stomper"
    assert "head.repo.full_name == github.repository" in push["if"]
    action = [s for s in run["steps"] if s.get("uses", "").startswith("OWNER/stomper@")]
    assert [s["with"]["deliver"] for s in action] == ["push"]
    pushing = [s for s in push["steps"] if s.get("uses", "").startswith("OWNER/stomper@")]
    assert [s["with"]["step"] for s in pushing] == ["push"]


def test_every_action_input_the_examples_use_exists() -> None:
    inputs = set(yaml.safe_load((ROOT / "action.yml").read_text())["inputs"])
    for path in sorted((ROOT / "examples").glob("*.yml")):
        for job in yaml.safe_load(path.read_text())["jobs"].values():
            for step in job["steps"]:
                if step.get("uses", "").startswith("OWNER/stomper@"):
                    assert set(step.get("with", {})) <= inputs, path.name


def test_every_install_line_installs_this_project_by_its_distribution_name() -> None:
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["name"] == "stomper-fix"
    files = [*DOCS, ROOT / "tasks.py", *sorted((ROOT / "src").rglob("*.py"))]
    # What is installed: after `pip install`, before a comment.
    installs = [
        (path.name, line.split("pip install", 1)[1].split("#")[0])
        for path in files
        for line in path.read_text().splitlines()
        if "pip install" in line
    ]
    # `stomper` on PyPI is an unrelated STOMP client: never `pip install stomper` nor `stomper[extra]`;
    # a path to a checkout (`/path/to/stomper`) is fine.
    wrong = [(name, what) for name, what in installs if re.search(r"(?<![\w/.-])stomper(?![\w-])", what)]
    assert not wrong
    assert sum("stomper-fix" in what for _, what in installs) >= 4

"""`run_tool`: a tool that crashes, hangs or is missing is a tool error, never "no diagnostics"."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from stomper.tools import TOOLS, find_executable, run_tool


def fake_tool(where: Path, name: str, body: str) -> str:
    """A real executable named `name` running the Python `body`."""
    where.mkdir(parents=True, exist_ok=True)
    script = where / name
    script.write_text(f"#!{sys.executable}\nimport sys, time\n{body}\n")
    script.chmod(0o755)
    return str(script)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "tests").mkdir(parents=True)
    (root / "tests" / "test_a.py").write_text("def test_a():\n    pass\n")
    return root


PATHS = ["tests/test_a.py"]


@pytest.mark.parametrize("name", sorted(TOOLS))
async def test_undocumented_exit_status_is_a_tool_error(tmp_path: Path, project: Path, name: str) -> None:
    crash = 'print("Traceback (most recent call last):\\nKeyError: boom", file=sys.stderr)\nsys.exit(3)'
    exe = fake_tool(tmp_path / "bin", name, crash)

    run = await run_tool(TOOLS[name], PATHS, cwd=project, executable=exe, timeout=30)

    assert run.error == f"{name} exited with status 3: KeyError: boom"
    assert run.diagnostics == ()


@pytest.mark.parametrize("name", sorted(TOOLS))
async def test_garbage_output_is_a_tool_error(tmp_path: Path, project: Path, name: str) -> None:
    exe = fake_tool(tmp_path / "bin", name, 'print("<<< this is not what stomper asked for >>>")\nsys.exit(1)')

    run = await run_tool(TOOLS[name], PATHS, cwd=project, executable=exe, timeout=30)

    assert run.error is not None and run.error.startswith(name)
    assert run.diagnostics == ()


async def test_missing_executable_is_a_tool_error(tmp_path: Path, project: Path) -> None:
    run = await run_tool(TOOLS["ruff"], PATHS, cwd=project, executable=str(tmp_path / "no-ruff"), timeout=30)

    assert run.error == f"{tmp_path / 'no-ruff'}: not found (is it installed and on PATH?)"


async def test_hanging_tool_is_a_tool_error(tmp_path: Path, project: Path) -> None:
    exe = fake_tool(tmp_path / "bin", "mypy", "time.sleep(60)")

    run = await run_tool(TOOLS["mypy"], PATHS, cwd=project, executable=exe, timeout=0.5)

    assert run.error == "mypy ran longer than 0.5s and was killed"


async def test_tool_with_no_files_of_its_kind_is_not_run(tmp_path: Path, project: Path) -> None:
    # pytest only takes test files; a missing executable shows it was never started.
    run = await run_tool(TOOLS["pytest"], ["src/a.py"], cwd=project, executable=str(tmp_path / "none"), timeout=30)

    assert run.error is None
    assert run.diagnostics == ()


def test_project_virtualenv_comes_before_path(tmp_path: Path, project: Path) -> None:
    own = fake_tool(project / ".venv" / "bin", "ruff", "")

    assert find_executable("ruff", project) == own
    assert find_executable("mypy", project) == str(Path(sys.executable).parent / "mypy")


async def test_a_usage_error_is_reported_by_its_error_line(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # pytest writes the rootdir after the error; the error is what matters.
    (project / "pytest.ini").write_text("[pytest]\naddopts = --no-such-option\n")
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    real_pytest = str(Path(sys.executable).parent / "pytest")

    run = await run_tool(TOOLS["pytest"], PATHS, cwd=project, executable=real_pytest, timeout=60)

    assert run.error == "pytest exited with status 4: pytest: error: unrecognized arguments: --no-such-option"

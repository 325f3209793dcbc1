"""Each tool checks what the project configures when no files are named, and reports only on named files."""

from __future__ import annotations

import sys
from pathlib import Path

from conftest import write

from stomper.tools import TOOLS, run_tool

BIN = Path(sys.executable).parent
BAD = "def f() -> int:\n    return 'x'\n"


async def mypy(root: Path, paths: list[str], whole: bool) -> tuple[list[str], str | None]:
    run = await run_tool(TOOLS["mypy"], paths, cwd=root, executable=str(BIN / "mypy"), timeout=120, whole=whole)
    return sorted(d.path for d in run.diagnostics), run.error


async def test_mypy_checks_its_configured_files_and_exclude(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "pyproject.toml": '[tool.mypy]\nfiles = ["src"]\nexclude = ["src/generated/"]\n',
            "src/a.py": BAD,
            "src/generated/g.py": BAD,
            "tests/test_a.py": BAD,
        },
    )
    everything = ["src/a.py", "src/generated/g.py", "tests/test_a.py"]

    assert await mypy(tmp_path, everything, whole=True) == (["src/a.py"], None)
    # Named files: what the project's own check would not have seen stays unseen.
    assert await mypy(tmp_path, ["src/generated/g.py", "tests/test_a.py"], whole=False) == (["tests/test_a.py"], None)


async def test_what_mypy_says_about_a_module_it_followed_is_not_reported(tmp_path: Path) -> None:
    write(tmp_path, {"pkg/__init__.py": "", "pkg/a.py": "import pkg.b\n" + BAD, "pkg/b.py": BAD})

    assert await mypy(tmp_path, ["pkg/a.py"], whole=False) == (["pkg/a.py"], None)


async def test_a_blocking_error_is_a_tool_error(tmp_path: Path) -> None:
    write(tmp_path, {"one/setup.py": BAD, "two/setup.py": BAD})

    found, error = await mypy(tmp_path, ["one/setup.py", "two/setup.py"], whole=True)

    assert found == []
    assert error is not None and error.startswith('mypy stopped: two/setup.py: Duplicate module named "setup"')


async def test_pytest_collects_its_testpaths_when_no_file_is_named(tmp_path: Path) -> None:
    failing = "def test_x():\n    assert False\n"
    write(
        tmp_path,
        {
            "pyproject.toml": '[tool.pytest.ini_options]\ntestpaths = ["tests"]\n',
            "tests/test_in.py": failing,
            "fixtures/test_out.py": failing,
        },
    )
    pytest = TOOLS["pytest"]
    everything = ["fixtures/test_out.py", "tests/test_in.py"]

    whole = await run_tool(pytest, everything, cwd=tmp_path, executable=str(BIN / "pytest"), timeout=120, whole=True)
    named = await run_tool(pytest, everything, cwd=tmp_path, executable=str(BIN / "pytest"), timeout=120)

    assert [d.path for d in whole.diagnostics] == ["tests/test_in.py"]
    assert sorted(d.path for d in named.diagnostics) == everything

"""Regenerate the captured tool outputs in this directory.

    .venv/bin/python tests/data/tools/capture.py

Writes a small project (below) to a temporary directory, runs the real ruff,
mypy and pytest on it with the arguments stomper itself uses
(`Tool.command`), and stores what they printed under tests/data/tools/<case>/.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from stomper.tools import TOOLS

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent

SOURCES = {
    "pkg/__init__.py": "",
    "pkg/mod.py": (
        "import os\n"
        "import nothere\n"
        "\n"
        "\n"
        "def add(a: int, b: int) -> int:\n"
        "    return str(a + b)\n"
        "\n"
        "\n"
        "def check(x):\n"
        "    if x == None:\n"
        "        return undefined_name\n"
        "    return os.sep\n"
        "\n"
        "\n"
        "CONSTANT = 1  # type: ignore\n"
    ),
    "dir with space/my mod.py": 'import sys\n\nvalue: int = "text"\n',
    "broken.py": "def f(:\n    pass\n",
    "tests/test_a.py": (
        "import pytest\n"
        "\n"
        "\n"
        "def test_pass():\n"
        "    assert True\n"
        "\n"
        "\n"
        "def test_fail():\n"
        "    assert 1 + 1 == 3\n"
        "\n"
        "\n"
        "@pytest.fixture\n"
        "def broken_fixture():\n"
        '    raise RuntimeError("fixture exploded")\n'
        "\n"
        "\n"
        "def test_fixture_error(broken_fixture):\n"
        "    pass\n"
        "\n"
        "\n"
        "class TestGroup:\n"
        "    def test_method(self):\n"
        '        assert "a" == "b", "letters differ"\n'
    ),
    "tests/test_broken.py": "import nothere_at_all\n\n\ndef test_never():\n    pass\n",
    "tests/dir with space/test_spaced.py": 'def test_spaced():\n    raise ValueError("bad value")\n',
}

# Each case: the tool, the files it is given, and the project configuration.
CASES = {
    "ruff": (
        "ruff",
        ["pkg/mod.py", "dir with space/my mod.py", "broken.py"],
        # E711's fix is unsafe: reported, but not as fixable.
        '[tool.ruff.lint]\nextend-select = ["E711"]\n',
    ),
    # An unused "type: ignore" is an error mypy gives no column (-1).
    "mypy": ("mypy", ["pkg/mod.py", "dir with space/my mod.py"], "[tool.mypy]\nwarn_unused_ignores = true\n"),
    "mypy-pretty": (
        "mypy",
        ["pkg/mod.py", "dir with space/my mod.py"],
        "[tool.mypy]\nwarn_unused_ignores = true\npretty = true\n",
    ),
    "mypy-syntax": ("mypy", ["pkg/mod.py", "broken.py"], ""),
    "pytest": (
        "pytest",
        ["tests/test_a.py", "tests/test_broken.py", "tests/dir with space/test_spaced.py"],
        "",
    ),
}


def capture(case: str, tool_name: str, paths: list[str], pyproject: str, work: Path) -> None:
    project = work / case / "project"
    scratch = work / case / "scratch"
    scratch.mkdir(parents=True)
    for name, text in SOURCES.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(text)
    if pyproject:
        (project / "pyproject.toml").write_text(pyproject)
    tool = TOOLS[tool_name]
    argv = [str(BIN / tool.executable), *tool.command(paths, scratch)]
    # Third-party pytest plugins installed beside stomper would only slow the run.
    env = {"PATH": str(BIN), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    done = subprocess.run(argv, cwd=project, capture_output=True, env=env)
    version = subprocess.run([argv[0], "--version"], capture_output=True, text=True, env=env)
    out = HERE / case
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    (out / "stdout").write_bytes(done.stdout)
    (out / "stderr").write_bytes(done.stderr)
    for report in scratch.iterdir():
        shutil.copy(report, out / report.name)
    meta = {
        "argv": [Path(argv[0]).name, *argv[1:]],
        "cwd": str(project),
        "scratch": str(scratch),
        "paths": paths,
        "returncode": done.returncode,
        "version": version.stdout.strip(),
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"{case}: exit {done.returncode}")


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="stomper-capture-"))
    try:
        for case, (tool, paths, pyproject) in CASES.items():
            capture(case, tool, paths, pyproject, work)
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()

"""Work units end to end: a failing test is fixed where its bug is, never by editing the test.

Real git, real pytest, ruff and mypy, the fake agent (a real executable) as the AI.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from conftest import FAKE_AGENT, commit_all, git, stomper, write
from invariant import assert_gate_kept, check
from tests.openai_server import OpenAIServer

pytestmark = pytest.mark.slow

PYPROJECT = '[tool.pytest.ini_options]\npythonpath = ["src"]\ntestpaths = ["tests"]\n'
CALC = "def add(a: int, b: int) -> int:\n    return a - b\n\n\ndef double(a: int) -> int:\n    return a * 2\n"
CALC_FIXED = CALC.replace("a - b", "a + b")
TEST_ADD = "from pkg.calc import add\n\n\ndef test_add() -> None:\n    assert add(2, 2) == 4\n"


def project(repo: Path, extra: dict[str, str] | None = None) -> None:
    write(
        repo,
        {
            "pyproject.toml": PYPROJECT,
            "src/pkg/__init__.py": "",
            "src/pkg/calc.py": CALC,
            "tests/test_calc.py": TEST_ADD,
            **(extra or {}),
        },
    )
    commit_all(repo, "broken project")


def agent(tmp_path: Path, plan: dict[str, Any], *extra: str) -> list[str]:
    script = tmp_path / "agent" / "script.json"
    script.parent.mkdir(exist_ok=True)
    script.write_text(json.dumps(plan))
    return ["--fixer", "agent", "--agent", " ".join([sys.executable, str(FAKE_AGENT), str(script), "{file}", *extra])]


def calls(tmp_path: Path) -> list[dict[str, Any]]:
    log = tmp_path / "agent" / "calls.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def fix(repo: Path, tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    report = tmp_path / "report.json"
    done = stomper(repo, "fix", "--report", str(report), *args, env=env)
    assert report.exists(), done.stdout + done.stderr
    return done.returncode, json.loads(report.read_text())


def test_a_failing_test_is_fixed_in_the_code_it_tests_in_one_commit(repo: Path, tmp_path: Path) -> None:
    project(repo)
    base = git(repo, "rev-parse", "HEAD").strip()
    before = check(repo)
    args = agent(tmp_path, {"tests/test_calc.py": {"also": {"src/pkg/calc.py": CALC_FIXED}}}, "{files}")

    status, data = fix(repo, tmp_path, *args)

    assert status == 0, data
    assert (repo / "tests/test_calc.py").read_text() == TEST_ADD
    assert (repo / "src/pkg/calc.py").read_text() == CALC_FIXED
    assert git(repo, "rev-list", "--count", f"{base}..HEAD") == "1\n"
    assert git(repo, "show", "--name-only", "--format=", "HEAD") == "src/pkg/calc.py\n"
    message = git(repo, "log", "-1", "--format=%B")
    assert message.startswith(
        "fix(stomper): resolve pytest failed in tests/test_calc.py by changing src/pkg/calc.py\n"
    ), message
    assert "tests/test_calc.py::test_add" in message
    assert "Files changed: src/pkg/calc.py" in message
    [result] = data["files"]
    assert result["path"] == "tests/test_calc.py"
    assert result["files"] == ["tests/test_calc.py", "src/pkg/calc.py"]
    assert result["outcome"] == "fixed"
    [call] = calls(tmp_path)
    assert call["env_files"] == "tests/test_calc.py\nsrc/pkg/calc.py"
    assert call["argv"] == ["tests/test_calc.py", "src/pkg/calc.py"]
    assert "- src/pkg/calc.py" in call["prompt"]
    assert "assert 0 == 4" in call["prompt"]  # the failing test's traceback
    assert_gate_kept(repo, before, tmp_path / "report.json")


TEST_DOUBLE = "from pkg.calc import double\n\n\ndef test_double() -> None:\n    assert double(3) == 6\n"
BOTH_BROKEN = CALC.replace("a * 2", "a * 3")


def test_two_failing_tests_with_their_bug_in_one_file_are_one_unit(repo: Path, tmp_path: Path) -> None:
    # Fixed apart, both would edit calc.py from the same base: within the cap, they are one unit.
    project(repo, {"src/pkg/calc.py": BOTH_BROKEN, "tests/test_double.py": TEST_DOUBLE})
    before = check(repo, "--tools", "pytest")
    plan = {"tests/test_calc.py": {"also": {"src/pkg/calc.py": CALC_FIXED}}}

    status, data = fix(repo, tmp_path, "--parallel", "2", "--tools", "pytest", *agent(tmp_path, plan))

    assert status == 0, data
    [result] = data["files"]
    assert result["files"] == ["tests/test_calc.py", "src/pkg/calc.py", "tests/test_double.py"]
    assert result["outcome"] == "fixed"
    tests = {d["symbol"] for d in result["diagnostics_before"]}
    assert tests == {"tests.test_calc::test_add", "tests.test_double::test_double"}
    assert [c["file"] for c in calls(tmp_path)] == ["tests/test_calc.py"]
    assert (repo / "src/pkg/calc.py").read_text() == CALC_FIXED
    assert (repo / "tests/test_calc.py").read_text() == TEST_ADD
    assert (repo / "tests/test_double.py").read_text() == TEST_DOUBLE
    assert check(repo, "--tools", "pytest") == []
    assert_gate_kept(repo, before, tmp_path / "report.json", "--tools", "pytest")


def test_units_sharing_a_file_beyond_the_cap_take_turns_the_later_from_the_earlier_fix(
    repo: Path, tmp_path: Path
) -> None:
    # With units of two files, the two cannot be merged: the second waits for the first to land
    # and starts from calc.py as the first fixed it, though --parallel 2 could run both at once.
    project(repo, {"src/pkg/calc.py": BOTH_BROKEN, "tests/test_double.py": TEST_DOUBLE})
    base = git(repo, "rev-parse", "HEAD").strip()
    before = check(repo, "--tools", "pytest")
    add_fixed = BOTH_BROKEN.replace("a - b", "a + b")
    plan = {
        "tests/test_calc.py": {"also": {"src/pkg/calc.py": add_fixed}, "delay": 1.0},
        "tests/test_double.py": {"also": {"src/pkg/calc.py": CALC_FIXED}, "read": ["src/pkg/calc.py"]},
    }
    report = tmp_path / "report.json"

    done = stomper(
        repo,
        "fix",
        "-v",
        "--parallel",
        "2",
        "--tools",
        "pytest",
        "--report",
        str(report),
        *agent(tmp_path, plan),
        env={"STOMPER_UNIT_MAX_FILES": "2"},
    )

    assert done.returncode == 0, done.stdout + done.stderr
    first, second = calls(tmp_path)
    assert (first["file"], second["file"]) == ("tests/test_calc.py", "tests/test_double.py")
    assert second["start"] >= first["end"]
    assert second["read"] == {"src/pkg/calc.py": add_fixed}  # the integrated state, not the snapshot
    said = done.stdout + done.stderr
    assert "tests/test_double.py: blocked: waits for tests/test_calc.py (both may change src/pkg/calc.py)" in said
    assert (repo / "src/pkg/calc.py").read_text() == CALC_FIXED
    assert git(repo, "rev-list", "--count", f"{base}..HEAD") == "2\n"
    data = assert_gate_kept(repo, before, report, "--tools", "pytest")
    assert [(f["files"], f["outcome"]) for f in data["files"]] == [
        (["tests/test_calc.py", "src/pkg/calc.py"], "fixed"),
        (["tests/test_double.py", "src/pkg/calc.py"], "fixed"),
    ]


def test_a_unit_the_fix_it_waited_for_fixed_is_fixed_without_a_fixer(repo: Path, tmp_path: Path) -> None:
    project(
        repo, {"tests/test_twice.py": TEST_ADD.replace("test_add", "test_twice").replace("2, 2) == 4", "3, 3) == 6")}
    )
    before = check(repo, "--tools", "pytest")
    plan = {"tests/test_calc.py": {"also": {"src/pkg/calc.py": CALC_FIXED}}}

    status, data = fix(
        repo,
        tmp_path,
        "--parallel",
        "2",
        "--tools",
        "pytest",
        *agent(tmp_path, plan),
        env={"STOMPER_UNIT_MAX_FILES": "2"},
    )

    assert status == 0, data
    assert [c["file"] for c in calls(tmp_path)] == ["tests/test_calc.py"]
    assert [(f["path"], f["outcome"]) for f in data["files"]] == [
        ("tests/test_calc.py", "fixed"),
        ("tests/test_twice.py", "fixed"),
    ]
    assert_gate_kept(repo, before, tmp_path / "report.json", "--tools", "pytest")


def test_an_attempt_that_changes_the_tests_expected_value_is_refused(repo: Path, tmp_path: Path) -> None:
    project(repo)
    before = check(repo, "--tools", "pytest")
    cheat = TEST_ADD.replace("== 4", "== 0")
    args = agent(tmp_path, {"tests/test_calc.py": {"content": [cheat, cheat]}})

    status, data = fix(repo, tmp_path, "--tools", "pytest", "--max-attempts", "2", *args)

    assert status == 1
    assert (repo / "tests/test_calc.py").read_text() == TEST_ADD
    assert (repo / "src/pkg/calc.py").read_text() == CALC
    [result] = data["files"]
    assert result["outcome"] == "failed"
    assert "tests/test_calc.py: edited assertion" in result["detail"]
    second = calls(tmp_path)[1]["prompt"]
    assert "tests/test_calc.py: edited assertion" in second
    assert "A failing test is the specification" in second
    assert_gate_kept(repo, before, tmp_path / "report.json", "--tools", "pytest")


def test_an_allowed_edit_of_the_assertion_is_a_suppression(repo: Path, tmp_path: Path) -> None:
    # The rule is the project's: `allow_suppressions` may name it, as it may name a mypy code.
    project(repo, {"pyproject.toml": PYPROJECT + '\n[tool.stomper]\nallow_suppressions = ["edited assertion"]\n'})
    before = check(repo, "--tools", "pytest")
    args = agent(tmp_path, {"tests/test_calc.py": {"content": TEST_ADD.replace("== 4", "== 0")}})

    status, data = fix(repo, tmp_path, "--tools", "pytest", *args)

    assert status == 0
    [result] = data["files"]
    assert result["outcome"] == "suppressed"
    assert_gate_kept(repo, before, tmp_path / "report.json", "--tools", "pytest")


PARSE = 'from helper import loads\n\n\ndef parse(text: str) -> int:\n    return int(loads(text)["n"]) * 2\n'
PARSE_FIXED = 'def parse(text: str) -> int:\n    return int(text.strip("{}").split(":")[1]) * 2\n'
TEST_PARSE = 'from pkg.parse import parse\n\n\ndef test_parse() -> None:\n    assert parse("{n: 2}") == 4\n'


def test_a_unit_never_takes_files_outside_the_repository_installed_or_ignored(repo: Path, tmp_path: Path) -> None:
    # The traceback runs through calc's parse, the standard library (outside the repository) and a
    # module under an ignored site-packages directory inside it: only the project's files join.
    helper = "vendor/lib/site-packages/helper.py"
    project(
        repo,
        {
            "pyproject.toml": PYPROJECT.replace('["src"]', '["src", "vendor/lib/site-packages"]'),
            ".gitignore": "vendor/\n",
            "src/pkg/parse.py": PARSE,
            "tests/test_calc.py": TEST_PARSE,
        },
    )
    write(repo, {helper: "import json\n\n\ndef loads(text):\n    return json.loads(text)\n"})
    before = check(repo, "--tools", "pytest")
    args = agent(tmp_path, {"tests/test_calc.py": {"also": {"src/pkg/parse.py": PARSE_FIXED}}})

    status, data = fix(repo, tmp_path, "--tools", "pytest", *args, env={"STOMPER_UNIT_MAX_FILES": "5"})

    assert status == 0, data
    [result] = data["files"]
    assert result["files"] == ["tests/test_calc.py", "src/pkg/parse.py"]
    [call] = calls(tmp_path)
    assert "json/decoder.py" in call["prompt"]  # the traceback did leave the repository
    assert call["env_files"] == "tests/test_calc.py\nsrc/pkg/parse.py"
    assert_gate_kept(repo, before, tmp_path / "report.json", "--tools", "pytest")


LIB = "def double(x: str) -> int:\n    return int(x) * 2\n"
USE = "from pkg.lib import double\n\n\ndef run() -> int:\n    return double(3)\n"


def test_a_mypy_arg_type_at_a_call_site_is_fixed_in_the_callees_file(repo: Path, tmp_path: Path) -> None:
    write(repo, {"pkg/__init__.py": "", "pkg/lib.py": LIB, "pkg/use.py": USE})
    commit_all(repo)
    before = check(repo, "--tools", "mypy")
    fixed = LIB.replace("x: str", "x: int")
    args = agent(tmp_path, {"pkg/use.py": {"also": {"pkg/lib.py": fixed}}})

    status, data = fix(repo, tmp_path, "--tools", "mypy", *args)

    assert status == 0, data
    [result] = data["files"]
    assert result["files"] == ["pkg/use.py", "pkg/lib.py"]
    assert (repo / "pkg/lib.py").read_text() == fixed
    assert (repo / "pkg/use.py").read_text() == USE
    assert git(repo, "show", "--name-only", "--format=", "HEAD") == "pkg/lib.py\n"
    assert_gate_kept(repo, before, tmp_path / "report.json", "--tools", "mypy")


def test_a_fix_of_a_file_outside_the_unit_is_still_refused(repo: Path, tmp_path: Path) -> None:
    project(repo, {"src/pkg/other.py": "X = 1\n"})
    before = check(repo, "--tools", "pytest")
    args = agent(
        tmp_path,
        {"tests/test_calc.py": {"also": {"src/pkg/calc.py": CALC_FIXED, "src/pkg/other.py": "X = 2\n"}}},
    )

    status, data = fix(repo, tmp_path, "--tools", "pytest", "--max-attempts", "1", *args)

    assert status == 1
    [result] = data["files"]
    assert result["outcome"] == "failed"
    assert "also changed src/pkg/other.py" in result["detail"]
    assert (repo / "src/pkg/calc.py").read_text() == CALC
    assert_gate_kept(repo, before, tmp_path / "report.json", "--tools", "pytest")


def test_with_units_of_one_file_the_test_file_is_all_a_fix_may_change(repo: Path, tmp_path: Path) -> None:
    project(repo)
    before = check(repo, "--tools", "pytest")
    plan = {"content": TEST_ADD + "# the cause is elsewhere\n", "also": {"src/pkg/calc.py": CALC_FIXED}}
    args = agent(tmp_path, {"tests/test_calc.py": plan})

    status, data = fix(
        repo, tmp_path, "--tools", "pytest", "--max-attempts", "1", *args, env={"STOMPER_UNIT_MAX_FILES": "1"}
    )

    assert status == 1
    [result] = data["files"]
    assert result["files"] == ["tests/test_calc.py"]
    assert "also changed src/pkg/calc.py" in result["detail"]
    assert_gate_kept(repo, before, tmp_path / "report.json", "--tools", "pytest")


def test_the_model_fixes_a_failing_test_in_the_code_it_tests(repo: Path, tmp_path: Path) -> None:
    # The real CLI, the real OpenAI client, a local server answering as a model would.
    project(repo)
    before = check(repo, "--tools", "pytest")
    asked: list[str] = []

    def answer(body: dict[str, Any]) -> str:
        prompt = body["messages"][-1]["content"]
        asked.append(prompt)
        if len(asked) == 1:  # first, a block for a file outside the unit: refused, said on the retry
            return "src/pkg/__init__.py\n<<<<<<< SEARCH\n=======\nX = 1\n>>>>>>> REPLACE\n"
        return "src/pkg/calc.py\n<<<<<<< SEARCH\n    return a - b\n=======\n    return a + b\n>>>>>>> REPLACE\n"

    server = OpenAIServer(answer)
    report = tmp_path / "report.json"
    with server.running():
        done = stomper(
            repo,
            "fix",
            "--model",
            "openai:gpt-4o-mini",
            "--tools",
            "pytest",
            "--report",
            str(report),
            env={"OPENAI_API_KEY": "sk-e2e-0123456789abcdefghijklmnop", "STOMPER_LLM__BASE_URL": server.url},
        )

    assert done.returncode == 0, done.stderr
    assert (repo / "src/pkg/calc.py").read_text() == CALC_FIXED
    assert (repo / "tests/test_calc.py").read_text() == TEST_ADD
    assert "def test_add() -> None:\n    assert add(2, 2) == 4" in asked[0]
    assert "E       assert 0 == 4" in asked[0]
    assert "src/pkg/__init__.py, which is not one of the files you may edit" in asked[1]
    data = assert_gate_kept(repo, before, report, "--tools", "pytest")
    assert data["files"][0]["files"] == ["tests/test_calc.py", "src/pkg/calc.py"]


def test_in_ci_the_sarif_fix_of_a_failing_test_changes_the_code_it_tests(repo: Path, tmp_path: Path) -> None:
    project(repo)
    out = tmp_path / "stomper.sarif"
    args = agent(tmp_path, {"tests/test_calc.py": {"also": {"src/pkg/calc.py": CALC_FIXED}}})

    done = stomper(
        repo, "fix", "--tools", "pytest", "--branch", "stomper/fixes", "--sarif", str(out), *args, env={"CI": "true"}
    )

    assert done.returncode == 1, done.stdout + done.stderr  # the analysed commit fails its test
    log = json.loads(out.read_text())
    schema = Path(__file__).resolve().parents[1] / "tests" / "data" / "sarif-schema-2.1.0.json"
    jsonschema.validate(log, json.loads(schema.read_text()))
    [result] = log["runs"][0]["results"]
    assert result["ruleId"] == "pytest/failed"
    assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "tests/test_calc.py"
    [fix] = result["fixes"]
    [change] = fix["artifactChanges"]
    assert change["artifactLocation"]["uri"] == "src/pkg/calc.py"
    [replacement] = change["replacements"]
    at, length = replacement["deletedRegion"]["charOffset"], replacement["deletedRegion"]["charLength"]
    assert CALC[:at] + replacement["insertedContent"]["text"] + CALC[at + length :] == CALC_FIXED
    assert git(repo, "show", "stomper/fixes:src/pkg/calc.py") == CALC_FIXED
    message = git(repo, "log", "-1", "--format=%B", "stomper/fixes")
    assert message.startswith("fix(stomper): resolve pytest failed in tests/test_calc.py by changing src/pkg/calc.py")


def test_with_files_named_a_unit_stays_within_them(repo: Path, tmp_path: Path) -> None:
    project(repo)
    before = check(repo, "--tools", "pytest")
    args = agent(tmp_path, {"tests/test_calc.py": {"also": {"src/pkg/calc.py": CALC_FIXED}}})

    status, alone = fix(repo, tmp_path, "--tools", "pytest", "--max-attempts", "1", *args, "tests/test_calc.py")

    assert status == 1
    assert alone["files"][0]["files"] == ["tests/test_calc.py"]
    assert (repo / "src/pkg/calc.py").read_text() == CALC

    status, named = fix(repo, tmp_path, "--tools", "pytest", *args, "tests/test_calc.py", "src/pkg/calc.py")

    assert status == 0, named
    assert named["files"][0]["files"] == ["tests/test_calc.py", "src/pkg/calc.py"]
    assert (repo / "src/pkg/calc.py").read_text() == CALC_FIXED
    assert_gate_kept(repo, before, tmp_path / "report.json", "--tools", "pytest")


def test_ruffs_batch_fix_of_a_units_first_file_leaves_its_failing_test_to_be_fixed(repo: Path, tmp_path: Path) -> None:
    # calc.py's unused import and its failing test are one unit, calc.py first; ruff's batch fixes
    # the import and must not count the test, in another file of the unit, as fixed with it.
    project(repo, {"src/pkg/calc.py": "import os\n\n\n" + CALC})
    base = git(repo, "rev-parse", "HEAD").strip()
    before = check(repo, "--tools", "ruff,pytest")

    status, data = fix(repo, tmp_path, "--tools", "ruff,pytest", "--fixer", "ruff")

    assert status == 1, data
    [result] = data["files"]
    assert result["outcome"] == "partial"
    assert [(d["tool"], d["path"]) for d in result["diagnostics_remaining"]] == [("pytest", "tests/test_calc.py")]
    assert git(repo, "log", "--format=%s", f"{base}..HEAD").splitlines() == [
        "fix(stomper): resolve ruff F401 in src/pkg/calc.py"
    ]
    assert_gate_kept(repo, before, tmp_path / "report.json", "--tools", "ruff,pytest")

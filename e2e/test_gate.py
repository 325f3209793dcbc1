"""The user's own gate, end to end: real ruff, mypy and pytest, real git, the fake agent as the AI.

Each fix test ends with `assert_gate_kept`: `stomper check` afterwards says
exactly what the report says remains, and nothing is worse than before.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import commit_all, fake_agent, git, stomper, write
from invariant import assert_gate_kept, check

pytestmark = pytest.mark.slow


def agent_args(tmp_path: Path, plan: dict[str, Any]) -> list[str]:
    script = tmp_path / "agent" / "script.json"
    script.parent.mkdir(exist_ok=True)
    script.write_text(json.dumps(plan))
    return ["--fixer", "agent", "--agent", fake_agent(script)]


def prompts(tmp_path: Path) -> list[str]:
    log = tmp_path / "agent" / "calls.jsonl"
    return [json.loads(line)["prompt"] for line in log.read_text().splitlines()] if log.exists() else []


def fix(repo: Path, tmp_path: Path, *args: str) -> tuple[int, dict[str, Any]]:
    report = tmp_path / "report.json"
    done = stomper(repo, "fix", "--report", str(report), *args)
    assert report.exists(), done.stdout + done.stderr
    return done.returncode, json.loads(report.read_text())


def by_path(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["path"]: f for f in data["files"]}


MYPY_FILES = '[tool.mypy]\nfiles = ["src"]\n'


def test_mypy_checks_its_own_files_and_fixture_setup_files_do_not_stop_it(repo: Path) -> None:
    write(
        repo,
        {
            "pyproject.toml": MYPY_FILES,
            "src/ledger.py": 'def total() -> int:\n    return "0"\n',
            "tests/fixtures/one/setup.py": "x: int = 'not checked'\n",
            "tests/fixtures/two/setup.py": "x: int = 'not checked'\n",
        },
    )
    commit_all(repo)

    done = stomper(repo, "check", "--tools", "mypy", "--format", "json")

    document = json.loads(done.stdout)
    assert done.returncode == 1, done.stderr
    assert [t["error"] for t in document["tools"]] == [None]
    assert [(d["path"], d["line"], d["code"]) for d in document["diagnostics"]] == [
        ("src/ledger.py", 2, "return-value")
    ]


def test_a_blocking_mypy_error_is_a_tool_error_not_a_diagnostic(repo: Path) -> None:
    write(repo, {"a/setup.py": "x = 1\n", "b/setup.py": "x = 1\n"})
    commit_all(repo)

    done = stomper(repo, "check", "--tools", "mypy", "--format", "json")

    document = json.loads(done.stdout)
    assert done.returncode == 2
    assert document["diagnostics"] == []
    assert 'Duplicate module named "setup"' in document["tools"][0]["error"]


def test_check_json_with_a_tool_missing_still_writes_its_document(repo: Path, tmp_path: Path) -> None:
    write(repo, {"m.py": "import os\n"})
    commit_all(repo)
    (repo / ".venv" / "bin").mkdir(parents=True)
    (repo / ".venv" / "bin" / "mypy").write_text("#!/bin/sh\n")  # the project's own mypy, not executable

    done = stomper(repo, "check", "--tools", "ruff,mypy", "--format", "json")

    document = json.loads(done.stdout)
    assert done.returncode == 2
    tools = {t["name"]: t["error"] for t in document["tools"]}
    assert tools["ruff"] is None
    assert "mypy" in tools
    assert "is not executable" in tools["mypy"]
    assert [d["code"] for d in document["diagnostics"]] == ["F401"]
    assert document["summary"]["tool_errors"] == 1


def test_ruffs_fix_of_a_line_with_a_second_unfixable_finding_is_applied(repo: Path, tmp_path: Path) -> None:
    write(
        repo,
        {
            "pyproject.toml": '[tool.ruff]\ntarget-version = "py311"\n[tool.ruff.lint]\nselect = ["UP"]\n',
            "m.py": 'def count(n: int) -> str:\n    return u"%s items" % n\n',
        },
    )
    commit_all(repo)
    before = check(repo, "--tools", "ruff")

    status, data = fix(repo, tmp_path, "--tools", "ruff", "--fixer", "ruff")

    assert status == 1
    assert (repo / "m.py").read_text() == 'def count(n: int) -> str:\n    return "%s items" % n\n'
    assert by_path(data)["m.py"]["outcome"] == "partial"
    assert [d["code"] for d in by_path(data)["m.py"]["diagnostics_remaining"]] == ["UP031"]
    assert_gate_kept(repo, before, tmp_path / "report.json", "--tools", "ruff")


def test_two_files_with_an_unused_import_and_a_missing_import_are_both_fixed(repo: Path, tmp_path: Path) -> None:
    # mypy adds its "(See https://...#missing-imports)" hint to the first such error of a run only.
    write(
        repo,
        {
            "a.py": "import os\nimport not_installed_a\n\nprint(not_installed_a)\n",
            "b.py": "import os\nimport not_installed_b\n\nprint(not_installed_b)\n",
        },
    )
    commit_all(repo)
    before = check(repo, "--tools", "ruff,mypy")

    status, data = fix(repo, tmp_path, "--tools", "ruff,mypy", "--fixer", "ruff")

    assert status == 1
    for name in ("a", "b"):
        assert (repo / f"{name}.py").read_text() == f"import not_installed_{name}\n\nprint(not_installed_{name})\n"
        result = by_path(data)[f"{name}.py"]
        assert result["outcome"] == "partial", result["detail"]
        assert [d["code"] for d in result["diagnostics_remaining"]] == ["import-not-found"]
    assert_gate_kept(repo, before, tmp_path / "report.json", "--tools", "ruff,mypy")


def test_a_fix_that_breaks_a_module_re_importing_a_name_is_not_applied(repo: Path, tmp_path: Path) -> None:
    original = "import os\n\n\ndef helper() -> int:\n    return 1\n"
    write(
        repo,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": original,
            "pkg/b.py": "from pkg.a import helper, os\n\nprint(helper(), os.sep)\n",
        },
    )
    commit_all(repo)
    before = check(repo, "--tools", "ruff,mypy")
    head = git(repo, "rev-parse", "HEAD")

    status, data = fix(repo, tmp_path, "--tools", "ruff,mypy", "--fixer", "ruff")

    assert status == 1
    assert (repo / "pkg/a.py").read_text() == original
    assert git(repo, "rev-parse", "HEAD") == head
    result = by_path(data)["pkg/a.py"]
    assert result["outcome"] == "failed"
    # The verifier's reason reaches the user although no AI fixer is configured.
    assert "pkg/b.py:1" in result["detail"]
    assert "attr-defined" in result["detail"]
    assert_gate_kept(repo, before, tmp_path / "report.json", "--tools", "ruff,mypy")


def test_an_ai_fix_that_breaks_a_caller_is_retried_with_the_callers_diagnostic(repo: Path, tmp_path: Path) -> None:
    write(
        repo,
        {
            "pkg/__init__.py": "",
            "pkg/price.py": 'def price(n: int) -> int:\n    return "%d" % n\n',
            "pkg/shop.py": "from pkg.price import price\n\n\ndef total() -> int:\n    return price(2) + 1\n",
        },
    )
    commit_all(repo)
    before = check(repo, "--tools", "mypy")
    breaks_caller = 'def price(n: int) -> str:\n    return "%d" % n\n'
    good = "def price(n: int) -> int:\n    return n * 100\n"
    args = agent_args(tmp_path, {"pkg/price.py": {"content": [breaks_caller, good]}})

    status, data = fix(repo, tmp_path, "--tools", "mypy", *args)

    assert status == 0
    assert (repo / "pkg/price.py").read_text() == good
    first, second = prompts(tmp_path)
    assert "pkg/shop.py" not in first
    assert "pkg/shop.py:5:" in second
    assert "[mypy operator]" in second or "[mypy return-value]" in second
    assert by_path(data)["pkg/price.py"]["attempts"] == 2
    assert_gate_kept(repo, before, tmp_path / "report.json", "--tools", "mypy")


SOURCE = 'import os\n\n\ndef value() -> int:\n    return "1"\n'
SOURCE_SUPPRESSIONS = {
    "noqa": "import os  # noqa\n\n\ndef value() -> int:\n    return 1\n",
    "ruff: noqa": "# ruff: noqa\nimport os\n\n\ndef value() -> int:\n    return 1\n",
    "noqa with a code": "import os  # noqa: F401\n\n\ndef value() -> int:\n    return 1\n",
    "type: ignore": 'def value() -> int:\n    return "1"  # type: ignore\n',
    "type: ignore with a code": 'def value() -> int:\n    return "1"  # type: ignore[return-value]\n',
    "pyright: ignore": 'def value() -> int:\n    return "1"  # pyright: ignore\n',
    "mypy: ignore-errors": '# mypy: ignore-errors\n\n\ndef value() -> int:\n    return "1"\n',
}


@pytest.mark.parametrize("kind", sorted(SOURCE_SUPPRESSIONS))
def test_an_agent_that_adds_a_suppression_is_rejected(repo: Path, tmp_path: Path, kind: str) -> None:
    write(repo, {"m.py": SOURCE})
    commit_all(repo)
    before = check(repo, "--tools", "ruff,mypy")
    args = agent_args(tmp_path, {"m.py": {"content": SOURCE_SUPPRESSIONS[kind]}})

    status, data = fix(repo, tmp_path, "--tools", "ruff,mypy", "--max-attempts", "2", *args)

    assert status == 1
    assert (repo / "m.py").read_text() == SOURCE
    result = by_path(data)["m.py"]
    assert result["outcome"] == "failed"
    assert "silences the tools" in result["detail"]
    assert "silences the tools" in prompts(tmp_path)[1]
    assert_gate_kept(repo, before, tmp_path / "report.json", "--tools", "ruff,mypy")


TEST = (
    "from calc import double\n\n\ndef test_double() -> None:\n    assert double(2) == 4\n\n\n"
    "def test_zero() -> None:\n    assert double(0) == 0\n"
)
TEST_SUPPRESSIONS = {
    "pytest.mark.skip": TEST.replace("def test_double", "import pytest\n\n\n@pytest.mark.skip\ndef test_double"),
    "pytest.mark.xfail": TEST.replace("def test_double", "import pytest\n\n\n@pytest.mark.xfail\ndef test_double"),
    "pytest.skip()": TEST.replace("    assert double(2) == 4", "    import pytest\n\n    pytest.skip('later')"),
    "deleted test": TEST.split("\n\n\ndef test_double")[0]
    + "\n\n\ndef test_zero() -> None:\n    assert double(0) == 0\n",
    "deleted assert": TEST.replace("    assert double(2) == 4", "    double(2)"),
}


@pytest.mark.parametrize("kind", sorted(TEST_SUPPRESSIONS))
def test_an_agent_that_silences_a_failing_test_is_rejected(repo: Path, tmp_path: Path, kind: str) -> None:
    write(repo, {"calc.py": "def double(x: int) -> int:\n    return x * 3\n", "test_calc.py": TEST})
    commit_all(repo)
    before = check(repo, "--tools", "pytest")
    args = agent_args(tmp_path, {"test_calc.py": {"content": TEST_SUPPRESSIONS[kind]}})

    status, data = fix(repo, tmp_path, "--tools", "pytest", "--max-attempts", "1", *args)

    assert status == 1
    assert (repo / "test_calc.py").read_text() == TEST
    result = by_path(data)["test_calc.py"]
    assert result["outcome"] == "failed"
    assert "silences the tools" in result["detail"]
    assert_gate_kept(repo, before, tmp_path / "report.json", "--tools", "pytest")


def test_an_allowed_suppression_is_reported_as_suppressed_not_fixed(repo: Path, tmp_path: Path) -> None:
    write(
        repo,
        {
            "pyproject.toml": '[tool.stomper]\nallow_suppressions = ["return-value"]\n',
            "m.py": 'def value() -> int:\n    return "1"\n',
        },
    )
    commit_all(repo)
    before = check(repo, "--tools", "mypy")
    suppressed = 'def value() -> int:\n    return "1"  # type: ignore[return-value]\n'

    status, data = fix(
        repo,
        tmp_path,
        "--tools",
        "mypy",
        *agent_args(tmp_path, {"m.py": {"content": suppressed}}),
    )

    assert status == 0
    assert (repo / "m.py").read_text() == suppressed
    result = by_path(data)["m.py"]
    assert result["outcome"] == "suppressed"
    assert [d["code"] for d in result["diagnostics_suppressed"]] == ["return-value"]
    assert data["summary"]["files_suppressed"] == 1
    assert data["summary"]["diagnostics_suppressed"] == 1
    assert data["summary"]["diagnostics_fixed"] == 0
    assert_gate_kept(repo, before, tmp_path / "report.json", "--tools", "mypy")


def test_fix_respects_mypys_files_and_touches_only_them(repo: Path, tmp_path: Path) -> None:
    untyped_test = "def test_x():\n    x: int = 'untyped tests are not in mypy files'\n"
    write(
        repo,
        {
            "pyproject.toml": MYPY_FILES,
            "src/ledger.py": 'def total() -> int:\n    return "0"\n',
            "tests/test_ledger.py": untyped_test,
        },
    )
    commit_all(repo)
    before = check(repo, "--tools", "mypy")
    assert [d.path for d in before] == ["src/ledger.py"]
    fixed = "def total() -> int:\n    return 0\n"
    args = agent_args(tmp_path, {"src/ledger.py": {"content": fixed}, "tests/test_ledger.py": {"content": "x = 1\n"}})

    status, data = fix(repo, tmp_path, "--tools", "mypy", *args)

    assert status == 0
    assert [f["path"] for f in data["files"]] == ["src/ledger.py"]
    assert (repo / "tests/test_ledger.py").read_text() == untyped_test
    assert (repo / "src/ledger.py").read_text() == fixed
    assert_gate_kept(repo, before, tmp_path / "report.json", "--tools", "mypy")


def test_fix_path_leaves_every_other_file_alone(repo: Path, tmp_path: Path) -> None:
    # journal.py has its own error; mypy reports it while following storage.py's import.
    journal = 'def entries() -> int:\n    return "none"\n'
    write(
        repo,
        {
            "ledger/__init__.py": "",
            "ledger/storage.py": 'from ledger.journal import entries\n\n\ndef size() -> int:\n    return "0"\n',
            "ledger/journal.py": journal,
        },
    )
    commit_all(repo)
    before = check(repo, "--tools", "mypy", "ledger/storage.py")
    assert [d.path for d in before] == ["ledger/storage.py"]
    fixed = "from ledger.journal import entries\n\n\ndef size() -> int:\n    return 0\n"
    args = agent_args(tmp_path, {"ledger/storage.py": {"content": fixed}, "ledger/journal.py": {"content": "x = 1\n"}})

    status, data = fix(repo, tmp_path, "--tools", "mypy", *args, "ledger/storage.py")

    assert status == 0
    assert [f["path"] for f in data["files"]] == ["ledger/storage.py"]
    assert (repo / "ledger/journal.py").read_text() == journal
    assert git(repo, "show", "--name-only", "--format=", "HEAD") == "ledger/storage.py\n"
    assert_gate_kept(repo, before, tmp_path / "report.json", "--tools", "mypy", "ledger/storage.py")


@pytest.mark.parametrize("later", ["pkg/a.py", "pkg/b.py"])
def test_two_fixes_that_pass_alone_but_break_each_other_land_one_and_drop_the_other(
    repo: Path, tmp_path: Path, later: str
) -> None:
    # Each fix is verified alone against the snapshot and passes; together,
    # b.py's new call of label() meets a.py's new return type. Whichever
    # lands first (the other's agent is slower), the other is dropped.
    original = {
        "pkg/a.py": 'def label(n: int) -> int:\n    return "n=%d" % n\n',
        "pkg/b.py": "def total(n: int) -> int:\n    return str(n)\n",
    }
    write(repo, {"pkg/__init__.py": "", **original})
    commit_all(repo)
    before = check(repo, "--tools", "mypy")
    plan: dict[str, dict[str, Any]] = {
        "pkg/a.py": {"content": 'def label(n: int) -> str:\n    return "n=%d" % n\n'},
        "pkg/b.py": {"content": "from pkg.a import label\n\n\ndef total(n: int) -> int:\n    return label(n) + 1\n"},
    }
    plan[later]["delay"] = 3.0
    head = git(repo, "rev-parse", "HEAD").strip()

    status, data = fix(
        repo, tmp_path, "--tools", "mypy", "--parallel", "2", "--max-attempts", "1", *agent_args(tmp_path, plan)
    )

    files = by_path(data)
    dropped = later
    landed = next(p for p in files if p != later)
    assert (files[landed]["outcome"], files[dropped]["outcome"]) == ("fixed", "failed"), files
    assert f"together with the fixes of {landed}" in files[dropped]["detail"]
    assert "mypy" in files[dropped]["detail"]
    assert Path(files[dropped]["kept_patch"]).read_text().count("+++ b/" + dropped) == 1
    assert (repo / dropped).read_text() == original[dropped]
    assert (repo / landed).read_text() == plan[landed]["content"]
    assert git(repo, "log", "--format=%s", f"{head}..HEAD").splitlines() == [
        f"fix(stomper): resolve mypy return-value in {landed}"
    ]
    assert status == 1, data["tool_errors"]
    assert data["run"]["combined_checks"] >= 1
    assert_gate_kept(repo, before, tmp_path / "report.json", "--tools", "mypy")


def test_fixes_of_files_that_do_not_meet_land_without_a_combined_check(repo: Path, tmp_path: Path) -> None:
    write(
        repo,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": 'def one() -> int:\n    return "1"\n',
            "pkg/b.py": 'def two() -> int:\n    return "2"\n',
            "pkg/c.py": "from pkg.b import two\n\n\ndef three() -> int:\n    return two() + 1\n",
        },
    )
    commit_all(repo)
    before = check(repo, "--tools", "mypy")
    plan = {
        "pkg/a.py": {"content": "def one() -> int:\n    return 1\n"},
        "pkg/b.py": {"content": "def two() -> int:\n    return 2\n"},
    }

    status, data = fix(repo, tmp_path, "--tools", "mypy", "--parallel", "2", *agent_args(tmp_path, plan))

    assert status == 0, data
    assert sorted(f["outcome"] for f in data["files"]) == ["fixed", "fixed"]
    assert data["run"]["combined_checks"] == 0
    assert_gate_kept(repo, before, tmp_path / "report.json", "--tools", "mypy")


@pytest.mark.parametrize("verify_tests", ["all", "affected"])
def test_verify_tests_all_catches_a_break_no_import_shows(repo: Path, tmp_path: Path, verify_tests: str) -> None:
    # The test runs the module as a program: no import ties it to the file, so
    # only the whole suite (`verify_tests = "all"`) sees the fix break it;
    # the affected tests alone (the default) do not, as docs/architecture.md says.
    write(
        repo,
        {
            "pkg/__init__.py": "",
            "pkg/cli.py": 'count: int = "one"\nprint("hello")\n',
            "tests/test_cli.py": (
                "import subprocess\nimport sys\n\n\ndef test_says_hello() -> None:\n"
                '    done = subprocess.run([sys.executable, "-m", "pkg.cli"], capture_output=True, text=True)\n'
                '    assert "hello" in done.stdout\n'
            ),
            "pyproject.toml": '[tool.pytest.ini_options]\ntestpaths = ["tests"]\npythonpath = ["."]\n',
        },
    )
    commit_all(repo)
    before = check(repo, "--tools", "mypy,pytest")
    plan = {"pkg/cli.py": {"content": 'count: int = 1\nprint("bye")\n'}}
    (repo / "stomper.toml").write_text(f'verify_tests = "{verify_tests}"\n')

    status, data = fix(repo, tmp_path, "--tools", "mypy,pytest", "--max-attempts", "1", *agent_args(tmp_path, plan))

    result = by_path(data)["pkg/cli.py"]
    if verify_tests == "affected":
        assert (status, result["outcome"]) == (0, "fixed")
        assert check(repo, "--tools", "pytest")[0].path == "tests/test_cli.py"
        return
    assert status == 1
    assert result["outcome"] == "failed"
    assert "pytest failed in tests/test_cli.py" in result["detail"]
    assert (repo / "pkg/cli.py").read_text() == 'count: int = "one"\nprint("hello")\n'
    assert_gate_kept(repo, before, tmp_path / "report.json", "--tools", "mypy,pytest")

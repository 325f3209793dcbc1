from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from conftest import BIN, commit_all, fake_agent, write

from stomper import __version__
from stomper.diagnostics import Diagnostic
from stomper.sarif import SARIF_SCHEMA, dumps, to_sarif

SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-schema-2.1.0.json").read_text())


def github_problems(log: dict[str, Any]) -> list[str]:
    """What GitHub's "SARIF support for code scanning" page requires and stomper's log lacks.

    Required there: `$schema`, `version` 2.1.0, `runs`; `tool.driver.name` and
    `rules`; per rule `id`, `shortDescription.text`, `fullDescription.text`
    (at most 1000 characters) and `help.text`; per result `message.text`,
    1 to 10 `locations`, `partialFingerprints`; per location
    `artifactLocation.uri` (relative to the repository) and a region with
    `startLine`, `startColumn`, `endLine`, `endColumn`.
    """
    problems = []
    if log.get("version") != "2.1.0" or not log.get("$schema") or not log.get("runs"):
        problems.append("log: $schema, version 2.1.0 and runs are required")
    for run in log.get("runs", []):
        driver = run["tool"]["driver"]
        if not driver.get("name") or "rules" not in driver:
            problems.append("run: tool.driver.name and rules are required")
        for rule in driver.get("rules", []):
            for key in ("shortDescription", "fullDescription", "help"):
                if not rule.get(key, {}).get("text"):
                    problems.append(f"rule {rule.get('id')}: {key}.text is required")
            if len(rule.get("fullDescription", {}).get("text", "")) > 1000:
                problems.append(f"rule {rule['id']}: fullDescription over 1000 characters")
        for result in run.get("results", []):
            if not result.get("message", {}).get("text"):
                problems.append("result: message.text is required")
            if not result.get("partialFingerprints", {}).get("primaryLocationLineHash"):
                problems.append(f"result {result['message']['text']}: partialFingerprints are required")
            if not 1 <= len(result.get("locations", [])) <= 10:
                problems.append("result: 1 to 10 locations")
            for location in result.get("locations", []):
                where = location["physicalLocation"]
                uri = where["artifactLocation"]["uri"]
                if uri.startswith("/") or "://" in uri:
                    problems.append(f"{uri}: not relative to the repository")
                region = where.get("region", {})
                if not {"startLine", "startColumn", "endLine", "endColumn"} <= set(region):
                    problems.append(f"{uri}: region {region} lacks a start or an end")
                elif (region["endLine"], region["endColumn"]) <= (region["startLine"], region["startColumn"]):
                    problems.append(f"{uri}: region {region} ends before it starts")
    return problems


def validate(log: dict[str, Any]) -> None:
    """Fail with the schema's own complaint if `log` is not valid SARIF 2.1.0."""
    validator = jsonschema.Draft4Validator(SCHEMA, format_checker=jsonschema.FormatChecker())
    errors = sorted(validator.iter_errors(log), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


UNUSED = Diagnostic(
    path="pkg/a.py",
    line=1,
    column=8,
    end_line=1,
    end_column=10,
    tool="ruff",
    code="F401",
    message="`os` imported but unused",
    fixable=True,
    url="https://docs.astral.sh/ruff/rules/unused-import",
)
TYPE = Diagnostic(
    path="pkg/a.py",
    line=3,
    column=5,
    end_line=3,
    end_column=12,
    tool="mypy",
    code="attr-defined",
    message='Module has no attribute "nope"',
)
MODULE_LEVEL = Diagnostic(path="pkg/b c.py", line=-1, column=0, tool="mypy", code="error", message="bad module")
BACKWARDS = Diagnostic(
    path="pkg/b c.py", line=4, column=9, end_line=4, end_column=2, tool="ruff", code="E501", message="long"
)
FAILED = Diagnostic(
    path="tests/test_a.py",
    line=7,
    column=1,
    tool="pytest",
    code="failed",
    message="test_x: assert 1 == 2",
    symbol="tests/test_a.py::test_x",
)
ALL = [UNUSED, TYPE, MODULE_LEVEL, BACKWARDS, FAILED]


def test_log_is_valid_sarif_with_one_rule_per_tool_and_code() -> None:
    log = to_sarif([*ALL, TYPE])
    validate(log)
    assert log["$schema"] == SARIF_SCHEMA
    assert log["version"] == "2.1.0"
    (run,) = log["runs"]
    driver = run["tool"]["driver"]
    assert (driver["name"], driver["version"]) == ("stomper", __version__)
    rules = {r["id"]: r for r in driver["rules"]}
    assert list(rules) == ["mypy/attr-defined", "mypy/error", "pytest/failed", "ruff/E501", "ruff/F401"]
    assert rules["ruff/F401"]["helpUri"] == "https://docs.astral.sh/ruff/rules/unused-import"
    assert rules["ruff/F401"]["name"] == "unused-import"
    assert "name" not in rules["ruff/E501"]
    assert rules["mypy/attr-defined"]["helpUri"] == (
        "https://mypy.readthedocs.io/en/stable/_refs.html#code-attr-defined"
    )
    assert "helpUri" not in rules["ruff/E501"]
    assert "helpUri" not in rules["pytest/failed"]
    assert "helpUri" not in rules["mypy/error"]
    # The same diagnostic twice is one result.
    assert len(run["results"]) == len(ALL)
    for result in run["results"]:
        assert driver["rules"][result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["level"] == "error"
    assert run["invocations"] == [{"executionSuccessful": True}]


def test_results_carry_relative_locations_and_valid_regions() -> None:
    results = {r["message"]["text"]: r for r in to_sarif(ALL)["runs"][0]["results"]}
    unused = results["`os` imported but unused"]["locations"][0]["physicalLocation"]
    assert unused == {
        "artifactLocation": {"uri": "pkg/a.py", "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": 1, "startColumn": 8, "endLine": 1, "endColumn": 10},
    }
    module = results["bad module"]["locations"][0]["physicalLocation"]
    # No line to point at: the file's first character (GitHub wants a region); the space is escaped.
    assert module == {
        "artifactLocation": {"uri": "pkg/b%20c.py", "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": 1, "startColumn": 1, "endLine": 1, "endColumn": 2},
    }
    backwards = results["long"]["locations"][0]["physicalLocation"]["region"]
    # An end before the start is dropped rather than passed on: the character at the start.
    assert backwards == {"startLine": 4, "startColumn": 9, "endLine": 4, "endColumn": 10}
    failed = results["test_x: assert 1 == 2"]["locations"][0]["physicalLocation"]["region"]
    assert failed == {"startLine": 7, "startColumn": 1, "endLine": 7, "endColumn": 2}


def test_output_is_the_same_whatever_order_diagnostics_come_in() -> None:
    shuffled = list(ALL)
    random.Random(7).shuffle(shuffled)
    assert dumps(shuffled) == dumps(ALL)
    paths = [
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        for r in to_sarif(shuffled)["runs"][0]["results"]
    ]
    assert paths == sorted(paths)


def test_no_diagnostics_is_a_valid_empty_run() -> None:
    log = to_sarif([])
    validate(log)
    assert log["runs"][0]["results"] == []
    assert log["runs"][0]["tool"]["driver"]["rules"] == []


def test_tool_errors_make_a_failed_invocation(tmp_path: Path) -> None:
    log = to_sarif([UNUSED], root=tmp_path, tool_errors=["mypy: mypy is not installed"])
    validate(log)
    (run,) = log["runs"]
    assert run["invocations"] == [
        {
            "executionSuccessful": False,
            "toolExecutionNotifications": [{"level": "error", "message": {"text": "mypy: mypy is not installed"}}],
        }
    ]
    assert run["originalUriBaseIds"] == {"%SRCROOT%": {"uri": tmp_path.resolve().as_uri() + "/"}}


def test_check_writes_sarif_of_what_real_ruff_found(repo: Path) -> None:
    write(repo, {"pkg/__init__.py": "", "pkg/a.py": "import os\n\n\ndef f():\n    x = 1\n"})
    commit_all(repo)
    done = subprocess.run(
        [str(BIN / "stomper"), "check", "--tools", "ruff", "--sarif", "out/check.sarif"],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    # Missing directory: one clear line, exit 2, nothing half written.
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("stomper: error: cannot write the SARIF log to out/check.sarif")
    (repo / "out").mkdir()
    done = subprocess.run(
        [str(BIN / "stomper"), "check", "--tools", "ruff", "--sarif", "out/check.sarif"],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1, done.stderr
    log = json.loads((repo / "out" / "check.sarif").read_text())
    validate(log)
    assert github_problems(log) == []
    (run,) = log["runs"]
    found = {(r["ruleId"], r["locations"][0]["physicalLocation"]["region"]["startLine"]) for r in run["results"]}
    assert found == {("ruff/F401", 1), ("ruff/F841", 5)}
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    assert rules["ruff/F401"]["helpUri"] == "https://docs.astral.sh/ruff/rules/unused-import"
    assert rules["ruff/F841"]["helpUri"].startswith("https://docs.astral.sh/ruff/rules/")
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == repo.as_uri() + "/"
    assert {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in run["results"]} == {"pkg/a.py"}


def test_check_writes_an_empty_sarif_log_when_clean(repo: Path) -> None:
    write(repo, {"a.py": "X = 1\n"})
    commit_all(repo)
    done = subprocess.run(
        [str(BIN / "stomper"), "check", "--tools", "ruff", "--format", "json", "--sarif", "clean.sarif"],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["diagnostics"] == []
    log = json.loads((repo / "clean.sarif").read_text())
    validate(log)
    assert log["runs"][0]["results"] == []


@pytest.mark.parametrize("bad", [{"version": "2.0.0", "runs": []}, {"version": "2.1.0"}])
def test_the_vendored_schema_rejects_what_is_not_sarif(bad: dict[str, Any]) -> None:
    with pytest.raises(AssertionError):
        validate(bad)


def test_the_checker_of_githubs_requirements_is_no_rubber_stamp() -> None:
    problems = github_problems(to_sarif([UNUSED]))
    assert problems == ["result `os` imported but unused: partialFingerprints are required"]
    log = to_sarif([UNUSED], fingerprints={UNUSED: "abc:1"})
    assert github_problems(log) == []
    del log["runs"][0]["tool"]["driver"]["rules"][0]["help"]
    log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"].pop("endColumn")
    assert len(github_problems(log)) == 2


def test_a_suppressed_result_says_so_in_source_with_its_justification() -> None:
    other = Diagnostic(path="pkg/b.py", line=2, column=5, tool="mypy", code="return-value", message="Incompatible")
    why = "silenced with an allowed suppression"

    log = to_sarif([UNUSED, other], fingerprints={UNUSED: "a:1", other: "b:1"}, suppressed={other: why})

    validate(log)
    assert github_problems(log) == []
    first, second = log["runs"][0]["results"]
    assert "suppressions" not in first  # what is not suppressed says nothing about suppressions
    assert second["suppressions"] == [{"kind": "inSource", "status": "accepted", "justification": why}]


@pytest.mark.parametrize(
    "suppression",
    [
        {"kind": "suppressedInSource"},  # a draft's name, not 2.1.0's
        {"status": "accepted"},  # kind is required
        {"kind": "inSource", "status": "approved"},
    ],
)
def test_the_vendored_schema_checks_suppressions(suppression: dict[str, Any]) -> None:
    log = to_sarif([UNUSED])
    log["runs"][0]["results"][0]["suppressions"] = [suppression]
    with pytest.raises(AssertionError):
        validate(log)


def test_fix_marks_what_an_allowed_suppression_silenced_and_attaches_what_it_fixed(repo: Path, tmp_path: Path) -> None:
    write(
        repo,
        {
            "pyproject.toml": '[tool.stomper]\nallow_suppressions = ["return-value"]\n',
            "m.py": 'import os\n\n\ndef value() -> int:\n    return "1"\n',
            "n.py": 'def other() -> int:\n    return "2"\n',
        },
    )
    commit_all(repo)
    # m.py: the import goes (a fix), the return value is silenced (an allowed suppression); n.py: fixed.
    m_after = 'def value() -> int:\n    return "1"  # type: ignore[return-value]\n'
    n_after = "def other() -> int:\n    return 2\n"
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"m.py": {"content": m_after}, "n.py": {"content": n_after}}))
    out = tmp_path / "fix.sarif"
    report = tmp_path / "report.json"

    done = subprocess.run(
        [
            str(BIN / "stomper"),
            "fix",
            "--diff",
            "--tools",
            "ruff,mypy",
            "--fixer",
            "agent",
            "--agent",
            fake_agent(script),
            "--sarif",
            str(out),
            "--report",
            str(report),
        ],
        cwd=repo,
        capture_output=True,
        text=True,
    )

    assert done.returncode == 1, done.stdout + done.stderr  # --diff printed the fixes
    outcomes = {f["path"]: f["outcome"] for f in json.loads(report.read_text())["files"]}
    assert outcomes == {"m.py": "suppressed", "n.py": "fixed"}
    log = json.loads(out.read_text())
    validate(log)
    assert github_problems(log) == []
    results = {
        (r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"], r["ruleId"]): r
        for r in log["runs"][0]["results"]
    }
    assert sorted(results) == [("m.py", "mypy/return-value"), ("m.py", "ruff/F401"), ("n.py", "mypy/return-value")]
    silenced = results[("m.py", "mypy/return-value")]
    (suppression,) = silenced["suppressions"]
    assert suppression["kind"] == "inSource" and suppression["status"] == "accepted"
    assert "mypy return-value" in suppression["justification"]
    assert "allow_suppressions" in suppression["justification"]
    assert "fixes" not in silenced  # silenced is not fixed
    # What the same change really fixed carries the fix, and is not suppressed.
    for key in [("m.py", "ruff/F401"), ("n.py", "mypy/return-value")]:
        assert "suppressions" not in results[key]
        assert len(results[key]["fixes"]) == 1

"""`stomper check` end to end: real git repositories, the real ruff, mypy and pytest, through the CLI."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from conftest import commit_all, git, process_gone, write

from stomper import cli

Found = set[tuple[str, str, int, str]]

DOC = Path(__file__).parents[1] / "docs" / "json-schema.md"
# Every document the tests see must match the schema the documentation gives.
SCHEMA = json.loads(DOC.read_text().split("```json schema\n", 1)[1].split("```", 1)[0])
jsonschema.Draft202012Validator.check_schema(SCHEMA)

UNUSED = "import os\n"
"""A file ruff flags once: (ruff, path, 1, F401)."""

# ruff's default rule set changes between releases; the tests pin their own.
PYPROJECT = '[tool.ruff.lint]\nselect = ["F"]\n'


@pytest.fixture(autouse=True)
def _quick_pytest(monkeypatch: pytest.MonkeyPatch) -> None:
    # Plug-ins installed beside stomper (langsmith's) take a second to import
    # in every pytest stomper runs; none of the projects here needs them.
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Exit status, stdout and stderr of `stomper args...`."""
    with pytest.raises(SystemExit) as exited:
        cli.main(list(args))
    out, err = capsys.readouterr()
    code = exited.value.code
    assert isinstance(code, int)
    return code, out, err


def check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Found, dict[str, Any]]:
    """`stomper check --format json args...`: exit status, (tool, path, line, code) found, the document."""
    code, out, err = run(capsys, "check", "--format", "json", *args)
    assert err == ""
    document = json.loads(out)
    jsonschema.Draft202012Validator(SCHEMA).validate(document)
    records = [json.dumps(d, sort_keys=True) for d in document["diagnostics"]]
    assert len(set(records)) == len(records), "a diagnostic is reported twice"
    found = {(d["tool"], d["path"], d["line"], d["code"]) for d in document["diagnostics"]}
    return code, found, document


def flagged(*paths: str) -> Found:
    return {("ruff", path, 1, "F401") for path in paths}


def one_error_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture
def project(repo: Path) -> Path:
    """A committed project with one problem for each tool, and clean files."""
    write(
        repo,
        {
            "pyproject.toml": PYPROJECT,
            ".gitignore": ".venv/\n",
            "pkg/__init__.py": "",
            "pkg/clean.py": "def one() -> int:\n    return 1\n",
            "pkg/lint.py": UNUSED,
            "pkg/typed.py": 'def two() -> int:\n    return "2"\n',
            "tests/test_ok.py": "def test_ok():\n    assert True\n",
            "tests/test_bad.py": "def test_bad():\n    assert 1 == 2\n",
            "README.md": "not python\n",
        },
    )
    commit_all(repo, "project")
    return repo


@pytest.fixture
def files(repo: Path) -> Path:
    """A committed project of files each ruff flags once, and nothing else."""
    write(repo, {"pyproject.toml": PYPROJECT, "a/x.py": UNUSED, "b/y.py": UNUSED, "c.py": UNUSED, "d.txt": "x\n"})
    commit_all(repo, "base")
    return repo


def test_check_runs_all_three_tools(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, found, document = check(capsys)

    assert code == 1
    assert found == {
        ("ruff", "pkg/lint.py", 1, "F401"),
        ("mypy", "pkg/typed.py", 2, "return-value"),
        ("pytest", "tests/test_bad.py", 1, "failed"),
    }
    assert [(t["name"], t["error"]) for t in document["tools"]] == [("ruff", None), ("mypy", None), ("pytest", None)]
    assert document["summary"] == {"files": 3, "diagnostics": 3, "tool_errors": 0}


def test_an_emoji_code_in_a_message_is_shown_as_written(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(repo, {"pkg/ok.py": "", "tests/test_fire.py": 'def test_fire():\n    assert ":fire:" == "x"\n'})
    commit_all(repo)

    code, out, _ = run(capsys, "check", "--tools", "pytest")

    assert code == 1
    assert ":fire:" in out and "\N{FIRE}" not in out


def test_clean_project_exits_0(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(repo, {"pkg/ok.py": "def one() -> int:\n    return 1\n", "tests/test_ok.py": "def test_ok():\n    pass\n"})
    commit_all(repo)

    code, found, document = check(capsys)

    assert (code, found) == (0, set())
    assert document["summary"] == {"files": 0, "diagnostics": 0, "tool_errors": 0}


def test_syntax_errors_and_paths_with_spaces(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(
        repo,
        {
            "pyproject.toml": PYPROJECT + "[tool.mypy]\npretty = true\n",
            "my dir/my mod.py": 'value: int = "text"\n',
            "ünïcödé.py": UNUSED,
            "broken.py": "def f(:\n    pass\n",
            "tests/test_broken.py": "def test_x(:\n    pass\n",
        },
    )
    commit_all(repo)

    code, found, _ = check(capsys)

    # mypy stops at a file it cannot parse: it says nothing of the type error
    # in "my dir/my mod.py" until the syntax errors are gone.
    assert code == 1
    assert found == {
        ("ruff", "broken.py", 1, "invalid-syntax"),
        ("ruff", "tests/test_broken.py", 1, "invalid-syntax"),
        ("ruff", "ünïcödé.py", 1, "F401"),
        ("mypy", "broken.py", 1, "syntax"),
        ("pytest", "tests/test_broken.py", 1, "error"),
    }

    write(repo, {"broken.py": "def f():\n    pass\n", "tests/test_broken.py": "def test_x():\n    pass\n"})
    code, found, _ = check(capsys, "--changed")

    assert (code, found) == (0, set())
    assert check(capsys, "my dir")[1] == {("mypy", "my dir/my mod.py", 1, "assignment")}


def test_tools_option_runs_only_those(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, found, document = check(capsys, "--tools", "pytest,ruff")

    assert code == 1
    assert found == {("ruff", "pkg/lint.py", 1, "F401"), ("pytest", "tests/test_bad.py", 1, "failed")}
    assert [t["name"] for t in document["tools"]] == ["pytest", "ruff"]


def test_tools_from_config(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(project, {"stomper.toml": "tools = ['mypy']\n"})

    assert check(capsys)[1] == {("mypy", "pkg/typed.py", 2, "return-value")}


def test_paths_select_files_and_directories(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, found, _ = check(capsys, "--tools", "ruff", "a", "c.py")

    assert (code, found) == (1, flagged("a/x.py", "c.py"))


def test_paths_are_relative_to_the_current_directory(
    files: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(files / "a")

    assert check(capsys, "--tools", "ruff", ".")[1] == flagged("a/x.py")
    assert check(capsys, "--tools", "ruff", "../b")[1] == flagged("b/y.py")
    # Without paths, the whole project, wherever in it stomper starts.
    assert check(capsys, "--tools", "ruff")[1] == flagged("a/x.py", "b/y.py", "c.py")


def test_files_option_selects_exact_files(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, found, _ = check(capsys, "--tools", "ruff", "--files", "b/y.py", "--files", "c.py", "--files", "d.txt")

    assert (code, found) == (1, flagged("b/y.py", "c.py"))


def test_a_file_named_explicitly_counts_even_when_git_ignores_it(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(files, {".gitignore": "generated.py\n", "generated.py": UNUSED})

    assert check(capsys, "--tools", "ruff")[1] == flagged("a/x.py", "b/y.py", "c.py")
    assert check(capsys, "--tools", "ruff", "generated.py")[1] == flagged("generated.py")


def test_missing_path_is_a_usage_error(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "check", "nowhere.py")

    assert (code, out) == (2, "")
    assert one_error_line(err) == "stomper: error: nowhere.py: no such file or directory"


def test_path_outside_the_project_is_a_usage_error(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "check", "..")

    assert code == 2
    assert one_error_line(err) == f"stomper: error: ..: outside the project at {files}"


def edit(repo: Path) -> None:
    """Stage a change to a/x.py, leave one to b/y.py unstaged, add an untracked, an ignored and a deleted file."""
    write(repo, {"a/x.py": UNUSED + "import sys\n", "b/y.py": UNUSED + "import re\n"})
    git(repo, "add", "a/x.py")
    write(repo, {"new.py": UNUSED, ".gitignore": "ignored.py\n", "ignored.py": UNUSED})
    (repo / "c.py").unlink()


def test_staged_selects_what_is_in_the_index(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit(files)

    code, found, _ = check(capsys, "--tools", "ruff", "--staged")

    assert (code, found) == (1, {("ruff", "a/x.py", 1, "F401"), ("ruff", "a/x.py", 2, "F401")})


def test_changed_selects_modified_and_untracked_files(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit(files)

    code, found, _ = check(capsys, "--tools", "ruff", "--changed")

    assert code == 1
    assert found == flagged("a/x.py", "b/y.py", "new.py") | {
        ("ruff", "a/x.py", 2, "F401"),
        ("ruff", "b/y.py", 2, "F401"),
    }


def test_changed_and_paths_together(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit(files)

    assert check(capsys, "--tools", "ruff", "--changed", "b", "new.py")[1] == flagged("b/y.py", "new.py") | {
        ("ruff", "b/y.py", 2, "F401")
    }


def test_changed_before_the_first_commit_is_everything(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(repo, {"pyproject.toml": PYPROJECT, "staged.py": UNUSED, "untracked.py": UNUSED})
    git(repo, "add", "staged.py")

    assert check(capsys, "--tools", "ruff", "--changed")[1] == flagged("staged.py", "untracked.py")
    assert check(capsys, "--tools", "ruff", "--staged")[1] == flagged("staged.py")


def test_a_deleted_tracked_file_is_not_checked(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (files / "c.py").unlink()

    code, found, document = check(capsys, "--tools", "ruff,mypy")

    assert [t["error"] for t in document["tools"]] == [None, None]
    assert (code, found) == (1, flagged("a/x.py", "b/y.py"))


def test_since_selects_changes_from_the_merge_base(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    git(files, "switch", "--quiet", "-c", "feature")
    write(files, {"a/x.py": UNUSED + "import sys\n"})
    commit_all(files, "feature work")
    git(files, "switch", "--quiet", "main")
    write(files, {"b/y.py": UNUSED + "import re\n"})
    commit_all(files, "main moves on")
    git(files, "switch", "--quiet", "feature")
    write(files, {"c.py": UNUSED + "import re\n", "new.py": UNUSED})

    code, found, _ = check(capsys, "--tools", "ruff", "--since", "main")

    # b/y.py changed on main after the branch point: not this branch's change.
    assert code == 1
    assert found == flagged("a/x.py", "c.py", "new.py") | {("ruff", "a/x.py", 2, "F401"), ("ruff", "c.py", 2, "F401")}


def test_since_an_unknown_ref_is_a_usage_error(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "check", "--since", "no-such-branch")

    assert (code, out) == (2, "")
    assert one_error_line(err) == (
        "stomper: error: --since no-such-branch: git knows no such commit, or it shares no history with HEAD"
    )


def test_exclude_from_option_and_config(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(files, {"stomper.toml": "exclude = ['c.py']\n"})

    assert check(capsys, "--tools", "ruff")[1] == flagged("a/x.py", "b/y.py")
    assert check(capsys, "--tools", "ruff", "--exclude", "a/*")[1] == flagged("b/y.py")
    assert check(capsys, "--tools", "ruff", "--exclude", "b/", "--exclude", "*.py")[1] == set()


def test_table_groups_diagnostics_by_file(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(files, {"b/y.py": "import os\nimport sys\n"})

    code, out, err = run(capsys, "check", "--tools", "ruff", "a", "b")

    assert (code, err) == (1, "")
    assert [line.rstrip() for line in out.splitlines()] == [
        "a/x.py",
        "1:8  ruff  F401  `os` imported but unused (fixable)",
        "",
        "b/y.py",
        "1:8  ruff  F401  `os` imported but unused (fixable)",
        "2:8  ruff  F401  `sys` imported but unused (fixable)",
        "",
        "3 diagnostics in 2 files.",
    ]


def test_table_when_clean(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(files, {"a/x.py": "X = 1\n"})
    assert run(capsys, "check", "--tools", "ruff", "a/x.py") == (0, "All clean.\n", "")


def test_nothing_selected_is_not_all_clean(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "check", "--tools", "ruff", "d.txt") == (
        0,
        "",
        "stomper: no Python file is selected; nothing to check\n",
    )


def test_unknown_format_is_a_usage_error(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "check", "--format", "xml")

    assert (code, out) == (2, "")
    assert "Value error, 'xml' is not one of 'table', 'json', 'github', 'gitlab'." in err
    assert "Traceback" not in err


def test_unknown_option_is_a_usage_error(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "check", "--colour")

    assert code == 2
    assert "No such option: --colour" in err
    assert "Traceback" not in err


def fake_tool(repo: Path, name: str, body: str) -> None:
    """A real executable in the project's .venv/bin, which stomper prefers to any other."""
    path = repo / ".venv" / "bin" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!{sys.executable}\nimport json, os, sys, time\n{body}\n")
    path.chmod(0o755)


def test_crashing_tool_exits_2_and_says_so(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake_tool(project, "ruff", "print('ruff: internal error: boom', file=sys.stderr)\nsys.exit(3)")

    code, found, document = check(capsys, "--tools", "ruff,pytest")

    assert code == 2
    assert found == {("pytest", "tests/test_bad.py", 1, "failed")}
    assert [(t["name"], t["error"]) for t in document["tools"]] == [
        ("ruff", "ruff exited with status 3: ruff: internal error: boom"),
        ("pytest", None),
    ]
    assert document["summary"]["tool_errors"] == 1


def test_crashing_tool_in_the_table(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake_tool(project, "ruff", "print('this is not JSON')")

    code, out, _ = run(capsys, "check", "--tools", "ruff")

    assert code == 2
    assert out.splitlines() == [
        "tool error ruff: ruff wrote output stomper cannot read: Expecting value: line 1 column 1 (char 0)",
        "0 diagnostics in 0 files.",
    ]


# Each fake tool says it started, waits until all three have (run one after
# another they never would, and the first gives up), then reports nothing.
CONCURRENT_TOOL = """
log, name = {log!r}, {name!r}
started = time.time()
open(os.path.join(log, name + ".started"), "w").close()
deadline = time.monotonic() + 10
while sum(f.endswith(".started") for f in os.listdir(log)) < 3 and time.monotonic() < deadline:
    time.sleep(0.01)
with open(os.path.join(log, name + ".json"), "w") as f:
    json.dump([started, time.time()], f)
if name == "ruff":
    print("[]")
if name == "pytest":
    report = next(a.split("=", 1)[1] for a in sys.argv if a.startswith("--junitxml="))
    with open(report, "w") as f:
        f.write("<testsuites/>")
"""


def test_the_tools_of_one_check_run_concurrently(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "log"
    log.mkdir()
    for name in ("ruff", "mypy", "pytest"):
        fake_tool(project, name, CONCURRENT_TOOL.format(log=str(log), name=name))

    code, found, document = check(capsys)

    assert (code, found) == (0, set())
    assert [t["executable"] for t in document["tools"]] == [
        str(project / ".venv" / "bin" / name) for name in ("ruff", "mypy", "pytest")
    ]
    intervals = [json.loads((log / f"{name}.json").read_text()) for name in ("ruff", "mypy", "pytest")]
    # Every tool started before any finished.
    assert max(start for start, _ in intervals) < min(end for _, end in intervals)


@pytest.fixture
def plain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory that is in no git repository, as the current directory."""
    root = tmp_path / "plain"
    write(
        root,
        {
            "pyproject.toml": PYPROJECT,
            "a.py": UNUSED,
            "sub/b.py": UNUSED,
            ".hidden/c.py": UNUSED,
            "__pycache__/d.py": UNUSED,
            "notes.txt": "x\n",
        },
    )
    monkeypatch.chdir(root)
    return root


def test_outside_git_check_walks_the_directory(plain: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, found, _ = check(capsys, "--tools", "ruff")

    assert (code, found) == (1, flagged("a.py", "sub/b.py"))
    assert check(capsys, "--tools", "ruff", "sub")[1] == flagged("sub/b.py")


@pytest.mark.parametrize("option", [["--staged"], ["--changed"], ["--since", "main"]])
def test_outside_git_selecting_by_git_is_a_usage_error(
    plain: Path, capsys: pytest.CaptureFixture[str], option: list[str]
) -> None:
    code, out, err = run(capsys, "check", *option)

    assert (code, out) == (2, "")
    assert one_error_line(err) == "stomper: error: --staged, --changed and --since need a git repository"


def test_console_script(project: Path) -> None:
    done = subprocess.run(
        [str(Path(sys.executable).with_name("stomper")), "check", "--tools", "ruff", "--format", "json"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert (done.returncode, done.stderr) == (1, "")
    assert [(d["tool"], d["path"], d["line"], d["code"]) for d in json.loads(done.stdout)["diagnostics"]] == [
        ("ruff", "pkg/lint.py", 1, "F401")
    ]


# A tool that starts a grandchild, says both pids, and never finishes.
HANGING_TOOL = """
import subprocess
grandchild = subprocess.Popen(["sleep", "60"])
with open({pids!r} + ".tmp", "w") as f:
    json.dump([os.getpid(), grandchild.pid], f)
os.rename({pids!r} + ".tmp", {pids!r})
time.sleep(60)
"""


# A shell's background jobs start with SIGINT ignored, and Python keeps it so;
# a terminal's Ctrl-C finds the default handler, which this restores.
WITH_CTRL_C = (
    "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); from stomper.cli import main; main()"
)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_the_check_and_its_tools(project: Path, tmp_path: Path, sig: signal.Signals) -> None:
    pids = tmp_path / "pids"
    fake_tool(project, "mypy", HANGING_TOOL.format(pids=str(pids)))
    stomper = subprocess.Popen(
        [sys.executable, "-c", WITH_CTRL_C, "check", "--tools", "mypy"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not pids.exists() and stomper.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert pids.exists(), "the fake mypy never started"
        stomper.send_signal(sig)
        out, err = stomper.communicate(timeout=30)
    finally:
        stomper.kill()

    assert (stomper.returncode, out, err) == (130, "", "stomper: interrupted\n")
    tool, grandchild = json.loads(pids.read_text())
    assert process_gone(tool)
    assert process_gone(grandchild)


def test_verbose_says_what_runs_on_stderr(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "check", "--tools", "ruff", "--format", "json", "-v")

    assert code == 1
    assert json.loads(out)["summary"]["diagnostics"] == 3
    assert err.splitlines() == [f"ruff: {Path(sys.executable).parent / 'ruff'}", f"checked 3 file(s) in {files}"]


def test_binary_and_non_utf8_files_are_skipped_and_said(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(repo, {"pyproject.toml": PYPROJECT, "lint.py": UNUSED})
    (repo / "blob.py").write_bytes(b"\x00\x01binary")
    (repo / "latin.py").write_bytes("x = 'caf\xe9'\n".encode("latin-1"))
    commit_all(repo)

    code, found, document = check(capsys, "--tools", "ruff,mypy")

    assert code == 1
    assert found == flagged("lint.py")
    assert document["skipped"] == [
        "skipped blob.py: it is a binary file",
        "skipped latin.py: it is not UTF-8 text (byte 8 is 0xe9)",
    ]
    assert document["tools"][1]["error"] is None

"""What a command with nothing to do imports and runs: LangGraph and LangChain only for a run that fans out,
and only the git processes that finding nothing to fix needs.

Read from the interpreter's own import log (`PYTHONPROFILEIMPORTTIME`, the
same as `python -X importtime`) and from git's own log of every git process
(`GIT_TRACE`) of the real console script, not from a timing.
"""

from __future__ import annotations

import os
import pty
import re
import subprocess
from pathlib import Path

import pytest
from conftest import STOMPER, commit_all, git, stomper, stray_worktrees, write

from tests.import_watch import imports_beside_the_import_thread, watch

HEAVY = ("langgraph", "langchain_core", "langsmith", "aiosqlite")


def imported(done: subprocess.CompletedProcess[str]) -> set[str]:
    """The modules the run imported, from its import log on stderr."""
    names = {
        line.rsplit("|", 1)[1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert "stomper.cli" in names, done.stderr[-2000:]  # the log is there at all
    return names


def heavy(names: set[str]) -> set[str]:
    return {n for n in names if n.split(".")[0] in HEAVY}


def run(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return stomper(repo, *args, env={"PYTHONPROFILEIMPORTTIME": "1"})


def failing_project(repo: Path, count: int) -> None:
    """`count` modules, each with one problem ruff cannot fix (F821): each goes to a branch."""
    write(repo, {"pkg/__init__.py": "", **{f"pkg/m{n}.py": "value = undefined_name\n" for n in range(count)}})
    commit_all(repo)


def quick_agent(tmp_path: Path, done: Path | None = None) -> list[str]:
    """An agent that fixes `undefined_name`; with `done`, it leaves a file there for each file it fixed."""
    agent = tmp_path / "agent.sh"
    tell = f'touch "{done}/$(basename "$1")"\n' if done is not None else ""
    agent.write_text(f"#!/bin/sh\nsed -i 's/undefined_name/0/' \"$1\"\n{tell}")
    agent.chmod(0o755)
    # The default fixer chain with an agent: ruff's fixes, then the agent.
    return ["--agent", f"{agent} {{file}}"]


def clean_project(repo: Path) -> None:
    write(repo, {"pkg/__init__.py": "", "pkg/a.py": "def f() -> int:\n    return 1\n"})
    commit_all(repo)


def test_fix_with_nothing_to_fix_never_imports_langgraph(repo: Path) -> None:
    clean_project(repo)

    done = run(repo, "fix", "--tools", "ruff")

    assert done.returncode == 0, done.stderr[-2000:]
    assert "0 failing file(s)" in done.stdout
    names = imported(done)
    assert heavy(names) == set()
    assert "git" not in names  # GitPython: one `git rev-parse` answers what a run needs
    assert {"stomper.ci", "stomper.annotate"}.isdisjoint(names)  # for options this run did not use
    # The run was a run all the same: recorded, completed, its ref gone.
    (record,) = (repo / ".git" / "stomper" / "runs").glob("*/run.json")
    assert '"status": "completed"' in record.read_text()
    assert git(repo, "for-each-ref", "refs/stomper/") == ""


def gits(trace: Path) -> list[str]:
    """Each git process from git's trace, as its command line past stomper's `-c` settings."""
    found = []
    for line in trace.read_text().splitlines():
        started = re.search(r"trace: built-in: git (.*)$", line)
        if started is not None:
            found.append(re.sub(r"^(-c \S+ )*", "", started[1]))
    return found


@pytest.mark.parametrize("untracked", [False, True])
def test_fix_with_nothing_to_fix_starts_only_the_git_processes_it_needs(
    repo: Path, tmp_path: Path, untracked: bool
) -> None:
    clean_project(repo)
    if untracked:
        write(repo, {"notes.txt": "untracked: the snapshot is a commit of its own\n"})
    trace = tmp_path / "trace"

    done = stomper(repo, "fix", "--tools", "ruff", env={"GIT_TRACE": str(trace)})

    assert done.returncode == 0, done.stderr[-2000:]
    assert "0 failing file(s)" in done.stdout
    ran = gits(trace)
    # The repository (with HEAD, its tree, the index), the run refs to repair, the files, the clean
    # check, the snapshot's `add` and `write-tree`; and its commit when it is not HEAD.
    assert len(ran) <= 6 + untracked, ran
    assert ("commit-tree" in " ".join(ran)) == untracked, ran
    # No commit check, run ref, worktree prune or branch lookup for a run with nothing to commit.
    said = " ".join(ran)
    for absent in ("var ", "config ", "can a commit be made", "update-ref", "worktree", "symbolic-ref"):
        assert absent not in said, ran
    (record,) = (repo / ".git" / "stomper" / "runs").glob("*/run.json")
    assert '"status": "completed"' in record.read_text()
    assert git(repo, "for-each-ref", "refs/stomper/") == ""


def test_a_run_with_something_to_fix_checks_its_commit_then_records_then_works(repo: Path, tmp_path: Path) -> None:
    # The other side of the test above: what a run with nothing to fix leaves out, one with a fix makes,
    # in the order that a kill between any two of them loses nothing.
    clean_project(repo)
    write(repo, {"pkg/b.py": "import os\n"})
    commit_all(repo)
    trace = tmp_path / "trace"

    done = stomper(repo, "fix", "--tools", "ruff", env={"GIT_TRACE": str(trace)})

    assert done.returncode == 0, done.stderr[-2000:]
    assert (repo / "pkg" / "b.py").read_text() == ""
    ran = gits(trace)

    def first(prefix: str) -> int:
        found = [n for n, command in enumerate(ran) if command.startswith(prefix)]
        assert found, (prefix, ran)
        return found[0]

    check = first("commit-tree -p HEAD -m 'stomper: can a commit be made here?'")
    assert first("var GIT_COMMITTER_IDENT") < check < first("update-ref refs/stomper/runs/") < first("worktree add")
    # The identity asked once, for the check and the applier alike (the commits ask git for their dates later).
    assert [c for c in ran[: first("worktree add")] if c.startswith("var ")] == ["var GIT_COMMITTER_IDENT"]


def test_a_run_whose_batch_fixes_every_file_never_imports_langgraph(repo: Path) -> None:
    clean_project(repo)
    write(repo, {"pkg/b.py": "import os\n", "pkg/c.py": "import sys\n"})
    base = commit_all(repo)

    done = run(repo, "fix", "--tools", "ruff")

    assert done.returncode == 0, done.stderr[-2000:]
    assert heavy(imported(done)) == set()
    assert (repo / "pkg" / "b.py").read_text() == (repo / "pkg" / "c.py").read_text() == ""
    assert len(git(repo, "rev-list", f"{base}..HEAD").split()) == 2
    (record,) = (repo / ".git" / "stomper" / "runs").glob("*/run.json")
    assert '"status": "completed"' in record.read_text()
    # What a resume would start from goes with the run.
    assert sorted(p.name for p in record.parent.iterdir()) == ["events.jsonl", "run.json"]
    assert git(repo, "for-each-ref", "refs/stomper/") == ""


def test_a_run_that_fans_out_does_import_it(repo: Path) -> None:
    # The other side of the tests above: the import log would show LangGraph if it were imported.
    clean_project(repo)
    # ruff's fix of b.py lands in the batch; c.py's, which ruff cannot fix, goes to a branch of its own.
    write(repo, {"pkg/b.py": "import os\n", "pkg/c.py": "value = undefined_name\n"})
    commit_all(repo)

    done = run(repo, "fix", "--tools", "ruff")

    assert done.returncode == 1, done.stderr[-2000:]
    assert "langgraph.graph" in imported(done)
    assert (repo / "pkg" / "b.py").read_text() == ""
    assert "F821" in done.stdout


def test_check_never_imports_langgraph(repo: Path) -> None:
    clean_project(repo)
    write(repo, {"pkg/b.py": "import os\n"})

    done = run(repo, "check", "--tools", "ruff")

    assert done.returncode == 1, done.stderr[-2000:]
    assert "F401" in done.stdout
    assert heavy(imported(done)) == set()


def test_the_hook_with_nothing_staged_stops_before_configuration_and_tools(repo: Path) -> None:
    clean_project(repo)
    # A configuration that would fail to load, and a change that is not staged: neither is looked at.
    write(repo, {"stomper.toml": "parallel = 'many'\n", "pkg/a.py": "import os\n"})

    done = run(repo, "fix", "--hook")

    assert (done.returncode, done.stdout) == (0, ""), done.stderr[-2000:]
    names = imported(done)
    assert heavy(names) == set()
    assert {"stomper.commands.fix", "stomper.config", "stomper.project", "stomper.tools"} & names == set()
    assert not (repo / ".git" / "stomper").exists()


def test_the_hook_with_a_staged_file_still_runs(repo: Path) -> None:
    clean_project(repo)
    write(repo, {"pkg/a.py": "import os\n"})
    git(repo, "add", "pkg/a.py")

    done = run(repo, "fix", "--hook", "--tools", "ruff")

    assert done.returncode == 1, done.stderr[-2000:]
    assert (repo / "pkg" / "a.py").read_text() == ""


def test_the_first_wave_of_branches_works_while_the_graph_is_imported(repo: Path, tmp_path: Path) -> None:
    failing_project(repo, 6)
    fixed = tmp_path / "fixed"
    # The import thread is held at LangGraph until three files are fixed: only early branches can fix them.
    watcher = watch(tmp_path, hold=fixed, count=3)

    done = stomper(repo, "fix", "--tools", "ruff", "--parallel", "3", *quick_agent(tmp_path, fixed), env=watcher.env)

    assert done.returncode == 0, done.stderr[-2000:]
    log = watcher.lines()
    assert ["released", "done"] in log, log
    # LangGraph on the import thread alone, and no module loaded by any other thread meanwhile.
    assert {line[1] for line in log if line[0] == "import" and line[2].startswith("langgraph")} == {"import"}
    assert imports_beside_the_import_thread(log) == []
    # The first three files' agents ran before LangGraph was ready (the graph adopted those branches),
    # the other three in branches the graph started; one agent a file, each file fixed and committed once.
    agents = [line[1] for line in log if line[0] == "exec" and "agent.sh" in line[2]]
    assert sorted(agents) == ["imported"] * 3 + ["importing"] * 3, log
    assert all((repo / "pkg" / f"m{n}.py").read_text() == "value = 0\n" for n in range(6))
    assert len(git(repo, "rev-list", "HEAD").split()) == 7
    assert "6 diagnostic(s) fixed, 0 remaining, in 6 failing file(s)" in done.stdout


def test_a_run_whose_batch_leaves_nothing_to_an_agent_never_imports_langgraph(repo: Path, tmp_path: Path) -> None:
    # An AI fixer is configured, but ruff fixes all there is: the batch finishes the run.
    clean_project(repo)
    write(repo, {"pkg/b.py": "import os\n", "pkg/c.py": "import sys\n"})
    commit_all(repo)

    done = stomper(repo, "fix", "--tools", "ruff", *quick_agent(tmp_path), env={"PYTHONPROFILEIMPORTTIME": "1"})

    assert done.returncode == 0, done.stderr[-2000:]
    assert heavy(imported(done)) == set()
    assert (repo / "pkg" / "b.py").read_text() == (repo / "pkg" / "c.py").read_text() == ""


def test_the_live_display_on_a_terminal_imports_nothing_beside_the_import_thread(repo: Path, tmp_path: Path) -> None:
    # On a terminal, rich's display redraws from a thread of its own, four times a second, while the branches work.
    failing_project(repo, 4)
    fixed = tmp_path / "fixed"
    watcher = watch(tmp_path, hold=fixed, count=2)
    argv = [str(STOMPER), "fix", "--tools", "ruff", "--parallel", "2", *quick_agent(tmp_path, fixed)]
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"} | watcher.env | {"TERM": "xterm"}

    code, said = on_a_terminal(argv, repo, env)

    assert code == 0, said[-2000:]
    assert "\x1b[?25l" in said  # the live display hid the cursor: it ran
    log = watcher.lines()
    assert ["released", "done"] in log, log
    assert imports_beside_the_import_thread(log) == []


def on_a_terminal(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    """Run `argv` with a pseudo-terminal as its stdin, stdout and stderr; its exit status and all it wrote."""
    main, child = pty.openpty()
    run = subprocess.Popen(argv, cwd=cwd, env=env, stdin=child, stdout=child, stderr=child)
    os.close(child)
    said = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # EIO: the terminal's other end is closed, the run is over
            break
        if not chunk:
            break
        said += chunk
    os.close(main)
    return run.wait(timeout=300), said.decode("utf-8", "replace")


def test_early_branches_verified_by_mypy_and_pytest_import_nothing_beside_the_import_thread(
    repo: Path, tmp_path: Path
) -> None:
    # The verifier's mypy and pytest paths (their runs, their output read) inside the held import, too.
    failing_project(repo, 2)
    write(repo, {"tests/test_ok.py": "def test_ok() -> None:\n    assert True\n"})
    commit_all(repo)
    fixed = tmp_path / "fixed"
    watcher = watch(tmp_path, hold=fixed, count=2)

    done = stomper(
        repo, "fix", "--tools", "ruff,mypy,pytest", "--parallel", "2", *quick_agent(tmp_path, fixed), env=watcher.env
    )

    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    log = watcher.lines()
    assert ["released", "done"] in log, log
    assert imports_beside_the_import_thread(log) == []
    assert all((repo / "pkg" / f"m{n}.py").read_text() == "value = 0\n" for n in range(2))


def test_a_file_ruff_fixes_in_part_goes_to_its_branch_with_the_graph_imported_early(repo: Path, tmp_path: Path) -> None:
    # ruff's fix of the import lands in the batch; the undefined name is the agent's, in a branch.
    write(repo, {"pkg/__init__.py": "", "pkg/m.py": "import os\n\nvalue = undefined_name\n"})
    commit_all(repo)
    fixed = tmp_path / "fixed"
    watcher = watch(tmp_path, hold=fixed, count=1)

    done = stomper(repo, "fix", "--tools", "ruff", *quick_agent(tmp_path, fixed), env=watcher.env)

    assert done.returncode == 0, done.stderr[-2000:]
    log = watcher.lines()
    assert ["released", "done"] in log, log  # the branch did its work while the graph was being imported
    assert imports_beside_the_import_thread(log) == []  # the batch's, then the branch's
    assert (repo / "pkg" / "m.py").read_text().strip() == "value = 0"  # both fixes, in one commit
    assert len(git(repo, "rev-list", "HEAD").split()) == 2


def test_a_graph_that_cannot_be_imported_is_one_line_and_exit_3(repo: Path, tmp_path: Path) -> None:
    # A broken installation: the LangGraph the thread imports raises. The run says so as it would
    # have on its own thread, and stops cleanly: the branches it started early (their agent still
    # at work) stopped, its record, its worktrees, the checkout.
    failing_project(repo, 2)
    broken = tmp_path / "broken"
    write(broken, {"langgraph/__init__.py": "raise ImportError('this langgraph is broken')\n"})
    head = git(repo, "rev-parse", "HEAD")
    agent = tmp_path / "slow-agent.sh"
    agent.write_text("#!/bin/sh\nsleep 30\nsed -i 's/undefined_name/0/' \"$1\"\n")
    agent.chmod(0o755)

    done = stomper(repo, "fix", "--tools", "ruff", "--agent", f"{agent} {{file}}", env={"PYTHONPATH": str(broken)})

    assert done.returncode == 3, done.stderr[-2000:]
    said = [line for line in done.stderr.splitlines() if line.startswith("stomper:")]
    assert len(said) == 1, done.stderr
    assert "an unexpected error has occurred: ImportError: this langgraph is broken" in said[0]
    assert "never retrieved" not in done.stderr
    (record,) = (repo / ".git" / "stomper" / "runs").glob("*/run.json")
    assert '"status": "failed"' in record.read_text()
    assert git(repo, "worktree", "list").count("\n") == 1
    assert not stray_worktrees(repo / ".git" / "stomper")
    assert git(repo, "rev-parse", "HEAD") == head
    assert git(repo, "status", "--porcelain") == ""

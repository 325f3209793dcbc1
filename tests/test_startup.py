"""What a command with nothing to do imports: LangGraph and LangChain only for a run that fans out.

Read from the interpreter's own import log (`PYTHONPROFILEIMPORTTIME`, the
same as `python -X importtime`) of the real console script, not from a timing.
"""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

from conftest import commit_all, git, stomper, write

HEAVY = ("langgraph", "langchain_core", "langsmith", "aiosqlite")

WATCHER = textwrap.dedent(
    r"""
    # Loaded by the interpreter at start-up (`sitecustomize`, from PYTHONPATH): an audit hook that
    # writes down, in order, on which thread LangGraph was first imported and every process
    # started, with how far the import of the graph had got at the time. It observes; it changes nothing.
    import os, sys, threading

    _log = open(os.environ["STOMPER_TEST_WATCH"], "a", buffering=1)
    _seen = []

    def _graph():
        module = sys.modules.get("stomper.graph.build")
        if module is None:
            return "not-begun"
        return "importing" if getattr(module.__spec__, "_initializing", False) else "imported"

    def _hook(event, args):
        main = threading.current_thread() is threading.main_thread()
        if event == "import" and args[0].split(".")[0] == "langgraph" and not _seen:
            _seen.append(args[0])
            _log.write(f"import-langgraph\t{'main' if main else 'thread'}\n")
        elif event == "subprocess.Popen":
            _log.write(f"exec\t{_graph()}\t{' '.join(map(str, args[1]))}\n")

    sys.addaudithook(_hook)
    """
)


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


def watched(repo: Path, tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], list[list[str]]]:
    """Run stomper with `WATCHER` loaded; what it did and what the watcher wrote down, line by line."""
    site = tmp_path / "watch-site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(WATCHER)
    log = tmp_path / "watch.log"
    done = stomper(repo, *args, env={"PYTHONPATH": str(site), "STOMPER_TEST_WATCH": str(log)})
    return done, [line.split("\t") for line in log.read_text().splitlines()]


def git_verb(argv: str) -> str:
    """`worktree add` of a git command line with stomper's `-c` options in front."""
    words = argv.split()
    at = 1
    while at < len(words) and words[at] == "-c":
        at += 2
    return " ".join(words[at : at + 2])


def failing_project(repo: Path, count: int) -> None:
    """`count` modules, each with one problem ruff cannot fix (F821): each goes to a branch."""
    write(repo, {"pkg/__init__.py": "", **{f"pkg/m{n}.py": "value = undefined_name\n" for n in range(count)}})
    commit_all(repo)


def quick_agent(tmp_path: Path) -> list[str]:
    agent = tmp_path / "agent.sh"
    agent.write_text("#!/bin/sh\nsed -i 's/undefined_name/0/' \"$1\"\n")
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
    # The run was a run all the same: recorded, completed, its ref gone.
    (record,) = (repo / ".git" / "stomper" / "runs").glob("*/run.json")
    assert '"status": "completed"' in record.read_text()
    assert git(repo, "for-each-ref", "refs/stomper/") == ""


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


def test_a_run_that_fans_out_imports_the_graph_on_a_thread_while_git_works(repo: Path, tmp_path: Path) -> None:
    failing_project(repo, 2)

    done, log = watched(repo, tmp_path, "fix", "--tools", "ruff", *quick_agent(tmp_path))

    assert done.returncode == 0, done.stderr[-2000:]
    assert ["import-langgraph", "thread"] in log
    assert ["import-langgraph", "main"] not in log
    # The overlap itself: git processes the run started while the graph was still being imported.
    during = [git_verb(line[2]) for line in log if line[:2] == ["exec", "importing"] and "git" in line[2]]
    assert "worktree add" in during, log


def test_the_first_wave_of_branches_works_while_the_graph_is_imported(repo: Path, tmp_path: Path) -> None:
    failing_project(repo, 6)

    done, log = watched(repo, tmp_path, "fix", "--tools", "ruff", "--parallel", "3", *quick_agent(tmp_path))

    assert done.returncode == 0, done.stderr[-2000:]
    agents = [line[1] for line in log if line[0] == "exec" and "agent.sh" in line[2]]
    # The first three files' agents ran before LangGraph was ready (the graph adopted those branches),
    # the other three in branches the graph started; one agent a file, each file fixed and committed once.
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


def test_a_file_ruff_fixes_in_part_goes_to_its_branch_with_the_graph_imported_early(repo: Path, tmp_path: Path) -> None:
    # ruff's fix of the import lands in the batch; the undefined name is the agent's, in a branch.
    write(repo, {"pkg/__init__.py": "", "pkg/m.py": "import os\n\nvalue = undefined_name\n"})
    commit_all(repo)

    done, log = watched(repo, tmp_path, "fix", "--tools", "ruff", *quick_agent(tmp_path))

    assert done.returncode == 0, done.stderr[-2000:]
    assert ["import-langgraph", "thread"] in log
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
    assert not list((repo / ".git" / "stomper" / "worktrees").glob("*/*"))
    assert git(repo, "rev-parse", "HEAD") == head
    assert git(repo, "status", "--porcelain") == ""

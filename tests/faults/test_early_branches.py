"""The first wave's branches, started while LangGraph is imported on a thread: a kill among them, and the LLM fixer.

The branches a run starts before its graph run before the graph's first
checkpoint. A kill then must resume from what the batch did (kept in
`collected.json`), never from before it: the batch's fixes reported, none
landed twice, and a fix an early branch landed before the kill recovered,
not made again. And while the thread imports LangGraph, nothing else may
import: two threads importing at once can hand one of them a half
initialised module (LangChain's provider packages and LangSmith both
import `httpx`). Both are proven with the import thread held at LangGraph
(`tests.import_watch`): the branches' work is certain to fall inside the
import, however loaded the machine.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from conftest import STOMPER, commit_all, fake_agent, git, stomper, write

from tests.faults.killing import kill_tree
from tests.faults.test_crash import assert_nothing_left, wait_for
from tests.import_watch import imports_beside_the_import_thread, watch
from tests.openai_server import OpenAIServer, rate_limited

UNUSED = "import json\nimport sys\n\nprint(sys.argv)\n"
CLEAN = "import sys\n\nprint(sys.argv)\n"


def commits_since(repo: Path, base: str) -> list[list[str]]:
    """The files of each commit after `base`, oldest first."""
    commits = git(repo, "rev-list", "--reverse", f"{base}..HEAD").split()
    return [git(repo, "show", "--name-only", "--format=", c).split() for c in commits]


def resumed(repo: Path, tmp_path: Path, script: Path) -> dict[str, dict[str, Any]]:
    """The report's results, by path, of `--resume` with an agent that now fixes pkg/c.py at once."""
    script.write_text(json.dumps({"pkg/c.py": {"content": "value = 1\n"}}))
    done = stomper(repo, "fix", "--resume", "--report", str(tmp_path / "report.json"))
    assert done.returncode == 0, done.stdout + done.stderr
    return {f["path"]: f for f in json.loads((tmp_path / "report.json").read_text())["files"]}


def test_a_kill_while_the_first_wave_works_before_the_graph_resumes_from_what_the_batch_did(
    repo: Path, tmp_path: Path
) -> None:
    # The batch lands a.py and b.py; then, the graph's import held, c.py's agent hangs and d.py's fixes it at once.
    files = {"pkg/a.py": UNUSED, "pkg/b.py": UNUSED, "pkg/c.py": "value = undefined\n", "pkg/d.py": "other = missing\n"}
    write(repo, {"pkg/__init__.py": "", **files})
    base = commit_all(repo, "unused imports and undefined names")
    marker, script = tmp_path / "agent-started", tmp_path / "agent" / "script.json"
    script.parent.mkdir()
    script.write_text(
        json.dumps({"pkg/c.py": {"mark": str(marker), "hang": True}, "pkg/d.py": {"content": "other = 2\n"}})
    )
    watcher = watch(tmp_path, hold=tmp_path / "never", count=1)  # held until the kill
    argv = [str(STOMPER), "fix", "--tools", "ruff", "--parallel", "2", "--agent", fake_agent(script)]
    run = subprocess.Popen(
        argv,
        cwd=repo,
        env={**os.environ, **watcher.env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    wait_for(marker, run)
    deadline = time.monotonic() + 50
    while len(commits_since(repo, base)) < 3:  # d.py's fix landed by its early branch
        assert run.poll() is None, run.communicate()
        assert time.monotonic() < deadline, commits_since(repo, base)
        time.sleep(0.02)

    kill_tree(run)

    log = watcher.lines()
    assert ["held"] in log and ["released", "timeout"] not in log, log  # the graph was never there
    assert sorted(commits_since(repo, base)) == [["pkg/a.py"], ["pkg/b.py"], ["pkg/d.py"]]
    report = resumed(repo, tmp_path, script)
    # The batch's results are the killed run's, neither redone nor lost; d.py's landed fix is recovered.
    assert {p: (f["outcome"], f["fixers"]) for p, f in report.items()} == {
        "pkg/a.py": ("fixed", ["ruff"]),
        "pkg/b.py": ("fixed", ["ruff"]),
        "pkg/c.py": ("fixed", ["agent"]),
        "pkg/d.py": ("fixed", []),
    }
    assert report["pkg/d.py"]["detail"] == "applied before the run was interrupted"
    # The agent's calls, each logged as it ends (the killed one never did): d.py once, then c.py on resume.
    calls = [json.loads(line)["file"] for line in (script.parent / "calls.jsonl").read_text().splitlines()]
    assert calls == ["pkg/d.py", "pkg/c.py"]
    assert sorted(commits_since(repo, base)) == [["pkg/a.py"], ["pkg/b.py"], ["pkg/c.py"], ["pkg/d.py"]]
    assert [(repo / p).read_text() for p in files] == [CLEAN, CLEAN, "value = 1\n", "other = 2\n"]
    assert git(repo, "status", "--porcelain") == ""
    assert_nothing_left(repo)


def test_the_llm_fixers_first_calls_while_langgraph_is_imported_import_nothing_beside_it(
    repo: Path, tmp_path: Path
) -> None:
    names = [f"pkg/m{n}.py" for n in range(4)]
    write(repo, {"pkg/__init__.py": "", **dict.fromkeys(names, "value = undefined_name\n")})
    base = commit_all(repo, "undefined names")
    answered = tmp_path / "answered"
    # The import thread is held at LangGraph until two calls are answered: the early branches' first calls,
    # one of them retried after a 429 (the client's retry path inside the import too).
    watcher = watch(tmp_path, hold=answered, count=2)

    def answer(body: dict[str, Any]) -> str:
        (answered / str(len(list(answered.iterdir())))).touch()
        return "```python\nvalue = 0\n```\n"

    server = OpenAIServer(answer, refusals=[rate_limited("0")])
    with server.running():
        done = stomper(
            repo,
            "fix",
            "--tools",
            "ruff",
            "--fixer",
            "llm",
            "--model",
            "openai:gpt-4o-mini",
            "--parallel",
            "2",
            env={
                **watcher.env,
                "OPENAI_API_KEY": "sk-test-0123456789abcdef",
                "STOMPER_LLM__BASE_URL": server.url,
                "STOMPER_LLM__EDIT_FORMAT": "whole-file",
            },
        )

    assert done.returncode == 0, done.stdout + done.stderr
    log = watcher.lines()
    assert ["released", "done"] in log, log
    assert imports_beside_the_import_thread(log) == []
    assert (len(server.received), len(server.answered)) == (5, 4)
    assert all((repo / name).read_text() == "value = 0\n" for name in names)
    assert sorted(commits_since(repo, base)) == [[name] for name in names]


def test_ctrl_c_while_the_first_wave_works_before_the_graph_stops_cleanly_and_resumes(
    repo: Path, tmp_path: Path
) -> None:
    write(repo, {"pkg/__init__.py": "", "pkg/a.py": UNUSED, "pkg/c.py": "value = undefined\n"})
    base = commit_all(repo, "an unused import and an undefined name")
    marker, script = tmp_path / "agent-started", tmp_path / "agent" / "script.json"
    script.parent.mkdir()
    script.write_text(json.dumps({"pkg/c.py": {"mark": str(marker), "hang": True}}))
    release = tmp_path / "release"
    watcher = watch(tmp_path, hold=release, count=1)
    argv = [str(STOMPER), "fix", "--tools", "ruff", "--agent", fake_agent(script)]
    run = subprocess.Popen(
        argv, cwd=repo, env={**os.environ, **watcher.env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    wait_for(marker, run)

    run.send_signal(signal.SIGINT)  # c.py's early branch in its agent, LangGraph not yet imported
    (release / "go").touch()  # the import thread may finish: the interpreter waits for it at exit
    out, err = run.communicate(timeout=120)

    assert run.returncode == 130, out + err
    assert "interrupted; resume with: stomper fix --resume " in err
    assert "never retrieved" not in err and "Warning" not in err and "Traceback" not in err
    assert ["held"] in watcher.lines()
    assert commits_since(repo, base) == [["pkg/a.py"]]  # the batch landed before the signal
    assert git(repo, "worktree", "list").count("\n") == 1
    assert not (repo / ".git" / "stomper" / "lock").exists()
    report = resumed(repo, tmp_path, script)
    assert {p: (f["outcome"], f["fixers"]) for p, f in report.items()} == {
        "pkg/a.py": ("fixed", ["ruff"]),
        "pkg/c.py": ("fixed", ["agent"]),
    }
    assert sorted(commits_since(repo, base)) == [["pkg/a.py"], ["pkg/c.py"]]
    assert git(repo, "status", "--porcelain") == ""
    assert_nothing_left(repo)

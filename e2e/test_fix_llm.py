"""`stomper fix --model openai:...` end to end: the real OpenAI client against a local server."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

from conftest import STOMPER, commit_all, git, write
from tests.openai_server import OpenAIServer, rate_limited

SECRET = "sk-e2e-0123456789abcdefghijklmnop"

BROKEN = 'def value() -> int:\n    return "{n}"\n'
FIXED = "def value() -> int:\n    return {n}\n"


def fix_from_prompt(body: dict[str, Any]) -> str:
    """Answer as a model would: the whole file, fixed, for the file the prompt shows."""
    prompt = body["messages"][-1]["content"]
    n = re.search(r'\|     return "(\d+)"', prompt)
    assert n is not None, prompt
    return f"```python\n{FIXED.format(n=n[1])}```\n"


def test_llm_fixer_fixes_every_file_with_at_most_parallel_requests_at_once(repo: Path, tmp_path: Path) -> None:
    paths = [f"pkg/mod{n}.py" for n in range(8)]
    write(repo, {"pkg/__init__.py": "", **{p: BROKEN.format(n=n) for n, p in enumerate(paths)}})
    commit_all(repo, "broken project")
    report = tmp_path / "report.json"
    server = OpenAIServer(fix_from_prompt, refusals=[rate_limited(retry_after="1")], delay=1.0)

    with server.running():
        done = subprocess.run(
            [
                str(STOMPER),
                "fix",
                "--model",
                "openai:gpt-4o-mini",
                "-j",
                "4",
                "--tools",
                "ruff,mypy",
                "--report",
                str(report),
            ],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "OPENAI_API_KEY": SECRET, "STOMPER_LLM__BASE_URL": server.url},
        )

    assert done.returncode == 0, done.stderr
    for n, p in enumerate(paths):
        assert (repo / p).read_text() == FIXED.format(n=n)
    assert git(repo, "status", "--porcelain") == ""
    assert int(git(repo, "rev-list", "--count", "HEAD")) == 1 + len(paths)
    # The first request was refused with 429 and retried by the client; every file got one answer.
    assert len(server.received) == len(paths) + 1
    assert len(server.answered) == len(paths)
    assert {r.body["model"] for r in server.received} == {"gpt-4o-mini"}
    assert all("mypy return-value: Incompatible return value type" in r.prompt for r in server.received)
    assert 2 <= server.peak_in_flight <= 4
    data = json.loads(report.read_text())
    assert {f["outcome"] for f in data["files"]} == {"fixed"}
    assert data["summary"]["model"]["calls"] == len(paths)
    assert data["summary"]["model"]["input_tokens"] > 0
    assert SECRET not in done.stdout + done.stderr + report.read_text()


def test_a_models_edit_runs_confined_while_pytest_verifies_it(repo: Path, tmp_path: Path) -> None:
    # pytest imports the module the model rewrote: what its code does then is the model's doing,
    # and is confined as an agent is (sandbox = "required": a run that could not confine it is refused).
    planted = tmp_path / "planted"
    write(
        repo,
        {
            "pkg/__init__.py": "",
            "pkg/mod.py": BROKEN.format(n=1),
            "tests/test_mod.py": "from pkg.mod import value\n\n\ndef test_value() -> None:\n    assert value()\n",
            "pyproject.toml": '[tool.pytest.ini_options]\ntestpaths = ["tests"]\npythonpath = ["."]\n',
            "notes.txt": "the user's\n",
        },
    )
    commit_all(repo, "broken project")
    payload = (
        "from pathlib import Path\n\n"
        f"for place in ({str(repo / 'notes.txt')!r}, {str(planted)!r}):\n"
        "    try:\n"
        '        Path(place).write_text("written by the model\'s code\\n")\n'
        "    except OSError:\n"
        "        pass\n\n\n"
    )
    server = OpenAIServer(lambda body: f"```python\n{payload}{FIXED.format(n=1)}```\n")

    with server.running():
        done = subprocess.run(
            [str(STOMPER), "fix", "--model", "openai:gpt-4o-mini", "--tools", "ruff,mypy,pytest"],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=300,
            env={
                **os.environ,
                "OPENAI_API_KEY": SECRET,
                "STOMPER_LLM__BASE_URL": server.url,
                "STOMPER_SANDBOX": "required",
            },
        )

    assert done.returncode == 0, done.stdout + done.stderr
    assert len(server.answered) == 1
    # Verified and landed as written; while pytest ran it, it could not write outside its worktree.
    assert (repo / "pkg" / "mod.py").read_text() == payload + FIXED.format(n=1)
    assert (repo / "notes.txt").read_text() == "the user's\n"
    assert not planted.exists()

"""Credentials in the environment never leave stomper, and a fix never writes one into the code.

Agents and models are handed API keys through the environment; what they say
is kept and shown. Each case puts a key where an agent or a provider would
(an agent's stderr, a provider's error message, a model's reply), runs the
real `stomper fix`, and looks for the key, and for its obvious pieces (the key
without its `sk-` prefix), in everything stomper wrote: stdout, stderr, the
`--report` JSON, SARIF, and every file under `.git/stomper` (journal, run
record, kept agent output, logs).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import STOMPER, commit_all, fake_agent, git, write

from tests.openai_server import OpenAIServer, Refusal

TARGET = "pkg/mod.py"
BROKEN = "import os\n\n\ndef value() -> int:\n    return 1\n"
FIXED = "def value() -> int:\n    return 1\n"
KEY = "sk-proj-Zq81xVbN3mKp0Lr7Ty5Wc2Hd"
"""Shaped like an OpenAI project key; without its `sk-` it is still 27 characters of secret."""
TOKEN = "ghp_4fT9kLm2Qx7vB1nR8sW3yZ6cJ0dE5aH"
PIECES = (KEY, KEY.removeprefix("sk-"), KEY.removeprefix("sk-proj-"), TOKEN, TOKEN.removeprefix("ghp_"))
ENV = {"OPENAI_API_KEY": KEY, "DEPLOY_TOKEN": TOKEN}


def run(repo: Path, tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [
            str(STOMPER),
            "fix",
            "--tools",
            "ruff",
            "-v",
            "--report",
            str(tmp_path / "report.json"),
            "--sarif",
            str(tmp_path / "out.sarif"),
            *args,
        ],
        cwd=repo,
        capture_output=True,
        text=True,
        env={**os.environ, **ENV, **(env or {})},
        timeout=120,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done


def everything_written(repo: Path, tmp_path: Path, done: subprocess.CompletedProcess[str]) -> dict[str, str]:
    """Every text stomper wrote, by where it went."""
    written = {"stdout": done.stdout, "stderr": done.stderr}
    for path in [tmp_path / "report.json", tmp_path / "out.sarif", *(repo / ".git" / "stomper").rglob("*")]:
        if path.is_file():
            written[str(path)] = path.read_bytes().decode("utf-8", "replace")
    return written


def assert_no_credential(written: dict[str, str]) -> None:
    leaks = [(where, piece) for where, text in written.items() for piece in PIECES if piece in text]
    assert not leaks, leaks


def agent(tmp_path: Path, plan: dict[str, Any]) -> str:
    script = tmp_path / "agent" / "script.json"
    script.parent.mkdir(exist_ok=True)
    script.write_text(json.dumps({TARGET: plan}))
    return fake_agent(script)


def report(tmp_path: Path) -> dict[str, Any]:
    files: list[dict[str, Any]] = json.loads((tmp_path / "report.json").read_text())["files"]
    return {f["path"]: f for f in files}[TARGET]


def test_an_agent_that_prints_the_key_and_fails_leaves_it_nowhere(repo: Path, tmp_path: Path) -> None:
    write(repo, {"pkg/__init__.py": "", TARGET: BROKEN})
    commit_all(repo, "broken")
    said = f"Error: 401 Unauthorized for key {KEY} (also tried {KEY.removeprefix('sk-')}, token {TOKEN})"
    command = agent(tmp_path, {"say": said, "exit": 1})

    done = run(repo, tmp_path, "--fixer", "agent", "--agent", command, "--max-attempts", "2")

    assert done.returncode == 1, done.stdout + done.stderr
    assert_no_credential(everything_written(repo, tmp_path, done))
    result = report(tmp_path)
    assert result["outcome"] == "failed"
    # What the agent said is still said, with the credentials cut out.
    assert result[
        "detail"
    ] == "2 attempts failed: the agent exited with status 1: Error: 401 Unauthorized for key [redacted] " + (
        "(also tried [redacted], token [redacted])"
    )
    assert "for key [redacted]" in done.stdout + done.stderr
    events = (repo / ".git" / "stomper" / "runs").rglob("events.jsonl")
    assert any("for key [redacted]" in path.read_text() for path in events)
    record = json.loads((tmp_path / "report.json").read_text())["run"]
    kept = [Path(p) for p in record["files"][TARGET]["agent_output"]]
    assert len(kept) == 2
    assert all("for key [redacted]" in path.read_text() for path in kept)


def model_replying(text: str) -> OpenAIServer:
    return OpenAIServer(lambda body: f"```python\n{text}```\n")


def test_a_model_reply_that_writes_the_key_into_the_code_is_refused(repo: Path, tmp_path: Path) -> None:
    write(repo, {"pkg/__init__.py": "", TARGET: BROKEN})
    head = commit_all(repo, "broken")
    server = model_replying(f'API_KEY = "{KEY.removeprefix("sk-")}"\n\n\n{FIXED}')

    with server.running():
        done = run(
            repo,
            tmp_path,
            "--model",
            "openai:gpt-4o-mini",
            "--fixer",
            "llm",
            "--max-attempts",
            "1",
            env={"STOMPER_LLM__BASE_URL": server.url},
        )

    assert done.returncode == 1, done.stdout + done.stderr
    assert len(server.answered) == 1
    result = report(tmp_path)
    assert result["outcome"] == "failed"
    assert result["detail"] == "the fix writes the value of OPENAI_API_KEY, a credential, into the code; not applied"
    assert git(repo, "rev-parse", "HEAD").strip() == head
    assert (repo / TARGET).read_text() == BROKEN
    assert git(repo, "status", "--porcelain") == ""
    assert_no_credential(everything_written(repo, tmp_path, done))


def test_a_key_already_in_the_file_does_not_stop_a_fix_elsewhere_in_it(repo: Path, tmp_path: Path) -> None:
    holding = f'TOKEN = "{TOKEN}"\n'
    write(repo, {"pkg/__init__.py": "", TARGET: holding + BROKEN})
    commit_all(repo, "broken, with the user's own token in it")
    server = model_replying(holding + FIXED)

    with server.running():
        done = run(
            repo,
            tmp_path,
            "--model",
            "openai:gpt-4o-mini",
            "--fixer",
            "llm",
            env={"STOMPER_LLM__BASE_URL": server.url},
        )

    assert done.returncode == 0, done.stdout + done.stderr
    assert (repo / TARGET).read_text() == holding + FIXED
    assert int(git(repo, "rev-list", "--count", "HEAD")) == 2


@pytest.mark.parametrize("status", [401, 500])
def test_a_provider_error_that_echoes_the_key_is_scrubbed(repo: Path, tmp_path: Path, status: int) -> None:
    write(repo, {"pkg/__init__.py": "", TARGET: BROKEN})
    commit_all(repo, "broken")
    message = f"Incorrect API key provided: {KEY.removeprefix('sk-')}. Your key {KEY} was refused."
    refusal = Refusal(status, {}, {"error": {"message": message, "type": "invalid_request_error"}})
    server = OpenAIServer(lambda body: "unused", refusals=[refusal] * 10)

    with server.running():
        done = run(
            repo,
            tmp_path,
            "--model",
            "openai:gpt-4o-mini",
            "--fixer",
            "llm",
            "--max-attempts",
            "1",
            env={"STOMPER_LLM__BASE_URL": server.url, "STOMPER_LLM__MAX_RETRIES": "0"},
        )

    assert server.received
    if status == 401:
        # A refused key stops the run before any report (exit 2); what the provider said is still said.
        assert done.returncode == 2, done.stdout + done.stderr
        assert "Incorrect API key provided: [redacted]" in done.stderr
    else:
        assert done.returncode == 1, done.stdout + done.stderr
        result = report(tmp_path)
        assert result["outcome"] in ("failed", "skipped")
        assert "Incorrect API key provided: [redacted]" in result["detail"]
    assert_no_credential(everything_written(repo, tmp_path, done))

"""Each agent attempt's output is kept in the run's directory, bounded and scrubbed, and named in -v and the report."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from conftest import FAKE_AGENT, commit_all, fake_agent, stomper, write

from stomper.fixers import transcript
from stomper.proc import Completed

TARGET = "pkg/mod.py"
BROKEN = "import os\n\n\ndef value() -> int:\n    return 1\n"
FIXED = "def value() -> int:\n    return 1\n"
KEY = "sk-live-9f8e7d6c5b4a3210"


def test_every_attempt_keeps_its_output_under_the_run(repo: Path, tmp_path: Path) -> None:
    write(repo, {"pkg/__init__.py": "", TARGET: BROKEN})
    commit_all(repo, "broken")
    script = tmp_path / "script.json"
    # The first attempt leaves the file broken (rejected), the second fixes it; both flood stdout.
    plan = {"say": f"agent: using key {KEY}", "flood_mb": 1, "content": [BROKEN.replace("1", "2"), FIXED]}
    script.write_text(json.dumps({TARGET: plan}))
    report = tmp_path / "report.json"

    done = stomper(
        repo,
        "fix",
        "--tools",
        "ruff",
        "--fixer",
        "agent",
        "--agent",
        fake_agent(script),
        "-v",
        "--report",
        str(report),
        env={"MY_SERVICE_KEY": KEY},
    )

    assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads(report.read_text())
    (result,) = data["files"]
    run_dir = repo / ".git" / "stomper" / "runs" / data["run"]["id"]
    expected = [str(run_dir / "agent" / "pkg" / f"mod.py-{n}.log") for n in (1, 2)]
    assert "agent_output" not in result  # it holds the run id: it goes with what differs between runs
    assert data["run"]["files"][TARGET]["agent_output"] == expected
    for path in expected:
        assert f"{TARGET}: output kept in {path}" in done.stderr
        text = Path(path).read_text()
        assert text.startswith(
            f"$ {sys.executable} {FAKE_AGENT} {script} {TARGET}\nexited with status 0\n--- stdout ---\n"
        )
        assert "agent: using key [redacted]\n" in text and KEY not in text
        # 1 MiB of stdout, of which only the end is kept.
        assert "characters cut ...]\n" in text
        assert len(text) < 2 * transcript.KEPT_CHARS + 1000


def test_a_run_without_an_agent_keeps_nothing(repo: Path, tmp_path: Path) -> None:
    write(repo, {"pkg/__init__.py": "", TARGET: BROKEN})
    commit_all(repo, "broken")
    report = tmp_path / "report.json"

    done = stomper(repo, "fix", "--tools", "ruff", "--report", str(report))

    assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads(report.read_text())
    assert data["run"]["files"][TARGET]["agent_output"] == []
    assert not list((repo / ".git" / "stomper" / "runs").glob("*/agent"))


def test_an_agent_past_its_time_limit_leaves_a_transcript_saying_so(repo: Path, tmp_path: Path) -> None:
    write(repo, {"pkg/__init__.py": "", TARGET: BROKEN})
    commit_all(repo, "broken")
    script = tmp_path / "script.json"
    script.write_text(json.dumps({TARGET: {"hang": True}}))
    report = tmp_path / "report.json"

    done = stomper(
        repo,
        "fix",
        "--tools",
        "ruff",
        "--fixer",
        "agent",
        "--agent",
        fake_agent(script),
        "--max-attempts",
        "1",
        "--report",
        str(report),
        env={"STOMPER_AGENT__TIMEOUT": "1"},
    )

    assert done.returncode == 1, done.stdout + done.stderr
    (kept,) = json.loads(report.read_text())["run"]["files"][TARGET]["agent_output"]
    assert Path(kept).name == "mod.py-1.log"
    assert "ran longer than 1s and was killed\n--- stdout ---\n--- stderr ---\n" in Path(kept).read_text()


def test_a_transcript_shows_a_prompt_passed_as_an_argument_shortened(tmp_path: Path) -> None:
    prompt = "Fix pkg/mod.py.\n" + "context line\n" * 500
    done = Completed(("agent", "-p", prompt), 0, b"done\n", b"", 0.1)

    kept = transcript.keep(tmp_path, TARGET, 3, ["agent", "-p", prompt], done, "exited with status 0")

    assert kept == tmp_path / "pkg" / "mod.py-3.log"
    assert kept.read_text() == (
        f"$ agent -p Fix pkg/mod.py.... ({len(prompt)} characters)\n"
        "exited with status 0\n--- stdout ---\ndone\n--- stderr ---\n"
    )

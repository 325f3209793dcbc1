"""What `stomper github` reads from a GitHub runner: the event, the inputs; what it writes: the summary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stomper.errors import StomperError
from stomper.github import Event, Inputs, read_event, summarise, suppressions


def event(tmp_path: Path, name: str, payload: dict[str, object]) -> Event:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(payload))
    return read_event({"GITHUB_EVENT_NAME": name, "GITHUB_EVENT_PATH": str(path), "GITHUB_REPOSITORY": "o/p"})


def pr(head_repo: object) -> dict[str, object]:
    return {
        "pull_request": {
            "number": 3,
            "head": {"sha": "h" * 40, "ref": "topic", "repo": head_repo},
            "base": {"sha": "b" * 40, "ref": "main", "repo": {"full_name": "o/p"}},
        }
    }


def test_a_pull_request_from_the_same_repository_is_not_a_fork(tmp_path: Path) -> None:
    assert event(tmp_path, "pull_request", pr({"full_name": "o/p"})) == Event(
        name="pull_request", sha="h" * 40, branch="topic", fork=False, base_sha="b" * 40, number=3
    )


@pytest.mark.parametrize("head_repo", [{"full_name": "someone/p"}, None])
def test_another_repository_or_a_deleted_fork_is_a_fork(tmp_path: Path, head_repo: object) -> None:
    assert event(tmp_path, "pull_request", pr(head_repo)).fork is True


def test_a_push_names_its_branch_and_a_tag_none(tmp_path: Path) -> None:
    pushed = event(tmp_path, "push", {"ref": "refs/heads/release/1", "after": "a" * 40})
    assert (pushed.branch, pushed.sha, pushed.fork) == ("release/1", "a" * 40, False)
    assert event(tmp_path, "push", {"ref": "refs/tags/v1", "after": "a" * 40}).branch is None


def test_an_unreadable_event_is_one_error(tmp_path: Path) -> None:
    (tmp_path / "event.json").write_text("{")
    with pytest.raises(StomperError, match="cannot read the event"):
        read_event({"GITHUB_EVENT_PATH": str(tmp_path / "event.json")})


@pytest.mark.parametrize(
    ("variables", "said"),
    [
        ({"STOMPER_INPUT_DELIVER": "email"}, "input deliver"),
        ({"STOMPER_INPUT_NEW_ONLY": "yes"}, "input new-only"),
        ({"STOMPER_INPUT_ARGS": "--tools 'ruff"}, "input args"),
    ],
)
def test_bad_inputs_are_refused(tmp_path: Path, variables: dict[str, str], said: str) -> None:
    with pytest.raises(StomperError, match=said):
        Inputs.from_env(variables, tmp_path)


def test_inputs_default_to_pushing_everything_into_runner_temp(tmp_path: Path) -> None:
    inputs = Inputs.from_env({"RUNNER_TEMP": str(tmp_path), "STOMPER_INPUT_ARGS": "--tools 'ruff,mypy'"}, tmp_path)
    assert inputs == Inputs("push", False, ("--tools", "ruff,mypy"), tmp_path / "stomper")


def test_suppressions_count_added_noqa_and_type_ignore_only() -> None:
    patch = (
        "--- a/a.py\n+++ b/a.py\n@@ -1,3 +1,3 @@\n"
        "-import os  # noqa: F401\n+import os  # noqa: F401, E501\n"
        "+x: int = y  # type: ignore[name-defined]\n context  # noqa\n"
    )
    assert suppressions(patch) == 2


def test_the_summary_says_what_the_run_did(tmp_path: Path) -> None:
    report = {
        "summary": {
            "diagnostics_before": 5,
            "diagnostics_fixed": 4,
            "diagnostics_remaining": 1,
            "files_fixed": 2,
            "files_partial": 1,
            "model": {"calls": 3, "input_tokens": 1200, "output_tokens": 300, "cost": 0.01234},
        },
        "tool_errors": [],
    }
    forked = Event("pull_request", "h" * 40, "topic", fork=True)
    text = summarise(report, "+x = 1  # noqa\n", "h" * 40, 1, 2, "push", forked)
    assert "| fixed, each fix verified | 4 in 3 file(s) |" in text
    assert "| suppressed (`noqa`, `type: ignore` added) | 1 |" in text
    assert "| model cost | $0.0123 (3 call(s), 1200+300 tokens) |" in text
    assert "(a pull request from a fork: nothing is pushed)" in text
    assert "could not finish (exit status 2)" in summarise({}, "", "h" * 40, 2, 0, "push", forked)

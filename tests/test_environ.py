"""What stomper derives from its environment follows the environment as it changes."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from stomper import environ
from stomper.gitops import git_env


def test_a_derived_value_is_made_once_while_the_environment_stays_as_it_was(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[str | None] = []

    def probe(env: Mapping[str, str]) -> str | None:
        made.append(env.get("STOMPER_PROBE"))
        return env.get("STOMPER_PROBE")

    monkeypatch.setenv("STOMPER_PROBE", "one")
    assert [environ.derived(probe) for _ in range(3)] == ["one"] * 3
    assert made == ["one"]
    monkeypatch.setenv("STOMPER_PROBE", "two")  # the same length: the bytes differ, not the size
    assert environ.derived(probe) == "two"
    monkeypatch.delenv("STOMPER_PROBE")
    assert environ.derived(probe) is None
    assert made == ["one", "two", None]


def test_gits_environment_is_a_fresh_copy_with_what_was_asked_and_hook_variables_gone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GIT_INDEX_FILE", "/the/users/index")
    first = git_env({"GIT_INDEX_FILE": "/stompers/own"})
    first["MUTATED"] = "by a caller"
    second = git_env()
    assert first["GIT_INDEX_FILE"] == "/stompers/own"
    assert "GIT_INDEX_FILE" not in second and "MUTATED" not in second
    assert second["GIT_TERMINAL_PROMPT"] == "0"
    monkeypatch.setenv("STOMPER_PROBE", "later")
    assert git_env()["STOMPER_PROBE"] == "later"

"""What `--resume` does with each setting (the end-to-end cases are in tests/faults/test_resume_options.py)."""

from __future__ import annotations

import pytest

from stomper.config import StomperSettings
from stomper.resume import ON_RESUME, ResumeRefused, settings_for
from stomper.runs import RunRecord


def record(**settings: object) -> RunRecord:
    return RunRecord(
        run_id="r", pid=1, started=0.0, status="interrupted", mode="commit", base="0" * 40, settings=settings
    )


def test_every_setting_has_a_decision() -> None:
    # A new setting must say whether a resumed run may take it up; unlisted ones are refused.
    assert set(ON_RESUME) == set(StomperSettings.model_fields)


def test_nothing_told_keeps_the_runs_own_settings() -> None:
    settings, changed = settings_for(record(tools=["mypy"], agent={"command": ["a"]}, parallel=3), {})
    assert (settings.tools, settings.agent.command, settings.parallel, changed) == (["mypy"], ["a"], 3, [])


def test_the_same_value_told_again_is_no_change() -> None:
    _, changed = settings_for(record(tools=["mypy", "ruff"]), {"tools": "mypy,ruff"})
    assert changed == []


def test_a_new_agent_keeps_the_rest_of_the_agent_settings() -> None:
    settings, changed = settings_for(
        record(agent={"command": ["old"], "timeout": 5.0}), {"agent": {"command": ["new"]}, "parallel": 2}
    )
    assert (settings.agent.command, settings.agent.timeout, settings.parallel) == (["new"], 5.0, 2)
    assert changed == ["agent.command", "parallel"]


@pytest.mark.parametrize(("told", "key"), [({"tools": "ruff"}, "tools"), ({"exclude": ["x"]}, "exclude")])
def test_what_chose_the_files_is_refused(told: dict[str, object], key: str) -> None:
    with pytest.raises(ResumeRefused, match=f"with a different {key}:"):
        settings_for(record(tools=["mypy"]), told)


def test_settings_this_stomper_cannot_read_are_refused() -> None:
    with pytest.raises(ResumeRefused, match="settings this stomper cannot read"):
        settings_for(record(no_such_setting=1), {})

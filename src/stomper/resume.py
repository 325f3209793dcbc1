"""What `stomper fix --resume` does with options that differ from those the run started with.

A resumed run goes on with its own snapshot, files, mode and settings (as
they were when it started, whatever the configuration files say now). Every
option given on the command line of `--resume` that differs from the run's
is either honoured for the files not yet done or refused (exit 2, nothing
resumed); the run says which. Nothing is ignored.

    honoured   the fixer, agent, model and their limits, parallel, timeouts,
               which tests verify a fix,
               what a fix may touch: they act on each file as it starts
    refused    tools and exclude: they chose the files the run is fixing;
               commit / no-commit / diff: half the fixes would land one way,
               half another; paths and --staged/--changed/--since
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import ValidationError

from stomper.config import StomperSettings
from stomper.errors import StomperError
from stomper.runs import RunRecord

ON_RESUME: dict[str, Literal["honour", "refuse"]] = {
    "tools": "refuse",
    "exclude": "refuse",
    "unit_max_files": "refuse",
    "tool_timeout": "honour",
    "parallel": "honour",
    "fixer": "honour",
    "max_attempts": "honour",
    "file_timeout": "honour",
    "unsafe_fixes": "honour",
    "ruff_format": "honour",
    "allow_other_files": "honour",
    "allow_suppressions": "honour",
    "verify_tests": "honour",
    "max_patch_bytes": "honour",
    "ci_exit": "honour",
    "agent": "honour",
    "model": "honour",
    "llm": "honour",
    # Chosen for every run, resumed or not, from the configuration as it is now (stomper.sandbox).
    "sandbox": "honour",
    "keep_worktrees": "honour",
}
"""Every setting, and what a resumed run does when it differs. A setting missing here is refused."""

_WHY = {
    "tools": "the run's failing files were found with it",
    "exclude": "the run's files were chosen with it",
    "unit_max_files": "the run's work units were made with it",
}
_MODES = {"commit": "commits its fixes", "no-commit": "leaves its fixes uncommitted", "diff": "only proposes fixes"}


class ResumeRefused(StomperError):
    """`--resume` was given an option the run cannot change halfway."""


def settings_for(record: RunRecord, told: Mapping[str, Any]) -> tuple[StomperSettings, list[str]]:
    """The settings the resumed run goes on with, and the names of those honoured as changed.

    `told` holds the settings given on the command line of `--resume`; the
    rest are the run's own, whatever the configuration files say now.
    Raises `ResumeRefused` naming the first setting that cannot change.
    """
    try:
        before = StomperSettings.model_validate(record.settings).model_dump(mode="json")
        now = StomperSettings.model_validate(_merged(before, told))
    except ValidationError as exc:
        raise ResumeRefused(
            f"run {record.run_id} was made with settings this stomper cannot read; start a new run"
        ) from exc
    changed = _differences(before, now.model_dump(mode="json"))
    for key in changed:
        name = key.split(".")[0]
        if ON_RESUME.get(name) != "honour":
            why = _WHY.get(name, "it cannot change halfway")
            raise ResumeRefused(
                f"cannot resume run {record.run_id} with a different {key}: {why};"
                " resume with the setting as it was, or start a new run"
            )
    return now, changed


def check_mode(record: RunRecord, asked: str | None) -> None:
    """Refuse a mode (`--no-commit`, `--diff`, `--allow-dirty`...) other than the run's; None: none asked."""
    if asked is not None and asked != record.mode:
        raise ResumeRefused(
            f"cannot resume run {record.run_id} in {asked} mode: it {_MODES.get(record.mode, record.mode)},"
            " and a run cannot change that halfway; resume without the option, or start a new run"
        )


def check_selection(record: RunRecord, given: bool) -> None:
    if given:
        raise ResumeRefused(
            f"cannot resume run {record.run_id} on other files: it goes on with the {len(record.files)} files it"
            " started with; resume without naming files, or start a new run"
        )


def _merged(low: Mapping[str, Any], high: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(low)
    for key, value in high.items():
        old = merged.get(key)
        merged[key] = _merged(old, value) if isinstance(old, Mapping) and isinstance(value, Mapping) else value
    return merged


def _differences(before: Mapping[str, Any], now: Mapping[str, Any], prefix: str = "") -> list[str]:
    changed = []
    for key in sorted(before.keys() | now.keys()):
        old, new = before.get(key), now.get(key)
        if isinstance(old, Mapping) and isinstance(new, Mapping):
            changed += _differences(old, new, f"{prefix}{key}.")
        elif old != new:
            changed.append(f"{prefix}{key}")
    return changed

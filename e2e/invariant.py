"""The promise every e2e fix test holds a run to, in one place.

After the run, `stomper check` reports exactly the diagnostics the run's
report says remain, and nothing (no diagnostic, no failing test) exists
that did not exist before the run.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from conftest import stomper

from stomper.diagnostics import Diagnostic, identity


def check(repo: Path, *args: str) -> list[Diagnostic]:
    """What `stomper check --format json` finds now (no tool may fail)."""
    done = stomper(repo, "check", "--format", "json", *args)
    document = json.loads(done.stdout)
    assert [t["error"] for t in document["tools"] if t["error"]] == [], document["tools"]
    return [Diagnostic.from_json(d) for d in document["diagnostics"]]


def assert_gate_kept(repo: Path, before: list[Diagnostic], report: Path, *check_args: str) -> dict[str, Any]:
    """The run's report agrees with `stomper check`, and the run made nothing worse; returns the report."""
    data: dict[str, Any] = json.loads(report.read_text())
    after = check(repo, *check_args)
    remaining = [Diagnostic.from_json(d) for f in data["files"] for d in f["diagnostics_remaining"]]
    assert _places(after) == _places(remaining), "stomper check disagrees with the report's remaining diagnostics"
    made = Counter(_problems(after)) - Counter(_problems(before))
    assert not made, f"the run left problems that were not there before: {sorted(made)}"
    return data


def _places(diagnostics: list[Diagnostic]) -> Counter[tuple[Any, ...]]:
    return Counter((d.path, d.line, *identity(d)) for d in diagnostics)


def _problems(diagnostics: list[Diagnostic]) -> list[tuple[Any, ...]]:
    # Lines move when a fix removes lines; what a problem is does not.
    return [(d.path, *identity(d)) for d in diagnostics]

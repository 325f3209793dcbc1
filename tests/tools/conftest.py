"""Captured real tool output (tests/data/tools), loaded as `parse()` receives it."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from stomper.proc import Completed

DATA = Path(__file__).parents[1] / "data" / "tools"


@dataclass(frozen=True)
class Capture:
    done: Completed
    scratch: Path
    """Holds the report the tool wrote there, if any."""
    cwd: Path
    """Where the tool ran; paths in its output are below it (it no longer exists)."""
    paths: list[str]


def load_capture(case: str) -> Capture:
    folder = DATA / case
    meta = json.loads((folder / "meta.json").read_text())
    done = Completed(
        argv=tuple(meta["argv"]),
        returncode=meta["returncode"],
        stdout=(folder / "stdout").read_bytes(),
        stderr=(folder / "stderr").read_bytes(),
        seconds=0.0,
    )
    return Capture(done=done, scratch=folder, cwd=Path(meta["cwd"]), paths=meta["paths"])


@pytest.fixture
def captured() -> Callable[[str], Capture]:
    return load_capture

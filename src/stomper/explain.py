"""Why a file was left unfixed, and what to do about it, in the user's words.

The per-file branch keeps two accounts of a rejected attempt: the feedback
written for the AI's next attempt ("Your change introduced these problems:
..."), which stays between stomper and the AI, and the reason said here,
which the user reads in the run's summary, its report and its journal.
"""

from __future__ import annotations

import re

from stomper.config import StomperSettings
from stomper.diagnostics import Diagnostic
from stomper.fixers.registry import ENABLE_AI_HINT

NO_AI = "no AI fixer configured"
ENABLE_AI = f"to fix what ruff cannot, {ENABLE_AI_HINT}"
UNANSWERED = "the model endpoint did not answer"
TIMED_OUT = "ran out of time"


def rejected(attempts: int, why: str | None, *, verified: bool = True) -> str:
    """No attempt was kept; `why` is the last one's reason, `verified` whether it got as far as verification."""
    counted = f"{attempts} attempt{'s' if attempts != 1 else ''}"
    said = f"{counted} did not pass verification" if verified else f"{counted} failed"
    return f"{said}: {why}" if why else said


def introduced(new: tuple[Diagnostic, ...]) -> str:
    """`the fix introduced mypy arg-type in x.py:3` (and how many more)."""
    first = new[0]
    more = f" and {len(new) - 1} more" if len(new) > 1 else ""
    return f"the fix introduced {first.tool} {first.code} in {first.path}:{first.line}{more}"


def timed_out(limit: float) -> str:
    return f"{TIMED_OUT}: the attempts on this file took file_timeout = {limit:g}s"


def next_step(reason: str, settings: StomperSettings, kept_patch: str | None = None) -> str:
    """One line on what the user can do about a file left with `reason`."""
    if kept_patch:
        return f"look at the verified fix kept at {kept_patch}, and apply it by hand if it still fits"
    if reason == NO_AI:
        return ENABLE_AI
    if reason.startswith("budget:"):
        return "raise the llm budget named above, or run stomper fix again to go on"
    if reason.startswith(UNANSWERED):
        where = settings.llm.base_url or "the provider's endpoint"
        return f"check that {where} is up, or raise llm.request_timeout (now {settings.llm.request_timeout:g}s)"
    if reason.startswith(TIMED_OUT):
        return f"raise file_timeout (now {settings.file_timeout:g}s), or fix it by hand"
    if "did not pass verification" in reason:
        return f"raise max_attempts (now {settings.max_attempts}), try another model or agent, or fix it by hand"
    if re.match(r"\d+ attempts? failed", reason):
        return f"see what the fixer said, raise max_attempts (now {settings.max_attempts}), or fix it by hand"
    return "fix it by hand"

"""The instructions an AI fixer is given for one work unit (a failing file, and the files its failures run through)."""

from __future__ import annotations

from stomper import redact
from stomper.fixers import FixRequest

MAX_TRACEBACK_LINES = 60
"""Lines of a failing test's traceback shown: its end, where the exception was raised."""


def agent_prompt(request: FixRequest) -> str:
    """A plain-text prompt for a coding agent: the files, what is wrong, what went wrong last time."""
    if len(request.unit) == 1:
        lines = [
            f"Fix the following problems in the file {request.path}.",
            "Edit only that file. Keep its behaviour; do not silence checks with ignore comments",
            "unless there is no other way. The problems were found by ruff, mypy and pytest:",
            "",
        ]
    else:
        lines = [
            f"Fix the following problems, found in {request.path} by ruff, mypy and pytest.",
            "Their cause may lie in any of these files, and you may edit only these files:",
            *[f"- {path}" for path in request.unit],
            "",
            "Fix the cause where it is. Keep the code's behaviour; do not silence checks with ignore comments",
            "unless there is no other way. A failing test is the specification: do not change what it",
            "asserts or expects, skip it or delete it; make the code it tests pass it. The problems:",
            "",
        ]
    lines += [f"- {d}" for d in request.diagnostics]
    for diag in request.diagnostics:
        if diag.tool == "pytest" and diag.detail:
            shown = diag.detail.rstrip().splitlines()[-MAX_TRACEBACK_LINES:]
            lines += ["", f"The traceback of {diag.path}::{(diag.symbol or '').rpartition('::')[2]}:", "", *shown]
    if request.feedback:
        lines += [
            "",
            f"Your previous attempt (attempt {request.attempt - 1} of {request.max_attempts}) was rejected:",
            request.feedback,
        ]
    # A traceback may show the values of variables, credentials among them.
    return redact.scrub("\n".join(lines) + "\n")

"""The instructions an AI fixer is given for one file."""

from __future__ import annotations

from stomper.fixers import FixRequest


def agent_prompt(request: FixRequest) -> str:
    """A plain-text prompt for a coding agent: the file, what is wrong, what went wrong last time."""
    lines = [
        f"Fix the following problems in the file {request.path}.",
        "Edit only that file. Keep its behaviour; do not silence checks with ignore comments",
        "unless there is no other way. The problems were found by ruff, mypy and pytest:",
        "",
    ]
    lines += [f"- {d}" for d in request.diagnostics]
    if request.feedback:
        lines += [
            "",
            f"Your previous attempt (attempt {request.attempt - 1} of {request.max_attempts}) was rejected:",
            request.feedback,
        ]
    return "\n".join(lines) + "\n"

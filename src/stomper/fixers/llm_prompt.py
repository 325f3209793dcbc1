"""The messages the llm fixer sends for one attempt at one file.

The wording lives in packaged templates under `stomper/data/llm/` (read with
importlib.resources, so they are found from any directory and inside a
wheel); per-code advice lives in `stomper/data/llm/advice.toml`. This module
only fills them in: the file's diagnostics, the file with line numbers, the
project's ruff and mypy configuration, and on a retry why the last attempt
was rejected. Everything here reads files, so the fixer calls it in a thread.
"""

from __future__ import annotations

import functools
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template
from typing import Literal

from stomper import redact
from stomper.diagnostics import Diagnostic
from stomper.edits import line_texts
from stomper.fixers import FixRequest

WHOLE_FILE_MAX_LINES = 200
"""With edit_format "auto", files up to this many lines are asked for whole, longer ones as blocks."""

MAX_CONFIG_CHARS = 4000
"""Characters of each configuration file shown to the model; the rest is cut."""

EditFormat = Literal["auto", "search-replace", "whole-file"]

_FORMAT_NAMES = {"search-replace": "SEARCH/REPLACE blocks", "whole-file": "the whole file"}
_TABLE = re.compile(r"^\[\[?\s*([\w.\-\"':* ]+?)\s*\]\]?\s*([#;].*)?$")


@dataclass(frozen=True)
class Prompt:
    """A system message (rules, answer format) and a user message (this file, these problems)."""

    system: str
    user: str
    edit_format: Literal["search-replace", "whole-file"]


def build_prompt(request: FixRequest, source: str, edit_format: EditFormat) -> Prompt:
    """The prompt for `request`, whose file reads `source`; reads configuration in the worktree."""
    lines = line_texts(source.removeprefix("\ufeff"))  # a byte order mark is no part of line 1
    chosen: Literal["search-replace", "whole-file"]
    if edit_format == "auto":
        chosen = "search-replace" if len(lines) > WHOLE_FILE_MAX_LINES else "whole-file"
    else:
        chosen = edit_format
    fence = "`" * max(3, _longest_backtick_run(source) + 1)
    width = len(str(len(lines)))
    retry = ""
    if request.feedback:
        retry = _template("retry.md").substitute(
            attempt=request.attempt,
            max_attempts=request.max_attempts,
            # The tools' and the last attempt's words may quote the environment; the provider gets no credential.
            feedback=redact.scrub(request.feedback.strip()),
        )
    user = _template("request.md").substitute(
        path=request.path,
        diagnostics=redact.scrub("\n".join(_describe(d) for d in sorted(request.diagnostics))),
        advice=_advice_section(request.diagnostics),
        config=project_config(request.worktree, {d.tool for d in request.diagnostics}),
        line_count=len(lines),
        fence=fence,
        numbered="\n".join(f"{n:>{width}} | {line}" for n, line in enumerate(lines, 1)),
        retry=retry,
        format_name=_FORMAT_NAMES[chosen],
    )
    instructions = _template(f"{chosen}.md").substitute(fence=fence)
    system = _template("system.md").substitute(format_instructions=instructions)
    return Prompt(system=system, user=user, edit_format=chosen)


def project_config(worktree: Path, tools: set[str]) -> str:
    """The parts of the project's configuration that govern ruff and mypy, as the files say them."""
    parts: list[tuple[str, str]] = []
    wanted = tuple(f"tool.{tool}" for tool in sorted(tools & {"ruff", "mypy"}))
    if wanted:
        parts.append(("pyproject.toml", _sections(_read(worktree / "pyproject.toml"), wanted)))
    if "ruff" in tools:
        parts += [(name, _read(worktree / name)) for name in ("ruff.toml", ".ruff.toml")]
    if "mypy" in tools:
        parts += [(name, _read(worktree / name)) for name in ("mypy.ini", ".mypy.ini")]
        parts.append(("setup.cfg", _sections(_read(worktree / "setup.cfg"), ("mypy",))))
    shown = [f"{name}:\n```\n{_cut(text.strip())}\n```" for name, text in parts if text.strip()]
    return "\n\n".join(shown) or "(no ruff or mypy configuration in the project: their defaults apply)"


def _describe(diag: Diagnostic) -> str:
    where = f"line {diag.line}, column {diag.column}"
    if diag.end_line is not None and diag.end_line != diag.line:
        where = f"lines {diag.line}-{diag.end_line}, column {diag.column}"
    return f"- {where}: {diag.tool} {diag.code}: {diag.message}"


def _advice_section(diagnostics: tuple[Diagnostic, ...]) -> str:
    table = _advice_table()
    found: dict[str, str] = {}
    for tool, code in sorted({(d.tool, d.code) for d in diagnostics}):
        keys = [key for key in table.get(tool, {}) if code.startswith(key)]
        if keys:
            found[f"{tool} {code}"] = table[tool][max(keys, key=len)]
    if not found:
        return ""
    advice = "\n".join(f"- {code}: {text}" for code, text in found.items())
    return f"\n## How to fix these kinds of problem\n\n{advice}\n"


def _sections(text: str, prefixes: tuple[str, ...]) -> str:
    """The [tables] of a TOML or INI text whose names start with one of `prefixes`, comments kept."""
    kept: list[str] = []
    keep = False
    for line in text.splitlines():
        table = _TABLE.match(line)
        if table is not None:
            name = table[1].strip().strip('"')
            keep = any(name == p or name.startswith((f"{p}.", f"{p}-", f"{p}:")) for p in prefixes)
        if keep:
            kept.append(line)
    return "\n".join(kept)


def _read(path: Path) -> str:
    try:
        return path.read_text("utf-8", errors="replace") if path.is_file() else ""
    except OSError:
        return ""


def _cut(text: str) -> str:
    return text if len(text) <= MAX_CONFIG_CHARS else text[:MAX_CONFIG_CHARS] + "\n# ... (cut)"


def _longest_backtick_run(text: str) -> int:
    runs = re.findall(r"^\s*(`{3,}|~{3,})", text, flags=re.M)
    return max((len(run) for run in runs), default=0)


@functools.cache
def _template(name: str) -> Template:
    return Template((resources.files("stomper") / "data" / "llm" / name).read_text("utf-8"))


@functools.cache
def _advice_table() -> dict[str, dict[str, str]]:
    text = (resources.files("stomper") / "data" / "llm" / "advice.toml").read_text("utf-8")
    return tomllib.loads(text)

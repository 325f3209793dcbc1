"""The messages the llm fixer sends for one attempt at one file.

The wording lives in packaged templates under `stomper/data/llm/` (read with
importlib.resources, so they are found from any directory and inside a
wheel); per-code advice lives in `stomper/data/llm/advice.toml`. This module
only fills them in: the file's diagnostics, the file with line numbers, the
project's ruff and mypy configuration, and on a retry why the last attempt
was rejected. Everything here reads files, so the fixer calls it in a thread.
"""

from __future__ import annotations

import ast
import functools
import re
import tomllib
from collections.abc import Mapping, Sequence
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


_ONE_FILE = (
    "You are a careful Python engineer fixing one file so that ruff, mypy and pytest pass on it.",
    "Edit only the file you are given; you cannot create, rename or edit any other file.",
)
_UNIT = (
    "You are a careful Python engineer fixing a few files so that ruff, mypy and pytest pass on them.",
    "Edit only the files you are given; you cannot create, rename or edit any other file. A failing test\n"
    "  is the specification: never change what it asserts or expects, skip it or delete it.",
)


def build_prompt(
    request: FixRequest, source: str, edit_format: EditFormat, others: Mapping[str, str] | None = None
) -> Prompt:
    """The prompt for `request`, whose file reads `source`; reads configuration in the worktree.

    `others`: the text of each other file of the request's work unit. A unit
    of several files is always asked for SEARCH/REPLACE blocks naming their file.
    """
    if len(request.unit) > 1:
        return _unit_prompt(request, {request.path: source, **(others or {})})
    lines = line_texts(source.removeprefix("\ufeff"))  # a byte order mark is no part of line 1
    chosen: Literal["search-replace", "whole-file"]
    if edit_format == "auto":
        chosen = "search-replace" if len(lines) > WHOLE_FILE_MAX_LINES else "whole-file"
    else:
        chosen = edit_format
    fence = "`" * max(3, _longest_backtick_run(source) + 1)
    width = len(str(len(lines)))
    retry = _retry(request)
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
    system = _template("system.md").substitute(
        task=_ONE_FILE[0], scope_rule=_ONE_FILE[1], format_instructions=instructions
    )
    return Prompt(system=system, user=user, edit_format=chosen)


def _unit_prompt(request: FixRequest, texts: Mapping[str, str]) -> Prompt:
    """The prompt for a work unit: its problems, its failing tests with their source and traceback, every file."""
    fence = "`" * max(3, *(_longest_backtick_run(t) + 1 for t in texts.values()))
    sources = []
    for path in request.unit:
        lines = line_texts(texts.get(path, "").removeprefix("\ufeff"))
        width = len(str(len(lines)))
        numbered = "\n".join(f"{n:>{width}} | {line}" for n, line in enumerate(lines, 1))
        sources.append(
            f"## The file `{path}` ({len(lines)} lines, numbered for reference only)\n\n{fence}\n{numbered}\n{fence}\n"
        )
    user = _template("unit-request.md").substitute(
        path=request.path,
        files=", ".join(f"`{p}`" for p in request.unit),
        diagnostics=redact.scrub("\n".join(_describe(d) for d in sorted(request.diagnostics))),
        advice=_advice_section(request.diagnostics),
        tests=redact.scrub(_failing_tests(request.diagnostics, texts, fence)),
        config=project_config(request.worktree, {d.tool for d in request.diagnostics}),
        sources="\n".join(sources),
        retry=_retry(request),
    )
    instructions = _template("search-replace-files.md").template
    system = _template("system.md").substitute(task=_UNIT[0], scope_rule=_UNIT[1], format_instructions=instructions)
    return Prompt(system=system, user=user, edit_format="search-replace")


def _failing_tests(diagnostics: Sequence[Diagnostic], texts: Mapping[str, str], fence: str) -> str:
    """Each failing test's source and traceback: what the code must do, and where it did not."""
    parts = []
    for diag in sorted(diagnostics):
        if diag.tool != "pytest":
            continue
        name = (diag.symbol or "").rpartition("::")[2].partition("[")[0]
        source = _function_source(texts.get(diag.path, ""), name)
        part = f"### {diag.path}::{name}\n"
        if source:
            part += f"\n{fence}python\n{source}\n{fence}\n"
        if diag.detail:
            part += f"\nHow it failed:\n\n{fence}\n{diag.detail.rstrip()}\n{fence}\n"
        parts.append(part)
    if not parts:
        return ""
    intro = (
        "These tests are the specification: make the code they test pass them. Do not change what they assert\n"
        "or expect, skip them or delete them: such a change is refused.\n\n"
    )
    return "\n## The failing tests\n\n" + intro + "\n".join(parts)


def _function_source(text: str, name: str) -> str:
    """The source of the function `name` in `text` (its decorators included), or "" when there is none."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return ""
    lines = text.splitlines()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            return "\n".join(lines[start - 1 : node.end_lineno])
    return ""


def _retry(request: FixRequest) -> str:
    if not request.feedback:
        return ""
    return _template("retry.md").substitute(
        attempt=request.attempt,
        max_attempts=request.max_attempts,
        # The tools' and the last attempt's words may quote the environment; the provider gets no credential.
        feedback=redact.scrub(request.feedback.strip()),
    )


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

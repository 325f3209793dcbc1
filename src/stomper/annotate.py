"""Diagnostics as CI systems show them inline, without SARIF.

- `github`: GitHub Actions workflow commands, one `::error ...::message` per
  diagnostic, which the runner turns into annotations on the pull request's
  lines (as `ruff check --output-format github` prints them);
- `gitlab`: a GitLab Code Quality report, the JSON list a job keeps as
  `artifacts:reports:codequality` (as `ruff check --output-format gitlab`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterable, Mapping
from typing import Literal

from stomper.diagnostics import Diagnostic
from stomper.sarif import rule_id

Format = Literal["github", "gitlab"]
FORMATS: tuple[Format, ...] = ("github", "gitlab")
FIXED_NOTE = " (stomper has a verified fix)"


def render(
    fmt: Format,
    diagnostics: Iterable[Diagnostic],
    ids: Mapping[Diagnostic, str],
    fixed: Collection[Diagnostic] = (),
) -> str:
    """`diagnostics` in format `fmt`; `fixed` are said to have a verified fix."""
    diags = sorted(set(diagnostics))
    return github(diags, fixed) if fmt == "github" else gitlab(diags, ids, fixed)


def github(diagnostics: Iterable[Diagnostic], fixed: Collection[Diagnostic] = ()) -> str:
    """One workflow command per diagnostic, each on its own line."""
    lines = []
    for d in diagnostics:
        props = {"file": d.path}
        if d.line >= 1:
            props["line"] = str(d.line)
            if d.column >= 1:
                props["col"] = str(d.column)
            if d.end_line is not None and d.end_line >= d.line:
                props["endLine"] = str(d.end_line)
                least = 1 if d.end_line > d.line else max(d.column, 1)
                if d.end_column is not None and d.end_column >= least:
                    props["endColumn"] = str(d.end_column)
        props["title"] = f"{d.tool} {d.code}"
        where = ",".join(f"{key}={_property(value)}" for key, value in props.items())
        note = FIXED_NOTE if d in fixed else ""
        lines.append(f"::error {where}::{_data(f'{d.path}:{d.line}:{d.column}: {d.code} {d.message}{note}')}")
    return "".join(line + "\n" for line in lines)


def gitlab(diagnostics: Iterable[Diagnostic], ids: Mapping[Diagnostic, str], fixed: Collection[Diagnostic] = ()) -> str:
    """A Code Quality report: a JSON list of issues, each with a fingerprint unique in the report."""
    issues = []
    for d in diagnostics:
        key = ids.get(d) or f"{d.path}\0{d.line}\0{d.column}\0{rule_id(d)}\0{d.message}"
        issues.append(
            {
                "description": f"{d.tool} {d.code}: {d.message}{FIXED_NOTE if d in fixed else ''}",
                "check_name": rule_id(d),
                "fingerprint": hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:32],
                "severity": "critical" if d.tool == "pytest" else "major",
                "location": {
                    "path": d.path,
                    "lines": {"begin": max(d.line, 1), "end": max(d.end_line or d.line, d.line, 1)},
                },
            }
        )
    return json.dumps(issues, indent=2, ensure_ascii=False) + "\n"


def _data(text: str) -> str:
    """A workflow command's message: `%`, CR and LF escaped, as the runner unescapes them."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    """A workflow command's property value: also `:` and `,`, which end it otherwise."""
    return _data(text).replace(":", "%3A").replace(",", "%2C")

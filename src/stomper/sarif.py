"""Diagnostics as a SARIF 2.1.0 log, the format GitHub code scanning reads.

One run, whose driver is stomper; each tool's code is a rule `tool/code`
(e.g. `ruff/F401`, `mypy/attr-defined`), so rule ids stay the same from one
analysis to the next, which code scanning needs to match alerts across runs.
Paths are relative to the repository root under the `%SRCROOT%` base id.
The same diagnostics always give the same document, byte for byte, when
no `root` is given: rules and results are sorted.

What a log can carry beyond the diagnostics, each given by the caller:

- `fingerprints`: `partialFingerprints` per result (`stomper/v1`, and as
  `primaryLocationLineHash`, the one GitHub matches on), made from stomper's
  content-based fingerprint, so that an alert keeps its identity when lines
  move (see `stomper.findings`);
- `docs`: a rule's full description and help, as `ruff rule` and mypy's
  error-code pages give them (see `stomper.ruledocs`);
- `fixes`: a verified fix as SARIF `fixes`, replacements on the analysed files (the
  failing file, and the other files of its work unit the fix changed);
- `suppressed`: a diagnostic the verified fix silences with a suppression the
  project allows (`allow_suppressions`) rather than fixing it, with the
  justification: the result gets a SARIF `suppressions` entry of kind
  `inSource`, status `accepted` (what SARIF 2.1.0 means by a suppressed
  result; viewers hide it, and an absent status would mean the same).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from stomper import __version__
from stomper.diagnostics import Diagnostic

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
SRCROOT = "%SRCROOT%"
FINGERPRINT_KEY = "stomper/v1"
"""The `partialFingerprints` key of stomper's content-based fingerprint."""

# mypy links its own messages to this page, one anchor per error code.
MYPY_HELP = "https://mypy.readthedocs.io/en/stable/_refs.html#code-{code}"


@dataclass(frozen=True)
class RuleDoc:
    """What a rule is, for a reader of an alert."""

    summary: str
    """One sentence: the rule's `fullDescription`."""
    help: str
    """Markdown: why it matters and how to fix it."""
    url: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class Replacement:
    """Characters `offset` to `offset + length` of the analysed file become `inserted`."""

    offset: int
    length: int
    inserted: str


@dataclass(frozen=True)
class FileFix:
    """A verified fix of one file, as replacements on the analysed file."""

    path: str
    description: str
    replacements: tuple[Replacement, ...]


def rule_id(diag: Diagnostic) -> str:
    """The SARIF rule a diagnostic is a result of: `tool/code`."""
    return f"{diag.tool}/{diag.code}"


def to_sarif(
    diagnostics: Iterable[Diagnostic],
    *,
    root: Path | None = None,
    tool_errors: Sequence[str] = (),
    fingerprints: Mapping[Diagnostic, str] | None = None,
    docs: Mapping[str, RuleDoc] | None = None,
    fixes: Mapping[Diagnostic, Sequence[FileFix]] | None = None,
    suppressed: Mapping[Diagnostic, str] | None = None,
) -> dict[str, Any]:
    """The SARIF log of `diagnostics` (paths relative to the repository root).

    `root`, when given, is recorded as what `%SRCROOT%` stands for.
    `tool_errors` (a quality tool that could not run) are reported as
    notifications of a failed invocation, so that a reader does not take the
    missing results for a clean bill. `docs` is keyed by rule id.
    """
    diags = sorted(set(diagnostics))
    rules = _rules(diags, docs or {})
    index = {rule["id"]: i for i, rule in enumerate(rules)}
    results = []
    for d in diags:
        result = _result(d, index[rule_id(d)])
        if fingerprints and d in fingerprints:
            # GitHub matches alerts on primaryLocationLineHash alone ("hash:occurrence", as
            # stomper's id is) and computes its own, from the line only, when it is missing.
            result["partialFingerprints"] = {
                "primaryLocationLineHash": fingerprints[d],
                FINGERPRINT_KEY: fingerprints[d],
            }
        if fixes and d in fixes:
            result["fixes"] = [_fix(fixes[d])]
        if suppressed and d in suppressed:
            result["suppressions"] = [{"kind": "inSource", "status": "accepted", "justification": suppressed[d]}]
        results.append(result)
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "stomper",
                "version": __version__,
                "semanticVersion": __version__,
                "informationUri": "https://pypi.org/project/stomper-fix/",
                "rules": rules,
            }
        },
        "invocations": [_invocation(tool_errors)],
        # ruff and mypy count columns in characters, not UTF-16 units.
        "columnKind": "unicodeCodePoints",
        "results": results,
    }
    if root is not None:
        run["originalUriBaseIds"] = {SRCROOT: {"uri": root.resolve().as_uri() + "/"}}
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}


def dumps(
    diagnostics: Iterable[Diagnostic],
    *,
    root: Path | None = None,
    tool_errors: Sequence[str] = (),
    fingerprints: Mapping[Diagnostic, str] | None = None,
    docs: Mapping[str, RuleDoc] | None = None,
    fixes: Mapping[Diagnostic, Sequence[FileFix]] | None = None,
    suppressed: Mapping[Diagnostic, str] | None = None,
) -> str:
    """`to_sarif` as JSON text, ending with a newline."""
    log = to_sarif(
        diagnostics,
        root=root,
        tool_errors=tool_errors,
        fingerprints=fingerprints,
        docs=docs,
        fixes=fixes,
        suppressed=suppressed,
    )
    return json.dumps(log, indent=2, ensure_ascii=False) + "\n"


def _rules(diags: Sequence[Diagnostic], docs: Mapping[str, RuleDoc]) -> list[dict[str, Any]]:
    first: dict[str, Diagnostic] = {}
    for d in diags:
        rid = rule_id(d)
        # A ruff code's url is the same on every diagnostic; take one that has it.
        if rid not in first or (first[rid].url is None and d.url is not None):
            first[rid] = d
    rules = []
    for rid in sorted(first):
        d = first[rid]
        doc = docs.get(rid)
        short = f"{d.tool} {d.code}"
        rule: dict[str, Any] = {
            "id": rid,
            "shortDescription": {"text": short},
            # GitHub requires a full description and help on every rule.
            "fullDescription": {"text": short},
            "help": {"text": short, "markdown": short},
            "properties": {"tags": [d.tool], "precision": "very-high", "problem.severity": "error"},
        }
        name = doc.name if doc is not None and doc.name else None
        if name is None and d.url is not None:
            # ruff's page for a rule ends with the rule's name, e.g. unused-import.
            name = d.url.rstrip("/").rsplit("/", 1)[-1]
        if name is not None:
            rule["name"] = name
        help_uri = _help_uri(d) or (doc.url if doc is not None else None)
        if doc is not None:
            # GitHub takes at most 1000 characters of a full description.
            rule["fullDescription"] = {"text": _clip(doc.summary, 1000)}
            rule["help"] = {"text": doc.help, "markdown": doc.help}
        if help_uri is not None:
            rule["helpUri"] = help_uri
        rules.append(rule)
    return rules


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _help_uri(d: Diagnostic) -> str | None:
    if d.url is not None:
        return d.url
    if d.tool == "mypy" and d.code != "error":
        return MYPY_HELP.format(code=d.code)
    return None


def _invocation(tool_errors: Sequence[str]) -> dict[str, Any]:
    invocation: dict[str, Any] = {"executionSuccessful": not tool_errors}
    if tool_errors:
        invocation["toolExecutionNotifications"] = [
            {"level": "error", "message": {"text": error}} for error in tool_errors
        ]
    return invocation


def _artifact(path: str) -> dict[str, str]:
    return {"uri": quote(path), "uriBaseId": SRCROOT}


def _result(d: Diagnostic, rule_index: int) -> dict[str, Any]:
    location: dict[str, Any] = {"artifactLocation": _artifact(d.path)}
    region = _region(d)
    if region:
        location["region"] = region
    return {
        "ruleId": rule_id(d),
        "ruleIndex": rule_index,
        "level": "error",
        "message": {"text": d.message},
        "locations": [{"physicalLocation": location}],
    }


def _fix(fixes: Sequence[FileFix]) -> dict[str, Any]:
    """One fix of one or more files (a work unit's fix of a failing test may change the code it tests)."""
    return {
        "description": {"text": fixes[0].description},
        "artifactChanges": [
            {
                "artifactLocation": _artifact(fix.path),
                "replacements": [
                    {
                        "deletedRegion": {"charOffset": r.offset, "charLength": r.length},
                        "insertedContent": {"text": r.inserted},
                    }
                    for r in fix.replacements
                ],
            }
            for fix in fixes
        ],
    }


def _region(d: Diagnostic) -> dict[str, int]:
    """The region GitHub asks for: start and end, lines and columns from 1, the end after the start.

    Columns end exclusive, as ruff gives them. A diagnostic without a usable
    line (mypy reports some against the whole file) points at the file's
    first character; one without an end, or with an end before its start,
    covers the character at its start.
    """
    line = max(d.line, 1)
    column = max(d.column, 1) if d.line >= 1 else 1
    region = {"startLine": line, "startColumn": column, "endLine": line, "endColumn": column + 1}
    if d.line < 1 or d.end_line is None or d.end_column is None or d.end_line < line:
        return region
    if d.end_line == line and d.end_column <= column:
        return region
    return region | {"endLine": d.end_line, "endColumn": max(d.end_column, 1)}

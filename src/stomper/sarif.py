"""Diagnostics as a SARIF 2.1.0 log, the format GitHub code scanning reads.

One run, whose driver is stomper; each tool's code is a rule `tool/code`
(e.g. `ruff/F401`, `mypy/attr-defined`), so rule ids stay the same from one
analysis to the next, which code scanning needs to match alerts across runs.
Paths are relative to the repository root under the `%SRCROOT%` base id.
The same diagnostics always give the same document, byte for byte, when
no `root` is given: rules and results are sorted.

Fingerprints (`partialFingerprints`) are left out on purpose: GitHub's
upload action computes the ones it uses from the source files.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from stomper import __version__
from stomper.diagnostics import Diagnostic

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
SRCROOT = "%SRCROOT%"

# mypy links its own messages to this page, one anchor per error code.
_MYPY_HELP = "https://mypy.readthedocs.io/en/stable/_refs.html#code-{code}"


def rule_id(diag: Diagnostic) -> str:
    """The SARIF rule a diagnostic is a result of: `tool/code`."""
    return f"{diag.tool}/{diag.code}"


def to_sarif(
    diagnostics: Iterable[Diagnostic],
    *,
    root: Path | None = None,
    tool_errors: Sequence[str] = (),
    suppressed: Iterable[Diagnostic] = (),
) -> dict[str, Any]:
    """The SARIF log of `diagnostics` (paths relative to the repository root).

    `root`, when given, is recorded as what `%SRCROOT%` stands for.
    `tool_errors` (a quality tool that could not run) are reported as
    notifications of a failed invocation, so that a reader does not take the
    missing results for a clean bill. `suppressed`: diagnostics a fix silenced
    with a suppression the project allows, reported with an in-source suppression.
    """
    diags = sorted(set(diagnostics))
    silenced = sorted(set(suppressed) - set(diags))
    rules = _rules(sorted([*diags, *silenced]))
    index = {rule["id"]: i for i, rule in enumerate(rules)}
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "stomper",
                "version": __version__,
                "semanticVersion": __version__,
                "rules": rules,
            }
        },
        "invocations": [_invocation(tool_errors)],
        # ruff and mypy count columns in characters, not UTF-16 units.
        "columnKind": "unicodeCodePoints",
        "results": [_result(d, index[rule_id(d)]) for d in diags]
        + [{**_result(d, index[rule_id(d)]), "suppressions": [{"kind": "inSource"}]} for d in silenced],
    }
    if root is not None:
        run["originalUriBaseIds"] = {SRCROOT: {"uri": root.resolve().as_uri() + "/"}}
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}


def dumps(
    diagnostics: Iterable[Diagnostic],
    *,
    root: Path | None = None,
    tool_errors: Sequence[str] = (),
    suppressed: Iterable[Diagnostic] = (),
) -> str:
    """`to_sarif` as JSON text, ending with a newline."""
    log = to_sarif(diagnostics, root=root, tool_errors=tool_errors, suppressed=suppressed)
    return json.dumps(log, indent=2, ensure_ascii=False) + "\n"


def _rules(diags: Sequence[Diagnostic]) -> list[dict[str, Any]]:
    first: dict[str, Diagnostic] = {}
    for d in diags:
        rid = rule_id(d)
        # A ruff code's url is the same on every diagnostic; take one that has it.
        if rid not in first or (first[rid].url is None and d.url is not None):
            first[rid] = d
    rules = []
    for rid in sorted(first):
        d = first[rid]
        rule: dict[str, Any] = {
            "id": rid,
            "shortDescription": {"text": f"{d.tool} {d.code}"},
            "properties": {"tags": [d.tool]},
        }
        if d.url is not None:
            # ruff's page for a rule ends with the rule's name, e.g. unused-import.
            rule["name"] = d.url.rstrip("/").rsplit("/", 1)[-1]
        help_uri = _help_uri(d)
        if help_uri is not None:
            rule["helpUri"] = help_uri
        rules.append(rule)
    return rules


def _help_uri(d: Diagnostic) -> str | None:
    if d.url is not None:
        return d.url
    if d.tool == "mypy" and d.code != "error":
        return _MYPY_HELP.format(code=d.code)
    return None


def _invocation(tool_errors: Sequence[str]) -> dict[str, Any]:
    invocation: dict[str, Any] = {"executionSuccessful": not tool_errors}
    if tool_errors:
        invocation["toolExecutionNotifications"] = [
            {"level": "error", "message": {"text": error}} for error in tool_errors
        ]
    return invocation


def _result(d: Diagnostic, rule_index: int) -> dict[str, Any]:
    artifact = {"uri": quote(d.path), "uriBaseId": SRCROOT}
    location: dict[str, Any] = {"artifactLocation": artifact}
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


def _region(d: Diagnostic) -> dict[str, int]:
    """The region SARIF allows: lines and columns from 1, the end not before the start.

    A diagnostic without a usable line (mypy reports some against the whole
    file) gets none, i.e. it applies to the whole file.
    """
    if d.line < 1:
        return {}
    region = {"startLine": d.line}
    if d.column >= 1:
        region["startColumn"] = d.column
    if d.end_line is None or d.end_line < d.line:
        return region
    end = {"endLine": d.end_line}
    if d.end_column is not None and d.end_column >= 1:
        if d.end_line == d.line and d.end_column < region.get("startColumn", 1):
            return region  # an end before the start: keep the start alone
        end["endColumn"] = d.end_column
    return region | end

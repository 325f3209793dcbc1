"""Combining the outputs of `stomper fix --shard i/n` into one patch, report and SARIF log.

Shards work on disjoint files, so their patches touch disjoint files; a
file changed by two shards' patches (a fix that touched another file) is
refused rather than merged. The combined patch is the shards' per-file
sections in path order, which is what one unsharded `git diff` would say.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from stomper.errors import StomperError


def patches(texts: Sequence[str]) -> str:
    """One patch of the shards' patches; `StomperError` when two of them change one file."""
    sections: dict[str, str] = {}
    for text in texts:
        for path, section in _sections(text):
            if path in sections:
                raise StomperError(f"the patches of two shards both change {path}; not merged")
            sections[path] = section
    return "".join(sections[p] for p in sorted(sections))


def _sections(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for chunk in text.split("\ndiff --git "):
        if not chunk.strip():
            continue
        body = chunk if chunk.startswith("diff --git ") else "diff --git " + chunk
        header = body.split("\n", 1)[0]
        # "diff --git a/PATH b/PATH": stomper's patches never rename.
        path = header.removeprefix("diff --git a/").rsplit(" b/", 1)[0]
        out.append((path, body if body.endswith("\n") else body + "\n"))
    return out


def reports(documents: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One report of the shards' JSON reports, its summary the sum of theirs."""
    if not documents:
        raise StomperError("no report to merge")
    modes = {d.get("mode") for d in documents}
    if len(modes) != 1:
        raise StomperError(f"the shards ran in different modes ({', '.join(sorted(map(str, modes)))}); not merged")
    files: dict[str, Any] = {}
    for d in documents:
        for f in d["files"]:
            if f["path"] in files:
                raise StomperError(f"two shards both report {f['path']}; not merged")
            files[f["path"]] = f
    summary: dict[str, Any] = {}
    for d in documents:
        for key, value in d["summary"].items():
            if isinstance(value, dict):
                inner = summary.setdefault(key, {})
                for k, v in value.items():
                    inner[k] = inner.get(k, 0) + v
            else:
                summary[key] = summary.get(key, 0) + value
    if "model" in summary:
        summary["model"]["cost"] = round(summary["model"]["cost"], 6)
    run_files: dict[str, Any] = {}
    steps: dict[str, float] = {}
    for d in documents:
        run_files.update(d["run"]["files"])
        for step, seconds in d["run"].get("steps", {}).items():
            steps[step] = round(steps.get(step, 0.0) + seconds, 3)
    return {
        "version": documents[0]["version"],
        "mode": documents[0]["mode"],
        "files": [files[p] for p in sorted(files)],
        "tool_errors": sorted({e for d in documents for e in d["tool_errors"]}),
        "summary": summary,
        "run": {
            "id": ",".join(d["run"]["id"] for d in documents),
            "seconds": max(d["run"]["seconds"] for d in documents),
            "steps": steps,
            "combined_checks": sum(d["run"].get("combined_checks", 0) for d in documents),
            "files": dict(sorted(run_files.items())),
        },
    }


def sarif_logs(logs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One SARIF log of the shards' logs: one run, rules and results in stomper's order."""
    if not logs:
        raise StomperError("no SARIF log to merge")
    runs = [run for log in logs for run in log["runs"]]
    rules: dict[str, Any] = {}
    for run in runs:
        for rule in run["tool"]["driver"]["rules"]:
            rules.setdefault(rule["id"], rule)
    order = sorted(rules)
    index = {rid: n for n, rid in enumerate(order)}
    results = []
    for run in runs:
        for result in run["results"]:
            results.append({**result, "ruleIndex": index[result["ruleId"]]})
    results.sort(key=_result_key)
    notifications = [n for run in runs for inv in run["invocations"] for n in inv.get("toolExecutionNotifications", [])]
    succeeded = all(i["executionSuccessful"] for run in runs for i in run["invocations"])
    invocation: dict[str, Any] = {"executionSuccessful": succeeded}
    if notifications:
        invocation["toolExecutionNotifications"] = notifications
    merged = {**runs[0], "results": results, "invocations": [invocation]}
    merged["tool"] = {"driver": {**runs[0]["tool"]["driver"], "rules": [rules[r] for r in order]}}
    return {**logs[0], "runs": [merged]}


def _result_key(result: dict[str, Any]) -> tuple[Any, ...]:
    from urllib.parse import unquote

    where = result["locations"][0]["physicalLocation"]
    region = where.get("region", {})
    return (
        unquote(where["artifactLocation"]["uri"]),
        region.get("startLine", -1),
        region.get("startColumn", 0),
        result["ruleId"],
        result["message"]["text"],
        json.dumps(result, sort_keys=True),
    )

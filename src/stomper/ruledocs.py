"""What each rule means, for SARIF readers: ruff's own documentation, links to mypy's.

`ruff rule --all --output-format json` is run once per run, and the rules
the diagnostics name are taken from it; mypy documents its error codes on
one page with an anchor per code. A ruff that cannot say leaves its rules
without help rather than failing the job.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from stomper import proc
from stomper.diagnostics import Diagnostic
from stomper.errors import StomperError
from stomper.sarif import MYPY_HELP, RuleDoc, rule_id

RUFF_RULE_URL = "https://docs.astral.sh/ruff/rules/{name}"
PYTEST_HELP = "A test that fails, or cannot be collected. Run it with `pytest -x` to see why; fix the code or the test."


async def rule_docs(diagnostics: Iterable[Diagnostic], ruff: str | None, cwd: Path) -> dict[str, RuleDoc]:
    """The documentation of every rule `diagnostics` name, keyed by SARIF rule id."""
    diags = list(diagnostics)
    docs: dict[str, RuleDoc] = {}
    ruff_codes = {d.code for d in diags if d.tool == "ruff"}
    if ruff_codes and ruff is not None:
        docs.update(await _ruff(ruff, ruff_codes, cwd))
    for d in diags:
        rid = rule_id(d)
        if rid in docs:
            continue
        if d.tool == "mypy":
            url = MYPY_HELP.format(code=d.code) if d.code != "error" else None
            more = f" See [mypy's documentation of `{d.code}`]({url})." if url else ""
            docs[rid] = RuleDoc(
                summary=f"mypy reports a type error of the code {d.code}.",
                help=f"mypy's error code `{d.code}`: the code does not type-check.{more}",
                url=url,
            )
        elif d.tool == "pytest":
            docs[rid] = RuleDoc(summary=f"pytest: a test {d.code}.", help=PYTEST_HELP)
    return docs


async def _ruff(executable: str, codes: set[str], cwd: Path) -> dict[str, RuleDoc]:
    try:
        argv = [executable, "rule", "--all", "--output-format", "json"]
        done = await proc.run(argv, cwd=cwd, timeout=60)
        rules = json.loads(done.out) if done.returncode == 0 else []
    except (StomperError, ValueError):
        return {}
    docs = {}
    for rule in rules if isinstance(rules, list) else []:
        if not isinstance(rule, dict) or rule.get("code") not in codes:
            continue
        name = str(rule.get("name", ""))
        explanation = str(rule.get("explanation", ""))
        docs[f"ruff/{rule['code']}"] = RuleDoc(
            summary=_what_it_does(explanation) or str(rule.get("summary", "")) or f"ruff {rule['code']}",
            help=explanation or str(rule.get("summary", "")),
            url=RUFF_RULE_URL.format(name=name) if name else None,
            name=name or None,
        )
    return docs


def _what_it_does(explanation: str) -> str:
    """The paragraph under ruff's "## What it does" heading, on one line."""
    _, found, rest = explanation.partition("## What it does\n")
    return " ".join(rest.split("\n\n", 1)[0].split()) if found else ""

"""Suppressions: ways to make a tool stop reporting a problem without fixing it.

A fixer that adds `# noqa`, `# type: ignore`, a skip marker, or deletes a
test or an assert has silenced the gate, not fixed the code. A failing test
is the specification of the code it tests: a change to what it asserts (its
`assert` statements, the constants it checks against or calls with, its
`parametrize` cases) is no fix of it either ("edited assertion"). `added` finds
them in a change, comparing what each file holds before and after (so a line
that merely moved keeps its old suppression); the verifier rejects such a
change unless every code it suppresses is one the project allows
(`allow_suppressions`), and then reports it as suppressed, not fixed.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from collections.abc import Collection, Iterator
from dataclasses import dataclass

from stomper.tools.paths import test_files

_CODES = r"(?P<codes>[^\]\n]*)"
_COMMENTS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "ruff: noqa",
        re.compile(r"#\s*(?:ruff|flake8)\s*:\s*noqa\b(?::\s*(?P<codes>[A-Z]+[0-9]+(?:[\s,]+[A-Z]+[0-9]+)*))?", re.I),
    ),
    ("noqa", re.compile(r"#\s*noqa\b(?::\s*(?P<codes>[A-Z]+[0-9]+(?:[\s,]+[A-Z]+[0-9]+)*))?", re.I)),
    ("type: ignore", re.compile(rf"#\s*type\s*:\s*ignore\b(?:\[{_CODES}\])?")),
    ("pyright: ignore", re.compile(rf"#\s*pyright\s*:\s*ignore\b(?:\[{_CODES}\])?")),
    ("mypy: ignore-errors", re.compile(r"#\s*mypy\s*:\s*ignore-errors\b")),
    ("mypy: disable-error-code", re.compile(r"#\s*mypy\s*:\s*disable-error-code\s*=\s*[\"']?(?P<codes>[\w\-, ]+)")),
    ("no_type_check", re.compile(r"@\s*(?:typing\.)?no_type_check\b")),
)
_SKIPS = re.compile(
    r"\b(?P<kind>pytest\.mark\.(?:skipif|skip|xfail)\b|pytest\.(?:skip|xfail|importorskip)\s*\(|"
    r"unittest\.(?:skipIf|skipUnless|skip|expectedFailure)\b|skipTest\s*\()"
)


@dataclass(frozen=True, order=True)
class Suppression:
    """One suppression a change added to one file."""

    path: str
    kind: str
    """What it is: "noqa", "type: ignore", "pytest.mark.skip", "deleted test", ..."""
    codes: tuple[str, ...] = ()
    """The codes it names; empty: it silences everything of its kind."""

    def allowed(self, allow: Collection[str]) -> bool:
        """Every code it names is allowed (one that names none: its kind is)."""
        return set(self.codes) <= set(allow) if self.codes else self.kind in allow

    def __str__(self) -> str:
        codes = f"[{', '.join(self.codes)}]" if self.codes else ""
        return f"{self.path}: {self.kind}{codes}"


TEST_SPEC = frozenset({"edited assertion", "deleted test", "deleted assert"})
"""Kinds that change what a test checks rather than silence a tool's comment."""


def added(path: str, before: str, after: str, failing: Collection[str] = ()) -> list[Suppression]:
    """The suppressions `after` has that `before` did not (both the text of `path`).

    `failing`: the names of the test functions in `path` that fail before
    the change; a change to what one of them asserts is an "edited assertion".
    """
    found = _marks(path, after)
    found.subtract(_marks(path, before))
    lost = _tests(path, before)
    lost.subtract(_tests(path, after))
    new = [Suppression(path, kind, codes) for (kind, codes), n in found.items() for _ in range(max(n, 0))]
    new += [Suppression(path, kind) for kind, n in lost.items() for _ in range(max(n, 0))]
    if failing and test_files([path]):
        old, now = _specs(before, failing), _specs(after, failing)
        edited = [name for name in old if name in now and old[name] != now[name]]
        gone = [name for name in old if name not in now]
        new += [Suppression(path, "edited assertion", ()) for _ in edited]
        if gone and not lost["deleted test"] > 0:
            new += [Suppression(path, "deleted test") for _ in gone]
    return sorted(new)


def _specs(text: str, names: Collection[str]) -> dict[str, Counter[str]]:
    """What each test function of `names` checks: its asserts, the constants in it, its parametrize cases."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return {}
    specs: dict[str, Counter[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name in names:
            spec = specs.setdefault(node.name, Counter())
            spec.update(ast.dump(d) for d in node.decorator_list if "parametrize" in ast.dump(d))
            for inner in _body_nodes(node):
                if isinstance(inner, ast.Assert):
                    spec[ast.dump(inner)] += 1
                elif isinstance(inner, ast.Constant) and not isinstance(inner.value, type(...)):
                    spec[repr(inner.value)] += 1
    return specs


def _body_nodes(function: ast.FunctionDef | ast.AsyncFunctionDef) -> Iterator[ast.AST]:
    """Every node of the function's body, its docstring left out (a reworded docstring asserts nothing)."""
    body = function.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    for statement in body:
        yield from ast.walk(statement)


def _marks(path: str, text: str) -> Counter[tuple[str, tuple[str, ...]]]:
    marks: Counter[tuple[str, tuple[str, ...]]] = Counter()
    for line in text.splitlines():
        for kind, pattern in _COMMENTS:
            for hit in pattern.finditer(line):
                codes = hit.groupdict().get("codes") or ""
                marks[(kind, tuple(sorted(c for c in re.split(r"[\s,]+", codes) if c)))] += 1
        for hit in _SKIPS.finditer(line):
            marks[(hit["kind"].rstrip("( "), ())] += 1
    return marks


def _tests(path: str, text: str) -> Counter[str]:
    """Test functions and asserts in a test file: fewer after a change means tests were deleted."""
    if not test_files([path]):
        return Counter()
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return Counter()
    counts: Counter[str] = Counter()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test"):
            counts["deleted test"] += 1
        elif isinstance(node, ast.Assert):
            counts["deleted assert"] += 1
    return counts

"""Verification: real ruff and pytest in a directory standing in for a worktree."""

from __future__ import annotations

import sys
from pathlib import Path

from conftest import write

from stomper.tools import TOOLS, run_tools
from stomper.verify import Baseline, Verifier

BIN = Path(sys.executable).parent


def verifier(*tools: str, tests: tuple[str, ...] = ()) -> Verifier:
    return Verifier(
        tools=[TOOLS[t] for t in tools],
        executables={t: str(BIN / t) for t in tools},
        test_paths=tests,
        timeout=60,
    )


async def found(tree: Path, v: Verifier, path: str) -> Baseline:
    """What the tools find in `tree` now, as the branch records it before a fix."""
    result = await run_tools(v.tools, [path, *v.test_paths], cwd=tree, executables=v.executables, timeout=60)
    return await v.baseline(tree, path, result.diagnostics)


async def test_a_fix_that_shifts_lines_is_not_mistaken_for_new_problems(tmp_path: Path) -> None:
    write(
        tmp_path,
        {"m.py": "import os\nimport sys\n\n\ndef f():\n    return undefined_a\n\n\ndef g():\n    return undefined_b\n"},
    )
    v = verifier("ruff")
    before = await found(tmp_path, v, "m.py")
    assert sorted(d.code for d in before.diagnostics) == ["F401", "F401", "F821", "F821"]

    # The imports go: both F821s move up two lines but are the same problems.
    write(tmp_path, {"m.py": "\n\ndef f():\n    return undefined_a\n\n\ndef g():\n    return undefined_b\n"})
    verdict = await v.verify(tmp_path, "m.py", before)

    assert verdict.accepted
    assert verdict.new == ()
    assert verdict.fixed == 2
    assert [(d.code, d.line) for d in verdict.after.diagnostics] == [("F821", 4), ("F821", 8)]


async def test_a_new_problem_rejects_the_attempt_and_says_which(tmp_path: Path) -> None:
    write(tmp_path, {"m.py": "import os\n"})
    v = verifier("ruff")
    before = await found(tmp_path, v, "m.py")

    write(tmp_path, {"m.py": "print(undefined_name)\n"})
    verdict = await v.verify(tmp_path, "m.py", before)

    assert not verdict.accepted
    assert [(d.code, d.line) for d in verdict.new] == [("F821", 1)]
    assert "- m.py:1:7: [ruff F821] Undefined name `undefined_name`" in verdict.feedback()


async def test_an_edit_that_changes_nothing_is_not_a_fix(tmp_path: Path) -> None:
    write(tmp_path, {"m.py": "import os\n"})
    v = verifier("ruff")
    before = await found(tmp_path, v, "m.py")

    write(tmp_path, {"m.py": "# a comment\nimport os\n"})
    verdict = await v.verify(tmp_path, "m.py", before)

    assert not verdict.accepted
    assert verdict.fixed == 0
    assert verdict.feedback() == "Your change did not fix any of the problems."


async def test_a_test_broken_elsewhere_counts_against_the_fix(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "calc.py": "import os\n\n\ndef double(x: int) -> int:\n    return x * 2\n",
            "test_calc.py": "from calc import double\n\n\ndef test_double() -> None:\n    assert double(2) == 4\n",
        },
    )
    v = verifier("ruff", "pytest", tests=("test_calc.py",))
    before = await found(tmp_path, v, "calc.py")
    assert [d.code for d in before.diagnostics] == ["F401"]

    # The unused import goes, and so does correctness: a passing test now fails.
    write(tmp_path, {"calc.py": "def double(x: int) -> int:\n    return x * 3\n"})
    verdict = await v.verify(tmp_path, "calc.py", before)

    assert not verdict.accepted
    assert [(d.tool, d.path, d.code) for d in verdict.new] == [("pytest", "test_calc.py", "failed")]

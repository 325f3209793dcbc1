"""Verification: real ruff, mypy and pytest in a directory standing in for a worktree."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import write

from stomper import imports
from stomper.pool import caches_of
from stomper.tools import TOOLS
from stomper.verify import Baseline, Scope, Verifier

BIN = Path(sys.executable).parent


def verifier(*tools: str, tree: Path | None = None, allow: tuple[str, ...] = ()) -> Verifier:
    files = sorted(p.relative_to(tree).as_posix() for p in tree.rglob("*.py")) if tree else []
    return Verifier(
        tools=[TOOLS[t] for t in tools],
        executables={t: str(BIN / t) for t in tools},
        timeout=60,
        graph=imports._scan(tree, files) if tree else imports.ImportGraph(),
        allow_suppressions=allow,
    )


async def found(tree: Path, v: Verifier, path: str) -> Baseline:
    """What the tools find in `tree` now, as the branch records it before a fix."""
    return await v.baseline(tree, v.scope(path))


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
    verdict = await v.verify(tmp_path, before)

    assert verdict.accepted
    assert verdict.new == ()
    assert verdict.fixed == 2
    assert [(d.code, d.line) for d in verdict.after.diagnostics] == [("F821", 4), ("F821", 8)]


async def test_a_new_problem_rejects_the_attempt_and_says_which(tmp_path: Path) -> None:
    write(tmp_path, {"m.py": "import os\n"})
    v = verifier("ruff")
    before = await found(tmp_path, v, "m.py")

    write(tmp_path, {"m.py": "print(undefined_name)\n"})
    verdict = await v.verify(tmp_path, before)

    assert not verdict.accepted
    assert [(d.code, d.line) for d in verdict.new] == [("F821", 1)]
    assert "- m.py:1:7: [ruff F821] Undefined name `undefined_name`" in verdict.feedback()


async def test_an_edit_that_fixes_nothing_is_not_a_fix(tmp_path: Path) -> None:
    write(tmp_path, {"m.py": "import os\n"})
    v = verifier("ruff")
    before = await found(tmp_path, v, "m.py")

    write(tmp_path, {"m.py": "# a comment\nimport os\n"})
    verdict = await v.verify(tmp_path, before)

    assert not verdict.accepted
    assert verdict.fixed == 0
    assert verdict.feedback() == "Your change did not fix any of the problems."


async def test_an_edit_that_changes_nothing_is_not_a_fix_even_when_the_tools_now_see_less(tmp_path: Path) -> None:
    write(tmp_path, {"m.py": "import os\n"})
    v = verifier("ruff")
    before = await found(tmp_path, v, "m.py")
    # The tools would now find nothing (say, a blocking error that no longer blocks):
    # it is still no fix, since the file did not change.
    before = Baseline(before.scope, (*before.diagnostics, *before.diagnostics), before.texts)

    verdict = await v.verify(tmp_path, before)

    assert not verdict.accepted
    assert verdict.unchanged
    assert verdict.feedback() == "Your change changed nothing."


async def test_a_test_broken_elsewhere_counts_against_the_fix(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "calc.py": "import os\n\n\ndef double(x: int) -> int:\n    return x * 2\n",
            "test_calc.py": "from calc import double\n\n\ndef test_double() -> None:\n    assert double(2) == 4\n",
        },
    )
    v = verifier("ruff", "pytest", tree=tmp_path)
    before = await found(tmp_path, v, "calc.py")
    assert [d.code for d in before.diagnostics] == ["F401"]

    # The unused import goes, and so does correctness: a passing test now fails.
    write(tmp_path, {"calc.py": "def double(x: int) -> int:\n    return x * 3\n"})
    verdict = await v.verify(tmp_path, before)

    assert not verdict.accepted
    assert [(d.tool, d.path, d.code) for d in verdict.new] == [("pytest", "test_calc.py", "failed")]


async def test_ruffs_own_fix_of_a_line_with_a_second_unfixable_finding_is_accepted(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "pyproject.toml": '[tool.ruff]\ntarget-version = "py311"\n[tool.ruff.lint]\nselect = ["UP"]\n',
            "m.py": 'def count(n: int) -> str:\n    return u"%s items" % n\n',
        },
    )
    v = verifier("ruff")
    before = await found(tmp_path, v, "m.py")
    assert sorted(d.code for d in before.diagnostics) == ["UP025", "UP031"]

    subprocess.run([str(BIN / "ruff"), "check", "--fix", "--no-cache", "m.py"], cwd=tmp_path, capture_output=True)
    assert (tmp_path / "m.py").read_text() == 'def count(n: int) -> str:\n    return "%s items" % n\n'
    verdict = await v.verify(tmp_path, before)

    assert verdict.accepted, verdict.feedback()
    assert [d.code for d in verdict.gone] == ["UP025"]
    assert [d.code for d in verdict.after.diagnostics] == ["UP031"]


async def test_a_change_that_breaks_an_importer_is_rejected_with_the_importers_diagnostic(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "import os\n\n\ndef helper() -> int:\n    return 1\n",
            "pkg/b.py": "from pkg.a import helper, os\n\nprint(helper(), os.sep)\n",
            "pkg/c.py": "import os\n",
        },
    )
    v = verifier("ruff", "mypy", tree=tmp_path)
    assert v.scope("pkg/a.py").dependents == ("pkg/b.py",)
    before = await found(tmp_path, v, "pkg/a.py")
    assert [(d.path, d.code) for d in before.diagnostics] == [("pkg/a.py", "F401")]

    write(tmp_path, {"pkg/a.py": "def helper() -> int:\n    return 1\n"})
    verdict = await v.verify(tmp_path, before)

    assert not verdict.accepted
    assert [(d.path, d.tool, d.code) for d in verdict.new] == [("pkg/b.py", "mypy", "attr-defined")]
    assert "pkg/b.py:1:" in verdict.feedback()


async def test_a_suppression_is_no_fix_unless_its_code_is_allowed(tmp_path: Path) -> None:
    write(tmp_path, {"m.py": "import os\n"})
    strict, lenient = verifier("ruff"), verifier("ruff", allow=("F401",))
    before = await found(tmp_path, strict, "m.py")

    write(tmp_path, {"m.py": "import os  # noqa: F401\n"})
    refused = await strict.verify(tmp_path, before)
    allowed = await lenient.verify(tmp_path, before)

    assert not refused.accepted
    assert "silences the tools" in refused.feedback()
    assert "m.py: noqa[F401]" in refused.feedback()
    assert allowed.accepted
    assert [str(s) for s in allowed.suppressions] == ["m.py: noqa[F401]"]


async def test_pytest_runs_only_the_tests_that_import_the_changed_module(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "calc.py": "import os\n\n\ndef double(x: int) -> int:\n    return x * 2\n",
            "helpers.py": "from calc import double\n",
            "test_calc.py": "from helpers import double\n\n\ndef test_double() -> None:\n    assert double(2) == 4\n",
            # Unrelated to calc.py: it leaves a mark when it runs.
            "test_other.py": "from pathlib import Path\n\n\ndef test_other() -> None:\n    Path('ran').touch()\n",
        },
    )
    v = verifier("ruff", "pytest", tree=tmp_path)
    assert v.scope("calc.py").tests == ("test_calc.py",)
    before = await found(tmp_path, v, "calc.py")

    write(tmp_path, {"calc.py": "def double(x: int) -> int:\n    return x * 3\n"})
    verdict = await v.verify(tmp_path, before)

    assert [(d.path, d.code) for d in verdict.new] == [("test_calc.py", "failed")]
    assert not (tmp_path / "ran").exists()


async def test_mypy_keeps_its_cache_beside_the_worktree_where_a_fixer_cannot_forge_it(tmp_path: Path) -> None:
    tree = tmp_path / "0"
    write(tree, {"m.py": "def f() -> int:\n    return 1\n"})
    # What a fixer might plant for mypy to trust: it must not be where mypy looks.
    write(tree, {".mypy_cache/3.11/m.meta.json": "{}\n"})
    v = verifier("mypy", tree=tree)

    before = await found(tree, v, "m.py")
    write(tree, {"m.py": "def f() -> int:\n    return 'one'\n"})
    verdict = await v.verify(tree, before)

    assert [(d.path, d.code) for d in verdict.new] == [("m.py", "return-value")]
    assert (caches_of(tree) / ".mypy_cache" / "CACHEDIR.TAG").is_file(), "mypy wrote no cache beside the worktree"
    assert sorted(p.relative_to(tree).as_posix() for p in (tree / ".mypy_cache").rglob("*")) == [
        ".mypy_cache/3.11",
        ".mypy_cache/3.11/m.meta.json",
    ]


async def test_a_batch_is_verified_once_on_the_union_of_its_files_scopes(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "import os\n\nVALUE = 1\n",
            "pkg/b.py": "import sys\n",
            "pkg/user.py": "from pkg.a import VALUE\n\nprint(VALUE)\n",
            "test_b.py": "import pkg.b\n\n\ndef test_b() -> None:\n    assert pkg.b\n",
        },
    )
    v = verifier("ruff", "mypy", tree=tmp_path)
    scope = Scope.union([v.scope("pkg/a.py"), v.scope("pkg/b.py")])
    assert scope == Scope(("pkg/a.py", "pkg/b.py"), ("pkg/user.py", "test_b.py"), ("test_b.py",))
    assert scope.for_tool(TOOLS["ruff"]) == ["pkg/a.py", "pkg/b.py"]
    assert scope.for_tool(TOOLS["mypy"]) == ["pkg/a.py", "pkg/b.py", "pkg/user.py", "test_b.py"]
    assert scope.for_tool(TOOLS["pytest"]) == ["test_b.py"]
    before = await v.baseline(tmp_path, scope)
    assert [(d.path, d.code) for d in before.diagnostics] == [("pkg/a.py", "F401"), ("pkg/b.py", "F401")]

    # One file fixed, the other given a suppression: each file is judged as a single file's change is.
    write(tmp_path, {"pkg/a.py": "VALUE = 1\n", "pkg/b.py": "import sys  # noqa: F401\n"})
    verdict = await v.verify(tmp_path, before)

    assert not verdict.accepted
    assert [str(s) for s in verdict.forbidden] == ["pkg/b.py: noqa[F401]"]
    write(tmp_path, {"pkg/b.py": "import sys\n"})
    verdict = await v.verify(tmp_path, before)
    assert verdict.accepted
    assert [(d.path, d.code) for d in verdict.gone] == [("pkg/a.py", "F401")]
    assert [(d.path, d.code) for d in verdict.after.diagnostics] == [("pkg/b.py", "F401")]

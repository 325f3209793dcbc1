"""Which files a work unit takes: real pytest and mypy output on real repositories, read as a run reads it."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from conftest import BIN, commit_all, write

from stomper import gitops, imports, units
from stomper.diagnostics import Diagnostic
from stomper.tools import TOOLS, run_tools

PYPROJECT = '[tool.pytest.ini_options]\npythonpath = ["src"]\n'
CALC = (
    "import json\n\n\ndef add(a: int, b: int) -> int:\n    return a - b\n\n\n"
    'def parse(text: str) -> int:\n    return int(json.loads(text)["n"])\n'
)


def found(repo: Path, tools: str = "pytest") -> dict[str, list[Diagnostic]]:
    async def run() -> dict[str, list[Diagnostic]]:
        files = await gitops.listed_paths(repo)
        env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
        result = await run_tools(
            [TOOLS[t] for t in tools.split(",")],
            files,
            cwd=repo,
            executables={t: str(BIN / t) for t in tools.split(",")},
            timeout=120,
            env=env,
        )
        return result.by_path()

    return asyncio.run(run())


def plan(
    repo: Path, grouped: dict[str, list[Diagnostic]], cap: int = 3, exclude: tuple[str, ...] = ()
) -> list[units.Unit]:
    async def project() -> units.Project:
        listed = await gitops.listed_paths(repo)
        return units.Project(repo, frozenset(listed), await imports.scan(repo, listed), exclude)

    return units.plan(grouped, asyncio.run(project()), cap)


def test_a_failing_test_takes_its_tracebacks_project_frames_and_what_it_calls(repo: Path) -> None:
    write(
        repo,
        {
            "pyproject.toml": PYPROJECT,
            "src/pkg/__init__.py": "",
            "src/pkg/calc.py": CALC,
            "src/pkg/unused.py": "X = 1\n",
            "tests/test_calc.py": (
                "from pkg.calc import add, parse\nfrom pkg.unused import X\n\n\n"
                "def test_add() -> None:\n    assert add(2, 2) == 4\n\n\n"
                'def test_parse() -> None:\n    assert parse("{") == X\n'
            ),
        },
    )
    commit_all(repo)
    grouped = found(repo)
    parse_failure = next(d for d in grouped["tests/test_calc.py"] if "test_parse" in d.message)
    # The traceback runs from the test through calc into json, outside the repository.
    assert parse_failure.related[:2] == ("tests/test_calc.py", "src/pkg/calc.py")
    assert any(("json" in f and f.startswith("..")) or f.startswith("/") for f in parse_failure.related[2:])
    assert "JSONDecodeError" in parse_failure.detail

    [unit] = plan(repo, grouped)

    # pkg.unused is used by test_parse (X), after the traceback's own frames.
    assert unit.files == ("tests/test_calc.py", "src/pkg/calc.py", "src/pkg/unused.py")
    assert unit.after == ()
    [capped] = plan(repo, grouped, cap=2)
    assert capped.files == ("tests/test_calc.py", "src/pkg/calc.py")
    [alone] = plan(repo, grouped, cap=1)
    assert alone.files == ("tests/test_calc.py",)


def test_excluded_ignored_and_installed_files_never_join(repo: Path) -> None:
    write(
        repo,
        {
            "pyproject.toml": PYPROJECT.replace('["src"]', '["src", "gen", "lib/site-packages"]'),
            ".gitignore": "ignored/\n",
            "src/pkg/__init__.py": "",
            "gen/generated.py": "def value() -> int:\n    return 1\n",
            "lib/site-packages/vendored.py": "def value() -> int:\n    return 1\n",
            "tests/test_calc.py": (
                "from generated import value as a\nfrom vendored import value as b\nfrom helper import value as c\n\n\n"
                "def test_sum() -> None:\n    assert a() + b() + c() == 4\n"
            ),
        },
    )
    commit_all(repo)
    write(repo, {"ignored/helper.py": "def value() -> int:\n    return 1\n"})
    os.environ["PYTHONPATH"] = str(repo / "ignored")
    try:
        grouped = found(repo)
    finally:
        del os.environ["PYTHONPATH"]

    [unit] = plan(repo, grouped, cap=10, exclude=("gen/",))

    assert unit.files == ("tests/test_calc.py",)
    [unit] = plan(repo, grouped, cap=10)
    assert unit.files == ("tests/test_calc.py", "gen/generated.py")


def test_units_that_share_a_file_are_one_within_the_cap_else_the_later_waits(repo: Path) -> None:
    add = "from pkg.calc import add\n\n\ndef test_{n}() -> None:\n    assert add({n}, {n}) == 2 * {n}\n"
    write(
        repo,
        {
            "pyproject.toml": PYPROJECT,
            "src/pkg/__init__.py": "",
            "src/pkg/calc.py": CALC,
            "src/pkg/other.py": "X = 1\n",
            "tests/test_a.py": add.format(n=1),
            "tests/test_b.py": add.format(n=2),
            "tests/test_c.py": "from pkg.other import X\n\n\ndef test_c() -> None:\n    assert X == 2\n",
        },
    )
    commit_all(repo)
    grouped = found(repo)

    merged, apart = plan(repo, grouped)

    assert merged.files == ("tests/test_a.py", "src/pkg/calc.py", "tests/test_b.py")
    assert [d.path for d in merged.diagnostics] == ["tests/test_a.py", "tests/test_b.py"]
    assert merged.after == apart.after == ()
    assert apart.files == ("tests/test_c.py", "src/pkg/other.py")
    first, later, other = plan(repo, grouped, cap=2)
    assert (first.files, first.after) == (("tests/test_a.py", "src/pkg/calc.py"), ())
    assert (later.files, later.after) == (("tests/test_b.py", "src/pkg/calc.py"), ("tests/test_a.py",))
    assert other.after == ()


def test_a_mypy_error_about_a_call_takes_the_callees_file(repo: Path) -> None:
    write(
        repo,
        {
            "pkg/__init__.py": "",
            "pkg/lib.py": "def double(x: str) -> int:\n    return int(x) * 2\n",
            "pkg/use.py": (
                "from pkg import lib\nfrom pkg.lib import double\n\n\n"
                "def run() -> int:\n    return double(3)\n\n\ndef keyword() -> int:\n    return lib.double(y=3)\n"
            ),
        },
    )
    commit_all(repo)
    grouped = found(repo, "mypy")
    assert {d.code for d in grouped["pkg/use.py"]} == {"arg-type", "call-arg"}

    [unit] = plan(repo, grouped)

    assert unit.files == ("pkg/use.py", "pkg/lib.py")


def unit(*files: str) -> units.Unit:
    return units.Unit(files, (Diagnostic(files[0], 1, 1, "pytest", "failed", "x"),))


def merged(cap: int, *made: units.Unit) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    grouped = {u.path: list(u.diagnostics) for u in made}
    return [(u.files, u.after) for u in units.merged(made, grouped, cap)]


def test_a_unit_too_large_to_merge_waits_for_every_earlier_unit_it_shares_a_file_with() -> None:
    a, b, c = unit("a.py", "x.py"), unit("b.py", "y.py"), unit("c.py", "x.py", "z.py")
    d = unit("d.py", "z.py", "y.py")

    assert merged(3, a, b, c, d) == [
        (("a.py", "x.py"), ()),
        (("b.py", "y.py"), ()),
        (("c.py", "x.py", "z.py"), ("a.py",)),
        (("d.py", "z.py", "y.py"), ("b.py", "c.py")),
    ]


def test_who_waited_for_a_unit_merged_away_waits_for_the_unit_it_became() -> None:
    f, x = unit("f.py"), unit("x.py", "n.py")
    w = unit("w.py", "n.py", "o.py", "p.py")  # with x, five files: it waits for x
    y = unit("y.py", "f.py", "x.py")  # f, x and y are four: one unit, under f's name

    assert merged(4, f, x, w, y) == [
        (("f.py", "x.py", "n.py", "y.py"), ()),
        (("w.py", "n.py", "o.py", "p.py"), ("f.py",)),
    ]

"""Suppressions a change adds: found by comparing a file before and after, whatever the form."""

from __future__ import annotations

import pytest

from stomper.suppressions import Suppression, added

CODE = "import os\n\n\ndef f() -> int:\n    return 1\n"


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        ("import os  # noqa\n", ("noqa", ())),
        ("import os  # NOQA:F401,E501\n", ("noqa", ("E501", "F401"))),
        ("# ruff: noqa\nimport os\n", ("ruff: noqa", ())),
        ("# flake8: noqa: F401\nimport os\n", ("ruff: noqa", ("F401",))),
        ("x: int = 'a'  # type: ignore\n", ("type: ignore", ())),
        ("x: int = 'a'  # type:ignore[assignment, misc]\n", ("type: ignore", ("assignment", "misc"))),
        ("x: int = 'a'  # pyright: ignore[reportAssignmentType]\n", ("pyright: ignore", ("reportAssignmentType",))),
        ("# mypy: ignore-errors\n", ("mypy: ignore-errors", ())),
        ('# mypy: disable-error-code="assignment"\n', ("mypy: disable-error-code", ("assignment",))),
        ("@typing.no_type_check\ndef f(): ...\n", ("no_type_check", ())),
        ("@pytest.mark.skip(reason='later')\ndef g(): ...\n", ("pytest.mark.skip", ())),
        ("@pytest.mark.skipif(True, reason='x')\ndef g(): ...\n", ("pytest.mark.skipif", ())),
        ("@pytest.mark.xfail\ndef g(): ...\n", ("pytest.mark.xfail", ())),
        ("def g():\n    pytest.skip('x')\n", ("pytest.skip", ())),
        ("def g():\n    pytest.xfail('x')\n", ("pytest.xfail", ())),
        ("@unittest.skip('x')\ndef g(): ...\n", ("unittest.skip", ())),
    ],
)
def test_each_form_is_found(after: str, expected: tuple[str, tuple[str, ...]]) -> None:
    assert added("m.py", CODE, CODE + after) == [Suppression("m.py", *expected)]


def test_a_suppression_that_only_moved_is_not_new() -> None:
    before = "import os  # noqa: F401\nimport sys\n"
    after = "import sys\nimport os  # noqa: F401\n"

    assert added("m.py", before, after) == []


def test_a_second_copy_of_an_existing_suppression_is_new() -> None:
    before = "import os  # noqa: F401\n"

    assert added("m.py", before, before * 2) == [Suppression("m.py", "noqa", ("F401",))]


def test_deleted_tests_and_asserts_count_in_test_files_only() -> None:
    before = "def test_a():\n    assert 1\n    assert 2\n\n\ndef test_b():\n    assert 3\n"
    after = "def test_a():\n    assert 1\n"

    assert added("tests/test_m.py", before, after) == [
        Suppression("tests/test_m.py", "deleted assert"),
        Suppression("tests/test_m.py", "deleted assert"),
        Suppression("tests/test_m.py", "deleted test"),
    ]
    assert added("m.py", before, after) == []


def test_allowed_means_every_code_named_is_allowed() -> None:
    assert Suppression("m.py", "type: ignore", ("import-untyped",)).allowed(["import-untyped"])
    assert not Suppression("m.py", "type: ignore", ("import-untyped", "misc")).allowed(["import-untyped"])
    assert not Suppression("m.py", "type: ignore").allowed(["import-untyped"])
    assert Suppression("m.py", "pytest.mark.xfail").allowed(["pytest.mark.xfail"])


FAILING = (
    "import pytest\n\nfrom calc import add\n\n\n"
    "@pytest.mark.parametrize(('a', 'want'), [(2, 4)])\n"
    "def test_add(a: int, want: int) -> None:\n"
    '    """Adding a number to itself doubles it."""\n'
    "    got = add(a, a)\n    expected = want\n    assert got == expected\n\n\n"
    "def test_other() -> None:\n    assert add(0, 0) == 0\n"
)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("assert got == expected", "assert got != expected"),
        ("assert got == expected", "assert got == expected or True"),
        ("[(2, 4)]", "[(2, 5)]"),
        ("got = add(a, a)", "got = add(a, a) + 0"),
        ("expected = want", "expected = want - 1"),
        ("def test_add", "def _test_add"),
    ],
)
def test_a_change_to_what_a_failing_test_asserts_is_found(old: str, new: str) -> None:
    after = FAILING.replace(old, new)
    found = added("tests/test_calc.py", FAILING, after, {"test_add"})
    assert {s.kind for s in found} & {"edited assertion", "deleted test"}, found


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('"""Adding a number to itself doubles it."""', '"""Doubling."""'),
        ("from calc import add", "from calc import add as add"),
        ("got = add(a, a)", "got = add(a,  a)  # spacing"),
        ("assert add(0, 0) == 0", "assert add(0, 0) == 1"),  # test_other does not fail: no spec of this change
    ],
)
def test_what_does_not_change_a_failing_tests_assertions_is_no_suppression(old: str, new: str) -> None:
    assert added("tests/test_calc.py", FAILING, FAILING.replace(old, new), {"test_add"}) == []


def test_an_edited_assertion_is_allowed_only_by_name() -> None:
    [found] = added("tests/test_calc.py", FAILING, FAILING.replace("[(2, 4)]", "[(2, 5)]"), {"test_add"})
    assert str(found) == "tests/test_calc.py: edited assertion"
    assert not found.allowed(["import-untyped"])
    assert found.allowed(["edited assertion"])

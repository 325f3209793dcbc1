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

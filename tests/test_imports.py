"""The reverse import graph: who imports a file, directly or not, and which tests do."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from conftest import write

from stomper import imports
from stomper.imports import scan

PROJECT = {
    "src/shop/__init__.py": "",
    "src/shop/price.py": "def price() -> int:\n    return 1\n",
    "src/shop/cart.py": "from .price import price\n",
    "src/shop/checkout.py": "from shop import cart\n",
    "src/shop/sub/__init__.py": "",
    "src/shop/sub/deep.py": "from ..price import price\n",
    "src/other.py": "import json\n",
    "tests/conftest.py": "",
    "tests/test_checkout.py": "import shop.checkout\n",
    "tests/test_other.py": "from other import x\n",
    "tests/helpers.py": "def lazy():\n    from shop.price import price\n",
    "tests/test_lazy.py": "from helpers import lazy\n",
    "broken.py": "def (:\n",
}


async def test_dependents_follow_absolute_relative_and_function_level_imports(tmp_path: Path) -> None:
    write(tmp_path, PROJECT)
    graph = await scan(tmp_path, list(PROJECT))

    assert graph.dependents("src/shop/price.py") == [
        "src/shop/cart.py",
        "src/shop/checkout.py",
        "src/shop/sub/deep.py",
        "tests/helpers.py",
        "tests/test_checkout.py",
        "tests/test_lazy.py",
    ]
    assert graph.dependents("src/other.py") == ["tests/test_other.py"]
    assert graph.dependents("broken.py") == []


async def test_tests_are_the_test_files_among_the_dependents_within_testpaths(tmp_path: Path) -> None:
    write(tmp_path, PROJECT)
    graph = await scan(tmp_path, list(PROJECT))

    assert graph.tests("src/shop/price.py") == ["tests/test_checkout.py", "tests/test_lazy.py"]
    assert graph.tests("src/shop/price.py", within=["elsewhere"]) == []
    assert graph.tests("tests/test_other.py") == ["tests/test_other.py"]


async def test_a_conftest_that_imports_a_module_brings_every_test_below_it(tmp_path: Path) -> None:
    write(tmp_path, {**PROJECT, "tests/conftest.py": "import other\n"})
    graph = await scan(tmp_path, [*PROJECT])

    assert graph.tests("src/other.py") == ["tests/test_checkout.py", "tests/test_lazy.py", "tests/test_other.py"]


async def test_only_the_files_that_say_import_are_parsed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(
        tmp_path,
        {
            **PROJECT,
            # Imports however they are written: continued, after a semicolon, in another encoding.
            "src/shop/odd.py": "x = 1; from shop.price \\\n    import price\n",
            "src/shop/latin.py": "# -*- coding: latin-1 -*-\ns = 'caf\xe9'\nimport shop.price\n",
        },
    )
    (tmp_path / "src/shop/latin.py").write_bytes((tmp_path / "src/shop/latin.py").read_text().encode("latin-1"))
    parsed: list[str] = []
    real = imports.ast.parse

    def logged(source: bytes, filename: str) -> ast.Module:
        parsed.append(filename)
        return real(source, filename=filename)

    monkeypatch.setattr(imports.ast, "parse", logged)
    graph = await scan(tmp_path, [*PROJECT, "src/shop/odd.py", "src/shop/latin.py"])

    assert "src/shop/price.py" not in parsed
    assert "src/shop/__init__.py" not in parsed
    assert "src/shop/odd.py" in parsed
    assert graph.dependents("src/shop/price.py") == [
        "src/shop/cart.py",
        "src/shop/checkout.py",
        "src/shop/latin.py",
        "src/shop/odd.py",
        "src/shop/sub/deep.py",
        "tests/helpers.py",
        "tests/test_checkout.py",
        "tests/test_lazy.py",
    ]

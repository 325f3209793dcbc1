"""What a project's own configuration says about the files its tools check.

Read, never written: stomper runs mypy and pytest on the project's own
selection (`[tool.mypy] files` and `exclude`, pytest's `testpaths`) when the
user names no files, as the user's own `mypy` and `pytest` do. A file that
cannot be read or parsed says nothing here; the tool itself will say why.
"""

from __future__ import annotations

import configparser
import re
import tomllib
from pathlib import Path
from typing import Any

# Where each tool looks, in the order it looks: (file, section in an ini file or dotted table in TOML).
_MYPY = (("mypy.ini", "mypy"), (".mypy.ini", "mypy"), ("pyproject.toml", "tool.mypy"), ("setup.cfg", "mypy"))
_PYTEST = (
    ("pytest.ini", "pytest"),
    (".pytest.ini", "pytest"),
    ("pyproject.toml", "tool.pytest.ini_options"),
    ("tox.ini", "pytest"),
    ("setup.cfg", "tool:pytest"),
)


def mypy_files(root: Path) -> list[str]:
    """mypy's `files` setting: what plain `mypy` checks (empty: none configured)."""
    return _strings(_setting(root, _MYPY, "files"), r"[,\n]")


def mypy_excluded(root: Path, path: str) -> bool:
    """Whether mypy's `exclude` regular expressions leave `path` out of the project's check."""
    # One regular expression in an ini file (verbose ones span lines), a string or a list in TOML.
    value = _setting(root, _MYPY, "exclude")
    patterns = [value] if isinstance(value, str) else _strings(value, "")
    for pattern in patterns:
        try:
            if re.search(pattern, path):
                return True
        except re.error:
            continue
    return False


def pytest_testpaths(root: Path) -> list[str]:
    """pytest's `testpaths` setting (empty: none configured)."""
    return _strings(_setting(root, _PYTEST, "testpaths"), r"\s+")


def _setting(root: Path, places: tuple[tuple[str, str], ...], key: str) -> Any:
    for name, section in places:
        path = root / name
        if not path.is_file():
            continue
        table = _toml_table(path, section) if name.endswith(".toml") else _ini_section(path, section)
        if table is not None:
            # The first file with the tool's section is the tool's configuration, whatever it holds.
            return table.get(key)
    return None


def _toml_table(path: Path, dotted: str) -> dict[str, Any] | None:
    try:
        table: Any = tomllib.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    for part in dotted.split("."):
        table = table.get(part) if isinstance(table, dict) else None
    return table if isinstance(table, dict) else None


def _ini_section(path: Path, section: str) -> dict[str, Any] | None:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except (OSError, UnicodeDecodeError, configparser.Error):
        return None
    return dict(parser[section]) if parser.has_section(section) else None


def _strings(value: Any, separator: str) -> list[str]:
    if isinstance(value, str):
        return [part.strip() for part in re.split(separator, value) if part.strip()]
    if isinstance(value, list):
        return [str(part).strip() for part in value if str(part).strip()]
    return []

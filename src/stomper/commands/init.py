"""`stomper init`: write a commented configuration for the project at hand.

The tools are the ones the project has configured: ruff, mypy and pytest
each leave a trace (a table in pyproject.toml, a file of their own, a
tests/ directory). A configured tool that is not installed is left out, and
said so, so that the next `stomper check` runs. Everything else is written
commented out at its default.
"""

from __future__ import annotations

import configparser
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from stomper import gitops
from stomper.config import ALL_TOOLS, StomperSettings, ToolName
from stomper.configdoc import settings_lines
from stomper.errors import ConfigError, ExecutableNotFound, ExitCode, NotAGitRepository
from stomper.tools import TOOLS, find_executable

HEADER = [
    "# stomper's configuration, written by `stomper init`. Every key is listed, commented",
    "# out at its default; remove the '#' in front of one to change it. The reference, with",
    "# each key's environment variable: docs/configuration.md in stomper's repository.",
]


@dataclass(frozen=True)
class Detected:
    """The tools a project has configured, each with where it was seen."""

    evidence: dict[ToolName, str]
    missing: tuple[ToolName, ...] = ()
    """Configured but not installed: left out of `tools`, or the first `stomper check` would fail on them."""

    @property
    def tools(self) -> list[ToolName]:
        found = [tool for tool in ALL_TOOLS if tool in self.evidence and tool not in self.missing]
        # Nothing configured: ruff still has something to say with its defaults (and comes with stomper).
        return found or ["ruff"]

    def note(self) -> str:
        if not self.evidence:
            return "No tool configuration found; ruff runs with its own defaults."
        found = "Found: " + "; ".join(f"{tool} ({where})" for tool, where in self.evidence.items()) + "."
        if not self.missing:
            return found
        names, them = " and ".join(self.missing), "them" if len(self.missing) > 1 else "it"
        return (
            f"{found} Not installed, so left out of tools: {names}; "
            f"to run {them}, pip install {' '.join(self.missing)} and add {them} to tools."
        )

    def installed_only(self, root: Path) -> Detected:
        """These tools less the ones not installed where stomper would look for them from `root`."""
        return replace(self, missing=tuple(tool for tool in self.evidence if not _installed(tool, root)))


def project_root(cwd: Path) -> Path:
    """The git repository's root around `cwd`, or `cwd` outside git."""
    try:
        return gitops.open_repo(cwd).root
    except NotAGitRepository:
        return cwd.resolve()


def detect_tools(root: Path) -> Detected:
    """Which of ruff, mypy and pytest the project at `root` has configured."""
    pyproject = _toml(root / "pyproject.toml")
    tool = pyproject.get("tool", {})
    setup_cfg = _ini(root / "setup.cfg")
    tox_ini = _ini(root / "tox.ini")
    signs: dict[ToolName, list[tuple[bool, str]]] = {
        "ruff": [
            ("ruff" in tool, "[tool.ruff] in pyproject.toml"),
            ((root / "ruff.toml").is_file(), "ruff.toml"),
            ((root / ".ruff.toml").is_file(), ".ruff.toml"),
        ],
        "mypy": [
            ("mypy" in tool, "[tool.mypy] in pyproject.toml"),
            ((root / "mypy.ini").is_file(), "mypy.ini"),
            ((root / ".mypy.ini").is_file(), ".mypy.ini"),
            (setup_cfg.has_section("mypy"), "[mypy] in setup.cfg"),
        ],
        "pytest": [
            ("ini_options" in tool.get("pytest", {}), "[tool.pytest.ini_options] in pyproject.toml"),
            ((root / "pytest.ini").is_file(), "pytest.ini"),
            ((root / ".pytest.ini").is_file(), ".pytest.ini"),
            (setup_cfg.has_section("tool:pytest"), "[tool:pytest] in setup.cfg"),
            (tox_ini.has_section("pytest"), "[pytest] in tox.ini"),
            ((root / "conftest.py").is_file(), "conftest.py"),
            ((root / "tests").is_dir(), "a tests/ directory"),
        ],
    }
    evidence: dict[ToolName, str] = {}
    for name, checks in signs.items():
        seen = [where for present, where in checks if present]
        if seen:
            evidence[name] = ", ".join(seen)
    return Detected(evidence)


def render(detected: Detected, *, pyproject: bool) -> str:
    """The configuration text: stomper.toml, or a [tool.stomper] section of pyproject.toml."""
    prefix = ("tool", "stomper") if pyproject else ()
    lines = settings_lines(StomperSettings, prefix=prefix, values={"tools": (detected.tools, detected.note())})
    if pyproject:
        # The section goes at the end of someone else's file: start it with our
        # header right above its table, not with a blank line.
        return "\n".join([*HEADER, *lines[1:]]) + "\n"
    return "\n".join([*HEADER, *lines]) + "\n"


def run(cwd: Path, *, pyproject: bool, force: bool, console: Console) -> int:
    """Write the configuration for the project around `cwd`; raises `ConfigError` rather than overwrite one."""
    root = project_root(cwd)
    detected = detect_tools(root).installed_only(root)
    text = render(detected, pyproject=pyproject)
    if pyproject:
        target = root / "pyproject.toml"
        _write_pyproject(target, text, force=force)
    else:
        target = root / "stomper.toml"
        if target.exists() and not force:
            raise ConfigError(f"{target} already exists; use --force to replace it")
        target.write_text(text, encoding="utf-8")
    console.print(f"wrote {escape(str(target))}: tools = {', '.join(detected.tools)}", highlight=False)
    console.print(escape(detected.note()), highlight=False, soft_wrap=True)
    if pyproject and (root / "stomper.toml").exists():
        console.print(
            f"warning: {root / 'stomper.toml'} exists and overrides [tool.stomper] key by key; "
            "remove it, or edit it instead",
            highlight=False,
            markup=False,
        )
    return ExitCode.OK


def _write_pyproject(path: Path, section: str, *, force: bool) -> None:
    if not path.is_file():
        raise ConfigError(f"{path} does not exist; run `stomper init` without --pyproject to write stomper.toml")
    before_text = path.read_text(encoding="utf-8")
    before = _toml(path)
    if "stomper" in before.get("tool", {}):
        if not force:
            raise ConfigError(f"{path} already has a [tool.stomper] section; use --force to replace it")
        before_text = _without_stomper_tables(before_text, path, before)
    if before_text and not before_text.endswith("\n"):
        before_text += "\n"
    path.write_text(before_text + ("\n" if before_text else "") + section, encoding="utf-8")


def _without_stomper_tables(text: str, path: Path, parsed: dict[str, Any]) -> str:
    """`text` less its [tool.stomper] and [tool.stomper.*] tables, checked by parsing."""
    kept: list[str] = []
    inside = False
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        if stripped.startswith("[") and not stripped.startswith("[["):
            name = stripped.strip("[]").split("#")[0].strip().strip("]").replace(" ", "")
            inside = name == "tool.stomper" or name.startswith("tool.stomper.")
        elif stripped.startswith("[["):
            inside = False
        if not inside:
            kept.append(line)
    result = "".join(kept).rstrip("\n")
    # Our own header, left above the section by an earlier `stomper init --pyproject`.
    result = result.removesuffix("\n".join(HEADER)).rstrip("\n")
    result = result + "\n" if result else ""
    expected = {**parsed, "tool": {k: v for k, v in parsed.get("tool", {}).items() if k != "stomper"}}
    if not expected["tool"]:
        del expected["tool"]
    try:
        same = tomllib.loads(result) == expected
    except tomllib.TOMLDecodeError:
        same = False
    if not same:
        raise ConfigError(f"{path}: cannot take out the [tool.stomper] section safely; remove it by hand")
    return result


def _installed(tool: ToolName, root: Path) -> bool:
    try:
        find_executable(TOOLS[tool].executable, root)
    except ExecutableNotFound:
        return False
    return True


def _toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def _ini(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except configparser.Error as exc:
        raise ConfigError(f"{path}: cannot be read: {exc}") from None
    return parser

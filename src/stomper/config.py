"""Stomper's settings, and where each one comes from.

Highest first: command-line options, `STOMPER_*` environment variables,
`stomper.toml`, `[tool.stomper]` in `pyproject.toml`, the defaults below.
pydantic-settings reads each layer; `load_settings` validates each layer on
its own first, so that a bad value is reported with the file it came from.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from stomper.errors import ConfigError


def is_ci(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether we run under CI: `CI=true`, as GitHub Actions, GitLab CI and most others set it."""
    return environ.get("CI", "").strip().lower() in ("true", "1", "yes")


ToolName = Literal["ruff", "mypy", "pytest"]
FixerName = Literal["auto", "ruff", "agent", "llm"]
VerifyTests = Literal["affected", "all"]
CiExit = Literal["analysed", "fixed"]
SandboxMode = Literal["auto", "required", "off"]
AgentPreset = Literal["claude", "codex", "aider", "gemini", "cursor", "opencode"]
ALL_TOOLS: tuple[ToolName, ...] = ("ruff", "mypy", "pytest")


def _split_commas(value: Any) -> Any:
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        # "ruff,ruff" would run ruff twice and report everything twice.
        return list(dict.fromkeys(value))
    return value


class AgentSettings(BaseModel):
    """The external coding agent used by the `agent` fixer."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    preset: AgentPreset | None = None
    """A known agent CLI run unattended with edit permission in the worktree only:
    claude, codex, aider, gemini, cursor or opencode (see docs/fixers.md)."""

    command: list[str] = []
    """Argument template of any other agent, e.g. ["my-agent", "--fix", "{file}"]; {file},
    {files} (the work unit's files), {prompt_file} and {prompt} are substituted, the prompt is
    also on stdin. Wins over preset."""

    timeout: float = Field(default=600.0, gt=0)
    """Seconds one agent attempt may take before its whole process group is killed."""

    home_paths: list[str] = [
        ".claude.json",
        ".claude/.credentials.json",
        ".claude/settings.json",
        ".codex/auth.json",
        ".codex/config.toml",
        ".aider.conf.yml",
        ".gemini/oauth_creds.json",
        ".gemini/google_accounts.json",
        ".gemini/settings.json",
        ".cursor/cli-config.json",
        ".config/cursor",
        ".local/share/opencode/auth.json",
        ".config/opencode",
        ".gitconfig",
        ".config/git",
    ]
    """Files and directories of your home directory a sandboxed agent needs (its login, its settings),
    relative to your home; copied for each attempt to the same place in the private HOME it gets,
    so that it can change its copy but never your files."""

    @field_validator("home_paths")
    @classmethod
    def _inside_home(cls, value: list[str]) -> list[str]:
        for path in value:
            if not path or Path(path).is_absolute() or ".." in Path(path).parts:
                raise ValueError(f"{path!r} is not a path inside your home directory (e.g. .claude)")
        return value


class Price(BaseModel):
    """What a chat model costs, in US dollars per million tokens."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    input: float = Field(ge=0)
    """Dollars per million input (prompt) tokens."""

    output: float = Field(ge=0)
    """Dollars per million output (completion) tokens."""


class LlmSettings(BaseModel):
    """How the `llm` fixer talks to its chat model (the model itself is the top-level `model`)."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    base_url: str | None = None
    """The provider's endpoint, for OpenAI-compatible servers, proxies or a remote Ollama,
    e.g. http://localhost:8000/v1; default: the provider's own."""

    edit_format: Literal["auto", "search-replace", "whole-file"] = "auto"
    """The answer the model is asked for: SEARCH/REPLACE blocks, the whole file,
    or auto (SEARCH/REPLACE blocks for files over 200 lines, the whole file below)."""

    max_calls: int | None = Field(default=100, ge=1)
    """Model calls one run may start; none: no limit."""

    max_tokens: int | None = Field(default=None, ge=1)
    """Input plus output tokens one run may spend; calls running when it is reached finish."""

    max_cost: float | None = Field(default=None, gt=0)
    """US dollars one run may spend, counted from token usage and `prices`;
    calls running when it is reached still finish."""

    rate_limit: float | None = Field(default=None, gt=0)
    """Model requests per second across all files (0.5: one every two seconds); none: no limit."""

    request_timeout: float = Field(default=120.0, gt=0)
    """Seconds one HTTP request to the model may take."""

    max_retries: int = Field(default=3, ge=0, le=10)
    """Retries of a request refused with 429 or 5xx (exponential backoff, honouring Retry-After)."""

    prices: dict[str, Price] = {}
    """Prices by model as written in `model` (e.g. "openai:gpt-4o-mini"), over those the
    genai-prices package lists."""

    model_kwargs: dict[str, Any] = {}
    """Options passed as they are to the provider's LangChain chat model, e.g.
    {temperature = 0} or, for Ollama, {num_ctx = 32768}; they win over stomper's own."""

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value


class StomperSettings(BaseSettings):
    """Every setting stomper reads. Field docstrings are the documentation."""

    model_config = SettingsConfigDict(
        env_prefix="STOMPER_",
        env_nested_delimiter="__",
        extra="forbid",
        use_attribute_docstrings=True,
    )

    # NoDecode: STOMPER_TOOLS=ruff,mypy is a comma list, not JSON.
    tools: Annotated[list[ToolName], NoDecode, Field(min_length=1)] = list(ALL_TOOLS)
    """Quality tools to run: any of ruff, mypy, pytest."""

    exclude: Annotated[list[str], NoDecode] = []
    """Files never checked nor fixed, as .gitignore patterns: `migrations` anywhere, `/setup.py`
    at the root only, `vendor/` a directory, `*_pb2.py` by name."""

    tool_timeout: float = Field(300.0, gt=0)
    """Seconds one run of a quality tool may take."""

    parallel: int = Field(1, ge=1, le=32)
    """How many files are fixed at once."""

    keep_worktrees: bool = True
    """Keep the run's worktrees (under .git/stomper/worktrees/pool, a checkout of the repository each, as many
    as the run used at once) for the next run, which resets them to its own snapshot rather than checking
    the repository out again. `stomper clean` removes them."""

    fixer: FixerName = "auto"
    """Which fixer edits files: auto (ruff, then the agent or model if configured), ruff, agent, llm."""

    max_attempts: int = Field(3, ge=1, le=10)
    """Attempts an AI fixer gets per file; each retry is told why the previous one was rejected."""

    file_timeout: float | None = Field(900.0, gt=0)
    """Seconds all the attempts on one file may take together, fixers and verification included (not the
    wait for a turn to run a fixer); when they run out the file keeps its last verified state. none: no limit."""

    unsafe_fixes: bool = False
    """Let the ruff fixer apply ruff's unsafe fixes."""

    ruff_format: bool = False
    """Let the ruff fixer also run `ruff format` on the file it fixes."""

    allow_other_files: bool = False
    """Accept a fix that also changes files other than the ones being fixed (its unit's)."""

    unit_max_files: int = Field(3, ge=1, le=20)
    """Most files one fix may span: a failing test, with the project files its traceback runs
    through and the ones defining what it calls, or a mypy error with the file defining the
    callee (see docs/fixers.md). 1: every fix stays in its failing file."""

    allow_suppressions: Annotated[list[str], NoDecode] = ["import-untyped"]
    """Codes a fix may silence rather than fix (e.g. `# type: ignore[import-untyped]` for a library
    without type hints); the file is then reported as suppressed, not fixed. Any other added
    `# noqa`, `# type: ignore`, `# pyright: ignore`, `# mypy: ignore-errors`, skip or xfail
    marker, deleted test or deleted assert makes a fix no fix."""

    verify_tests: VerifyTests = "affected"
    """Which tests verify a fix: affected (the tests that import a changed module, directly or
    not, within pytest's testpaths) or all (the whole suite, for every attempt on every file)."""

    max_patch_bytes: int = Field(1024 * 1024, ge=1)
    """Largest change, in bytes of patch, a fix may make to be applied; a fixer that
    rewrites far more than the file's diagnostics call for is refused."""

    ci_exit: CiExit = "analysed"
    """What a CI run's exit status (--ci, CI=true) says: analysed (1 while the analysed commit
    has diagnostics, even when stomper fixed them) or fixed (1 only when diagnostics remain
    after the fixes, for teams whose gate is the fix branch)."""

    agent: AgentSettings = AgentSettings()
    """The external coding agent (see [agent])."""

    sandbox: SandboxMode = "auto"
    """How agents, and the tools that run what an AI wrote, are confined (see docs/safety.md): auto (with
    bubblewrap where it works, else unconfined, said once), required (refuse to run them without it), off (never)."""

    model: str | None = None
    """LangChain chat model as provider:model, e.g. openai:gpt-4o-mini, or a name LangChain infers
    the provider of (gpt-4o-mini); enables the llm fixer."""

    llm: LlmSettings = LlmSettings()
    """How the llm fixer calls its model: endpoint, edit format, budgets, rate limit (see [llm])."""

    _split = field_validator("tools", "exclude", "allow_suppressions", mode="before")(_split_commas)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Constructing StomperSettings(...) directly takes only what it is
        # given; the layered sources are `load_settings`'s business.
        return (init_settings,)


def load_settings(root: Path, overrides: Mapping[str, Any] | None = None) -> StomperSettings:
    """The settings for the project at `root`, command-line `overrides` first.

    Raises `ConfigError` naming the key and where it came from.
    """
    tool = _table(_read(root / "pyproject.toml"), "tool", root / "pyproject.toml")
    pyproject = _table(tool, "stomper", root / "pyproject.toml", "tool.")
    layers = [
        (f"{root / 'pyproject.toml'} [tool.stomper]", pyproject),
        (str(root / "stomper.toml"), _read(root / "stomper.toml")),
        ("environment (STOMPER_*)", _environment()),
        ("command line", {k: v for k, v in (overrides or {}).items() if v is not None}),
    ]
    merged: dict[str, Any] = {}
    for origin, data in layers:
        _validate(data, origin)
        merged = _deep_merge(merged, data)
    return _validate(merged, "configuration")


def _read(path: Path) -> dict[str, Any]:
    try:
        return TomlConfigSettingsSource(StomperSettings, path)()
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror}") from None


def _table(data: Mapping[str, Any], key: str, path: Path, prefix: str = "") -> Mapping[str, Any]:
    """`data[key]`, which must be a table when present (`tool = 5` is valid TOML, but no table)."""
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        raise ConfigError(f"{path}: {prefix}{key}: must be a table (got {value!r})")
    return value


def _environment() -> dict[str, Any]:
    try:
        return EnvSettingsSource(StomperSettings)()
    except SettingsError as exc:
        # e.g. STOMPER_AGENT__COMMAND that is not a JSON list
        raise ConfigError(f"environment (STOMPER_*): {exc}") from None


def _validate(data: Mapping[str, Any], origin: str) -> StomperSettings:
    try:
        return StomperSettings.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        # List indexes are left out: "tools", not "tools.1".
        key = ".".join(str(part) for part in first["loc"] if not isinstance(part, int)) or "(top level)"
        if first["type"] == "extra_forbidden":
            raise ConfigError(f"{origin}: unknown key '{key}'{_nearest(key)}") from None
        raise ConfigError(f"{origin}: {key}: {first['msg']} (got {first['input']!r})") from None


def _nearest(key: str) -> str:
    """ "; did you mean 'x'?" for the known key closest to `key`, or nothing."""
    *parents, name = key.split(".")
    model: Any = StomperSettings
    for part in parents:
        field = model.model_fields.get(part)
        model = field.annotation if field is not None else None
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return ""
    close = difflib.get_close_matches(name, list(model.model_fields), n=1)
    return f"; did you mean '{'.'.join([*parents, close[0]])}'?" if close else ""


def _deep_merge(low: dict[str, Any], high: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(low)
    for key, value in high.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _deep_merge(dict(merged[key]), value)
        else:
            merged[key] = value
    return merged

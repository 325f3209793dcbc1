"""Where each setting comes from, and what a bad one looks like."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import write

from stomper import cli
from stomper.config import StomperSettings, load_settings
from stomper.errors import ConfigError


def test_defaults_without_any_configuration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STOMPER_SANDBOX")  # the tests' own default (conftest.py)
    settings = load_settings(tmp_path)

    assert settings == StomperSettings()
    assert settings.tools == ["ruff", "mypy", "pytest"]
    assert settings.exclude == []


def test_each_layer_overrides_the_ones_below(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(
        tmp_path,
        {
            "pyproject.toml": (
                "[tool.stomper]\nfixer = 'ruff'\ntool_timeout = 10\nmax_attempts = 2\nparallel = 2\n"
                "[tool.other]\nignored = true\n"
            ),
            "stomper.toml": "tool_timeout = 20\nmax_attempts = 4\nparallel = 3\n",
        },
    )
    monkeypatch.setenv("STOMPER_MAX_ATTEMPTS", "5")
    monkeypatch.setenv("STOMPER_PARALLEL", "6")

    settings = load_settings(tmp_path, {"parallel": 7, "model": None})

    assert settings.fixer == "ruff"  # pyproject.toml over the default
    assert settings.tool_timeout == 20  # stomper.toml over pyproject.toml
    assert settings.max_attempts == 5  # environment over stomper.toml
    assert settings.parallel == 7  # command line over the environment
    assert settings.model is None  # an option not given does not override


def test_nested_tables_merge_key_by_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, {"stomper.toml": "[agent]\ncommand = ['claude', '-p', '{prompt_file}']\ntimeout = 60\n"})
    monkeypatch.setenv("STOMPER_AGENT__TIMEOUT", "5")

    settings = load_settings(tmp_path)

    assert settings.agent.command == ["claude", "-p", "{prompt_file}"]
    assert settings.agent.timeout == 5


def test_pyproject_nested_table(tmp_path: Path) -> None:
    write(tmp_path, {"pyproject.toml": "[tool.stomper.agent]\ncommand = ['agent', '{file}']\n"})

    assert load_settings(tmp_path).agent.command == ["agent", "{file}"]


def test_lists_from_the_environment_and_command_line_are_comma_separated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STOMPER_TOOLS", "ruff,mypy")
    monkeypatch.setenv("STOMPER_EXCLUDE", "migrations/*, vendor/ ,")

    from_env = load_settings(tmp_path)
    from_cli = load_settings(tmp_path, {"tools": "pytest, ruff,pytest"})

    assert from_env.tools == ["ruff", "mypy"]
    assert from_env.exclude == ["migrations/*", "vendor/"]
    assert from_cli.tools == ["pytest", "ruff"]


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (
            {"stomper.toml": "parallel = 0\n"},
            "{root}/stomper.toml: parallel: Input should be greater than or equal to 1 (got 0)",
        ),
        (
            {"stomper.toml": "tools = ['ruff', 'black']\n"},
            "{root}/stomper.toml: tools: Input should be 'ruff', 'mypy' or 'pytest' (got 'black')",
        ),
        (
            {"stomper.toml": "tools = []\n"},
            "{root}/stomper.toml: tools: List should have at least 1 item after validation, not 0 (got [])",
        ),
        (
            {"pyproject.toml": "[tool.stomper]\ncolour = 'red'\n"},
            "{root}/pyproject.toml [tool.stomper]: unknown key 'colour'",
        ),
        (
            {"stomper.toml": "[agent]\ntimout = 5\n"},
            "{root}/stomper.toml: unknown key 'agent.timout'; did you mean 'agent.timeout'?",
        ),
        (
            {"stomper.toml": "sandbox = 'on'\n"},
            "{root}/stomper.toml: sandbox: Input should be 'auto', 'required' or 'off' (got 'on')",
        ),
        (
            {"stomper.toml": "[agent]\nhome_paths = ['.claude', '../.ssh']\n"},
            "{root}/stomper.toml: agent.home_paths: Value error, '../.ssh' is not a path inside your home"
            " directory (e.g. .claude) (got ['.claude', '../.ssh'])",
        ),
        (
            {"stomper.toml": "parallel = \n"},
            "{root}/stomper.toml: not valid TOML: Invalid value (at line 1, column 12)",
        ),
        (
            {"pyproject.toml": "[tool.stomper\n"},
            "{root}/pyproject.toml: not valid TOML:"
            " Expected ']' at the end of a table declaration (at line 1, column 14)",
        ),
    ],
    ids=[
        "bad-value",
        "bad-list-item",
        "empty-list",
        "unknown-key",
        "unknown-nested-key",
        "bad-sandbox",
        "home-path-outside-home",
        "bad-toml",
        "bad-pyproject",
    ],
)
def test_bad_file_names_the_key_and_the_file(tmp_path: Path, files: dict[str, str], message: str) -> None:
    write(tmp_path, files)

    with pytest.raises(ConfigError) as raised:
        load_settings(tmp_path)

    assert str(raised.value) == message.format(root=tmp_path)


def test_file_not_in_utf8(tmp_path: Path) -> None:
    # As an editor set to Latin-1 saves it.
    (tmp_path / "stomper.toml").write_bytes("parallel = 2  # café\n".encode("latin-1"))

    with pytest.raises(ConfigError) as raised:
        load_settings(tmp_path)

    assert str(raised.value) == (
        f"{tmp_path}/stomper.toml: not valid TOML:"
        " 'utf-8' codec can't decode byte 0xe9 in position 19: invalid continuation byte"
    )


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "STOMPER_TOOL_TIMEOUT",
            "soon",
            "environment (STOMPER_*): tool_timeout: Input should be a valid number, unable to parse string as a number"
            " (got 'soon')",
        ),
        (
            "STOMPER_TOOLS",
            "ruff,black",
            "environment (STOMPER_*): tools: Input should be 'ruff', 'mypy' or 'pytest' (got 'black')",
        ),
        (
            "STOMPER_AGENT__TIMEOUT",
            "-1",
            "environment (STOMPER_*): agent.timeout: Input should be greater than 0 (got '-1')",
        ),
        (
            "STOMPER_AGENT__COMMAND",
            "claude -p",
            'environment (STOMPER_*): error parsing value for field "agent" from source "EnvSettingsSource"',
        ),
    ],
)
def test_bad_environment_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)

    with pytest.raises(ConfigError) as raised:
        load_settings(tmp_path)

    assert str(raised.value) == message


def test_bad_command_line_value(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(tmp_path, {"tools": "ruff,flake8"})

    assert str(raised.value) == "command line: tools: Input should be 'ruff', 'mypy' or 'pytest' (got 'flake8')"


def test_a_bad_layer_is_reported_even_when_a_higher_one_overrides_it(tmp_path: Path) -> None:
    # Otherwise a broken stomper.toml would go unnoticed until the option is dropped.
    write(tmp_path, {"stomper.toml": "parallel = 0\n"})

    with pytest.raises(ConfigError, match=r"stomper\.toml: parallel"):
        load_settings(tmp_path, {"parallel": 2})


@pytest.mark.parametrize(
    ("files", "env", "args"),
    [
        ({"stomper.toml": "parallel = 'many'\n"}, {}, ["check"]),
        ({"stomper.toml": "[[broken\n"}, {}, ["check"]),
        ({"pyproject.toml": "[tool.stomper]\nunknown = 1\n"}, {}, ["check"]),
        ({}, {"STOMPER_TOOLS": "ruff,pylint"}, ["check"]),
        ({}, {}, ["check", "--tools", "ruff,pylint"]),
    ],
    ids=["bad-value", "bad-toml", "unknown-key", "bad-env", "bad-option"],
)
def test_cli_reports_bad_configuration_in_one_line_with_exit_2(
    repo: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    files: dict[str, str],
    env: dict[str, str],
    args: list[str],
) -> None:
    write(repo, {"a.py": "x = 1\n", **files})
    for key, value in env.items():
        monkeypatch.setenv(key, value)

    with pytest.raises(SystemExit) as exited:
        cli.main(args)

    out, err = capsys.readouterr()
    assert exited.value.code == 2
    assert out == ""
    assert len(err.splitlines()) == 1
    assert err.startswith("stomper: error: ")
    assert "Traceback" not in err
    assert not (repo / ".git" / "stomper" / "logs").exists()


def test_every_agent_preset_name_has_a_preset_and_the_reverse() -> None:
    from typing import get_args

    from stomper.config import AgentPreset
    from stomper.fixers.presets import PRESETS

    assert sorted(PRESETS) == sorted(get_args(AgentPreset))


def test_an_unknown_agent_preset_is_refused_with_the_known_ones(tmp_path: Path) -> None:
    write(tmp_path, {"stomper.toml": '[agent]\npreset = "clade"\n'})

    with pytest.raises(ConfigError, match=r"agent\.preset: Input should be 'claude', 'codex'.*\(got 'clade'\)"):
        load_settings(tmp_path)

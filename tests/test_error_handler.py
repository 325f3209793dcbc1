"""The one place errors become a line on stderr and an exit status."""

from __future__ import annotations

from pathlib import Path

import pytest

from stomper.error_handler import Exit, error_handler
from stomper.errors import ConfigError, ExitCode, GitError


def exit_status(exc: BaseException) -> int:
    with pytest.raises(SystemExit) as exited, error_handler():
        raise exc
    code = exited.value.code
    assert isinstance(code, int)
    return code


@pytest.mark.parametrize("error", [ConfigError("stomper.toml: bad\nand a second line"), GitError("stomper.toml: bad")])
def test_stomper_error_is_one_line_and_exit_2(error: Exception, capsys: pytest.CaptureFixture[str]) -> None:
    assert exit_status(error) == ExitCode.USAGE == 2
    assert capsys.readouterr() == ("", "stomper: error: stomper.toml: bad\n")


def test_unexpected_error_is_one_line_exit_3_and_a_logged_traceback(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def buggy() -> None:
        raise ValueError("no such thing\nreally")

    log = repo / ".git" / "stomper" / "logs" / "stomper.log"
    with pytest.raises(SystemExit) as exited, error_handler():
        buggy()

    assert exited.value.code == ExitCode.INTERNAL == 3
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        "stomper: an unexpected error has occurred: ValueError: no such thing"
        f" (the traceback is in {log}; please include it in a bug report)\n"
    )
    text = log.read_text()
    assert "Traceback (most recent call last):" in text
    assert "in buggy\n" in text
    assert text.endswith("ValueError: no such thing\nreally\n")


def test_outside_a_repository_the_log_goes_to_the_user_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))

    assert exit_status(RuntimeError("boom")) == 3

    log = tmp_path / "home" / ".cache" / "stomper" / "stomper.log"
    assert f"(the traceback is in {log};" in capsys.readouterr().err
    assert "RuntimeError: boom" in log.read_text()


def test_every_unexpected_error_is_appended(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    exit_status(RuntimeError("first"))
    exit_status(RuntimeError("second"))

    text = (repo / ".git" / "stomper" / "logs" / "stomper.log").read_text()
    assert text.count("Traceback (most recent call last):") == 2
    assert text.index("RuntimeError: first") < text.index("RuntimeError: second")


def test_interrupt_exits_130(capsys: pytest.CaptureFixture[str]) -> None:
    assert exit_status(KeyboardInterrupt()) == ExitCode.INTERRUPTED == 130
    assert capsys.readouterr().err == "stomper: interrupted\n"


@pytest.mark.parametrize("code", [0, 1, 2])
def test_exit_leaves_quietly_with_its_code(code: int, capsys: pytest.CaptureFixture[str]) -> None:
    assert exit_status(Exit(code)) == code
    assert capsys.readouterr() == ("", "")

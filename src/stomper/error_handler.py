"""The one place errors become messages and exit codes."""

from __future__ import annotations

import contextlib
import datetime
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path

import typer
from typer.exceptions import TyperException

from stomper import redact
from stomper.errors import ExitCode, StomperError


class Exit(Exception):
    """Raised inside `error_handler` to leave with a given code."""

    def __init__(self, code: int) -> None:
        self.code = code


def log_path() -> Path:
    """Where tracebacks go: the repository's stomper directory, else the user's cache."""
    from stomper import gitops

    try:
        return gitops.open_repo(Path.cwd()).state_dir / "logs" / "stomper.log"
    except StomperError:
        return Path.home() / ".cache" / "stomper" / "stomper.log"


@contextlib.contextmanager
def error_handler() -> Iterator[None]:
    """Turn every way a command can end into a one-line message and an exit code.

    A `StomperError` is the user's to act on: its message, exit 2. Ctrl-C:
    exit 130. Anything else is our bug: one line on screen, the traceback in
    a log file, exit 3.
    """
    try:
        yield
    except Exit as exc:
        raise SystemExit(exc.code) from None
    except StomperError as exc:
        _say(f"stomper: error: {exc}")
        raise SystemExit(ExitCode.USAGE) from None
    except typer.Exit as exc:
        raise SystemExit(exc.exit_code) from None
    except TyperException as exc:
        # Usage errors: typer's own message, with the usage line above it.
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        else:
            _say(f"stomper: error: {exc.format_message()}")
        raise SystemExit(ExitCode.USAGE) from None
    except (KeyboardInterrupt, typer.Abort):
        _say("stomper: interrupted")
        raise SystemExit(ExitCode.INTERRUPTED) from None
    except Exception as exc:  # this is the last line of defence
        where = _write_log(exc)
        # One line, the log's path included, however many lines the message has.
        message = str(exc).splitlines()[:1] or [""]
        _say(
            f"stomper: an unexpected error has occurred: {type(exc).__name__}: {message[0]}"
            f" (the traceback is in {where}; please include it in a bug report)"
        )
        raise SystemExit(ExitCode.INTERNAL) from None


def _say(line: str) -> None:
    print(line.splitlines()[0] if line else line, file=sys.stderr)


def _write_log(exc: BaseException) -> Path:
    try:
        path = log_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as log:
            header = f"--- {datetime.datetime.now().isoformat()} stomper {' '.join(sys.argv[1:])}\n"
            log.write(redact.scrub(header + "".join(traceback.format_exception(exc))))
        return path
    except Exception:  # a failing log must not hide the error
        return Path("(log could not be written)")

"""Credential values found in the environment, and scrubbed from text, data, streams and logs."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from stomper import redact
from stomper.diagnostics import Diagnostic
from stomper.error_handler import error_handler
from stomper.graph.branch import commit_message
from stomper.graph.state import FileJob, FileResult

KEY = "sk-ant-api03-Qm7vX2kP9wL4"


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"OPENAI_API_KEY": "sk-abcdefgh12"}, {"sk-abcdefgh12": "OPENAI_API_KEY", "abcdefgh12": "OPENAI_API_KEY"}),
        (
            {"ANTHROPIC_API_KEY": KEY},
            {
                KEY: "ANTHROPIC_API_KEY",
                "ant-api03-Qm7vX2kP9wL4": "ANTHROPIC_API_KEY",
                "api03-Qm7vX2kP9wL4": "ANTHROPIC_API_KEY",
                "Qm7vX2kP9wL4": "ANTHROPIC_API_KEY",
            },
        ),
        # A prefix is cut off only while what is left is long enough to be a secret on its own.
        ({"GITHUB_TOKEN": "ghp_abcdefg"}, {"ghp_abcdefg": "GITHUB_TOKEN"}),
        ({"db_password": "correct horse"}, {"correct horse": "db_password"}),
        ({"AWS_SECRET": "  wJalrXUtnFEMI  "}, {"wJalrXUtnFEMI": "AWS_SECRET"}),
        (
            {"MY_PAT": "0123456789", "SERVICE_CREDENTIALS": "{json...}"},
            {"0123456789": "MY_PAT", "{json...}": "SERVICE_CREDENTIALS"},
        ),
        (
            {"DEPLOY_KEY": "-----BEGIN KEY-----\nMIIEvQIBADANBg\nkqhk\n-----END KEY-----\n"},
            {
                "-----BEGIN KEY-----\nMIIEvQIBADANBg\nkqhk\n-----END KEY-----": "DEPLOY_KEY",
                "-----BEGIN KEY-----": "DEPLOY_KEY",
                "MIIEvQIBADANBg": "DEPLOY_KEY",
                "-----END KEY-----": "DEPLOY_KEY",
            },
        ),
        # Too short to be a secret, or not named like one.
        ({"SHORT_TOKEN": "1234567", "EMPTY_KEY": "", "HOME": "/home/someone/x", "KEYBOARD": "abcdefghijkl"}, {}),
    ],
)
def test_credentials_are_the_values_of_variables_named_like_one(
    environ: dict[str, str], expected: dict[str, str]
) -> None:
    assert redact.credentials(environ) == expected


def test_scrub_replaces_the_whole_key_before_its_pieces() -> None:
    environ = {"ANTHROPIC_API_KEY": KEY, "OTHER": "Qm7vX2kP9wL4"}

    said = redact.scrub(f"key {KEY}, shown as ...{KEY[3:]} and {KEY[-12:]}; {KEY[:8]} is no secret", environ)

    assert said == "key [redacted], shown as ...[redacted] and [redacted]; sk-ant-a is no secret"
    assert redact.scrub("nothing to hide", environ) == "nothing to hide"
    assert redact.scrub(f"{KEY}", {}) == KEY


def test_scrub_data_keeps_the_shape_of_what_it_scrubs() -> None:
    environ = {"X_TOKEN": "tok-12345678"}
    result = FileResult(
        "pkg/a.py",
        "failed",
        (Diagnostic("pkg/a.py", 1, 1, "ruff", "F401", "unused tok-12345678"),),
        (),
        fixers=("agent",),
        detail="the agent said tok-12345678",
    )
    data = {"result": result, "lines": ["a tok-12345678", ("b", 3)], "n": 1.5, "tok-12345678": None}

    scrubbed = redact.scrub_data(data, environ)

    assert scrubbed["result"] == FileResult(
        "pkg/a.py",
        "failed",
        (Diagnostic("pkg/a.py", 1, 1, "ruff", "F401", "unused [redacted]"),),
        (),
        fixers=("agent",),
        detail="the agent said [redacted]",
    )
    assert scrubbed["lines"] == ["a [redacted]", ("b", 3)]
    assert scrubbed["n"] == 1.5 and "[redacted]" in scrubbed


@pytest.mark.parametrize(
    ("patch", "holder"),
    [
        ('+++ b/a.py\n+KEY = "sk-abcdefgh12"\n', "OPENAI_API_KEY"),
        # Only its piece without the prefix: still the key.
        ('+KEY = "abcdefgh12"\n', "OPENAI_API_KEY"),
        # The line holding the user's own key was changed, not the key added.
        ('-KEY = "sk-abcdefgh12"  # old\n+KEY = "sk-abcdefgh12"\n', None),
        # A second copy is an addition.
        ('-A = "sk-abcdefgh12"\n+A = "sk-abcdefgh12"\n+B = "sk-abcdefgh12"\n', "OPENAI_API_KEY"),
        # In context lines and file headers it was there before.
        (' KEY = "sk-abcdefgh12"\n+x = 1\n', None),
        ("--- a/sk-abcdefgh12.py\n+++ b/sk-abcdefgh12.py\n+x = 1\n", None),
    ],
)
def test_introduced_finds_a_credential_a_patch_adds(patch: str, holder: str | None) -> None:
    assert redact.introduced(patch.encode(), {"OPENAI_API_KEY": "sk-abcdefgh12"}) == holder


def test_a_scrubbed_stream_scrubs_writes_and_is_otherwise_its_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    target = io.StringIO()
    stream = redact.ScrubbedStream(target)

    assert stream.write(f"a {KEY}\n") == len(f"a {KEY}\n")
    stream.writelines([f"{KEY[3:]}\n", "b\n"])

    assert target.getvalue() == "a [redacted]\n[redacted]\nb\n"
    assert stream.isatty() is False and stream.getvalue() == target.getvalue()


def test_an_unexpected_error_carrying_a_key_is_scrubbed_on_screen_and_in_the_log(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)

    with pytest.raises(SystemExit), redact.scrubbed_output(), error_handler():
        raise RuntimeError(f"request failed with x-api-key: {KEY}")

    err = capsys.readouterr().err
    assert "RuntimeError: request failed with x-api-key: [redacted]" in err
    log = (repo / ".git" / "stomper" / "logs" / "stomper.log").read_text()
    assert "RuntimeError: request failed with x-api-key: [redacted]" in log
    assert KEY[3:] not in err + log


def test_a_commit_message_quoting_a_tool_that_saw_a_key_is_scrubbed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    said = Diagnostic("pkg/a.py", 3, 1, "mypy", "assignment", f'Incompatible types (expression has type "{KEY}")')

    message = commit_message(FileJob(0, "pkg/a.py", (said,)), ())

    assert message == (
        "fix(stomper): resolve mypy assignment in pkg/a.py\n\n"
        '- line 3: mypy assignment: Incompatible types (expression has type "[redacted]")\n'
    )


def test_a_key_set_or_changed_while_stomper_runs_is_scrubbed_from_then_on(monkeypatch: pytest.MonkeyPatch) -> None:
    # What the environment holds is worked out once and kept (stomper.environ), until it changes.
    monkeypatch.delenv("LATE_API_KEY", raising=False)
    text = f"said {KEY} and sk-other-0123456789"
    assert redact.scrub(text) == text
    monkeypatch.setenv("LATE_API_KEY", KEY)
    assert redact.scrub(text) == "said [redacted] and sk-other-0123456789"
    monkeypatch.setenv("LATE_API_KEY", "sk-other-0123456789")
    assert redact.scrub(text) == f"said {KEY} and [redacted]"
    monkeypatch.delenv("LATE_API_KEY")
    assert redact.scrub(text) == text

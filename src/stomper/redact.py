"""Credentials kept out of everything stomper writes.

stomper runs agents and models that are handed API keys through the
environment, and keeps what they say: their errors end up on screen, in the
`--report` JSON, the run's journal, SARIF, the error log and the kept agent
output. Every one of those passes its text through `scrub` on its way out
(see docs/safety.md for the list), which replaces each credential value
with `[redacted]`; and the guard refuses a fix whose patch adds one
(`introduced`).

A credential is the value of an environment variable named like one
(`*_KEY`, `*_TOKEN`, `*_SECRET`, `*_PASSWORD`, ...), read when the text is
written, so a key set by the test or the shell at any time is known. The
obvious pieces of a value are credentials too: a key shown without its
`sk-` or `sk-ant-` prefix is still the key.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TextIO, TypeVar

from stomper.environ import derived

REDACTED = "[redacted]"

SUFFIXES = ("_KEY", "_TOKEN", "_SECRET", "_PASSWORD", "_PASSWD", "_PAT", "_CREDENTIALS")
"""Environment variables whose names end so hold credentials (OPENAI_API_KEY, GITHUB_TOKEN, ...)."""

MIN_LENGTH = 8
"""Shorter values are not secrets worth the name (`1`, `true`, `none`, a port), and replacing
every occurrence of such a short string would garble ordinary output."""

_PREFIX = re.compile(r"^[A-Za-z0-9]{2,6}[-_]")

T = TypeVar("T")


def credentials(environ: Mapping[str, str] | None = None) -> Mapping[str, str]:
    """Each credential value of `environ` (default: this process's, as it is now), and the variable holding it."""
    return _credentials_in(environ) if environ is not None else derived(_credentials_in)


def _credentials_in(environ: Mapping[str, str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, value in sorted(environ.items()):
        if name.upper().endswith(SUFFIXES) and len(value.strip()) >= MIN_LENGTH:
            for piece in _pieces(value.strip()):
                found.setdefault(piece, name)
    return found


def _pieces(value: str) -> list[str]:
    """`value`, `value` without each leading prefix (`sk-`, `sk-ant-`, `api03-`) that leaves a secret,
    and each line of a value of several (a PEM key), since output is often cut at line ends."""
    pieces = [value]
    while (prefix := _PREFIX.match(pieces[-1])) and len(pieces[-1]) - prefix.end() >= MIN_LENGTH:
        pieces.append(pieces[-1][prefix.end() :])
    if "\n" in value:
        pieces += [line.strip() for line in value.splitlines() if len(line.strip()) >= MIN_LENGTH]
    return pieces


def scrub(text: str, environ: Mapping[str, str] | None = None) -> str:
    """`text` with every credential value replaced by `[redacted]`."""
    found = credentials(environ)
    if not found or not text:
        return text
    return _pattern(tuple(found)).sub(REDACTED, text)


def scrub_data(value: T, environ: Mapping[str, str] | None = None) -> T:
    """`value` (str, JSON-like data, frozen dataclasses of them) with every string scrubbed."""
    found = credentials(environ)
    if not found:
        return value
    return _scrub_any(value, _pattern(tuple(found)))  # type: ignore[no-any-return]


def _scrub_any(value: Any, pattern: re.Pattern[str]) -> Any:
    if isinstance(value, str):
        return pattern.sub(REDACTED, value)
    if isinstance(value, dict):
        return {_scrub_any(k, pattern): _scrub_any(v, pattern) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_scrub_any(v, pattern) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: _scrub_any(getattr(value, f.name), pattern) for f in dataclasses.fields(value) if f.init}
        return dataclasses.replace(value, **changes)
    return value


def introduced(patch: bytes, environ: Mapping[str, str] | None = None) -> str | None:
    """The variable whose credential the unified diff `patch` adds more often than it removes, if any."""
    found = credentials(environ)
    if not found:
        return None
    added, removed = [], []
    for line in patch.decode("utf-8", "replace").splitlines():
        if line.startswith("+") and not line.startswith("+++"):
            added.append(line)
        elif line.startswith("-") and not line.startswith("---"):
            removed.append(line)
    plus, minus = "\n".join(added), "\n".join(removed)
    for value, name in found.items():
        if plus.count(value) > minus.count(value):
            return name
    return None


@functools.lru_cache(maxsize=8)
def _pattern(values: tuple[str, ...]) -> re.Pattern[str]:
    # Longest first, so a whole key goes before the piece of it without its prefix.
    return re.compile("|".join(re.escape(v) for v in sorted(values, key=len, reverse=True)))


class ScrubbedStream:
    """A text stream that scrubs what is written to it, and is otherwise the stream it wraps."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        self.stream.write(scrub(text))
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


@contextlib.contextmanager
def scrubbed_output() -> Iterator[None]:
    """Scrub everything written to `sys.stdout` and `sys.stderr` (rich, print, typer) until the block ends."""
    saved = sys.stdout, sys.stderr
    sys.stdout = ScrubbedStream(sys.stdout)
    sys.stderr = ScrubbedStream(sys.stderr)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved

"""What stomper derives from its own environment, worked out again only when the environment changed.

Every child gets an environment made from this process's (git's with its
pinned variables, the tools' with their paths), and everything written out
is scrubbed of the credentials the environment holds (`stomper.redact`). A
run starts thousands of children and writes thousands of lines; reading
`os.environ` afresh for each, which decodes every variable, was a tenth of
stomper's own CPU time in a thousand-file run. The environment can still
change while stomper runs (a test sets a key; stomper drops git's hook
variables at start-up), so each derived value is kept with the environment
it was made from, and made again when that differs.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

T = TypeVar("T")

_made: dict[Callable[..., Any], tuple[dict[bytes, bytes], Any]] = {}


def derived(make: Callable[[Mapping[str, str]], T]) -> T:
    """`make(os.environ)`, made again only when the environment changed since it last was.

    What it returns is shared between callers: they must not change it.
    """
    # os.environ keeps the bytes it was given; comparing them is one C-level dict comparison,
    # where reading os.environ decodes every variable.
    raw: dict[bytes, bytes] = os.environ._data  # type: ignore[attr-defined]
    kept = _made.get(make)
    if kept is not None and kept[0] == raw:
        return kept[1]  # type: ignore[no-any-return]
    value = make(os.environ)
    _made[make] = (dict(raw), value)
    return value

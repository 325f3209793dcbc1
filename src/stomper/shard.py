"""Splitting a run's files across the machines of a CI matrix: `--shard i/n`.

Every shard sees the same selection and takes its own part of it: the files
sorted by size, largest first (ties by path), each given to the shard with
the fewest bytes so far (the lowest index on a tie). The split depends on
nothing but the files and their sizes, so the n jobs agree on it without
talking, and no file is in two shards: their patches cannot conflict.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from stomper.errors import StomperError

_FORM = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclass(frozen=True)
class Shard:
    index: int
    """From 1."""
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        """`i/n` with 1 <= i <= n; `StomperError` otherwise."""
        match = _FORM.match(text)
        if match is None:
            raise StomperError(f"--shard {text}: give it as i/n, e.g. 2/3")
        index, count = int(match[1]), int(match[2])
        if not 1 <= index <= count:
            raise StomperError(f"--shard {text}: i must be from 1 to n")
        return cls(index, count)

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def split(files: Sequence[str], sizes: Mapping[str, int], count: int) -> list[list[str]]:
    """`files` in `count` parts of about equal size in bytes, each part sorted."""
    loads = [(0, n) for n in range(count)]
    parts: list[list[str]] = [[] for _ in range(count)]
    for path in sorted(set(files), key=lambda p: (-sizes.get(p, 0), p)):
        load, n = heapq.heappop(loads)
        parts[n].append(path)
        heapq.heappush(loads, (load + sizes.get(path, 0), n))
    return [sorted(part) for part in parts]


def pick(files: Sequence[str], sizes: Mapping[str, int], shard: Shard) -> list[str]:
    """The files of `shard`."""
    return split(files, sizes, shard.count)[shard.index - 1]

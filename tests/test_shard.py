from __future__ import annotations

import random

import pytest

from stomper.errors import StomperError
from stomper.shard import Shard, pick, split


def test_the_split_covers_every_file_once_and_balances_the_bytes() -> None:
    rng = random.Random(3)
    sizes = {f"f{n}.py": rng.randrange(1, 10_000) for n in range(200)}
    parts = split(list(sizes), sizes, 7)
    assert sorted(p for part in parts for p in part) == sorted(sizes)
    loads = [sum(sizes[p] for p in part) for part in parts]
    # Greedy by size, largest first: no shard exceeds another by more than the largest file.
    assert max(loads) - min(loads) <= max(sizes.values())


def test_every_shard_computes_the_same_split_whatever_order_it_lists_the_files() -> None:
    sizes = {f"f{n}.py": (n * 37) % 101 for n in range(50)}
    files = list(sizes)
    shuffled = list(files)
    random.Random(5).shuffle(shuffled)
    assert split(files, sizes, 3) == split(shuffled, sizes, 3)
    assert [pick(shuffled, sizes, Shard(i, 3)) for i in (1, 2, 3)] == split(files, sizes, 3)


def test_more_shards_than_files_leaves_some_empty() -> None:
    assert split(["a.py"], {"a.py": 3}, 3) == [["a.py"], [], []]


@pytest.mark.parametrize("text", ["0/2", "3/2", "2", "x/y", "1/0"])
def test_parse_refuses_what_is_not_i_of_n(text: str) -> None:
    with pytest.raises(StomperError, match=f"--shard {text}"):
        Shard.parse(text)


def test_parse_reads_i_of_n() -> None:
    assert Shard.parse(" 2 / 3 ") == Shard(2, 3)
    assert str(Shard(2, 3)) == "2/3"

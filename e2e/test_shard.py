"""`stomper fix --shard i/n` on a CI matrix, then `stomper merge`: the same as one run."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import commit_all, stomper, write

UNUSED = "import os\nimport sys\n\nprint(sys.argv)\n"
UNDEFINED = "def value() -> int:\n    return missing\n"


def ci(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return stomper(repo, *args, env={"CI": "true"})


@pytest.fixture
def project(repo: Path) -> Path:
    files = {"stomper.toml": 'tools = ["ruff"]\n'}
    for n in range(7):
        # Sizes that differ, so that the split by size has something to balance.
        files[f"pkg/m{n}.py"] = UNUSED + "\n" * n + "X = 1\n" * (n * 5)
    files["pkg/broken.py"] = UNUSED + UNDEFINED
    files["pkg/clean.py"] = "X = 1\n"
    write(repo, files)
    commit_all(repo)
    return repo


def outputs(repo: Path, out: Path, *args: str) -> int:
    out.mkdir(parents=True)
    done = ci(
        repo,
        "fix",
        "--diff",
        *args,
        "--patch",
        str(out / "stomper.patch"),
        "--report",
        str(out / "stomper.json"),
        "--sarif",
        str(out / "stomper.sarif"),
    )
    assert "Traceback" not in done.stderr
    return done.returncode


def without_run(report: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in report.items() if k != "run"}


def test_three_shards_merged_are_one_run(project: Path, tmp_path: Path) -> None:
    assert outputs(project, tmp_path / "whole") == 1
    shards = [tmp_path / f"shard-{i}" for i in (1, 2, 3)]
    for i, out in enumerate(shards, 1):
        assert outputs(project, out, "--shard", f"{i}/3") == 1

    merged = tmp_path / "merged"
    done = stomper(
        project,
        "merge",
        *map(str, shards),
        "--patch",
        str(merged / "stomper.patch"),
        "--report",
        str(merged / "stomper.json"),
        "--sarif",
        str(merged / "stomper.sarif"),
    )
    assert done.returncode == 0, done.stderr

    # Every file in exactly one shard, none empty.
    per_shard = [{f["path"] for f in json.loads((s / "stomper.json").read_text())["files"]} for s in shards]
    assert all(per_shard)
    assert sum(map(len, per_shard)) == len(set().union(*per_shard)) == 8
    whole_report = json.loads((tmp_path / "whole" / "stomper.json").read_text())
    merged_report = json.loads((merged / "stomper.json").read_text())
    assert without_run(merged_report) == without_run(whole_report)
    assert (merged / "stomper.patch").read_bytes() == (tmp_path / "whole" / "stomper.patch").read_bytes()
    whole_sarif = json.loads((tmp_path / "whole" / "stomper.sarif").read_text())
    assert json.loads((merged / "stomper.sarif").read_text()) == whole_sarif
    # The same final tree: the merged patch applies to the analysed commit.
    subprocess.run(["git", "apply", "--check", str(merged / "stomper.patch")], cwd=project, check=True)


def test_two_shards_changing_one_file_are_refused(project: Path, tmp_path: Path) -> None:
    one = tmp_path / "one"
    outputs(project, one, "--shard", "1/3")
    two = tmp_path / "two"
    two.mkdir()
    for name in ("stomper.patch", "stomper.json", "stomper.sarif"):
        (two / name).write_bytes((one / name).read_bytes())

    done = stomper(project, "merge", str(one), str(two), "--patch", str(tmp_path / "m.patch"))

    assert done.returncode == 2
    assert "the patches of two shards both change pkg/" in done.stderr
    assert not (tmp_path / "m.patch").exists()


@pytest.mark.parametrize("shard", ["0/3", "4/3", "1", "a/b"])
def test_a_bad_shard_is_one_line_and_exit_2(project: Path, shard: str) -> None:
    done = ci(project, "fix", "--diff", "--shard", shard)
    assert done.returncode == 2
    assert done.stderr.strip().startswith(f"stomper: error: --shard {shard}:")

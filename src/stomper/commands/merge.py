"""`stomper merge`: one patch, report and SARIF log from the outputs of sharded runs.

Each argument is a directory a shard's job left (a CI artifact, downloaded):
its one `*.patch`, its one `*.json` report and its one `*.sarif` log are
taken for the outputs asked for.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console

from stomper import ci, merge
from stomper.errors import ExitCode, StomperError


def run(shards: list[Path], *, patch: Path | None, report: Path | None, sarif: Path | None, log: Console) -> int:
    if patch is None and report is None and sarif is None:
        raise StomperError("nothing to write: give --patch, --report or --sarif")
    for directory in shards:
        if not directory.is_dir():
            raise StomperError(f"{directory}: not a directory of a shard's outputs")
    if patch is not None:
        texts = [_one(d, "patch").read_text(encoding="utf-8", errors="surrogateescape") for d in shards]
        ci.write(patch, merge.patches(texts).encode("utf-8", "surrogateescape"), "patch")
    if report is not None:
        documents = [_json(_one(d, "json")) for d in shards]
        ci.write(report, (json.dumps(merge.reports(documents), indent=2) + "\n").encode("utf-8"), "report")
    if sarif is not None:
        logs = [_json(_one(d, "sarif")) for d in shards]
        text = json.dumps(merge.sarif_logs(logs), indent=2, ensure_ascii=False) + "\n"
        ci.write(sarif, text.encode("utf-8"), "SARIF log")
    log.print(f"stomper: merged the outputs of {len(shards)} shard(s)", highlight=False)
    return ExitCode.OK


def _one(directory: Path, suffix: str) -> Path:
    found = sorted(directory.glob(f"*.{suffix}"))
    if len(found) != 1:
        raise StomperError(f"{directory}: expected one *.{suffix} file, found {len(found)}")
    return found[0]


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StomperError(f"{path}: not readable JSON ({exc})") from exc

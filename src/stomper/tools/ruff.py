"""ruff, read through `--output-format=json`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from stomper.diagnostics import Diagnostic
from stomper.errors import ToolError
from stomper.proc import Completed
from stomper.tools.paths import Reach, python_files, relative


class Ruff:
    name: ClassVar[str] = "ruff"
    executable: ClassVar[str] = "ruff"
    ok_returncodes: ClassVar[frozenset[int]] = frozenset({0, 1})
    # ruff reads one file at a time: a change to one cannot change what it says of another.
    reach: ClassVar[Reach] = "file"

    def select(self, paths: Sequence[str], root: Path) -> list[str]:
        return python_files(paths)

    def own_selection(self, root: Path) -> list[str] | None:
        # Named files with --force-exclude are ruff's own selection already.
        return None

    def command(self, paths: Sequence[str], scratch: Path) -> list[str]:
        # --no-fix: a project with `fix = true` must not be edited by a check.
        # --force-exclude: the project's own excludes hold for files we name.
        return ["check", "--output-format=json", "--no-fix", "--force-exclude", "--", *paths]

    def parse(self, done: Completed, scratch: Path, cwd: Path, paths: Sequence[str]) -> list[Diagnostic]:
        try:
            items: list[dict[str, Any]] = json.loads(done.stdout or b"[]")
            diagnostics = [_diagnostic(item, cwd) for item in items]
        except (ValueError, KeyError, TypeError) as exc:
            raise ToolError(f"ruff wrote output stomper cannot read: {exc}") from None
        if done.returncode == 1 and not diagnostics:
            # 1 means ruff found something; reading nothing would call the files clean.
            detail = done.err.strip().splitlines()[-1:] or ["no diagnostics in its output"]
            raise ToolError(f"ruff exited with status 1 but reported nothing: {detail[0][:300]}")
        return diagnostics


def _diagnostic(item: dict[str, Any], cwd: Path) -> Diagnostic:
    start, end = item["location"], item.get("end_location") or {}
    fix = item.get("fix")
    return Diagnostic(
        tool="ruff",
        path=relative(item["filename"], cwd),
        line=int(start["row"]),
        column=int(start["column"]),
        end_line=end.get("row"),
        end_column=end.get("column"),
        code=item.get("code") or "invalid-syntax",
        message=item["message"],
        fixable=fix is not None and fix.get("applicability") == "safe",
        url=item.get("url") or None,
    )

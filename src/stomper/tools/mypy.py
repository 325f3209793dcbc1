"""mypy, read through `--output json` (mypy >= 1.11)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from stomper.diagnostics import Diagnostic
from stomper.errors import ToolError
from stomper.proc import Completed
from stomper.tools.config import mypy_excluded, mypy_files
from stomper.tools.paths import Reach, python_files, relative


class Mypy:
    name: ClassVar[str] = "mypy"
    executable: ClassVar[str] = "mypy"
    # 2 is also a file mypy cannot parse ("blocking error"); `parse` tells
    # that apart from a crash by whether it reported anything.
    ok_returncodes: ClassVar[frozenset[int]] = frozenset({0, 1, 2})
    # A change to a module can break the modules that import it.
    reach: ClassVar[Reach] = "dependents"

    def select(self, paths: Sequence[str], root: Path) -> list[str]:
        # Named files override mypy's `exclude`; the project's check would not have seen them.
        return [p for p in python_files(paths) if not mypy_excluded(root, p)]

    def own_selection(self, root: Path) -> list[str] | None:
        # Plain `mypy` checks `files`; naming files instead would override it (and its `exclude`).
        return [] if mypy_files(root) else None

    def command(self, paths: Sequence[str], scratch: Path) -> list[str]:
        return ["--output", "json", "--no-error-summary", *(["--", *paths] if paths else [])]

    def parse(self, done: Completed, scratch: Path, cwd: Path, paths: Sequence[str]) -> list[Diagnostic]:
        diagnostics = []
        for line in done.out.splitlines():
            if not line.startswith("{"):
                continue
            try:
                item = json.loads(line)
                if item["severity"] != "error":
                    continue
                if int(item["line"]) < 1:
                    # A blocking error (a duplicate module, a bad config): mypy checked nothing.
                    raise ToolError(f"mypy stopped: {item['file']}: {item['message']}")
                diagnostics.append(
                    Diagnostic(
                        tool="mypy",
                        path=relative(item["file"], cwd),
                        line=int(item["line"]),
                        column=_column(item["column"]) or 1,
                        end_line=item.get("end_line"),
                        end_column=_column(item.get("end_column")),
                        code=item.get("code") or "error",
                        message=item["message"] + (f" ({item['hint']})" if item.get("hint") else ""),
                    )
                )
            except (ValueError, KeyError, TypeError) as exc:
                raise ToolError(f"mypy wrote output stomper cannot read: {exc}") from exc
        # 1 and 2 both mean mypy reported errors; reading none would call the files clean.
        if done.returncode != 0 and not diagnostics:
            detail = (done.err.strip() or done.out.strip()).splitlines()[-1:] or ["no output"]
            raise ToolError(f"mypy failed: {detail[0][:300]}")
        return diagnostics


def _column(value: Any) -> int | None:
    """mypy's 0-based column counted from 1; mypy writes -1 when it has none."""
    return int(value) + 1 if value is not None and int(value) >= 0 else None

"""Only what a change introduced: the diagnostics a base already had are known, and left alone.

Two sources of known diagnostics, both as stable ids (`stomper.findings`):

- `--new-only --base REF`: the tools run once more, in a temporary worktree
  of the merge base of REF and HEAD, on the selected files that exist there;
- `--baseline FILE`: a recorded ratchet, written by `stomper baseline`.

A diagnostic whose id is known is dropped before anything is fixed or
reported, so a pull request job on a legacy repository touches only the
pull request's own problems.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from stomper import findings, gitops
from stomper.diagnostics import CheckResult
from stomper.errors import GitError, SelectionError, StomperError
from stomper.project import Project
from stomper.tools import run_tools

BASELINE_VERSION = 1


async def merge_base(root: Path, ref: str) -> str:
    """The commit where HEAD left `ref`; `SelectionError` for a ref git does not know."""
    try:
        await gitops.rev_parse(ref, cwd=root)
        return (await gitops.git("merge-base", ref, "HEAD", cwd=root)).out.strip()
    except GitError as exc:
        raise SelectionError(f"--base {ref}: git knows no such commit, or it shares no history with HEAD") from exc


async def ids_of(result: CheckResult, root: Path, commit: str | None = None) -> frozenset[str]:
    """The stable ids of what `result` found, its sources read at `commit` (the working tree when None)."""
    diags = result.diagnostics
    texts = await findings.sources(root, commit, {d.path for d in diags})
    return frozenset(findings.stable_ids(diags, texts).values())


async def known_at(project: Project, ref: str, files: Sequence[str]) -> frozenset[str]:
    """The ids of what the tools find in `files` at the merge base of `ref` and HEAD."""
    base = await merge_base(project.root, ref)
    scratch = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="stomper-base-"))
    tree = scratch / "tree"
    try:
        await gitops.git("worktree", "add", "--detach", "--quiet", str(tree), base, cwd=project.root)
        there = await asyncio.to_thread(lambda: [f for f in files if (tree / f).is_file()])
        if not there:
            return frozenset()
        result = await run_tools(
            project.tools,
            there,
            cwd=tree,
            executables=project.executables(),
            timeout=project.settings.tool_timeout,
        )
        if result.errors:
            said = "; ".join(f"{run.tool}: {run.error}" for run in result.errors)
            raise StomperError(f"--new-only: the tools could not run on the merge base {base[:12]}: {said}")
        return await ids_of(result, tree)
    finally:
        await gitops.git("worktree", "remove", "--force", str(tree), cwd=project.root, check=False)
        await asyncio.to_thread(shutil.rmtree, scratch, True)


async def without_known(result: CheckResult, root: Path, known: frozenset[str]) -> CheckResult:
    """`result` minus the diagnostics whose ids are `known` (sources from the working tree)."""
    if not known:
        return result
    diags = result.diagnostics
    texts = await findings.sources(root, None, {d.path for d in diags})
    ids = findings.stable_ids(diags, texts)
    runs = tuple(
        dataclasses.replace(run, diagnostics=tuple(d for d in run.diagnostics if ids.get(d) not in known))
        for run in result.runs
    )
    return dataclasses.replace(result, runs=runs)


def read(path: Path) -> frozenset[str]:
    """The ids a baseline file records; `StomperError` for a file that is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise StomperError(f"--baseline {path}: cannot be read: {exc.strerror}") from exc
    except ValueError as exc:
        raise StomperError(f"--baseline {path}: not a stomper baseline (not JSON)") from exc
    if not isinstance(data, dict) or data.get("version") != BASELINE_VERSION:
        raise StomperError(f"--baseline {path}: not a stomper baseline of version {BASELINE_VERSION}")
    prints = data.get("fingerprints")
    if not isinstance(prints, list):
        raise StomperError(f"--baseline {path}: not a stomper baseline of version {BASELINE_VERSION}")
    return frozenset(str(p) for p in prints)


def dumps(ids: frozenset[str]) -> str:
    """A baseline file's text: the ids sorted, so that it diffs well under review."""
    return json.dumps({"version": BASELINE_VERSION, "fingerprints": sorted(ids)}, indent=2) + "\n"

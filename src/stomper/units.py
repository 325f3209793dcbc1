"""Work units: the files one fix may span, and which failures are fixed together.

A failing file is a unit of its own, as long as nothing it fails for runs
elsewhere. But a test fails where the code under test is wrong, and a mypy
error at a call site can be the callee's wrong annotation: charged to the
test file or the call site alone, the only fix stomper could accept would be
to change the test or the call. So a unit is the failing file first, then
the project files its failures run through, up to `unit_max_files`:

- a failing test: the files of its traceback's entries (pytest's own report,
  in the order pytest printed them), then the project modules defining the
  names the failing test function uses (an assertion that fails in the test
  itself has no other entry: `assert add(2, 2) == 4` runs through `add`);
- a mypy error about a call (`arg-type`, `call-arg`, ...): the file defining
  the callee, from mypy's note ("defined in ...") or the call site's import
  of the name the message quotes.

Only files of the repository join a unit: tracked (or untracked and not
ignored), not in site-packages, not excluded (`exclude`), Python source,
and, when files were named (`fix PATH`, `--staged`, the hook), one of them.

Two units that share a file would edit it at the same time from the same
base, and the second fix to land would be refused (its file is no longer
what the snapshot held). So they are merged into one unit when the merged
unit fits the cap; otherwise the later one waits (`Unit.after`) until the
earlier one's branch is done, and starts from the integrated state, the
earlier fix landed. `--parallel N` still runs N units at once.
"""

from __future__ import annotations

import ast
import asyncio
import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

import pathspec

from stomper.diagnostics import Diagnostic
from stomper.imports import ImportGraph, imported_from, module_name, package_of

_OUTSIDE = frozenset({"site-packages", "dist-packages", ".git"})
_DEFINED_IN = re.compile(r'"(?P<name>[\w.]+)" defined in "(?P<module>[\w.]+)"')
_CALL_CODES = frozenset({"arg-type", "call-arg", "call-overload"})
"""mypy's codes for a call that does not fit its callee, where the callee may be what is wrong."""
_CALLEE = re.compile(r'(?:Argument \d+ to|for|in call to|to) "(?P<name>[\w.]+)"')


@dataclass(frozen=True)
class Unit:
    """The failing files fixed together, and every file the fix may change (the first failing file first)."""

    files: tuple[str, ...]
    diagnostics: tuple[Diagnostic, ...]
    """What the tools found in the unit's files."""
    after: tuple[str, ...] = ()
    """The (first files of the) earlier units this one shares a file with, too large to merge with:
    it starts once they are done, from the state with their fixes landed."""

    @property
    def path(self) -> str:
        return self.files[0]


@dataclass(frozen=True)
class Project:
    """What deciding which files belong to a unit needs to know of the repository."""

    root: Path
    listed: frozenset[str]
    """Tracked files and untracked ones git does not ignore."""
    graph: ImportGraph
    exclude: tuple[str, ...] = ()
    within: frozenset[str] | None = None
    """The files named on the command line (`fix PATH`, `--staged`, the hook), when some were:
    a unit never reaches past them. None: the whole project."""

    def takes(self, path: str) -> bool:
        """Whether `path` may join a unit: a Python file of the repository, not excluded nor installed."""
        parts = PurePosixPath(path).parts
        if path.startswith("/") or ".." in parts or _OUTSIDE & set(parts):
            return False
        if path not in self.listed or not path.endswith((".py", ".pyi")):
            return False
        if self.within is not None and path not in self.within:
            return False
        return not (self.exclude and _spec(self.exclude).match_file(path))


def plan(grouped: Mapping[str, Sequence[Diagnostic]], project: Project | None, cap: int) -> list[Unit]:
    """The units of a run, in the order of their first failing file.

    `grouped`: each failing file's diagnostics. Without `project` (nothing
    runs elsewhere), every failing file is a unit of its own.
    """
    units = []
    for path, diagnostics in sorted(grouped.items()):
        files = [path]
        if project is not None:
            for diag in sorted(diagnostics):
                files += [f for f in related(diag, project) if f not in files]
        units.append(Unit(tuple(files[:cap]), tuple(diagnostics)))
    return merged(units, grouped, cap)


def merged(units: Sequence[Unit], grouped: Mapping[str, Sequence[Diagnostic]], cap: int) -> list[Unit]:
    """`units` with every two that share a file made one (the earlier's files first) where that fits `cap`;
    where it does not, the later one is to wait for the earlier (`Unit.after`).

    A unit only ever waits for units before it, so no two wait for each other.
    """
    done: list[Unit] = []
    for unit in units:
        touching = [u for u in done if set(u.files) & set(unit.files)]
        files = tuple(dict.fromkeys(f for u in (*touching, unit) for f in u.files))
        if not touching:
            done.append(unit)
        elif len(files) > cap:
            done.append(replace(unit, after=tuple(u.path for u in touching)))
        else:
            first, gone = touching[0], {u.path for u in touching[1:]}
            diagnostics = tuple(d for f in files for d in grouped.get(f, ()))
            after = tuple(a for u in (*touching, unit) for a in u.after)
            done[done.index(first)] = Unit(files, diagnostics, after=after)
            # Who waited for a unit merged away waits for the one it became part of.
            done = [replace(u, after=tuple(first.path if a in gone else a for a in u.after)) for u in done]
            done = [u for u in done if u.path not in gone]
    return [replace(u, after=_earlier(u, done[:n])) for n, u in enumerate(done)]


def _earlier(unit: Unit, before: Sequence[Unit]) -> tuple[str, ...]:
    paths = {u.path for u in before}
    return tuple(dict.fromkeys(a for a in unit.after if a in paths))


def related(diag: Diagnostic, project: Project) -> list[str]:
    """The repository files `diag`'s problem runs through besides its own file, most telling first."""
    found: list[str] = []
    if diag.tool == "pytest":
        found += diag.related
        found += _used_by_test(diag, project)
    elif diag.tool == "mypy" and diag.code in _CALL_CODES:
        found += _callee(diag, project)
    return [f for f in dict.fromkeys(found) if f != diag.path and project.takes(f)]


def _used_by_test(diag: Diagnostic, project: Project) -> list[str]:
    """The project files defining the imported names the failing test function uses."""
    tree = _parse(project.root / diag.path)
    if tree is None or not diag.symbol:
        return []
    name = diag.symbol.rpartition("::")[2].partition("[")[0]
    functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == name]
    used = {n.id for f in functions for n in ast.walk(f) if isinstance(n, ast.Name)}
    bound = _bindings(tree, project.root, diag.path)
    return _files_of([module for n, module in bound.items() if n in used], project.graph)


def _callee(diag: Diagnostic, project: Project) -> list[str]:
    """The file defining the function a mypy error about a call names, as the call site imports it."""
    modules = [hit["module"] for hit in _DEFINED_IN.finditer(diag.message)]
    called = _CALLEE.search(diag.message)
    if called is not None:
        tree = _parse(project.root / diag.path)
        bound = _bindings(tree, project.root, diag.path) if tree is not None else {}
        head = called["name"].split(".")[0]
        if head in bound:
            modules.append(bound[head])
    return _files_of(modules, project.graph)


def _bindings(tree: ast.Module, root: Path, path: str) -> dict[str, str]:
    """Each name a module's imports bind, to the module it comes from (in the order they are imported)."""
    package = package_of(path, module_name(root, path))
    bound: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                bound[alias.asname or alias.name.split(".")[0]] = alias.name
        elif isinstance(node, ast.ImportFrom):
            base = imported_from(node, package)
            for alias in node.names:
                if alias.name != "*":
                    # `from pkg import mod` binds a submodule when there is one; `_files_of` tries both.
                    bound[alias.asname or alias.name] = f"{base}.{alias.name}" if base else alias.name
    return bound


def _files_of(modules: Iterable[str], graph: ImportGraph) -> list[str]:
    """The project files each dotted name is (a module, or a name in one), each once."""
    found: list[str] = []
    for dotted in modules:
        parts = dotted.split(".")
        for n in range(len(parts), 0, -1):
            files = graph.names.get(".".join(parts[:n]))
            if files:
                found += sorted(files)
                break
    return list(dict.fromkeys(found))


@functools.cache
def _spec(patterns: tuple[str, ...]) -> pathspec.GitIgnoreSpec:
    return pathspec.GitIgnoreSpec.from_lines(patterns)


def _parse(path: Path) -> ast.Module | None:
    try:
        return ast.parse(path.read_bytes(), filename=str(path))
    except (OSError, SyntaxError, ValueError):
        return None


class Gates:
    """Which units' branches run in this process, and which of them are done: what a waiting unit waits for.

    A unit waits only for units whose branch started here: LangGraph starts
    the branches in the order of the jobs, and a unit only ever waits for
    earlier ones, so a unit to wait for has started by the time the waiting
    one asks; one done before an interrupted run was resumed is not waited for.
    """

    def __init__(self) -> None:
        self._files: dict[str, frozenset[str]] = {}
        self._done: dict[str, asyncio.Event] = {}

    def start(self, path: str, files: Iterable[str]) -> None:
        self._files[path] = frozenset(files)
        self._done.setdefault(path, asyncio.Event())

    def finish(self, path: str) -> None:
        self._done.setdefault(path, asyncio.Event()).set()

    def pending(self, paths: Iterable[str]) -> list[str]:
        """Those of `paths` whose branch started here and is not done."""
        return [p for p in paths if p in self._done and not self._done[p].is_set()]

    def shared(self, path: str, files: Iterable[str]) -> list[str]:
        """Which of `files` the unit of `path` holds too."""
        return sorted(self._files.get(path, frozenset()) & set(files))

    async def wait(self, paths: Iterable[str]) -> None:
        for path in self.pending(paths):
            await self._done[path].wait()

"""Which files import which: the project's reverse import graph, read from its sources.

A change to one module is verified together with the modules that import it,
directly or through others, and with the tests that do. The graph is read
with `ast` from the files git lists, once per run: grimp builds the same graph
but only of packages importable by the interpreter stomper runs in (stomper is
installed apart from the projects it fixes) and without the loose test
modules and conftest files pytest imports by path; mypy's dependency data
exists only for the modules mypy checked, in a cache format it keeps private.

Every module a file could be imported as counts (its name from the project
root, from `src/`, and from the first directory up without an `__init__.py`,
where pytest puts test modules), and `import a.b.c` counts as importing `a`
and `a.b` too, as Python runs their `__init__.py`. A name that could be
either of two files counts for both: a dependent too many costs a check, one
too few would let a break through.
"""

from __future__ import annotations

import ast
import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from stomper.tools.paths import test_files


@dataclass(frozen=True)
class ImportGraph:
    """For each file, the files that import it directly (paths relative to the project root)."""

    importers: Mapping[str, frozenset[str]] = field(default_factory=dict)
    names: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """For each dotted module name, the files it could be."""

    def dependents(self, path: str) -> list[str]:
        """Every file that imports `path`, directly or through other files, sorted; not `path` itself."""
        seen = {path}
        todo = [path]
        while todo:
            for importer in self.importers.get(todo.pop(), ()):
                if importer not in seen:
                    seen.add(importer)
                    todo.append(importer)
        return sorted(seen - {path})

    def tests(self, path: str, within: Sequence[str] = ()) -> list[str]:
        """The test files that import `path` directly or not (`path` itself when it is one).

        A conftest.py that imports it brings every test beside and below it.
        `within`: only tests under these directories (pytest's `testpaths`).
        """
        reach = [path, *self.dependents(path)]
        found = set(test_files(reach))
        for conftest in (p for p in reach if PurePosixPath(p).name == "conftest.py"):
            folder = str(PurePosixPath(conftest).parent)
            below = [p for p in self.importers if folder == "." or p.startswith(folder + "/")]
            found.update(test_files(below))
        if within:
            found = {p for p in found if any(_under(p, top) for top in within)}
        return sorted(found)

    def all_tests(self, within: Sequence[str] = ()) -> list[str]:
        """Every test file of the project (under `within`, pytest's `testpaths`, when given)."""
        found = test_files(list(self.importers))
        return sorted(p for p in found if not within or any(_under(p, top) for top in within))

    def reach(self, files: Iterable[str], root: Path, edited: Iterable[str] = ()) -> frozenset[str]:
        """`files` and every file they import, directly or through others.

        The files `edited` are read as they are under `root` (a worktree where
        they were changed): an import a fix added counts, one it removed not.
        """
        edited = set(edited)
        imports: dict[str, set[str]] = {}
        for target, importers in self.importers.items():
            for importer in importers:
                if importer not in edited:
                    imports.setdefault(importer, set()).add(target)
        for path in edited:
            own = _module_names(root, path)[0] if path.endswith((".py", ".pyi")) else ""
            names = _imported(root, path, own) if own else set()
            imports[path] = {t for name in names for t in self.names.get(name, ()) if t != path}
        seen = set(files)
        todo = list(seen)
        while todo:
            for target in imports.get(todo.pop(), ()):
                if target not in seen:
                    seen.add(target)
                    todo.append(target)
        return frozenset(seen)


async def scan(root: Path, files: Iterable[str]) -> ImportGraph:
    """The import graph of the Python `files` under `root` (a file that does not parse imports nothing)."""
    return await asyncio.to_thread(_scan, root, sorted(f for f in files if f.endswith((".py", ".pyi"))))


def _scan(root: Path, files: Sequence[str]) -> ImportGraph:
    by_name: dict[str, set[str]] = {}
    own_name: dict[str, str] = {}
    for path in files:
        names = _module_names(root, path)
        own_name[path] = names[0]
        for name in names:
            by_name.setdefault(name, set()).add(path)
    importers: dict[str, set[str]] = {path: set() for path in files}
    for path in files:
        for name in _imported(root, path, own_name[path]):
            for target in by_name.get(name, ()):
                if target != path:
                    importers[target].add(path)
    return ImportGraph(
        {path: frozenset(found) for path, found in importers.items()},
        {name: frozenset(found) for name, found in by_name.items()},
    )


def module_name(root: Path, path: str) -> str:
    """The dotted name `path` is imported as, by its package structure (`pkg.calc` for src/pkg/calc.py)."""
    return _module_names(root, path)[0]


def _module_names(root: Path, path: str) -> list[str]:
    """The dotted names `path` can be imported as, the one its package structure gives first."""
    parts = list(PurePosixPath(path).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    # Up through the directories that are packages: where Python would find it by its package name.
    start = len(parts) - 1
    while start > 0 and (root / Path(*PurePosixPath(path).parts[:start]) / "__init__.py").is_file():
        start -= 1
    names = [".".join(parts[start:]), ".".join(parts)]
    if parts[0] == "src" and len(parts) > 1:
        names.append(".".join(parts[1:]))
    return [name for name in dict.fromkeys(names) if name]


def package_of(path: str, module: str) -> str:
    """The package a relative import in `path` (the module `module`) is relative to."""
    return module if path.endswith("__init__.py") else module.rpartition(".")[0]


def imported_from(node: ast.ImportFrom, package: str) -> str:
    """The absolute name of the module `from ... import` names, in a module of `package`."""
    if not node.level:
        return node.module or ""
    anchor = package.split(".") if package else []
    anchor = anchor[: len(anchor) - (node.level - 1)] if node.level > 1 else anchor
    return ".".join([*anchor, *([node.module] if node.module else [])])


def _imported(root: Path, path: str, own: str) -> set[str]:
    try:
        source = (root / path).read_bytes()
        # Either kind of import statement has the keyword, in any encoding Python reads source in.
        if b"import" not in source:
            return set()
        tree = ast.parse(source, filename=path)
    except (OSError, SyntaxError, ValueError):
        return set()
    package = package_of(path, own)
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                names.update(_with_parents(alias.name))
        elif isinstance(node, ast.ImportFrom):
            base = imported_from(node, package)
            names.update(_with_parents(base))
            for alias in node.names:
                # `from pkg import mod` may import a submodule.
                names.update(_with_parents(f"{base}.{alias.name}" if base else alias.name))
    return names


def _with_parents(dotted: str) -> list[str]:
    """`a.b.c` and the packages Python imports on the way: `a`, `a.b`."""
    parts = [part for part in dotted.split(".") if part]
    return [".".join(parts[: n + 1]) for n in range(len(parts))]


def _under(path: str, top: str) -> bool:
    top = top.strip("/").removeprefix("./")
    return top in ("", ".") or path == top or path.startswith(top + "/")

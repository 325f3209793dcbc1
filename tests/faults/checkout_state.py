"""What a user's checkout holds, to prove a run changed nothing but its verified fixes.

    before = CheckoutState.capture(repo)
    ... run stomper ...
    assert_only_fixed(repo, before, {"pkg/a.py": FIXED})                  # one commit per fixed file
    assert_only_fixed(repo, before, {"pkg/a.py": FIXED}, committed=False)  # --no-commit, --allow-dirty
    assert_only_fixed(repo, before)                                        # nothing at all changed
    assert_tidy(repo, resumable=True)  # after an interruption: a run ref may stay for --resume

A capture holds every file of the working tree (tracked, untracked and
ignored, with its mode, or a link's target), git's index as `git ls-files
-s` lists it, HEAD, every ref, and the stash list. The tools' caches
(`.mypy_cache`, `.ruff_cache`, `.pytest_cache`, `__pycache__`) are left out:
running the tools in the checkout writes them, and they are not the user's work.
"""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from conftest import stray_worktrees

CACHES = frozenset({".mypy_cache", ".ruff_cache", ".pytest_cache", "__pycache__"})


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout


@dataclass(frozen=True)
class CheckoutState:
    """A user's checkout at one moment."""

    files: Mapping[str, tuple[str, bytes]]
    """Path -> ("file", content), ("exec", content) or ("link", target), outside .git and the caches."""
    index: str
    """`git ls-files -s`: mode, blob and stage of every entry."""
    head: str
    """What HEAD names: `ref: refs/heads/main`, or a commit id when detached."""
    refs: Mapping[str, str]
    """Every ref but stomper's own (refs/stomper/) -> the object it points at."""
    stash: str

    @classmethod
    def capture(cls, repo: Path) -> CheckoutState:
        files: dict[str, tuple[str, bytes]] = {}
        for directory, dirs, names in os.walk(repo):
            base = Path(directory)
            dirs[:] = sorted(d for d in dirs if d not in CACHES and not (base == repo and d == ".git"))
            for name in [*names, *(d for d in dirs if (base / d).is_symlink())]:
                path = base / name
                info = path.lstat()
                if stat.S_ISLNK(info.st_mode):
                    entry = ("link", os.readlink(path).encode())
                else:
                    entry = ("exec" if info.st_mode & stat.S_IXUSR else "file", path.read_bytes())
                files[path.relative_to(repo).as_posix()] = entry
        refs = {}
        for line in _git(repo, "for-each-ref", "--format=%(refname) %(objectname)").splitlines():
            name, target = line.split(" ")
            if not name.startswith("refs/stomper/"):
                refs[name] = target
        head_file = Path(_git(repo, "rev-parse", "--absolute-git-dir").strip()) / "HEAD"
        return cls(
            files=files,
            index=_git(repo, "ls-files", "-s"),
            head=head_file.read_text().strip(),
            refs=refs,
            stash=_git(repo, "stash", "list"),
        )


def assert_only_fixed(
    repo: Path,
    before: CheckoutState,
    fixed: Mapping[str, str | bytes] | None = None,
    *,
    committed: bool = True,
    resumable: bool = False,
) -> None:
    """Everything in `repo` is as in `before`, except the `fixed` files, which now hold the given content.

    With `committed`, each fixed file came in a commit of its own on the
    current branch, which is the only ref that moved, and the index follows;
    without, HEAD, refs and index are untouched. Then `assert_tidy`.
    """
    want = {path: text.encode() if isinstance(text, str) else text for path, text in (fixed or {}).items()}
    after = CheckoutState.capture(repo)
    expected_files = dict(before.files)
    for path, content in want.items():
        kind = before.files.get(path, ("file", b""))[0]
        expected_files[path] = (kind, content)
    _same("files", after.files, expected_files)
    assert after.head == before.head
    assert after.stash == before.stash
    if committed and want:
        branch = before.head.removeprefix("ref: ")
        assert before.head.startswith("ref: "), "commits need a branch"
        _same(
            "refs",
            {k: v for k, v in after.refs.items() if k != branch},
            {k: v for k, v in before.refs.items() if k != branch},
        )
        commits = _git(repo, "rev-list", "--reverse", f"{before.refs[branch]}..{after.refs[branch]}").split()
        touched = [_git(repo, "show", "--name-only", "--format=", c).split() for c in commits]
        assert sorted(touched) == sorted([p] for p in want), touched
        assert _git(repo, "status", "--porcelain", "--untracked-files=no", "--", *want) == ""
        _same("index", _index_without(after.index, want), _index_without(before.index, want))
    else:
        _same("refs", after.refs, before.refs)
        _same("index", after.index, before.index)
    assert_tidy(repo, resumable=resumable)


def assert_tidy(repo: Path, *, resumable: bool = False) -> None:
    """No worktree, run lock or stray stomper ref is left, and `git fsck` finds nothing wrong.

    `resumable`: an interrupted run keeps its `refs/stomper/runs/<id>` for --resume.
    """
    assert _git(repo, "worktree", "list").count("\n") == 1, _git(repo, "worktree", "list")
    state = Path(_git(repo, "rev-parse", "--git-common-dir").strip())
    state = (state if state.is_absolute() else repo / state) / "stomper"
    assert not stray_worktrees(state)
    assert not (state / "lock").exists()
    # refs/stomper/kept/ holds what refs a fixer changed pointed at before they were put back: kept on purpose.
    leftover = [
        ref
        for ref in _git(repo, "for-each-ref", "--format=%(refname)", "refs/stomper/").split()
        if not ref.startswith("refs/stomper/kept/")
    ]
    if not resumable:
        assert leftover == []
    assert all(ref.startswith("refs/stomper/runs/") for ref in leftover), leftover
    subprocess.run(["git", "fsck", "--strict", "--no-progress"], cwd=repo, check=True, capture_output=True)


def _index_without(index: str, paths: Mapping[str, object]) -> str:
    return "".join(line + "\n" for line in index.splitlines() if line.split("\t", 1)[1] not in paths)


def _same(what: str, after: Mapping[str, object] | str, before: Mapping[str, object] | str) -> None:
    if after == before:
        return
    if isinstance(after, str) or isinstance(before, str):
        raise AssertionError(f"{what} changed:\nbefore:\n{before}\nafter:\n{after}")
    differ = sorted(k for k in after.keys() | before.keys() if after.get(k) != before.get(k))
    detail = "\n".join(f"  {k}: {before.get(k)!r:.120} -> {after.get(k)!r:.120}" for k in differ)
    raise AssertionError(f"{what} changed:\n{detail}")

"""A model's reply, read as an edit of one file, and applied to that file's text.

Two shapes of reply are understood, whatever the prompt asked for:

- SEARCH/REPLACE blocks, each replacing one exact stretch of the file:

      <<<<<<< SEARCH
      old lines
      =======
      new lines
      >>>>>>> REPLACE

- one fenced code block holding the whole new file.

Everything here is pure text in, text out: the caller reads and writes the
one file it means to edit, so no reply can reach another file. A reply that
names another file anyway (in a block's header) is refused rather than half
applied. All blocks apply, or none do.

An edit changes only the lines it replaces. Lines end only at "\r\n", "\n"
or "\r" (as Python's tokenizer and git read them, not `str.splitlines`,
which also breaks at form feeds and other separators); every line an edit
leaves alone keeps its bytes, its own line ending included, so mixed line
endings, a form feed, trailing whitespace, a missing final newline and a
byte order mark all survive. A new line takes the ending of the line it
replaces (or of the line before it).
"""

from __future__ import annotations

import collections
import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

_SEARCH = re.compile(r"^<{5,9} ?SEARCH\b(?P<rest>.*)$")
_DIVIDER = re.compile(r"^={5,9}\s*$")
_REPLACE = re.compile(r"^>{5,9} ?REPLACE\s*$")
_FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_NUMBERED = re.compile(r"^\s*\d+\s?[|:]")
_PATHLIKE = re.compile(r"^[\w.\-/\\]+$")
_LINE = re.compile(r"([^\r\n]*)(\r\n|\n|\r)")
_BOM = "\ufeff"

Line = tuple[str, str]
"""One line of a file: its text, and its ending ("\r\n", "\n", "\r", or "" for a last line without one)."""
_New = tuple[str, str | None]
"""A line of the edited file; a None ending is decided when the lines are joined."""


class EditError(Exception):
    """The reply cannot be applied; the message says why, for the model's next attempt.

    It never leaves the llm fixer, which turns it into `FixOutcome.error`.
    """


@dataclass(frozen=True)
class Replace:
    """One SEARCH/REPLACE block: `search` becomes `replace` (each empty or newline-ended)."""

    search: str
    replace: str


@dataclass(frozen=True)
class WholeFile:
    """The whole new text of the file."""

    text: str


Edit = tuple[Replace, ...] | WholeFile


def split_lines(text: str) -> list[Line]:
    """`text` as lines, broken only at "\r\n", "\n" and "\r"; joining them gives `text` back."""
    lines: list[Line] = []
    end = 0
    for match in _LINE.finditer(text):
        lines.append((match[1], match[2]))
        end = match.end()
    if end < len(text):
        lines.append((text[end:], ""))
    return lines


def line_texts(text: str) -> list[str]:
    """The lines of `text` without their endings, numbered as ruff, mypy and git number them."""
    return [line for line, _ in split_lines(text)]


def edit_text(original: str, reply: str, path: str) -> str:
    """`original` (the text of `path`) as `reply` edits it; raises `EditError`."""
    return apply(original, parse(reply, path))


def edit_files(originals: Mapping[str, str], reply: str) -> dict[str, str]:
    """The files of a work unit (`originals`: path to text) as `reply`'s SEARCH/REPLACE blocks edit them.

    Each block names its file (on the line above it, or above its fence);
    a block naming a file outside the unit, or none when the unit has more
    than one, is refused, and so nothing is changed. Only the files the
    blocks edit are returned. Raises `EditError`.
    """
    paths = list(originals)
    if len(paths) == 1:
        return {paths[0]: edit_text(originals[paths[0]], reply, paths[0])}
    if not reply.strip():
        raise EditError("the reply was empty; nothing was changed")
    lines = line_texts(reply)
    blocks: dict[str, list[Replace]] = {}
    i = 0
    count = sum(1 for line in lines if _SEARCH.match(line))
    if not count:
        raise EditError("the reply has no SEARCH/REPLACE block; give one or more, each under the path of its file")
    while i < len(lines):
        head = _SEARCH.match(lines[i])
        if head is None:
            i += 1
            continue
        name = f"SEARCH/REPLACE block {sum(map(len, blocks.values())) + 1}"
        path = _file_of([head["rest"], *_headers(lines, i)], paths, name)
        divider = _next(lines, i + 1, _DIVIDER, name, "'=======' after '<<<<<<< SEARCH'")
        end = _next(lines, divider + 1, _REPLACE, name, "'>>>>>>> REPLACE' to close it")
        blocks.setdefault(path, []).append(Replace(_text(lines[i + 1 : divider]), _text(lines[divider + 1 : end])))
        i = end + 1
    return {path: apply(originals[path], tuple(edits)) for path, edits in blocks.items()}


def _file_of(candidates: list[str], paths: Sequence[str], name: str) -> str:
    """Which of `paths` a block's header names; raises `EditError` for another file, or none."""
    for candidate in candidates:
        named = _path_named(candidate)
        if named is None:
            continue
        same = [p for p in paths if _same_file(named, p)]
        if len(same) != 1:
            raise EditError(
                f"{name} names the file {named}, which is not one of the files you may edit "
                f"({', '.join(paths)}); nothing was changed"
            )
        return same[0]
    raise EditError(f"{name} does not name its file: put the file's path on the line above it; nothing was changed")


def parse(reply: str, path: str) -> Edit:
    """Read `reply` as edits of the file `path`; raises `EditError`."""
    if not reply.strip():
        raise EditError("the reply was empty; nothing was changed")
    lines = line_texts(reply)
    if any(_SEARCH.match(line) for line in lines):
        return _parse_blocks(lines, path)
    blocks = _fenced_blocks(lines)
    if not blocks:
        raise EditError("the reply has no SEARCH/REPLACE block and no fenced code block; nothing was changed")
    if len(blocks) > 1:
        raise EditError(f"the reply has {len(blocks)} code blocks; give exactly one, holding the whole file")
    start, body = blocks[0]
    _check_header(_headers(lines, start), path, "the code block")
    return WholeFile("".join(f"{line}\n" for line in body))


def apply(original: str, edit: Edit) -> str:
    """The text `edit` makes of `original`; raises `EditError` if it misfits or changes nothing.

    Only the lines the edit replaces change: see the module's docstring.
    """
    bom = _BOM if original.startswith(_BOM) else ""
    old = split_lines(original.removeprefix(bom))
    new: list[_New]
    if isinstance(edit, WholeFile):
        new = _whole_file(old, edit.text)
    else:
        new = list(old)
        for number, block in enumerate(edit, 1):
            new = _replace_once(new, block, f"SEARCH/REPLACE block {number} of {len(edit)}")
    text = bom + _join(new, old)
    if text == original:
        raise EditError("the reply leaves the file unchanged")
    return text


def _parse_blocks(lines: list[str], path: str) -> tuple[Replace, ...]:
    blocks: list[Replace] = []
    i = 0
    while i < len(lines):
        head = _SEARCH.match(lines[i])
        if head is None:
            i += 1
            continue
        name = f"SEARCH/REPLACE block {len(blocks) + 1}"
        _check_header([head["rest"], *_headers(lines, i)], path, name)
        divider = _next(lines, i + 1, _DIVIDER, name, "'=======' after '<<<<<<< SEARCH'")
        end = _next(lines, divider + 1, _REPLACE, name, "'>>>>>>> REPLACE' to close it")
        blocks.append(Replace(_text(lines[i + 1 : divider]), _text(lines[divider + 1 : end])))
        i = end + 1
    return tuple(blocks)


def _next(lines: list[str], start: int, marker: re.Pattern[str], name: str, wanted: str) -> int:
    for j in range(start, len(lines)):
        if marker.match(lines[j]):
            return j
        if _SEARCH.match(lines[j]) or _DIVIDER.match(lines[j]) or _REPLACE.match(lines[j]):
            break
    raise EditError(f"{name} is malformed: no {wanted} (was the reply cut short?)")


def _text(lines: list[str]) -> str:
    return "".join(f"{line}\n" for line in lines)


def _fenced_blocks(lines: list[str]) -> list[tuple[int, list[str]]]:
    """(line of the opening fence, the lines inside) of each fenced block."""
    blocks = []
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        fence = opening["fence"]
        close = re.compile(rf"^{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        end = next((j for j in range(i + 1, len(lines)) if close.match(lines[j])), None)
        if end is None:
            raise EditError("the code block is not closed (was the reply cut short?)")
        blocks.append((i, lines[i + 1 : end]))
        i = end + 1
    return blocks


def _headers(lines: list[str], index: int) -> list[str]:
    """What may name the file of the block at `index`: its fence's words, the line above."""
    found: list[str] = []
    above = index - 1
    if not _FENCE.match(lines[index]) and above >= 0 and (fence := _FENCE.match(lines[above])):
        found += fence["info"].split()
        above -= 1
    elif fence := _FENCE.match(lines[index]):
        found += fence["info"].split()
    if above >= 0:
        found.append(lines[above])
    return found


def _check_header(candidates: list[str], path: str, name: str) -> None:
    for candidate in candidates:
        named = _path_named(candidate)
        if named is not None and not _same_file(named, path):
            raise EditError(f"{name} names the file {named}; only {path} may be edited")


def _path_named(text: str) -> str | None:
    """The file path a header line names, if it is one (a bare token with a slash or suffix)."""
    token = text.strip().strip("*`'\"").removesuffix(":").strip().strip("*`'\"")
    for label in ("File:", "file:", "Path:", "path:", "Filename:", "filename:"):
        token = token.removeprefix(label).strip()
    if not token or not _PATHLIKE.match(token):
        return None
    if "/" in token or "\\" in token or PurePosixPath(token).suffix:
        return token
    return None


def _same_file(named: str, path: str) -> bool:
    named = named.replace("\\", "/").removeprefix("./")
    parts = PurePosixPath(named).parts
    if named.startswith("/") or ".." in parts:
        return False
    # The model may shorten the path it was given (mod.py for pkg/mod.py), never change it.
    return named == path or path.endswith("/" + named)


def _whole_file(old: list[Line], text: str) -> list[_New]:
    if not text.strip():
        raise EditError("the code block is empty; give the whole new file")
    new = line_texts(text.removeprefix(_BOM))
    body = [line for line in new if line.strip()]
    if len(body) > 1 and all(_NUMBERED.match(line) for line in body):
        raise EditError("the code block kept the line numbers of the prompt; give the file without them")
    # The model rewrote every line; the lines it wrote as they were are kept as they were, byte for byte.
    return _merge(old, [line for line, _ in old], new)


def _replace_once(lines: list[_New], block: Replace, name: str) -> list[_New]:
    have = [line for line, _ in lines]
    # The byte order mark is not part of the first line (`apply` sets it aside), whatever the model copied.
    search, replacement = line_texts(block.search.removeprefix(_BOM)), line_texts(block.replace.removeprefix(_BOM))
    if not "".join(search).strip():
        if "".join(have).strip():
            raise EditError(f"{name} has an empty SEARCH part; copy the lines to replace into it")
        return [(line, None) for line in replacement]
    found = _find(have, search)
    if len(found) == 1:
        start = found[0]
        return [
            *lines[:start],
            *_merge(lines[start : start + len(search)], search, replacement),
            *lines[start + len(search) :],
        ]
    if len(found) > 1:
        raise EditError(f"{name} matches {len(found)} places in the file; add surrounding lines so it matches one")
    return _replace_loosely(lines, search, replacement, name)


def _find(have: list[str], search: list[str]) -> list[int]:
    return [start for start in range(len(have) - len(search) + 1) if have[start : start + len(search)] == search]


def _replace_loosely(lines: list[_New], search: list[str], replacement: list[str], name: str) -> list[_New]:
    """Second try: ignore trailing spaces, blank lines around the block, a uniform indent shift."""
    have = [line for line, _ in lines]
    search = _trim_blank(search)
    found = [
        (start, shift)
        for start in range(len(have) - len(search) + 1)
        if (shift := _indent_shift(have[start : start + len(search)], search)) is not None
    ]
    if not found:
        raise EditError(f"{name} does not match the file: {_closest(have, search)}")
    if len(found) > 1:
        where = ", ".join(str(start + 1) for start, _ in found[:5])
        raise EditError(f"{name} matches {len(found)} places (lines {where}); add lines so it matches one")
    start, (add, remove) = found[0]

    def shifted(line: str) -> str:
        return line if not line.strip() else add + line.removeprefix(remove)

    region = lines[start : start + len(search)]
    merged = _merge(region, [shifted(line) for line in search], [shifted(line) for line in replacement])
    return [*lines[:start], *merged, *lines[start + len(search) :]]


def _merge(old: Sequence[_New], seen: list[str], new: list[str]) -> list[_New]:
    """`new` in place of the lines `old`, which the model saw as `seen`.

    A line `new` repeats from `seen` is the old line itself, with its exact bytes
    (the model may have lost a form feed or trailing spaces in both); a changed
    line takes the ending of the line it replaces.
    """
    merged: list[_New] = []
    i = j = 0
    for a, b, size in _same_lines(seen, new):
        # Between two runs of unchanged lines: new lines in place of old ones, endings taken in order.
        replaced = old[i:a]
        for k, line in enumerate(new[j:b]):
            merged.append((line, replaced[min(k, len(replaced) - 1)][1] if replaced else None))
        merged += old[a : a + size]
        i, j = a + size, b + size
    return merged


MAX_EDITS = 1000
"""Lines added plus lines removed beyond which the exact diff gives way to difflib's faster, rougher
one (a whole rewrite of a 200-line file, the largest `auto` asks for whole, stays under it)."""


def _same_lines(a: Sequence[str], b: Sequence[str]) -> list[tuple[int, int, int]]:
    """Runs (i, j, n), `a[i:i+n] == b[j:j+n]`, that a shortest edit from `a` to `b` keeps; last (len(a), len(b), 0).

    Myers' diff: its time grows with the number of lines changed, not with how repetitive the
    file is (difflib without its junk heuristic took two minutes on 20,000 alternating lines,
    and with it shifted every blank line after an insertion onto its neighbour's ending).
    """
    n, m = len(a), len(b)
    frontier: dict[int, int] = {1: 0}
    trace: list[dict[int, int]] = []
    for d in range(min(n + m, MAX_EDITS) + 1):
        trace.append(dict(frontier))
        for k in range(-d, d + 1, 2):
            x = frontier[k + 1] if k == -d or (k != d and frontier[k - 1] < frontier[k + 1]) else frontier[k - 1] + 1
            y = x - k
            while x < n and y < m and a[x] == b[y]:
                x, y = x + 1, y + 1
            frontier[k] = x
            if x >= n and y >= m:
                return _runs(_backtrack(trace, n, m), n, m)
    blocks = difflib.SequenceMatcher(None, a, b).get_matching_blocks()
    return [(block.a, block.b, block.size) for block in blocks]


def _backtrack(trace: list[dict[int, int]], x: int, y: int) -> list[tuple[int, int]]:
    """The pairs of equal lines on the path Myers' search found, first to last."""
    pairs: list[tuple[int, int]] = []
    for d in range(len(trace) - 1, -1, -1):
        v, k = trace[d], x - y
        back = k + 1 if k == -d or (k != d and v[k - 1] < v[k + 1]) else k - 1
        before_x = v[back]
        before_y = before_x - back
        while x > before_x and y > before_y:
            x, y = x - 1, y - 1
            pairs.append((x, y))
        x, y = before_x, before_y
    return pairs[::-1]


def _runs(pairs: list[tuple[int, int]], n: int, m: int) -> list[tuple[int, int, int]]:
    runs: list[tuple[int, int, int]] = []
    for i, j in pairs:
        if runs and runs[-1][0] + runs[-1][2] == i and runs[-1][1] + runs[-1][2] == j:
            runs[-1] = (runs[-1][0], runs[-1][1], runs[-1][2] + 1)
        else:
            runs.append((i, j, 1))
    return [*runs, (n, m, 0)]


def _join(lines: list[_New], old: list[Line]) -> str:
    """The text of `lines`: each gets an ending, and the last one ends as the original's last did."""
    endings = collections.Counter(ending for _, ending in old if ending)
    usual = endings.most_common(1)[0][0] if endings else "\n"
    unterminated = bool(old) and not old[-1][1]
    parts: list[str] = []
    previous: str | None = None
    for number, (line, ending) in enumerate(lines, 1):
        if number == len(lines) and unterminated:
            ending = ""
        elif not ending:
            ending = previous or usual
        parts += (line, ending)
        previous = ending or previous
    return "".join(parts)


def _trim_blank(lines: list[str]) -> list[str]:
    while lines and not lines[0].strip():
        lines = lines[1:]
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    return lines


def _indent_shift(have: list[str], want: list[str]) -> tuple[str, str] | None:
    """(indent to add, indent to remove) that turns `want` into `have`, or None if none does."""
    shift: tuple[str, str] | None = None
    for file_line, search_line in zip(have, want, strict=True):
        f, s = file_line.rstrip(), search_line.rstrip()
        if not f or not s:
            if f or s:
                return None
            continue
        if shift is None:
            f_indent, s_indent = f[: len(f) - len(f.lstrip())], s[: len(s) - len(s.lstrip())]
            if f_indent.endswith(s_indent):
                shift = (f_indent[: len(f_indent) - len(s_indent)], "")
            elif s_indent.endswith(f_indent):
                shift = ("", s_indent[: len(s_indent) - len(f_indent)])
            else:
                return None
        add, remove = shift
        if not s.startswith(remove) or f != add + s.removeprefix(remove):
            return None
    return shift


def _closest(lines: list[str], search: list[str]) -> str:
    """Where the SEARCH text comes nearest the file, and the first line that differs."""
    best, best_start = 0, -1
    for start in range(len(lines)):
        agree = 0
        while (
            agree < len(search) and start + agree < len(lines) and lines[start + agree].strip() == search[agree].strip()
        ):
            agree += 1
        if agree > best:
            best, best_start = agree, start
    if best_start < 0:
        first = search[0].strip() if search else ""
        stripped = [line.strip() for line in lines]
        near = difflib.get_close_matches(first, stripped, n=1, cutoff=0.6)
        hint = f" (nearest: line {stripped.index(near[0]) + 1}, {near[0]!r})" if near else ""
        return f"no line of the file reads {first!r}{hint}; copy the SEARCH lines exactly from the file"
    if best == len(search):
        return (
            f"it matches at line {best_start + 1} only if indentation is ignored; keep the file's indentation exactly"
        )
    line = best_start + best
    wanted = search[best].strip()
    have = lines[line].strip() if line < len(lines) else "(end of file)"
    return (
        f"its first {best} line(s) match at line {best_start + 1}, then line {line + 1} "
        f"reads {have!r} where the block has {wanted!r}; "
        "copy the SEARCH lines exactly from the file"
    )

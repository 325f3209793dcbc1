from __future__ import annotations

import random
import re

import pytest

from stomper.edits import EditError, Replace, WholeFile, _same_lines, apply, edit_text, line_texts, parse, split_lines

ORIGINAL = """\
import os
import sys


def main() -> int:
    if sys.argv:
        return 1
    return 0
"""


def block(search: str, replace: str, header: str = "") -> str:
    return f"{header}<<<<<<< SEARCH\n{search}=======\n{replace}>>>>>>> REPLACE\n"


def test_search_replace_blocks_apply_in_order() -> None:
    reply = (
        "Remove the unused import, then simplify.\n\n```python\n"
        + block("import os\n", "")
        + block("        return 1\n", "        return 2\n")
        + "```\n"
    )

    new = edit_text(ORIGINAL, reply, "pkg/main.py")

    assert new == ORIGINAL.replace("import os\n", "").replace("return 1", "return 2")


def test_block_headed_by_the_file_itself_is_accepted() -> None:
    reply = "pkg/main.py\n```python\n" + block("import os\n", "") + "```\n"

    assert parse(reply, "pkg/main.py") == (Replace("import os\n", ""),)
    assert parse("main.py\n" + block("import os\n", ""), "pkg/main.py") == (Replace("import os\n", ""),)


@pytest.mark.parametrize(
    "reply",
    [
        "other/mod.py\n```python\n" + block("import os\n", "") + "```\n",
        "```python ../outside.py\n" + block("import os\n", "") + "```\n",
        block("import os\n", "", header="").replace("SEARCH", "SEARCH /etc/passwd", 1),
        "**setup.cfg**\n" + block("import os\n", ""),
        "/tmp/pkg/main.py:\n```\nimport sys\n```\n",
    ],
)
def test_a_reply_naming_another_file_is_refused(reply: str) -> None:
    with pytest.raises(EditError, match=r"names the file .*; only pkg/main.py may be edited"):
        edit_text(ORIGINAL, reply, "pkg/main.py")


def test_whole_file_in_one_fence() -> None:
    reply = "Here is the fixed file:\n\n```python\nimport sys\n\n\ndef main() -> int:\n    return 0\n```\n"

    new = edit_text(ORIGINAL, reply, "pkg/main.py")

    assert new == "import sys\n\n\ndef main() -> int:\n    return 0\n"


def test_whole_file_in_a_longer_fence_may_contain_backticks() -> None:
    text = 'DOC = """\n```\nexample\n```\n"""\n'
    reply = f"````python\n{text}````\n"

    assert parse(reply, "doc.py") == WholeFile(text)


def test_search_that_does_not_match_says_where_it_came_closest() -> None:
    reply = block("def main() -> int:\n    if sys.argv:\n        return 3\n", "x\n")

    with pytest.raises(EditError) as caught:
        edit_text(ORIGINAL, reply, "pkg/main.py")

    message = str(caught.value)
    assert message.startswith("SEARCH/REPLACE block 1 of 1 does not match the file")
    assert "first 2 line(s) match at line 5, then line 7 reads 'return 1'" in message
    assert "'return 3'" in message


def test_search_naming_no_line_of_the_file() -> None:
    with pytest.raises(EditError, match=r"no line of the file reads 'import json'"):
        edit_text(ORIGINAL, block("import json\n", ""), "pkg/main.py")


def test_whitespace_tolerant_second_try_keeps_the_files_indentation() -> None:
    # The model dropped the function's indentation and added trailing spaces.
    reply = block("if sys.argv:   \n    return 1\n", "if not sys.argv:\n    return 1\n")

    new = edit_text(ORIGINAL, reply, "pkg/main.py")

    assert "    if not sys.argv:\n        return 1\n" in new


def test_search_matching_several_places_is_refused() -> None:
    text = "a = 1\nb = 2\na = 1\n"

    with pytest.raises(EditError, match="matches 2 places"):
        edit_text(text, block("a = 1\n", "a = 3\n"), "x.py")


def test_one_failing_block_applies_none() -> None:
    reply = block("import os\n", "") + block("import json\n", "")

    with pytest.raises(EditError, match="block 2 of 2"):
        edit_text(ORIGINAL, reply, "pkg/main.py")


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        ("", "the reply was empty"),
        ("   \n\n", "the reply was empty"),
        ("I cannot help with that.", "no SEARCH/REPLACE block and no fenced code block"),
        ("```python\nimport sys\n", "not closed"),
        ("```\na\n```\ntext\n```\nb\n```\n", "2 code blocks"),
        ("<<<<<<< SEARCH\nimport os\n", "no '=======' after"),
        ("<<<<<<< SEARCH\nimport os\n=======\n", "no '>>>>>>> REPLACE' to close it"),
        ("```python\n```\n", "the code block is empty"),
        ("```python\n1 | import sys\n2 | \n3 | x = 1\n```\n", "kept the line numbers"),
        ("```python\n" + ORIGINAL + "```\n", "leaves the file unchanged"),
        (block("", "x = 1\n"), "empty SEARCH part"),
    ],
)
def test_unusable_replies_say_why(reply: str, message: str) -> None:
    with pytest.raises(EditError, match=message):
        edit_text(ORIGINAL, reply, "pkg/main.py")


def test_a_file_without_final_newline_keeps_it_that_way() -> None:
    original = "x = 1\ny = 2"

    assert apply(original, (Replace("y = 2\n", "y = 3\n"),)) == "x = 1\ny = 3"
    assert apply(original, WholeFile("x = 1\ny = 4\n")) == "x = 1\ny = 4"


def test_empty_search_fills_an_empty_file() -> None:
    assert edit_text("", block("", "x = 1\n"), "new.py") == "x = 1\n"


# Each: (original, SEARCH, REPLACE, expected). The model writes "\n" only; the file keeps its own bytes.
FIDELITY = {
    "form feed line": (
        "import os\n\x0c\ndef f() -> int:\n    return 1\n",
        "import os\n",
        "",
        "\x0c\ndef f() -> int:\n    return 1\n",
    ),
    "mixed line endings": (
        "a = 1\r\nb = 2\nc = 3\r\nd = 4\n",
        "b = 2\n",
        "b = 20\n",
        "a = 1\r\nb = 20\nc = 3\r\nd = 4\n",
    ),
    "lone carriage returns": ("a = 1\rb = 2\rc = 3\r", "b = 2\n", "b = 20\nb2 = 0\n", "a = 1\rb = 20\rb2 = 0\rc = 3\r"),
    "no final newline, CRLF": ("a = 1\r\nb = 2", "a = 1\n", "a = 10\n", "a = 10\r\nb = 2"),
    "edit of the unterminated last line": ("a = 1\nb = 2", "b = 2\n", "b = 20\nc = 3\n", "a = 1\nb = 20\nc = 3"),
    "tabs and trailing whitespace": (
        "x = '''\ttab  \n'''  \ny = 1\n",
        "y = 1\n",
        "y = 2\n",
        "x = '''\ttab  \n'''  \ny = 2\n",
    ),
    "byte order mark": ("\ufeffimport os\r\nx = 1\r\n", "import os\n", "", "\ufeffx = 1\r\n"),
    "separators str.splitlines breaks at": (
        "s = 'a\x1cb\x0bc\u2028d\x85e'\nt = 1\n",
        "t = 1\n",
        "t = 2\n",
        "s = 'a\x1cb\x0bc\u2028d\x85e'\nt = 2\n",
    ),
    "insertion between CRLF lines of a mixed file": (
        "a = 1\nb = 2\r\nc = 3\r\n",
        "b = 2\nc = 3\n",
        "b = 2\nbb = 2\nc = 3\n",
        "a = 1\nb = 2\r\nbb = 2\r\nc = 3\r\n",
    ),
}


@pytest.mark.parametrize(("original", "search", "replace", "expected"), FIDELITY.values(), ids=FIDELITY.keys())
def test_a_search_replace_edit_changes_only_the_lines_it_replaces(
    original: str, search: str, replace: str, expected: str
) -> None:
    assert edit_text(original, block(search, replace), "mod.py") == expected


@pytest.mark.parametrize(("original", "search", "replace", "expected"), FIDELITY.values(), ids=FIDELITY.keys())
def test_a_whole_file_reply_changes_only_the_lines_it_changes(
    original: str, search: str, replace: str, expected: str
) -> None:
    # A perfect model: the expected file, as it would write it (with "\n" line ends, no BOM).
    text = re.sub(r"\r\n?", "\n", expected.removeprefix("\ufeff")).removesuffix("\n") + "\n"

    assert edit_text(original, f"```python\n{text}```\n", "mod.py") == expected


def test_lines_the_model_repeats_with_lost_whitespace_keep_the_files_bytes() -> None:
    original = "def f() -> int:\n    x = 1   \r\n\x0c\n    return x\t\r\n"
    # The model lost the trailing spaces, the tab and the form feed in SEARCH and REPLACE alike.
    reply = block("    x = 1\n\n    return x\n", "    x = 2\n\n    return x\n")

    assert edit_text(original, reply, "mod.py") == "def f() -> int:\n    x = 2\r\n\x0c\n    return x\t\r\n"


def test_lines_break_only_where_python_and_git_break_them() -> None:
    text = "a\r\nb\x0c\nc\rd\x1ce\u2028f"

    assert split_lines(text) == [("a", "\r\n"), ("b\x0c", "\n"), ("c", "\r"), ("d\x1ce\u2028f", "")]
    assert "".join(line + end for line, end in split_lines(text)) == text
    assert line_texts("") == [] and line_texts("\n\n") == ["", ""]


def test_a_long_repetitive_mixed_file_keeps_every_untouched_ending() -> None:
    # Blank lines are common enough for difflib to treat them as junk; they still keep their endings.
    original = "".join("pass\r\n" if n % 2 else "\n" if n % 3 else "\r\n" for n in range(3000))
    lines = original.splitlines(keepends=True)
    expected = "first = 1\r\n" + "".join(lines[1:1500]) + "middle = 2\r\n" + "".join(lines[1500:-1]) + "last = 3\r\n"
    reply = "```python\n" + re.sub(r"\r\n?", "\n", expected) + "```\n"

    assert edit_text(original, reply, "mod.py") == expected


def test_the_line_diff_keeps_as_many_lines_as_any_diff_could() -> None:
    rng = random.Random(20261126)
    for case in range(500):
        a = [rng.choice(["", "pass", "x = 1"]) for _ in range(rng.randint(0, 14))]
        b = [rng.choice(["", "pass", "y = 2"]) for _ in range(rng.randint(0, 14))]
        runs = _same_lines(a, b)
        kept, i0, j0 = 0, 0, 0
        for i, j, n in runs:
            assert i >= i0 and j >= j0 and a[i : i + n] == b[j : j + n], (case, a, b, runs)
            kept, i0, j0 = kept + n, i + n, j + n
        assert runs[-1] == (len(a), len(b), 0)
        assert kept == _longest_common(a, b), (case, a, b, runs)


def _longest_common(a: list[str], b: list[str]) -> int:
    best = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) - 1, -1, -1):
        for j in range(len(b) - 1, -1, -1):
            best[i][j] = best[i + 1][j + 1] + 1 if a[i] == b[j] else max(best[i + 1][j], best[i][j + 1])
    return best[0][0]


def test_a_byte_order_mark_the_model_copied_into_its_block_is_no_part_of_the_line() -> None:
    original = "\ufeffimport os\nx = 1\n"

    assert edit_text(original, block("\ufeffimport os\nx = 1\n", "\ufeffx = 1\n"), "mod.py") == "\ufeffx = 1\n"
    assert edit_text(original, "```python\n\ufeffx = 1\n```\n", "mod.py") == "\ufeffx = 1\n"

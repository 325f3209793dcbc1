from __future__ import annotations

import pytest

from stomper.edits import EditError, Replace, WholeFile, apply, edit_text, parse

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

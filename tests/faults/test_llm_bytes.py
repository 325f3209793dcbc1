"""The llm fixer changes only the lines it replaces: every other byte of the file is committed as it was.

The real `stomper fix` runs with the real OpenAI client against a local
server whose model answers perfectly; the committed file is compared byte
for byte with the original minus the one line the fix removes.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import commit_all, git, stomper

from tests.openai_server import OpenAIServer

TARGET = "pkg/mod.py"
# A byte order mark, CRLF, LF and a lone CR line ending, a form feed line, a tab and trailing
# whitespace inside a string, trailing spaces after code, and no newline at the end.
BROKEN = (
    "\ufeffimport os\r\nimport sys\n\x0c\n\n"
    "def value() -> int:  \r\n    return len(sys.argv)\rTAB = '\tx   '\r\n\x0c\r\n# the end"
)
FIXED = BROKEN.replace("import os\r\n", "")


def whole_file(body: dict[str, Any]) -> str:
    # As a model writes it: "\n" line ends, no byte order mark, the form feed kept.
    text = re.sub(r"\r\n?", "\n", FIXED.removeprefix("\ufeff")) + "\n"
    return f"```python\n{text}```\n"


def search_replace(body: dict[str, Any]) -> str:
    return "```python\n<<<<<<< SEARCH\nimport os\nimport sys\n=======\nimport sys\n>>>>>>> REPLACE\n```\n"


@pytest.mark.parametrize(("edit_format", "answer"), [("whole-file", whole_file), ("search-replace", search_replace)])
def test_only_the_replaced_line_changes_in_the_committed_file(repo: Path, edit_format: str, answer: Any) -> None:
    (repo / "pkg").mkdir()
    (repo / "pkg" / "__init__.py").write_bytes(b"")
    (repo / TARGET).write_bytes(BROKEN.encode())
    commit_all(repo, "broken")
    server = OpenAIServer(answer)

    with server.running():
        done = stomper(
            repo,
            "fix",
            "--model",
            "openai:gpt-4o-mini",
            "--fixer",
            "llm",
            "--tools",
            "ruff",
            env={
                "OPENAI_API_KEY": "sk-test-0123456789abcdef",
                "STOMPER_LLM__BASE_URL": server.url,
                "STOMPER_LLM__EDIT_FORMAT": edit_format,
            },
        )

    assert done.returncode == 0, done.stdout + done.stderr
    assert len(server.answered) == 1
    committed = subprocess_bytes(repo, "show", f"HEAD:{TARGET}")
    assert committed == FIXED.encode()
    assert (repo / TARGET).read_bytes() == FIXED.encode()
    assert git(repo, "status", "--porcelain") == ""
    # The model was shown the lines ruff and mypy count: the form feed is inside line 3, not a line of its own.
    prompt = server.received[0].prompt
    assert "\n1 | import os\n2 | import sys\n3 | \x0c\n4 | \n5 | def value()" in prompt
    assert "\n9 | # the end\n" in prompt


def subprocess_bytes(repo: Path, *args: str) -> bytes:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, check=True).stdout

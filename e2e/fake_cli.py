#!/usr/bin/env python3
"""A stand-in for a coding agent CLI (claude, codex, aider, gemini, cursor-agent, opencode).

Installed by the tests under the real CLI's name, first on PATH. It records
what it was given as a JSON line in calls.jsonl beside itself: its name, argv,
stdin, the working directory and, for aider, the --message-file's text. Then
it edits the file the prompt names (`return "N"` becomes `return N`), but only
when its argv grants the permission the real CLI needs to edit unattended;
otherwise, like the real one, it exits 0 having changed nothing.
"""

import json
import os
import re
import sys
from pathlib import Path

me = Path(os.path.abspath(sys.argv[0]))
name, args = me.name, sys.argv[1:]
stdin = "" if sys.stdin is None or sys.stdin.closed else sys.stdin.read()
record = {"name": name, "argv": args, "stdin": stdin, "cwd": os.getcwd()}
if "--message-file" in args:
    record["message_file"] = Path(args[args.index("--message-file") + 1]).read_text()
with (me.parent / "calls.jsonl").open("a") as log:
    log.write(json.dumps(record) + "\n")


def has(*flags: str) -> bool:
    return any(args[i : i + len(flags)] == list(flags) for i in range(len(args)))


may_edit = {
    "claude": has("-p") and (has("--permission-mode", "acceptEdits") or has("--dangerously-skip-permissions")),
    "codex": args[:1] == ["exec"] and has("--sandbox", "workspace-write"),
    "aider": has("--yes-always") and has("--message-file"),
    "gemini": has("--approval-mode", "auto_edit") or has("--approval-mode", "yolo"),
    "cursor-agent": has("-p"),
    "opencode": args[:1] == ["run"],
}[name]
prompt = record.get("message_file") or stdin or " ".join(args)
target = re.search(r"Fix the following problems in the file (\S+)\.", prompt)
if may_edit and target:
    path = Path(target.group(1))
    path.write_text(re.sub(r'return "(\d+)"', r"return \1", path.read_text()))

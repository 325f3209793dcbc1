#!/usr/bin/env python3
"""A coding agent for tests: a real executable that does what its script says.

    fake_agent.py SCRIPT.json {file}

SCRIPT.json maps a file path (relative to the worktree) to what to do with it:

    {"pkg/a.py": {"content": "...",     # write this as the new file content
                  "delay": 1.0,         # sleep first
                  "exit": 0,            # exit status
                  "also": {"b.py": "..."},   # write other files too
                  "spawn_sleeper": true,     # leave a child process behind (its pid goes to sleeper.pid)
                  "hang": true,              # never exit
                  "edit_checkout": "...",    # overwrite the file in the user's checkout (a "user edit")
                  "stage_checkout": "...",   # stage this content for the file in the user's index, file unchanged
                  "mark": "/abs/path"}}      # create this file first (tests wait for it)

Every call appends {"file", "start", "end", "prompt"} as a JSON line to
SCRIPT.json's directory / calls.jsonl; a list of contents is taken one per attempt.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

script_path, target = Path(sys.argv[1]), sys.argv[2]
plan = json.loads(script_path.read_text()).get(target, {})
log = script_path.parent / "calls.jsonl"
attempt = sum(1 for line in log.read_text().splitlines() if json.loads(line)["file"] == target) if log.exists() else 0
start = time.time()
prompt = sys.stdin.read()

if "mark" in plan:
    Path(plan["mark"]).write_text(str(os.getpid()))
if plan.get("spawn_sleeper"):
    child = subprocess.Popen(["sleep", "1000"])
    (script_path.parent / "sleeper.pid").write_text(str(child.pid))
if plan.get("hang"):
    time.sleep(1000)
time.sleep(plan.get("delay", 0))
content = plan.get("content")
if isinstance(content, list):
    content = content[min(attempt, len(content) - 1)]
if content is not None:
    Path(target).write_text(content)
for other, text in plan.get("also", {}).items():
    Path(other).write_text(text)
if "edit_checkout" in plan:
    (Path(os.environ["FAKE_AGENT_CHECKOUT"]) / target).write_text(plan["edit_checkout"])
if "stage_checkout" in plan:
    checkout = os.environ["FAKE_AGENT_CHECKOUT"]
    hashed = subprocess.run(
        ["git", "hash-object", "-w", "--stdin"],
        cwd=checkout,
        input=plan["stage_checkout"],
        capture_output=True,
        text=True,
        check=True,
    )
    subprocess.run(
        ["git", "update-index", "--cacheinfo", f"100644,{hashed.stdout.strip()},{target}"], cwd=checkout, check=True
    )

record = {
    "file": target,
    "start": start,
    "end": time.time(),
    "prompt": prompt,
    "env_file": os.environ.get("STOMPER_FILE"),
    "prompt_file": os.environ.get("STOMPER_PROMPT_FILE"),
}
with log.open("a") as handle:
    handle.write(json.dumps(record) + "\n")
sys.exit(plan.get("exit", 0))

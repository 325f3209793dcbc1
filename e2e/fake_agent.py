#!/usr/bin/env python3
"""A coding agent for tests: a real executable that does what its script says.

    fake_agent.py SCRIPT.json {file} [more arguments, recorded]

SCRIPT.json maps a file path (relative to the worktree) to what to do with it,
in this order:

    {"pkg/a.py": {"mark": "/abs/path",       # create this file first (tests wait for it)
                  "flood_mb": 50,            # write this many MiB to stdout
                  "say": "...",              # write this line to stderr
                  "spawn_sleeper": true,     # leave a child process behind (its pid goes to sleeper.pid)
                  "hang": true,              # never exit
                  "delay": 1.0,              # sleep
                  "read": ["b.py"],          # record what these files hold when it starts
                  "hide": {"content": "...", "flag": "--assume-unchanged"},  # stage this content, mark
                                             # the entry so that git no longer looks at the file, then go on
                  "content": "...",          # write this as the new file content
                  "binary": true,            # then append a comment holding a NUL byte
                  "also": {"b.py": "..."},   # write other files too (any path, "../" and absolute ones too)
                  "links": {"b.py": "/etc"}, # make symbolic links, path -> where it points
                  "delete": true,            # delete the file
                  "rename": "pkg/b.py",      # move the file there
                  "symlink": "/abs/path",    # replace the file with a symbolic link to there
                  "git_file": "gitdir: ...", # overwrite the worktree's .git file with this
                  "write_git": {"hooks/x": "..."},  # make the worktree's .git a directory holding these
                  "git_dir": {"hooks/x": "..."},  # write into the repository's own git directory
                  "stage": true,             # `git add --all`: stage the edit as if verified
                  "edit_checkout": "...",    # overwrite the file in the user's checkout (a "user edit")
                  "stage_checkout": "...",   # stage this content for the file in the user's index, file unchanged
                  "exit": 0}}                # exit status

Every call appends {"file", "start", "end", "prompt", "seen"} ("seen": the file as the agent found it) as a JSON line to
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
seen = Path(target).read_text() if Path(target).is_file() else None
read = {name: Path(name).read_text() for name in plan.get("read", [])}

if "mark" in plan:
    Path(plan["mark"]).write_text(str(os.getpid()))
if "flood_mb" in plan:
    chunk = b"flood " * (1024 * 1024 // 6) + b"\n"
    for _ in range(plan["flood_mb"]):
        sys.stdout.buffer.write(chunk)
    sys.stdout.flush()
if "say" in plan:
    print(plan["say"], file=sys.stderr, flush=True)
if plan.get("spawn_sleeper"):
    child = subprocess.Popen(["sleep", "1000"])
    (script_path.parent / "sleeper.pid").write_text(str(child.pid))
if plan.get("hang"):
    time.sleep(1000)
time.sleep(plan.get("delay", 0))
if "hide" in plan:
    Path(target).write_text(plan["hide"]["content"])
    subprocess.run(["git", "add", "--", target], check=True)
    subprocess.run(["git", "update-index", plan["hide"]["flag"], "--", target], check=True)
content = plan.get("content")
if isinstance(content, list):
    content = content[min(attempt, len(content) - 1)]
if content is not None:
    Path(target).write_text(content)
if plan.get("binary"):
    with Path(target).open("ab") as handle:
        handle.write(b"# \0\n")
for other, text in plan.get("also", {}).items():
    Path(other).parent.mkdir(parents=True, exist_ok=True)
    Path(other).write_text(text)
for link, points_to in plan.get("links", {}).items():
    Path(link).symlink_to(points_to)
if plan.get("delete"):
    Path(target).unlink()
if "rename" in plan:
    Path(target).rename(plan["rename"])
if "symlink" in plan:
    Path(target).unlink()
    Path(target).symlink_to(plan["symlink"])
if "git_dir" in plan:
    common = subprocess.run(["git", "rev-parse", "--git-common-dir"], capture_output=True, text=True, check=True)
    for name, text in plan["git_dir"].items():
        (Path(common.stdout.strip()) / name).write_text(text)
if "git_file" in plan:
    Path(".git").write_text(plan["git_file"])
if "write_git" in plan:
    Path(".git").unlink()
    for name, text in plan["write_git"].items():
        (Path(".git") / name).parent.mkdir(parents=True, exist_ok=True)
        (Path(".git") / name).write_text(text)
if plan.get("stage"):
    subprocess.run(["git", "add", "--all"], check=True)
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
    "seen": seen,
    "env_file": os.environ.get("STOMPER_FILE"),
    "env_files": os.environ.get("STOMPER_FILES"),
    "argv": sys.argv[3:],
    "read": read,
    "prompt_file": os.environ.get("STOMPER_PROMPT_FILE"),
}
with log.open("a") as handle:
    handle.write(json.dumps(record) + "\n")
sys.exit(plan.get("exit", 0))

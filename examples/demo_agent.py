#!/usr/bin/env python3
"""A stand-in for a coding agent such as `claude -p`, for the demo only.

stomper runs it in the worktree of one file as `demo_agent.py {file}`, with
the prompt on standard input. A real agent would read the prompt and edit the
file; this one knows the demo project and copies in the fixed version kept
beside it in demo-fixes/. Everything else (worktrees, verification, retries,
applying) is stomper's real workflow.
"""

import shutil
import sys
from pathlib import Path

target = sys.argv[1]
fixed = Path(__file__).resolve().parent / "demo-fixes" / target
sys.stdin.read()
if not fixed.is_file():
    sys.exit(f"demo agent: no fix known for {target}")
shutil.copyfile(fixed, target)

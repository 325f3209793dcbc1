#!/usr/bin/env python3
"""A stand-in for a coding agent such as `claude -p`, for the demo only.

stomper runs it in the worktree of one work unit as `demo_agent.py {files}`
(the failing file first, then the files its failure runs through), with the
prompt on standard input. A real agent would read the prompt and edit the
files; this one knows the demo project and copies in the fixed version of
each file of the unit kept beside it in demo-fixes/. Everything else
(worktrees, verification, retries, applying) is stomper's real workflow.
"""

import shutil
import sys
from pathlib import Path

fixes = Path(__file__).resolve().parent / "demo-fixes"
sys.stdin.read()
known = [target for target in sys.argv[1:] if (fixes / target).is_file()]
if not known:
    sys.exit(f"demo agent: no fix known for {', '.join(sys.argv[1:])}")
for target in known:
    shutil.copyfile(fixes / target, target)

#!/usr/bin/env python3
"""Where a run's time goes after its last agent: a timeline of every child process of one `stomper fix`.

    .venv/bin/python benchmarks/timeline.py [--files 16] [--latency 1.0] [--parallel 8] [--tools ruff]
                                            [--src DIR] [--all]

The repository and the agent are `parallel.py`'s. Stomper runs with an audit
hook loaded at start-up (`sitecustomize`, from PYTHONPATH) that writes down
when each child process starts (`subprocess.Popen`) and when asyncio sees it
exit, and when the interpreter begins to shut down; the benchmark adds when
the process was gone. It prints, from the end of the last agent on (or from
the start with `--all`), each child with its start and end in seconds from
the start of stomper, then where the tail went. `--src DIR` runs the stomper
of `DIR` (the `src` of a checkout, from `git archive`) instead of the
installed one. It observes; it changes nothing but the time it takes to
write its log (a few microseconds a process).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import textwrap
import time
from pathlib import Path

from common import ENV, STOMPER, make_agent
from parallel import AGENT, make_repo

HOOK = textwrap.dedent(
    r"""
    import atexit, os, sys, time, asyncio.base_subprocess as base

    _log = open(os.environ["STOMPER_TIMELINE"], "a", buffering=1)

    def _write(kind, argv):
        _log.write(f"{time.time():.6f}\t{kind}\t{' '.join(map(str, argv))}\n")

    def _hook(event, args):
        if event == "subprocess.Popen":
            _write("start", args[1])

    _exited = base.BaseSubprocessTransport._process_exited

    def _process_exited(self, returncode):
        _write("end", self._proc.args)
        return _exited(self, returncode)

    base.BaseSubprocessTransport._process_exited = _process_exited
    sys.addaudithook(_hook)
    atexit.register(lambda: _write("exit", ["atexit"]))
    """
)


def short(argv: str) -> str:
    """A child's command line as a word or two: git's verb past its `-c` options, a tool's name."""
    words = argv.split()
    name = Path(words[0]).name
    if name == "git":
        at = 1
        while at < len(words) and words[at] in ("-c", "-C"):
            at += 2
        return "git " + " ".join(words[at : at + 2])
    return " ".join([name, *words[1:3]])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=16)
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument("--parallel", type=int, default=8)
    parser.add_argument("--tools", default="ruff")
    parser.add_argument("--src", type=Path)
    parser.add_argument("--all", action="store_true", help="every child, not only those after the last agent")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="stomper-timeline-") as scratch:
        where = Path(scratch)
        repo = make_repo(where, args.files)
        agent = make_agent(where, AGENT.format(latency=args.latency))
        site = where / "site"
        site.mkdir()
        (site / "sitecustomize.py").write_text(HOOK)
        log = where / "timeline.log"
        paths = [str(site), *([str(args.src.resolve())] if args.src else [])]
        env = {**ENV, "PYTHONPATH": os.pathsep.join(paths), "STOMPER_TIMELINE": str(log)}
        argv = [str(STOMPER), "fix", "--fixer", "agent", "--agent", f"{agent} {{file}}"]
        argv += ["--tools", args.tools, "--parallel", str(args.parallel)]
        started = time.time()
        done = subprocess.run(argv, cwd=repo, env=env, capture_output=True, text=True)
        gone = time.time()
        if done.returncode != 0:
            raise SystemExit(done.stdout + done.stderr)
        logged = [line.split("\t") for line in log.read_text().splitlines()]
    events = [(float(t) - started, kind, argv) for t, kind, argv in logged]
    # Marks a probed copy of stomper (`--src`) may write: "PROBE <time.time()> <what>" on stderr.
    probes = [line.split(" ", 2) for line in done.stderr.splitlines() if line.startswith("PROBE ")]
    marks = [(float(t) - started, what) for _, t, what in probes]
    agents = [t for t, kind, argv in events if kind == "end" and "agent.sh" in argv]
    since = 0.0 if args.all else max(agents)
    open_starts: dict[str, list[float]] = {}
    spans: list[tuple[float, float, str]] = []
    for t, kind, line in events:
        if kind == "start":
            open_starts.setdefault(line, []).append(t)
        elif kind == "end" and open_starts.get(line):
            spans.append((open_starts[line].pop(0), t, short(line)))
    spans.sort()
    print(f"{'start':>7} {'end':>7} {'ms':>5}  process")
    rows = [(start, end, f"{start:7.3f} {end:7.3f} {1000 * (end - start):5.0f}  {name}") for start, end, name in spans]
    rows += [(t, t, f"{t:7.3f} {'':>7} {'':>5}  -- {what}") for t, what in marks]
    for _, _, text in sorted(row for row in rows if row[1] >= since):
        print(text)
    exiting = next(t for t, kind, _ in events if kind == "exit")
    after = sum(1 for start, _, _ in spans if start >= max(agents))
    last = max(end for _, end, _ in spans)
    print(f"\nlast agent ended {max(agents):.3f}; {after} processes started after it; last ended {last:.3f};")
    print(f"interpreter exit began {exiting:.3f}; process gone {gone - started:.3f}")


if __name__ == "__main__":
    main()

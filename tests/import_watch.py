"""Watching the real console script import: on which thread each module is imported, and when processes start.

`WATCHER` is loaded by the interpreter at start-up (`sitecustomize`, from
PYTHONPATH) and adds an audit hook that writes down, in order, every module
an import statement loads (the `import` audit event: raised only for a
module not yet in `sys.modules`) with the thread that loads it, and every
process started with how far the import of the graph had got. It observes
and changes nothing, except that it can hold the import thread
(`stomper.graph.preload`) at its first LangGraph module until a directory
holds a number of files (or a minute has passed): what a test needs to be
sure that work happened while LangGraph was being imported, or that a kill
came before the graph existed, however loaded the machine.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

WATCHER = textwrap.dedent(
    r"""
    import os, sys, threading, time

    _file = open(os.environ["STOMPER_TEST_WATCH"], "a", buffering=1)
    _hold = os.environ.get("STOMPER_TEST_HOLD_DIR")
    _count = int(os.environ.get("STOMPER_TEST_HOLD_COUNT", "0"))
    _held = []

    class _log:
        # Every Python process stomper starts (mypy, pytest, a fake agent) loads this too: each line says whose it is.
        @staticmethod
        def write(line):
            _file.write(f"{os.getpid()}\t{line}")

    def _graph():
        module = sys.modules.get("stomper.graph.build")
        if module is None:
            return "not-begun"
        return "importing" if getattr(module.__spec__, "_initializing", False) else "imported"

    def _thread():
        thread = threading.current_thread()
        if thread is threading.main_thread():
            return "main"
        return "import" if thread.name.startswith("stomper-import") else "other:" + thread.name

    def _wait():
        deadline = time.monotonic() + 60
        while len(os.listdir(_hold)) < _count:
            if time.monotonic() > deadline:
                _log.write("released\ttimeout\n")
                return
            time.sleep(0.01)
        _log.write("released\tdone\n")

    def _hook(event, args):
        if event == "import":
            thread = _thread()
            _log.write(f"import\t{thread}\t{args[0]}\n")
            if _hold and thread == "import" and args[0].split(".")[0] == "langgraph" and not _held:
                _held.append(args[0])
                _log.write("held\n")
                _wait()
        elif event == "subprocess.Popen":
            _log.write(f"exec\t{_graph()}\t{' '.join(map(str, args[1]))}\n")

    sys.addaudithook(_hook)
    """
)


@dataclass(frozen=True)
class Watch:
    """Where the watcher writes, and the environment that loads it."""

    log: Path
    env: dict[str, str]

    def lines(self) -> list[list[str]]:
        """What stomper's own process wrote down (not the Python processes it started), line by line."""
        rows = [line.split("\t") for line in self.log.read_text().splitlines()]
        (pid,) = {row[0] for row in rows if row[1:] == ["import", "main", "stomper.cli"]}
        return [row[1:] for row in rows if row[0] == pid]


def watch(tmp_path: Path, *, hold: Path | None = None, count: int = 0) -> Watch:
    """Load `WATCHER` into stomper; with `hold`, the import thread waits at LangGraph until `hold` has `count` files."""
    site = tmp_path / "watch-site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(WATCHER)
    log = tmp_path / "watch.log"
    env = {"PYTHONPATH": str(site), "STOMPER_TEST_WATCH": str(log)}
    if hold is not None:
        hold.mkdir(exist_ok=True)
        env.update(STOMPER_TEST_HOLD_DIR=str(hold), STOMPER_TEST_HOLD_COUNT=str(count))
    return Watch(log, env)


def imports_beside_the_import_thread(lines: list[list[str]]) -> list[list[str]]:
    """The modules another thread loaded while the import thread was importing (between its first and last)."""
    on_thread = [n for n, line in enumerate(lines) if line[:2] == ["import", "import"]]
    assert on_thread, "the import thread imported nothing"
    window = lines[on_thread[0] : on_thread[-1] + 1]
    return [line for line in window if line[0] == "import" and line[1] != "import"]

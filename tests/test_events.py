from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from stomper.errors import EventLogError
from stomper.events import EventLog, read_events

# Appends forever, some lines larger than any stdio buffer; says "ready" on
# stdout once `ready_after` lines are in, so the test kills it mid-stream.
WRITER = """
import sys
from pathlib import Path
from stomper.events import EventLog

log = EventLog(Path(sys.argv[1]))
ready_after = int(sys.argv[2])
seq = 0
while True:
    log.append({"seq": seq, "pad": "x" * (seq % 7) * 5000, "text": "line\\nbreak \\u00e9"})
    seq += 1
    if seq == ready_after:
        print("ready", flush=True)
"""


def test_append_writes_one_line_per_record_readable_at_once(tmp_path: Path) -> None:
    path = tmp_path / "run" / "events.jsonl"
    with EventLog(path) as log:
        log.append({"step": "start", "path": "a.py"})
        # Readable while the writer is still open: nothing waits in a buffer.
        assert read_events(path) == [{"step": "start", "path": "a.py"}]
        log.append({"step": "done", "message": "two\nlines"})
    raw = path.read_bytes()
    assert raw.count(b"\n") == 2
    assert read_events(path) == [
        {"step": "start", "path": "a.py"},
        {"step": "done", "message": "two\nlines"},
    ]


def test_reader_drops_a_truncated_last_line(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b'{"seq": 0}\n{"seq": 1}\n{"seq": 2, "pa')
    assert read_events(path) == [{"seq": 0}, {"seq": 1}]


def test_reader_rejects_a_corrupt_complete_line(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b'{"seq": 0}\nnot json\n{"seq": 2}\n')
    with pytest.raises(EventLogError, match=r"events.jsonl:2: not a JSON line"):
        read_events(path)
    path.write_bytes(b"[1, 2]\n")
    with pytest.raises(EventLogError, match="not a JSON object"):
        read_events(path)


def test_reopening_cuts_a_torn_tail_before_appending(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b'{"seq": 0}\n{"seq": 1, "torn')
    with EventLog(path) as log:
        log.append({"seq": 1})
    assert path.read_bytes() == b'{"seq": 0}\n{"seq":1}\n'
    assert read_events(path) == [{"seq": 0}, {"seq": 1}]


def test_reopening_a_log_with_no_newline_at_all_empties_it(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"x" * 200_000)
    with EventLog(path) as log:
        log.append({"seq": 0})
    assert read_events(path) == [{"seq": 0}]


def test_an_unserialisable_record_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    with EventLog(path) as log:
        log.append({"seq": 0})
        with pytest.raises(TypeError):
            log.append({"seq": 1, "path": Path("a.py")})
        log.append({"seq": 2})
    assert read_events(path) == [{"seq": 0}, {"seq": 2}]


def test_append_after_close_is_refused(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "events.jsonl")
    log.close()
    log.close()
    with pytest.raises(ValueError, match="closed"):
        log.append({"seq": 0})


async def test_concurrent_tasks_each_get_whole_lines_in_call_order(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"

    async def branch(log: EventLog, name: str) -> None:
        for i in range(50):
            log.append({"branch": name, "i": i, "pad": "y" * 3000})
            await asyncio.sleep(0)

    with EventLog(path) as log:
        await asyncio.gather(*(branch(log, f"b{n}") for n in range(8)))
    records = read_events(path)
    assert len(records) == 400
    for n in range(8):
        assert [r["i"] for r in records if r["branch"] == f"b{n}"] == list(range(50))


def test_log_killed_mid_run_keeps_every_complete_line(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path), "2000"], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline() == "ready\n"
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        if writer.stdout is not None:
            writer.stdout.close()
    assert writer.returncode == -signal.SIGKILL

    raw = path.read_bytes()
    records = read_events(path)
    assert len(records) == raw.count(b"\n") >= 2000
    assert [r["seq"] for r in records] == list(range(len(records)))
    assert all(r["text"] == "line\nbreak \u00e9" for r in records)
    # Whatever follows the last newline (nothing, if the kill fell between
    # writes) can only be the start of the next record; reopening cuts it off.
    tail = raw[raw.rfind(b"\n") + 1 :]
    assert tail == b"" or tail.startswith(f'{{"seq":{len(records)},'.encode())
    with EventLog(path) as log:
        log.append({"seq": len(records)})
    assert [r["seq"] for r in read_events(path)] == list(range(len(records) + 1))
    assert json.loads(path.read_bytes().splitlines()[-1]) == {"seq": len(records)}

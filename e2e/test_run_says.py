"""What a run says at its end, and how it stops on bad configuration and dead endpoints.

The real console script, real git, ruff and mypy; the AI is a fake agent
executable, or the real OpenAI client against a local server (one that
refuses the key, one that accepts connections and never answers).
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from conftest import commit_all, git, process_gone, stomper, write
from e2e.test_fix import BROKEN, WORSE, agent_args, assert_no_leftovers, calls, make_project, script
from tests.openai_server import OpenAIServer, Refusal

SECRET = "sk-e2e-0123456789abcdefghijklmnop"


def test_each_remaining_diagnostic_is_listed_with_the_users_reason_and_what_to_do(repo: Path, tmp_path: Path) -> None:
    (path,) = make_project(repo, 1)
    plan = script(tmp_path, {path: {"content": WORSE.format(n=0)}})

    done = stomper(repo, "fix", "--tools", "mypy", *agent_args(plan))

    assert done.returncode == 1, done.stderr
    assert len(calls(plan)) == 3
    out = done.stdout
    assert f'{path}:2:12: [mypy return-value] Incompatible return value type (got "str", expected "int")\n' in out
    assert f"  why: 3 attempts did not pass verification: the fix introduced mypy return-value in {path}:6\n" in out
    assert "next: raise max_attempts (now 3), try another model or agent, or fix it by hand\n" in out
    # The feedback written for the AI stays between stomper and the AI.
    assert "Your change" not in done.stdout + done.stderr
    assert (repo / path).read_text() == BROKEN.format(n=0)


def test_a_rejected_api_key_stops_the_run_with_exit_2_and_leaves_nothing_to_resume(repo: Path) -> None:
    make_project(repo, 3)
    refused = Refusal(401, {}, {"error": {"message": f"Incorrect API key provided: {SECRET}"}})
    server = OpenAIServer(lambda body: "never", refusals=[refused] * 10)

    with server.running():
        done = stomper(
            repo,
            "fix",
            "--tools",
            "mypy",
            "--model",
            "openai:gpt-4o-mini",
            env={"OPENAI_API_KEY": SECRET, "STOMPER_LLM__BASE_URL": server.url},
        )

    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("stomper: error: the provider refused the API key (HTTP 401)")
    assert done.stderr.count("\n") == 1, done.stderr  # one line: no warning, no traceback
    assert SECRET not in done.stdout + done.stderr
    # One request: the first refusal stops the run; no other file calls the model.
    assert len(server.received) == 1
    assert git(repo, "rev-list", "--count", "HEAD") == "1\n"
    assert_no_leftovers(repo)
    (record,) = (repo / ".git" / "stomper" / "runs").glob("*/run.json")
    assert json.loads(record.read_text())["status"] == "misconfigured"
    assert git(repo, "for-each-ref", "refs/stomper/") == ""
    again = stomper(repo, "fix", "--resume")
    assert again.returncode == 2
    assert "there is no interrupted run to resume" in again.stderr
    named = stomper(repo, "fix", "--resume", record.parent.name)
    assert named.returncode == 2 and "stopped on bad configuration; fix it, then start a new run" in named.stderr
    cleaned = stomper(repo, "clean")
    said = cleaned.stdout.splitlines()
    forgotten = f"removed the record of run {record.parent.name}, which stopped on bad configuration"
    # And the worktree the run kept, if the refusal came after it had made one.
    assert forgotten in said and set(said) <= {forgotten, "removed 1 worktree kept for the next run"}, said
    assert not record.exists()


def test_a_missing_api_key_exits_2_before_any_work(repo: Path) -> None:
    make_project(repo, 2)

    done = stomper(
        repo, "fix", "--tools", "mypy", "--model", "anthropic:claude-haiku-4-5", env={"ANTHROPIC_API_KEY": ""}
    )

    assert done.returncode == 2
    assert done.stderr == (
        "stomper: error: the model anthropic:claude-haiku-4-5 needs an API key: "
        "set ANTHROPIC_API_KEY in the environment\n"
    )
    assert not (repo / ".git" / "stomper" / "runs").exists()


def test_an_unknown_model_provider_exits_2_in_stompers_words(repo: Path) -> None:
    make_project(repo, 1)

    done = stomper(repo, "fix", "--model", "acme:coder-1")

    assert done.returncode == 2
    assert done.stderr.startswith(
        "stomper: error: unknown model provider 'acme' in model 'acme:coder-1'; LangChain knows: "
    )
    assert "model_provider" not in done.stderr
    assert not (repo / ".git" / "stomper" / "runs").exists()


class SilentServer:
    """Accepts TCP connections, reads the requests, never answers; counts the requests."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.requests = 0
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self._open.append(conn)
            threading.Thread(target=self._read, args=(conn,), daemon=True).start()

    def _read(self, conn: socket.socket) -> None:
        while True:
            try:
                data = conn.recv(65536)
            except OSError:
                return
            if not data:
                return
            with self._lock:
                self.requests += data.count(b"POST /v1/chat/completions")

    @contextmanager
    def running(self) -> Iterator[SilentServer]:
        threading.Thread(target=self._serve, daemon=True).start()
        try:
            yield self
        finally:
            self.sock.close()
            for conn in self._open:
                conn.close()


def test_an_endpoint_that_never_answers_is_given_up_once_for_the_run(repo: Path) -> None:
    paths = make_project(repo, 3)
    write(repo, {"stomper.toml": "[llm]\nrequest_timeout = 1\nmax_retries = 1\n"})
    commit_all(repo, "config")
    silent = SilentServer()
    url = silent.url

    with silent.running():
        done = stomper(
            repo,
            "fix",
            "--tools",
            "mypy",
            "--model",
            "openai:gpt-4o-mini",
            env={"OPENAI_API_KEY": SECRET, "STOMPER_LLM__BASE_URL": url},
        )

    assert done.returncode == 1, done.stderr
    # The first file's call and the client's one retry; no call for the other files, no stomper retry.
    assert silent.requests == 2
    assert done.stdout.count("why: the model endpoint did not answer (OpenAITimeoutError: Request timed out.)") == 3
    assert f"next: check that {url} is up, or raise llm.request_timeout (now 1s)" in done.stdout
    for n, path in enumerate(paths):
        assert (repo / path).read_text() == BROKEN.format(n=n)
    assert_no_leftovers(repo)


def test_file_timeout_bounds_all_the_attempts_on_a_file(repo: Path, tmp_path: Path) -> None:
    (path,) = make_project(repo, 1)
    write(repo, {"stomper.toml": "file_timeout = 2\n\n[agent]\ntimeout = 120\n"})
    commit_all(repo, "config")
    plan = script(tmp_path, {path: {"hang": True, "spawn_sleeper": True}})

    done = stomper(repo, "fix", "--tools", "mypy", *agent_args(plan), timeout=100)

    assert done.returncode == 1, done.stderr
    # The hung attempt was stopped with its whole process group, and no other attempt was made.
    assert process_gone(int((tmp_path / "agent" / "sleeper.pid").read_text()))
    assert calls(plan) == []
    assert "  why: ran out of time: the attempts on this file took file_timeout = 2s\n" in done.stdout
    assert "next: raise file_timeout (now 2s), or fix it by hand" in done.stdout
    assert (repo / path).read_text() == BROKEN.format(n=0)
    assert_no_leftovers(repo)


def test_excludes_are_gitignore_patterns(repo: Path) -> None:
    unused = "import os\n"
    write(
        repo,
        {
            "app/models.py": unused,
            "app/migrations/0001_initial.py": unused,
            "top.py": unused,
            "app/top.py": unused,
            "stomper.toml": 'exclude = ["migrations", "/top.py"]\n',
        },
    )
    commit_all(repo)

    done = stomper(repo, "check", "--tools", "ruff", "--format", "json")

    flagged = {d["path"] for d in json.loads(done.stdout)["diagnostics"]}
    assert flagged == {"app/models.py", "app/top.py"}


def test_off_a_terminal_nothing_is_cut_at_80_columns(repo: Path) -> None:
    deep = "pkg/" + "/".join(["a_directory_with_a_long_name"] * 4) + "/module.py"
    write(repo, {deep: "import os\n"})
    commit_all(repo)
    env = {"COLUMNS": ""}

    check = stomper(repo, "check", "--tools", "ruff", env=env)
    fix = stomper(repo, "fix", "--tools", "ruff", "--no-commit", env=env)
    runs = stomper(repo, "runs", env=env)

    assert len(deep) > 80
    assert deep in check.stdout and "`os` imported but unused" in check.stdout
    assert any(deep in line and "fixed" in line for line in fix.stdout.splitlines())
    (record,) = (repo / ".git" / "stomper" / "runs").glob("*/run.json")
    assert record.parent.name in runs.stdout
    assert "diagnostics fixed" in runs.stdout and "diagnostics left" in runs.stdout


def test_help_takes_h_and_shows_choices(repo: Path) -> None:
    top = stomper(repo, "-h")
    fix = stomper(repo, "fix", "-h")
    check = stomper(repo, "check", "--help")
    bad = stomper(repo, "check", "--format", "xml")

    assert top.returncode == fix.returncode == check.returncode == 0
    assert "Usage: stomper [OPTIONS] COMMAND" in top.stdout
    assert "--fixer <auto|ruff|agent|llm>" in fix.stdout
    assert "<table|json|github|gitlab>" in check.stdout and "-q, --quiet" in check.stdout
    assert "<str>" not in fix.stdout + check.stdout and "<int>" not in fix.stdout
    assert bad.returncode == 2 and "'xml' is not one of 'table', 'json'" in bad.stderr


def test_check_quiet_prints_one_line_per_diagnostic(repo: Path) -> None:
    write(repo, {"a.py": "import os\nimport sys\n"})
    commit_all(repo)

    done = stomper(repo, "check", "--tools", "ruff", "-q")

    assert done.returncode == 1
    assert done.stdout == (
        "a.py:1:8: [ruff F401] `os` imported but unused\na.py:2:8: [ruff F401] `sys` imported but unused\n"
    )


def test_check_staged_with_nothing_staged_says_so(repo: Path) -> None:
    write(repo, {"a.py": "import os\n"})
    commit_all(repo)

    done = stomper(repo, "check", "--staged")

    assert done.returncode == 0
    assert "All clean" not in done.stdout
    assert done.stderr == "stomper: no Python file is staged; nothing to check\n"


def test_clean_says_when_there_was_nothing_to_clean(repo: Path) -> None:
    commit_all(repo)

    done = stomper(repo, "clean")

    assert done.returncode == 0
    assert done.stdout == "nothing to clean: no worktrees, stale lock or failed runs were left behind\n"


def test_init_pyproject_warns_when_stomper_toml_overrides_it(repo: Path) -> None:
    write(repo, {"pyproject.toml": '[project]\nname = "x"\n', "stomper.toml": "parallel = 2\n"})

    done = stomper(repo, "init", "--pyproject")

    assert done.returncode == 0, done.stderr
    assert f"warning: {repo / 'stomper.toml'} exists and overrides [tool.stomper] key by key" in done.stdout

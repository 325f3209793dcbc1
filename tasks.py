#!/usr/bin/env python3
"""The README's two commands, needing nothing but Python 3.11+ and git.

python3 tasks.py demo   # set up .venv, copy examples/demo to a temporary git repo, fix it
python3 tasks.py test   # set up .venv, run the whole test suite (extra args go to pytest)
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

HERE = Path(__file__).resolve().parent
VENV = HERE / ".venv"
BIN = VENV / "bin"
MARKER = VENV / ".stomper-installed"


def setup() -> None:
    """Create .venv and install stomper with its dev extras, once per pyproject.toml."""
    install_bubblewrap()
    stamp = hashlib.sha256((HERE / "pyproject.toml").read_bytes()).hexdigest()
    if MARKER.exists() and MARKER.read_text() == stamp:
        return
    if not (BIN / "python").exists():
        print("creating .venv", flush=True)
        venv.create(VENV, with_pip=True)
    print("installing stomper and its dev tools into .venv", flush=True)
    pip = [str(BIN / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    # The distribution was "stomper" before it became "stomper-fix": its install and its metadata in src/
    # would still be found, two distributions of one package.
    subprocess.run([str(BIN / "python"), "-m", "pip", "uninstall", "--quiet", "--yes", "stomper"], capture_output=True)
    shutil.rmtree(HERE / "src" / "stomper.egg-info", ignore_errors=True)
    subprocess.run([*pip, "-e", f"{HERE}[dev]"], check=True)
    MARKER.write_text(stamp)


def install_bubblewrap() -> None:
    """Install bubblewrap, the sandbox stomper runs agents in, where this machine allows it.

    Only on Linux, as root, with apt-get; anywhere else this does nothing, and
    the sandbox's tests say what is missing (tests/faults/test_sandbox.py).
    """
    if sys.platform != "linux" or shutil.which("bwrap") or not shutil.which("apt-get") or os.geteuid() != 0:
        return
    print("installing bubblewrap (apt-get install bubblewrap), the sandbox for agents", flush=True)
    apt = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "--yes", "--quiet", "--quiet", "--no-install-recommends", "bubblewrap"]
    if subprocess.run(install, env=apt).returncode != 0:
        # Package lists may be missing (a fresh container); fetch them once and try again.
        subprocess.run(["apt-get", "update", "--quiet", "--quiet"], env=apt)
        if subprocess.run(install, env=apt).returncode != 0:
            print("could not install bubblewrap; agents run unconfined here (docs/safety.md)", flush=True)


def env() -> dict[str, str]:
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


def demo() -> int:
    work = Path(tempfile.mkdtemp(prefix="stomper-demo-"))
    project = work / "demo"
    shutil.copytree(HERE / "examples" / "demo", project)
    identity = ["-c", "user.name=Stomper Demo", "-c", "user.email=demo@stomper.invalid"]
    subprocess.run(["git", "init", "--quiet", "--initial-branch=main", str(project)], check=True)
    subprocess.run(["git", "-C", str(project), "add", "-A"], check=True)
    subprocess.run(["git", *identity, "-C", str(project), "commit", "--quiet", "-m", "demo project"], check=True)
    demo_env = {
        **env(),
        "GIT_AUTHOR_NAME": "Stomper Demo",
        "GIT_AUTHOR_EMAIL": "demo@stomper.invalid",
        "GIT_COMMITTER_NAME": "Stomper Demo",
        "GIT_COMMITTER_EMAIL": "demo@stomper.invalid",
    }

    def step(title: str, *args: str) -> int:
        print(f"\n== {title}\n$ {' '.join(args)}", flush=True)
        return subprocess.run(args, cwd=project, env=demo_env).returncode

    print(f"The example project is copied to {project}, a new git repository.")
    step("What is wrong with it", "stomper", "check")
    step("Fix it, four files at a time (no AI configured: ruff fixes what it can)", "stomper", "fix", "--parallel", "4")
    agent = f"{sys.executable} {HERE / 'examples' / 'demo_agent.py'} {{files}}"
    step(
        "Fix the rest with a coding agent (a scripted stand-in for `claude -p`)",
        "stomper",
        "fix",
        "--parallel",
        "4",
        "--agent",
        agent,
    )
    step("One commit per fixed file", "git", "log", "--oneline")
    code = step("Check again", "stomper", "check")
    print(f"\nThe copy is left at {project} for you to look at.")
    return code


WORKERS = "3"
"""pytest-xdist workers: the suite mostly waits on git, ruff, mypy and pytest subprocesses,
so three workers keep two cores busy without starving the tests that time their children."""


def test(args: list[str]) -> int:
    parallel = [] if any(a.startswith(("-n", "--numprocesses")) for a in args) else ["-n", WORKERS]
    return subprocess.run([str(BIN / "pytest"), *parallel, *args], cwd=HERE, env=env()).returncode


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("demo", "test"):
        print(__doc__)
        return 2
    setup()
    return demo() if argv[0] == "demo" else test(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The GitHub Action's steps (`stomper github run`, `stomper github push`) in a simulated GitHub runner.

The runner is simulated the way GitHub sets it up: `GITHUB_*` variables, an
event payload file (push, a pull request from the same repository, one from
a fork), `GITHUB_OUTPUT` and `GITHUB_STEP_SUMMARY` files, `RUNNER_TEMP`; the
repository on GitHub is a local bare repository, reached as
`$GITHUB_SERVER_URL/$GITHUB_REPOSITORY.git`. The run and the push happen in
two different clones, as in two jobs; the output directory stands for the
artifact that carries the fixes from one to the other.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from conftest import STOMPER, commit_all, git, stomper, write

ACTION = Path(__file__).resolve().parents[1] / "action.yml"

UNUSED = "import os\nimport sys\n\nprint(sys.argv)\n"
CLEAN = "import sys\n\nprint(sys.argv)\n"
UNDEFINED = "def value() -> int:\n    return missing\n"
REPOSITORY = "owner/project"


@dataclass
class GitHub:
    root: Path
    remote: Path
    base: str
    head: str

    def clone(self, name: str, sha: str) -> Path:
        work = self.root / name
        git(self.root, "clone", "--quiet", str(self.remote), str(work))
        git(work, "checkout", "--quiet", "--detach", sha)
        return work

    def env(self, event_name: str, payload: dict[str, object], **inputs: str) -> dict[str, str]:
        event = self.root / "event.json"
        event.write_text(json.dumps(payload))
        temp = self.root / "runner-temp"
        temp.mkdir(exist_ok=True)
        return {
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "GITHUB_EVENT_NAME": event_name,
            "GITHUB_EVENT_PATH": str(event),
            "GITHUB_REPOSITORY": REPOSITORY,
            "GITHUB_SERVER_URL": (self.root / "server").as_uri(),
            "GITHUB_OUTPUT": str(self.root / "output"),
            "GITHUB_STEP_SUMMARY": str(self.root / "summary.md"),
            "RUNNER_TEMP": str(temp),
            "STOMPER_OUTPUT_DIR": str(temp / "stomper"),
            **{f"STOMPER_INPUT_{k.upper()}": v for k, v in inputs.items()},
        }

    def action(self, step: str, cwd: Path, env: dict[str, str], **inputs: str) -> subprocess.CompletedProcess[str]:
        """action.yml's shell steps for `step`, as the runner runs them: bash, each step's env evaluated.

        The install step is left out (it would install stomper from PyPI's
        dependencies); the virtualenv it makes holds this test's stomper.
        """
        action = yaml.safe_load(ACTION.read_text())
        values = {f"inputs.{k}": v.get("default", "") for k, v in action["inputs"].items()}
        values.update({f"inputs.{k.replace('_', '-')}": v for k, v in inputs.items()})
        values["inputs.step"] = step
        values["runner.temp"] = env["RUNNER_TEMP"]
        venv = Path(env["RUNNER_TEMP"]) / "stomper-venv" / "bin"
        venv.mkdir(parents=True, exist_ok=True)
        if not (venv / "stomper").exists():
            (venv / "stomper").symlink_to(STOMPER)
        runner = {k: v for k, v in env.items() if not k.startswith("STOMPER_")}
        done = None
        for s in action["runs"]["steps"]:
            if "run" not in s or "stomper-venv/bin/stomper" not in s["run"]:
                continue
            if s.get("if") != f"inputs.step == '{step}'":
                continue
            step_env = {k: re.sub(r"\$\{\{\s*([\w.-]+)\s*\}\}", lambda m: values[m[1]], v) for k, v in s["env"].items()}
            done = subprocess.run(
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", s["run"]],
                cwd=cwd,
                env={**os.environ, **runner, **step_env},
                capture_output=True,
                text=True,
            )
            assert "Traceback" not in done.stderr, done.stderr
        assert done is not None, f"action.yml has no shell step for {step}"
        return done

    def refs(self) -> dict[str, str]:
        lines = git(self.remote, "for-each-ref", "--format=%(refname) %(objectname)").splitlines()
        return dict(line.split() for line in lines)

    def outputs(self) -> dict[str, str]:
        return dict(line.split("=", 1) for line in (self.root / "output").read_text().splitlines())


@pytest.fixture
def github(repo: Path, tmp_path: Path) -> GitHub:
    """owner/project on a simulated GitHub: main, and a branch `feature` that adds two failing files."""
    write(repo, {"stomper.toml": 'tools = ["ruff"]\n', "pkg/__init__.py": "", "pkg/ok.py": CLEAN})
    base = commit_all(repo, "base")
    remote = tmp_path / "server" / f"{REPOSITORY}.git"
    remote.parent.mkdir(parents=True)
    git(tmp_path, "init", "--quiet", "--bare", str(remote))
    git(repo, "push", "--quiet", str(remote), "main")
    git(repo, "checkout", "--quiet", "-b", "feature")
    write(repo, {"pkg/a.py": UNUSED, "pkg/b.py": UNUSED + UNDEFINED})
    head = commit_all(repo, "feature")
    git(repo, "push", "--quiet", str(remote), "feature")
    return GitHub(tmp_path, remote, base, head)


def pull_request(gh: GitHub, head_repo: str | None = REPOSITORY) -> dict[str, object]:
    return {
        "pull_request": {
            "number": 7,
            "head": {"sha": gh.head, "ref": "feature", "repo": {"full_name": head_repo} if head_repo else None},
            "base": {"sha": gh.base, "ref": "main", "repo": {"full_name": REPOSITORY}},
        }
    }


def test_same_repo_pull_request_gets_the_fixes_on_its_branch_and_a_failing_check(github: GitHub) -> None:
    env = github.env("pull_request", pull_request(github))
    work = github.clone("run-job", github.head)

    ran = github.action("run", work, env, deliver="push")

    # The pull request's commit still has three diagnostics: the check fails.
    assert ran.returncode == 1, ran.stderr
    assert github.outputs()["status"] == "1"
    assert github.outputs()["commits"] == "2"
    assert "::error file=pkg/a.py,line=1,col=8" in ran.stdout
    assert git(work, "rev-parse", "HEAD").strip() == github.head  # the run job's checkout is as it was
    assert git(work, "status", "--porcelain") == ""
    assert "refs/heads/stomper-action/fixes" not in git(work, "for-each-ref")
    summary = (github.root / "summary.md").read_text()
    assert f"The analysed commit `{github.head[:12]}` has diagnostics." in summary
    assert "| diagnostics in the analysed commit | 3 |" in summary
    assert "| fixed, each fix verified | 2 in 2 file(s) |" in summary
    assert "| remaining after the fixes | 1 |" in summary
    assert "| model cost | $0.0000 (0 call(s), 0+0 tokens) |" in summary
    assert github.refs()["refs/heads/feature"] == github.head  # nothing pushed by the read-only job

    push_job = github.clone("push-job", github.head)
    pushed = github.action("push", push_job, env, deliver="push", token="a-token")

    assert pushed.returncode == 0, pushed.stderr
    assert "stomper: pushed 2 fix commit(s) to feature" in pushed.stderr
    tip = github.refs()["refs/heads/feature"]
    assert git(github.remote, "rev-list", "--count", f"{github.head}..{tip}").strip() == "2"
    assert git(github.remote, "rev-parse", f"{tip}~2").strip() == github.head
    assert git(github.remote, "show", f"{tip}:pkg/a.py") == CLEAN
    assert git(github.remote, "show", f"{tip}:pkg/b.py") == CLEAN + UNDEFINED
    touched = git(github.remote, "log", "--format=", "--name-only", f"{github.head}..{tip}").split()
    assert sorted(touched) == ["pkg/a.py", "pkg/b.py"]
    assert github.refs()["refs/heads/main"] == github.base
    assert "Pushed 2 fix commit(s) to `feature`." in (github.root / "summary.md").read_text()


def test_a_fork_pull_request_pushes_nothing_and_still_fails_on_the_analysed_commit(github: GitHub) -> None:
    before = github.refs()
    env = github.env("pull_request", pull_request(github, head_repo="someone/project"))
    work = github.clone("run-job", github.head)

    ran = github.action("run", work, env, deliver="push")

    assert ran.returncode == 1, ran.stderr
    assert github.outputs()["fork"] == "true"
    summary = (github.root / "summary.md").read_text()
    assert "(a pull request from a fork: nothing is pushed)" in summary
    assert (github.root / "runner-temp" / "stomper" / "stomper.patch").read_text() != ""

    pushed = github.action("push", github.clone("push-job", github.head), env, deliver="push")

    assert pushed.returncode == 0, pushed.stderr
    assert "a pull request from a fork; nothing is pushed" in pushed.stderr
    assert github.refs() == before


def test_a_push_to_main_gets_a_fix_branch_of_its_own(github: GitHub) -> None:
    main = github.clone("main", "origin/main")
    write(main, {"pkg/c.py": UNUSED})
    sha = commit_all(main, "main gets a problem")
    git(main, "push", "--quiet", "origin", "HEAD:main")
    env = github.env("push", {"ref": "refs/heads/main", "after": sha})

    ran = github.action("run", github.clone("run-job", sha), env, deliver="branch")
    assert ran.returncode == 1, ran.stderr
    pushed = github.action("push", github.clone("push-job", sha), env, deliver="branch")

    assert pushed.returncode == 0, pushed.stderr
    refs = github.refs()
    assert refs["refs/heads/main"] == sha  # main itself is left alone
    fixes = refs["refs/heads/stomper/fixes/main"]
    assert git(github.remote, "rev-parse", f"{fixes}~1").strip() == sha
    assert git(github.remote, "show", f"{fixes}:pkg/c.py") == CLEAN


def test_a_branch_that_moved_meanwhile_is_not_overwritten(github: GitHub) -> None:
    env = github.env("pull_request", pull_request(github), deliver="push")
    assert stomper(github.clone("run-job", github.head), "github", "run", env=env).returncode == 1
    author = github.clone("author", "origin/feature")
    write(author, {"pkg/new.py": CLEAN})
    moved = commit_all(author, "the author pushed again")
    git(author, "push", "--quiet", "origin", "HEAD:feature")

    pushed = stomper(github.clone("push-job", github.head), "github", "push", env=env)

    assert pushed.returncode == 0, pushed.stderr
    assert "::warning title=stomper::the fixes were not pushed to feature" in pushed.stdout
    assert github.refs()["refs/heads/feature"] == moved


def test_a_bundle_that_changes_workflows_is_refused(github: GitHub) -> None:
    env = github.env("pull_request", pull_request(github), deliver="push")
    # What a pull request's code could leave in the artifact in place of stomper's fixes.
    evil = github.clone("evil", github.head)
    write(evil, {".github/workflows/x.yml": "on: push\n"})
    commit_all(evil, "sneak a workflow in")
    git(evil, "branch", "stomper-action/fixes")
    out = github.root / "runner-temp" / "stomper"
    out.mkdir(parents=True)
    git(evil, "bundle", "create", "--quiet", str(out / "stomper.bundle"), "stomper-action/fixes", f"^{github.head}")
    before = github.refs()

    pushed = stomper(github.clone("push-job", github.head), "github", "push", env=env)

    assert pushed.returncode == 2
    assert "its commits change .github/workflows/x.yml" in pushed.stderr
    assert github.refs() == before


def test_a_run_on_another_commit_than_the_events_keeps_the_fixes_as_a_patch_only(github: GitHub) -> None:
    env = github.env("pull_request", pull_request(github), deliver="push")
    work = github.clone("run-job", github.head)
    git(work, "commit", "--quiet", "--allow-empty", "-m", "a merge commit, say")

    ran = stomper(work, "github", "run", env=env)

    assert ran.returncode == 1, ran.stderr
    assert "the fixes are kept as a patch only" in ran.stderr
    assert github.outputs()["commits"] == "0"
    assert not (github.root / "runner-temp" / "stomper" / "stomper.bundle").exists()


def test_bad_inputs_are_one_line_and_exit_2(github: GitHub) -> None:
    env = github.env("pull_request", pull_request(github), deliver="somewhere")
    done = stomper(github.clone("run-job", github.head), "github", "run", env=env)
    assert done.returncode == 2
    assert done.stderr.strip() == "stomper: error: input deliver: 'somewhere' is not one of push, branch, patch"
    assert (
        subprocess.run(["git", "-C", str(github.remote), "fsck", "--no-dangling"], capture_output=True).returncode == 0
    )

"""The steps of stomper's GitHub Action (`action.yml`), as `stomper github run` and `stomper github push`.

autofix.ci's split, so that no write token is ever near the pull request's
code or an AI agent:

- `run`, in a job whose token can only read: `stomper fix --ci` on the
  checked-out commit, which it leaves as it found it; the fixes become a
  branch of one commit per file, kept as a git bundle next to the patch,
  the JSON report and the SARIF log (the action uploads them as an
  artifact); annotations on the log; a job summary; exit status of the
  analysed commit (see `stomper.ci.exit_status`).
- `push`, in a later job that may write and runs no code of the pull
  request: takes the bundle, checks that it only adds commits on top of the
  analysed commit and leaves `.github/` alone, and pushes it, as the inputs
  say: onto the pull request's branch (`deliver: push`, as pre-commit.ci
  and autofix.ci do), onto a branch of its own (`deliver: branch`), or not
  at all (`deliver: patch`). Where to push is read from the event, never
  from the artifact, which the pull request's code could have written.
  Nothing is pushed for a pull request from a fork.

Inputs come as `STOMPER_INPUT_*` variables, set by `action.yml`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from stomper import proc
from stomper.errors import ExitCode, GitError, StomperError
from stomper.gitops import git, has_identity, split_z

Deliver = Literal["push", "branch", "patch"]
LOCAL_BRANCH = "stomper-action/fixes"
"""The branch `run` builds the fixes on; it goes into the bundle and is deleted."""
BUNDLE = "stomper.bundle"
BOT_NAME = "github-actions[bot]"
BOT_EMAIL = "41898282+github-actions[bot]@users.noreply.github.com"
PROTECTED = (".github/",)
"""Paths a fix may not touch: a workflow changed by a bot is a workflow nobody reviewed."""


@dataclass(frozen=True)
class Event:
    """What the workflow's event says about where stomper runs and where fixes may go."""

    name: str
    sha: str
    """The commit to analyse: the pull request's head, or the pushed commit."""
    branch: str | None
    """The branch that commit is on, which fixes are pushed onto."""
    fork: bool
    base_sha: str | None = None
    """Where a pull request's branch left its base: what `new-only` compares with."""
    number: int | None = None


@dataclass(frozen=True)
class Inputs:
    deliver: Deliver
    new_only: bool
    args: tuple[str, ...]
    output_dir: Path

    @classmethod
    def from_env(cls, env: Mapping[str, str], cwd: Path) -> Inputs:
        deliver = env.get("STOMPER_INPUT_DELIVER", "push").strip() or "push"
        if deliver not in ("push", "branch", "patch"):
            raise StomperError(f"input deliver: {deliver!r} is not one of push, branch, patch")
        new_only = env.get("STOMPER_INPUT_NEW_ONLY", "false").strip().lower()
        if new_only not in ("true", "false", ""):
            raise StomperError(f"input new-only: {new_only!r} is not true or false")
        try:
            args = tuple(shlex.split(env.get("STOMPER_INPUT_ARGS", "")))
        except ValueError as exc:
            raise StomperError(f"input args: {exc}") from exc
        out = env.get("STOMPER_OUTPUT_DIR") or str(Path(env.get("RUNNER_TEMP", str(cwd))) / "stomper")
        return cls(deliver, new_only == "true", args, cwd / out)  # type: ignore[arg-type]


def read_event(env: Mapping[str, str]) -> Event:
    """The event the workflow runs for, from `GITHUB_EVENT_NAME` and the payload at `GITHUB_EVENT_PATH`."""
    name = env.get("GITHUB_EVENT_NAME", "")
    path = env.get("GITHUB_EVENT_PATH", "")
    try:
        payload: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8")) if path else {}
    except (OSError, ValueError) as exc:
        raise StomperError(f"GITHUB_EVENT_PATH {path}: cannot read the event ({exc})") from exc
    pr = payload.get("pull_request")
    if isinstance(pr, dict):
        head, base = pr.get("head") or {}, pr.get("base") or {}
        head_repo = (head.get("repo") or {}).get("full_name")
        base_repo = (base.get("repo") or {}).get("full_name") or env.get("GITHUB_REPOSITORY")
        return Event(
            name=name,
            sha=str(head.get("sha", "")),
            branch=head.get("ref"),
            # A deleted fork has no repo left: still not ours to push to.
            fork=head_repo is None or head_repo != base_repo,
            base_sha=base.get("sha"),
            number=pr.get("number"),
        )
    ref = str(payload.get("ref") or env.get("GITHUB_REF", ""))
    branch = ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else None
    return Event(name=name, sha=str(payload.get("after") or env.get("GITHUB_SHA", "")), branch=branch, fork=False)


def main(step: str, env: Mapping[str, str], cwd: Path) -> int:
    """`stomper github STEP`: run or push; raises `StomperError` for a step that cannot go on."""
    if step == "run":
        return asyncio.run(run(env, cwd))
    if step == "push":
        return asyncio.run(push(env, cwd))
    raise StomperError(f"stomper github {step}: the steps are run and push")


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


async def run(env: Mapping[str, str], cwd: Path) -> int:
    """The analysis job's step: fix, keep the outputs, summarise, exit with the analysed commit's status."""
    event = await asyncio.to_thread(read_event, env)
    inputs = Inputs.from_env(env, cwd)
    out = inputs.output_dir
    await asyncio.to_thread(out.mkdir, parents=True, exist_ok=True)
    head = (await git("rev-parse", "HEAD", cwd=cwd)).out.strip()
    deliver: Deliver = inputs.deliver
    if deliver != "patch" and event.sha and head != event.sha:
        say(
            f"stomper: HEAD is {head[:12]}, not the commit the event is about ({event.sha[:12]}); "
            "check it out (actions/checkout with ref: the pull request's head sha) for fixes to be pushed; "
            "the fixes are kept as a patch only"
        )
        deliver = "patch"
    # -P: the checkout's own directory stays off sys.path, whatever it holds.
    argv = [sys.executable, "-P", "-m", "stomper", "fix", "--ci", "--output-format", "github"]
    argv += ["--sarif", str(out / "stomper.sarif"), "--patch", str(out / "stomper.patch")]
    argv += ["--report", str(out / "stomper.json")]
    # Either way the checkout is left as it is: a branch on the side, or only the patch.
    argv += ["--branch", LOCAL_BRANCH] if deliver != "patch" else ["--diff"]
    if inputs.new_only:
        if event.base_sha is None:
            say("stomper: new-only compares with a pull request's base; this event has none, so all diagnostics count")
        else:
            argv += ["--new-only", "--base", event.base_sha]
    argv += inputs.args
    child = {**env, "CI": "true"}
    if not await has_identity(cwd):  # no git identity configured: commit as GitHub's own bot
        for role in ("AUTHOR", "COMMITTER"):
            child.setdefault(f"GIT_{role}_NAME", BOT_NAME)
            child.setdefault(f"GIT_{role}_EMAIL", BOT_EMAIL)
    done = await proc.run(argv, cwd=cwd, timeout=None, env=child)
    sys.stdout.write(done.out)
    sys.stdout.flush()
    sys.stderr.write(done.err)
    sys.stderr.flush()
    status = done.returncode
    commits = 0
    if deliver != "patch":
        commits = await _bundle(cwd, head, out / BUNDLE)
    report = await asyncio.to_thread(_read_report, out / "stomper.json")
    patch = await asyncio.to_thread(_read_text, out / "stomper.patch")
    summary = summarise(report, patch, head, status, commits, deliver, event)
    await _append(env.get("GITHUB_STEP_SUMMARY"), summary)
    outputs = {
        "status": str(status),
        "commits": str(commits),
        "sarif": str(out / "stomper.sarif") if (out / "stomper.sarif").exists() else "",
        "output-dir": str(out),
        "fork": str(event.fork).lower(),
    }
    await _append(env.get("GITHUB_OUTPUT"), "".join(f"{k}={v}\n" for k, v in outputs.items()))
    return status


async def _bundle(cwd: Path, head: str, path: Path) -> int:
    """Move the fix branch into a bundle at `path`; the number of its commits (0: no branch, no bundle)."""
    ref = f"refs/heads/{LOCAL_BRANCH}"
    if (await git("show-ref", "--verify", "--quiet", ref, cwd=cwd, check=False)).returncode != 0:
        return 0
    count = int((await git("rev-list", "--count", f"{head}..{ref}", cwd=cwd)).out.strip())
    await git("bundle", "create", "--quiet", str(path), ref, f"^{head}", cwd=cwd)
    await git("update-ref", "-d", ref, cwd=cwd)
    return count


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _read_report(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def suppressions(patch: str) -> int:
    """Suppression comments (`noqa`, `type: ignore`) the fixes added: fixes that silence rather than mend."""
    added = 0
    for line in patch.splitlines():
        if line.startswith("+") and not line.startswith("+++"):
            added += ("# noqa" in line) + ("type: ignore" in line)
    return added


def summarise(
    report: Mapping[str, Any], patch: str, head: str, status: int, commits: int, deliver: Deliver, event: Event
) -> str:
    """The job summary, as Markdown."""
    s = report.get("summary") or {}
    model = s.get("model") or {}
    files = s.get("files_fixed", 0) + s.get("files_partial", 0)
    calls, tokens = model.get("calls", 0), f"{model.get('input_tokens', 0)}+{model.get('output_tokens', 0)}"
    lines = ["## stomper", ""]
    if not report:
        lines += [f"stomper could not finish (exit status {status}); its log says why.", ""]
        return "\n".join(lines) + "\n"
    verdict = (
        "has diagnostics" if status == ExitCode.DIAGNOSTICS else "is clean" if status == 0 else "could not be checked"
    )
    lines += [
        f"The analysed commit `{head[:12]}` {verdict}.",
        "",
        "| | |",
        "|---|---|",
        f"| diagnostics in the analysed commit | {s.get('diagnostics_before', 0)} |",
        f"| fixed, each fix verified | {s.get('diagnostics_fixed', 0)} in {files} file(s) |",
        f"| suppressed (`noqa`, `type: ignore` added) | {suppressions(patch)} |",
        f"| remaining after the fixes | {s.get('diagnostics_remaining', 0)} |",
        f"| model cost | ${model.get('cost', 0):.4f} ({calls} call(s), {tokens} tokens) |",
        "",
    ]
    for error in report.get("tool_errors", []):
        lines.append(f"- tool error: {error}")
    if commits and deliver == "push" and not event.fork:
        lines.append(f"{commits} fix commit(s), one per file, go onto `{event.branch}` in the push job.")
    elif commits and deliver == "branch" and not event.fork:
        lines.append(f"{commits} fix commit(s), one per file, go onto `{fix_branch(event)}` in the push job.")
    elif s.get("diagnostics_fixed"):
        why = " (a pull request from a fork: nothing is pushed)" if event.fork else ""
        lines.append(f"The fixes are in the artifact as `stomper.patch`: `git apply stomper.patch`{why}.")
    return "\n".join(lines) + "\n"


def fix_branch(event: Event) -> str:
    """The branch of its own `deliver: branch` pushes to."""
    return f"stomper/fixes/{event.branch}"


async def _append(path: str | None, text: str) -> None:
    if not path:
        return

    def append() -> None:
        with open(path, "a", encoding="utf-8") as f:
            f.write(text)

    try:
        await asyncio.to_thread(append)
    except OSError as exc:
        raise StomperError(f"cannot write to {path}: {exc.strerror}") from exc


async def push(env: Mapping[str, str], cwd: Path) -> int:
    """The writing job's step: push the bundle's commits where the event and the inputs say."""
    event = await asyncio.to_thread(read_event, env)
    inputs = Inputs.from_env(env, cwd)
    if inputs.deliver == "patch":
        say("stomper: deliver is patch; nothing to push")
        return ExitCode.OK
    if event.fork:
        say("stomper: a pull request from a fork; nothing is pushed (the fixes are in the artifact's stomper.patch)")
        return ExitCode.OK
    if event.branch is None:
        say("stomper: the event names no branch to push to; nothing is pushed")
        return ExitCode.OK
    bundle = inputs.output_dir / BUNDLE
    if not bundle.is_file():
        say("stomper: no fix to push")
        return ExitCode.OK
    head = (await git("rev-parse", "HEAD", cwd=cwd)).out.strip()
    if head != event.sha:
        raise StomperError(f"the push job must check out the analysed commit {event.sha[:12]}; HEAD is {head[:12]}")
    tip = await _take(cwd, bundle, head)
    target = event.branch if inputs.deliver == "push" else fix_branch(event)
    url = f"{env.get('GITHUB_SERVER_URL', 'https://github.com')}/{env.get('GITHUB_REPOSITORY', '')}.git"
    refspec = f"{tip}:refs/heads/{target}"
    # The fix branch is stomper's own: it is replaced. The pull request's branch only moves forward.
    done = await git(
        "push",
        "--porcelain",
        url,
        refspec if inputs.deliver == "push" else f"+{refspec}",
        cwd=cwd,
        env=_auth(env, url),
        check=False,
    )
    count = (await git("rev-list", "--count", f"{head}..{tip}", cwd=cwd)).out.strip()
    if done.returncode != 0:
        said = (done.err.strip().splitlines() or ["git push failed"])[-1]
        print(f"::warning title=stomper::the fixes were not pushed to {target}: {said}", flush=True)
        await _append(env.get("GITHUB_STEP_SUMMARY"), f"\nThe fixes were not pushed to `{target}`: {said}\n")
        return ExitCode.OK
    say(f"stomper: pushed {count} fix commit(s) to {target}")
    await _append(env.get("GITHUB_STEP_SUMMARY"), f"\nPushed {count} fix commit(s) to `{target}`.\n")
    return ExitCode.OK


async def _take(cwd: Path, bundle: Path, head: str) -> str:
    """The bundle's fix branch, fetched and checked: commits on top of `head`, nothing under `.github/`."""
    try:
        await git("bundle", "verify", "--quiet", str(bundle), cwd=cwd)
        await git(
            "fetch", "--quiet", "--no-tags", str(bundle), f"+refs/heads/{LOCAL_BRANCH}:refs/stomper/fixes", cwd=cwd
        )
    except GitError as exc:
        raise StomperError(f"{bundle}: not a bundle of stomper's fixes on {head[:12]} ({exc})") from exc
    tip = (await git("rev-parse", "refs/stomper/fixes", cwd=cwd)).out.strip()
    await git("update-ref", "-d", "refs/stomper/fixes", cwd=cwd)
    ancestor = await git("merge-base", "--is-ancestor", head, tip, cwd=cwd, check=False)
    merges = (await git("rev-list", "--merges", f"{head}..{tip}", cwd=cwd)).out.strip()
    if ancestor.returncode != 0 or merges:
        raise StomperError(f"{bundle}: its commits do not simply follow the analysed commit {head[:12]}; not pushed")
    changed = split_z((await git("diff", "--name-only", "--no-renames", "-z", head, tip, cwd=cwd)).stdout)
    protected = [p for p in changed if p.startswith(PROTECTED)]
    if protected:
        raise StomperError(f"{bundle}: its commits change {', '.join(protected)}; stomper's fixes never do; not pushed")
    return tip


def _auth(env: Mapping[str, str], url: str) -> dict[str, str]:
    """The token as an HTTP header for this one push, through git's environment, never on a command line."""
    token = env.get("GITHUB_TOKEN", "")
    if not token or not url.startswith("https://"):
        return {}
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    return {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": f"http.{url}.extraheader",
        "GIT_CONFIG_VALUE_0": f"AUTHORIZATION: basic {basic}",
    }

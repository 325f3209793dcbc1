"""What a CI job takes away from a fix run: SARIF, one patch, a branch of commits, an honest status.

    --sarif PATH   the diagnostics of the analysed commit, as SARIF 2.1.0,
                   with the verified fixes attached
    --patch PATH   every verified fix as one patch for `git apply` on the original tree
    --branch NAME  one commit per fixed file on a new branch from HEAD

The patch and the branch are built with git's plumbing on a temporary index
(`GIT_INDEX_FILE`): `read-tree`, `apply --cached`, `write-tree`,
`commit-tree`, `update-ref`. Neither the user's index nor their working
tree nor their current branch is touched, which is what lets `--branch` run
in diff mode on a CI checkout and leave it as it found it.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from stomper import findings, redact, ruledocs, sarif
from stomper.config import CiExit, StomperSettings
from stomper.diagnostics import Diagnostic
from stomper.errors import ExitCode, StomperError
from stomper.gitops import fallback_identity, git, has_identity, split_z
from stomper.graph.branch import commit_message
from stomper.graph.state import FileJob
from stomper.report import FileResult, RunReport


def remaining(report: RunReport) -> list[Diagnostic]:
    """The diagnostics left once the run's fixes are in, sorted.

    A file whose verified fix was not applied (it changed meanwhile, or the
    fix touched other files) still has everything it had before.
    """
    left: set[Diagnostic] = set()
    for f in report.files:
        left.update(f.remaining if f.applied else f.before)
    return sorted(left)


def analysed(report: RunReport) -> list[Diagnostic]:
    """The diagnostics of the commit the run analysed, sorted: what the job reports on."""
    return sorted({d for f in report.files for d in f.before})


def exit_status(report: RunReport, gate: CiExit) -> int:
    """A CI job's exit status: by default the analysed commit's, whatever the run fixed.

    The commit under review keeps its problems until the fixes are merged
    into it; a green check would close its alerts while they are still
    there. `gate = "fixed"` makes the fixed tree the gate instead.
    """
    if report.tool_errors:
        return ExitCode.USAGE
    if gate == "analysed":
        return ExitCode.DIAGNOSTICS if report.files else ExitCode.OK
    return ExitCode.OK if report.ok else ExitCode.DIAGNOSTICS


@dataclass(frozen=True)
class Analysis:
    """The analysed commit's diagnostics with their stable ids and verified fixes."""

    diagnostics: tuple[Diagnostic, ...]
    ids: Mapping[Diagnostic, str]
    fixes: Mapping[Diagnostic, tuple[sarif.FileFix, ...]]
    """The verified fix of each diagnostic a fix made go away: one change per file it changed."""
    tool_errors: tuple[str, ...] = ()
    suppressed: Mapping[Diagnostic, str] = field(default_factory=dict)
    """Those the verified fix silences with a suppression the project allows, and why that is allowed."""


async def analysis(root: Path, base: str | None, report: RunReport) -> Analysis:
    """What `report` says about the analysed tree (`base`, or the working tree when None)."""
    diags = analysed(report)
    texts = await findings.sources(root, base, {d.path for d in diags} | {p for f in report.files for p in f.unit})
    fixes: dict[Diagnostic, tuple[sarif.FileFix, ...]] = {}
    for f in report.files:
        gone = findings.resolved(f)
        if not gone or f.path not in texts:
            continue
        what = ", ".join(sorted({f"{d.tool} {d.code}" for d in gone}))
        # A work unit's fix may change other files than the failing one: all of them, or none said.
        made = [
            findings.file_fix(f.patch or "", p, texts[p], f"stomper's verified fix of {what}")
            for p in f.unit
            if p in texts and findings.touches(f.patch or "", p)
        ]
        if made and all(made):
            fixes.update(dict.fromkeys(gone, tuple(m for m in made if m is not None)))
    suppressed = {d: justification(d) for f in report.files if f.applied for d in f.suppressed}
    return Analysis(tuple(diags), findings.stable_ids(diags, texts), fixes, report.tool_errors, suppressed)


def justification(d: Diagnostic) -> str:
    """Why a diagnostic that stomper silenced rather than fixed is not a problem to report."""
    return (
        f"stomper's verified fix silences {d.tool} {d.code} here with an in-source suppression "
        "(# noqa, # type: ignore, a skip marker) of a kind the project allows in allow_suppressions"
    )


async def sarif_text(root: Path, found: Analysis, ruff: str | None) -> str:
    """The SARIF log of `found`, its rules documented (one `ruff rule --all` for the lot)."""
    docs = await ruledocs.rule_docs(found.diagnostics, ruff, root)
    text = sarif.dumps(
        found.diagnostics,
        root=root,
        tool_errors=found.tool_errors,
        fingerprints=found.ids,
        docs=docs,
        fixes=found.fixes,
        suppressed=found.suppressed,
    )
    return redact.scrub(text)


def write(path: Path, data: bytes, what: str) -> None:
    """Write `data` to `path`, its directory made; raises `StomperError` naming `what` if it cannot."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    except OSError as exc:
        raise StomperError(f"cannot write the {what} to {path}: {exc.strerror}") from exc


@dataclass(frozen=True)
class Chain:
    """Commits made on a temporary index, one per fix, each on the one before."""

    start: str
    tip: str
    commits: tuple[tuple[str, str], ...] = ()
    """(path, commit id) for every fix that went in."""
    left_out: tuple[str, ...] = field(default_factory=tuple)
    """One line per fix that could not go in, and why."""


async def check_new_branch(root: Path, name: str) -> None:
    """Refuse, before any work, a branch name git would refuse or a branch that exists."""
    if (await git("check-ref-format", "--branch", name, cwd=root, check=False)).returncode != 0:
        raise StomperError(f"--branch {name}: not a valid branch name")
    exists = await git("show-ref", "--verify", "--quiet", f"refs/heads/{name}", cwd=root, check=False)
    if exists.returncode == 0:
        raise StomperError(f"--branch {name}: the branch exists already; name a new one")


async def check_identity(root: Path) -> None:
    """Refuse, before any work, a run whose `--branch` or `--patch` commits git could name no author of.

    That is a user with `user.useConfigOnly` and no identity: stomper does not make one up for them.
    """
    if not await has_identity(root) and not await fallback_identity(root):
        raise StomperError(
            "--branch and --patch commit the fixes, and git has no identity to commit them with "
            "(user.useConfigOnly is set); set user.name and user.email"
        )


async def chain(root: Path, start: str, base: str, fixes: Sequence[FileResult], identity: Sequence[str]) -> Chain:
    """Commit `fixes` (made against the snapshot `base`) one by one on top of `start`.

    A fix goes in only if every file it touches is the same at `start` as
    at `base`, so that what lands is byte for byte what was verified.
    """
    differ = set(split_z((await git("diff", "--name-only", "--no-renames", "-z", start, base, cwd=root)).stdout))
    tip = start
    commits: list[tuple[str, str]] = []
    left_out: list[str] = []
    with tempfile.TemporaryDirectory(prefix="stomper-ci-") as scratch:
        env = {"GIT_INDEX_FILE": str(Path(scratch) / "index")}
        await git("read-tree", start, cwd=root, env=env)
        patch_file = Path(scratch) / "fix.patch"
        for f in sorted((f for f in fixes if f.patch), key=lambda f: f.path):
            await asyncio.to_thread(patch_file.write_bytes, (f.patch or "").encode("utf-8", "surrogateescape"))
            touched = await git("apply", "--numstat", "-z", str(patch_file), cwd=root)
            paths = {entry.split("\t", 2)[-1] for entry in split_z(touched.stdout)}
            if paths & differ:
                left_out.append(f"{f.path}: left out, the file is not the same at {start[:12]} as when it was fixed")
                continue
            applied = await git("apply", "--cached", "--binary", str(patch_file), cwd=root, env=env, check=False)
            if applied.returncode != 0:
                said = (applied.err.strip().splitlines() or ["git apply refused it"])[-1]
                left_out.append(f"{f.path}: left out, {said}")
                continue
            tree = (await git("write-tree", cwd=root, env=env)).out.strip()
            job = FileJob(index=0, path=f.path, diagnostics=f.before, files=f.files)
            message = commit_message(job, f.remaining, sorted(paths))
            tip = (await git(*identity, "commit-tree", tree, "-p", tip, "-m", message, cwd=root)).out.strip()
            commits.append((f.path, tip))
    return Chain(start=start, tip=tip, commits=tuple(commits), left_out=tuple(left_out))


async def combined_patch(root: Path, base: str, fixes: Sequence[FileResult], identity: Sequence[str]) -> Chain:
    """The chain of `fixes` on the original tree; its diff is the one patch (see `patch_text`)."""
    return await chain(root, base, base, fixes, identity)


async def patch_text(root: Path, made: Chain) -> bytes:
    """Everything `made` changed, as one patch `git apply` takes on its start."""
    if made.tip == made.start:
        return b""
    done = await git("diff", "--binary", "--full-index", "--no-renames", made.start, made.tip, cwd=root)
    return done.stdout


async def make_branch(root: Path, name: str, base: str, fixes: Sequence[FileResult], identity: Sequence[str]) -> Chain:
    """Create branch `name` from HEAD with one commit per fix; no branch when no fix went in."""
    head = (await git("rev-parse", "--verify", "HEAD^{commit}", cwd=root)).out.strip()
    made = await chain(root, head, base, fixes, identity)
    if made.commits:
        # The empty old value: create, never overwrite a branch made meanwhile.
        await git("update-ref", "-m", "stomper fix --branch", f"refs/heads/{name}", made.tip, "", cwd=root)
    return made


async def write_outputs(
    root: Path,
    base: str,
    report: RunReport,
    sarif_path: Path | None,
    patch_path: Path | None,
    branch: str | None,
    say: Callable[[str], None],
    ruff: str | None = None,
) -> None:
    """Write what `--sarif`, `--patch` and `--branch` ask for; `say` gets one line per thing done."""
    if sarif_path is not None:
        text = await sarif_text(root, await analysis(root, base, report), ruff)
        await asyncio.to_thread(write, sarif_path, text.encode("utf-8"), "SARIF log")
    if patch_path is None and branch is None:
        return
    who = await fallback_identity(root)
    if patch_path is not None:
        made = await combined_patch(root, base, report.files, who)
        await asyncio.to_thread(write, patch_path, await patch_text(root, made), "patch")
        say(f"wrote the fixes of {len(made.commits)} file(s) to {patch_path}")
    if branch is not None:
        made = await make_branch(root, branch, base, report.files, who)
        for line in made.left_out:
            say(line)
        if made.commits:
            say(f"branch {branch}: {len(made.commits)} commit(s) on {made.start[:12]}, one per fixed file")
        else:
            say(f"branch {branch}: not created, there is no fix to commit")


# The variable each provider's LangChain package reads its key from.
_KEYS = {
    "openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "azure_openai": "AZURE_OPENAI_API_KEY",
    "google_genai": "GOOGLE_API_KEY",
    "mistralai": "MISTRAL_API_KEY",
    "groq": "GROQ_API_KEY",
    "deepseek": "DEEPSEEK_API_KEY",
    "xai": "XAI_API_KEY",
    "fireworks": "FIREWORKS_API_KEY",
    "together": "TOGETHER_API_KEY",
}


def missing_key(settings: StomperSettings, environ: Mapping[str, str] = os.environ) -> str | None:
    """The API key variable the configured model needs and the environment lacks, if any."""
    if settings.model is None or settings.fixer not in ("auto", "llm"):
        return None
    variable = _KEYS.get(settings.model.split(":", 1)[0])
    if variable is None or environ.get(variable, "").strip():
        return None
    return variable


def without_missing_key(
    settings: StomperSettings, say: Callable[[str], None], environ: Mapping[str, str] = os.environ
) -> StomperSettings:
    """`settings` minus a model whose key is missing, said in one line: a fork's pull request gets no secrets.

    What is left is the deterministic fixers (and an agent, if one is
    configured), so the job still delivers ruff's fixes and an honest status
    instead of failing on "missing credentials".
    """
    variable = missing_key(settings, environ)
    if variable is None:
        return settings
    fixer = "ruff" if settings.fixer == "llm" else settings.fixer
    say(
        f"stomper: no {variable} in the environment (pull requests from forks get no secrets); "
        f"fixing without the model {settings.model}"
    )
    return settings.model_copy(update={"model": None, "fixer": fixer})

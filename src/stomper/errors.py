"""Stomper's exceptions and exit codes.

Library code raises these; only the CLI (`stomper.cli`) turns them into a
one-line message and an exit code.

    StomperError                  exit 2: the user can act on the message
     ├── ConfigError              a bad value or unknown key, with its origin
     ├── SelectionError           a path, ref or file selection that cannot be honoured
     ├── GitError                 git refused; carries git's own message
     │    └── NotAGitRepository
     ├── ExecutableNotFound       a program (tool, agent, git) is not installed
     ├── ProcTimeout              a program ran past its time limit
     ├── ToolError                a quality tool crashed or wrote output we cannot read
     ├── FixerError               a fixer could not make an attempt (bad config, missing extra)
     ├── SandboxUnavailable       sandbox = "required" and agents cannot be confined here
     └── EventLogError            an event log holds a line no writer of ours could have left
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """The documented exit statuses of every stomper command."""

    OK = 0
    """Nothing left to fix."""
    DIAGNOSTICS = 1
    """Diagnostics remain (or, with `--hook`, files were changed)."""
    USAGE = 2
    """Bad input, bad configuration, or a tool stomper depends on failed."""
    INTERNAL = 3
    """A bug in stomper; the traceback is in the log file named on screen."""
    INTERRUPTED = 130
    """Stopped by Ctrl-C or SIGTERM; the run can be resumed."""


class StomperError(Exception):
    """An error the user can act on; its message is one line."""


class ConfigError(StomperError):
    """A configuration value is invalid, or a key is unknown."""


class SelectionError(StomperError):
    """The requested files, paths or git ref cannot be selected."""


class GitError(StomperError):
    """A git command failed."""


class NotAGitRepository(GitError):
    """The operation needs a git repository and there is none."""


class ExecutableNotFound(StomperError):
    """A program stomper was asked to run is not installed."""


class ProcTimeout(StomperError):
    """A program ran past its time limit and was killed with its process group."""


class ToolError(StomperError):
    """A quality tool crashed or produced output stomper cannot parse."""


class FixerError(StomperError):
    """A fixer cannot make attempts at all (missing extra, bad command template)."""


class SandboxUnavailable(StomperError):
    """`sandbox = "required"`, and no sandbox for agents works on this machine."""


class EventLogError(StomperError):
    """An event log has a complete line that is not a JSON object (corruption, not a crash)."""

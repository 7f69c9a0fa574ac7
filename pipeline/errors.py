"""One error tree. Each kind maps to a documented process exit code (see `ExitCode`).

Per-document problems (`InputError`, and `EngineError` for one request) are caught by the runner and
recorded in that document's result; run-wide problems end the run with the matching exit code.
"""

from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes of the `docpipe` command."""

    OK = 0  # every document succeeded
    SOME_FAILED = 1  # at least one document failed
    USAGE = 2  # bad arguments or configuration
    ENGINE_UNAVAILABLE = 3  # the engine could not be loaded or started
    LOCKED = 4  # another run holds the output folder's lock
    PARTIAL = 5  # no document failed, but at least one is partial (failed or empty pages, a failed task)
    OUTPUT_FAILED = 6  # the output folder could not be written (disk full, read-only) or its lock file was deleted
    INTERRUPTED = 130  # stopped by SIGINT (128 + 2): finished documents recorded, the rest pending
    TERMINATED = 143  # stopped by SIGTERM (128 + 15): same


class PipelineError(Exception):
    """Base of every error docpipe raises on purpose."""

    exit_code = ExitCode.SOME_FAILED


class InputError(PipelineError):
    """A document cannot be read: corrupt, encrypted, not a PDF, too large…  Per document."""


class ChangedError(InputError):
    """The file changed, was truncated or vanished between the survey and the read: a fact about the path at
    one moment, not about any content. Never a final failure; the next run reads the file again."""


class EncryptedError(InputError):
    """A document needs a password that was not given, or the one given is wrong. Per document."""


class ConfigError(PipelineError):
    """The run's configuration is invalid (bad flag, missing checklist file…)."""

    exit_code = ExitCode.USAGE


class EngineError(PipelineError):
    """An engine failed: raised for run-wide failures, recorded per request otherwise."""

    exit_code = ExitCode.ENGINE_UNAVAILABLE


class OutputError(PipelineError):
    """The output folder cannot hold the run's results: disk full, read-only, or its lock file was deleted
    while the run held it. Run-wide: the run stops; what was recorded before stays valid."""

    exit_code = ExitCode.OUTPUT_FAILED


class LockedError(PipelineError):
    """Another run holds the output folder."""

    exit_code = ExitCode.LOCKED


class Interrupted(PipelineError):
    """The run was stopped by a signal; what finished is recorded, the rest is pending."""

    def __init__(self, message: str, exit_code: ExitCode = ExitCode.INTERRUPTED) -> None:
        super().__init__(message)
        self.exit_code = exit_code

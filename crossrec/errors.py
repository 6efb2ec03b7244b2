"""User-facing errors: the CLI prints their message as one line and exits non-zero."""


class CrossrecError(Exception):
    """A problem the user can fix; the message says what and where."""


class ConfigError(CrossrecError):
    """The configuration file or a command-line option is invalid."""


class InputDataError(CrossrecError):
    """An input file or folder is missing or unreadable."""


class ValidationFailed(CrossrecError):
    """A data-quality gate failed; nothing downstream may run."""


class ConcurrentRunError(CrossrecError):
    """Another run holds the lock on the state this run would write."""


class CorruptModelError(CrossrecError):
    """A model version's files do not match the checksums written with them."""

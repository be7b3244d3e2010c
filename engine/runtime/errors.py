"""Exceptions shared by the engine, the CLI and the GUI.

`WarpaintError` and its subclasses carry a plain, one-line reason meant for the
user: the CLI prints it and exits 2, the GUI shows it in a dialog. Anything
else escaping the engine is a bug (exit 1).
"""


class WarpaintError(Exception):
    """A problem the user can act on; `str(err)` is the one-line reason."""


class BadInputError(WarpaintError):
    """A file, parameter or request that cannot be used as given."""


class UnknownEffectError(BadInputError):
    """An effect id that the registry does not know."""


class JobCancelled(Exception):
    """Raised inside a job when it was cancelled or superseded; not an error."""

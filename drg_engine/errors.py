"""Exception types the engine raises for problems a user can fix (bad files, bad columns).

Every error derives from `DrgEngineError`, so a caller (the CLI) can catch that one class and
print the message instead of a traceback. Messages say what is wrong and what to do about it.
"""

from __future__ import annotations


class DrgEngineError(Exception):
    """Base class of every error the engine raises on purpose."""


class InputFormatError(DrgEngineError):
    """A file has an unsupported extension or cannot be read in the format its name implies."""


class InputFileNotFoundError(DrgEngineError, FileNotFoundError):
    """An input file does not exist (also a `FileNotFoundError` for generic callers)."""


class OutputPathError(DrgEngineError):
    """An output file cannot be written where it was asked for (e.g. the folder is missing)."""


class MissingColumnsError(DrgEngineError):
    """Required claim columns are absent; the message lists the names accepted for each."""


class AmbiguousColumnsError(DrgEngineError):
    """Two or more input columns resolve to the same canonical claim column."""


class ColumnTypeError(DrgEngineError):
    """An input column has an Arrow type that cannot be read as its canonical column."""


class RuleSetError(DrgEngineError):
    """A rule set's manifest or tables are invalid; the message names file, line and field."""

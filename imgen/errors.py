"""Exceptions whose messages are sentences a user can act on."""


class ImgenError(Exception):
    """Base class of imgen's errors; the CLI prints the message and exits with status 1."""


class DataError(ImgenError):
    """A data folder or image that cannot be used (names the file and the fix)."""


class UsageError(ImgenError):
    """Options that do not fit together; the CLI exits with status 2."""


class RegistryError(ImgenError):
    """A name registered twice, or an unknown name (with suggestions)."""


class UnknownNameError(RegistryError, UsageError):
    """An unknown registered name given as an option value (``--generator``, ``--pixel-loss``):
    a usage error, exit status 2, with the close names suggested."""


class MissingFolderError(DataError, UsageError):
    """A data folder given as an option (``--data``) that does not exist: a usage error,
    exit status 2, as a mistyped option value."""

"""Error hierarchy: every message names the bad value and says how to fix it.

All eoforge errors derive from :class:`EoforgeError`. Errors about user input also derive from
``ValueError`` (or ``FileNotFoundError``) so that generic handlers keep working.
"""

from __future__ import annotations


class EoforgeError(Exception):
    """Base class of every error raised on purpose by eoforge."""


class InputError(EoforgeError, ValueError):
    """A user-supplied value is invalid. The message names the value and the fix."""


class ConfigError(InputError):
    """A run configuration is invalid or cannot be read."""


class DataNotFoundError(EoforgeError, FileNotFoundError):
    """An input file, variable or band is missing."""


class ShapeError(InputError):
    """Arrays have incompatible shapes, grids or dimensions."""


def bad_value(name: str, value: object, expected: str, fix: str | None = None) -> InputError:
    """Build an :class:`InputError` with a uniform message.

    Args:
        name: Name of the argument or option (as the user typed it).
        value: The offending value.
        expected: What was expected, e.g. ``"a positive float"``.
        fix: Optional hint on how to fix it.

    Returns:
        The error, ready to be raised.
    """
    msg = f"{name}={value!r} is invalid: expected {expected}."
    if fix:
        msg += f" {fix}"
    return InputError(msg)

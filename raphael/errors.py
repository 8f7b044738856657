"""Errors a user can fix: entry points print them as one paragraph and exit 2 (raphael.validation.user_errors)."""


class UserError(Exception):
    """Bad input: the message names what is wrong and how to fix it; no stack trace is shown."""


class ConfigError(UserError, ValueError):
    """A config value that cannot work; the message names the field, the value and what is allowed."""


class DataError(UserError, RuntimeError):
    """Data a run cannot make progress on (every sample bad, nothing to train on)."""

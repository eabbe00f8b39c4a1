"""The one exception type the CLI turns into a one-line message (and a non-zero exit)."""


class UserError(ValueError):
    """Bad input or an impossible request: the message names the problem and the fix."""

"""The one exception type the CLI turns into a one-line message (and a non-zero exit)."""


class UserError(ValueError):
    """Bad input or an impossible request: the message names the problem and the fix."""


def run_script(main) -> None:
    """Exit with what a hand-run script's ``main()`` returns; a :class:`UserError` exits with its
    one-line message instead of a traceback."""
    import sys

    try:
        sys.exit(main())
    except UserError as exc:
        sys.exit(f"error: {exc}")

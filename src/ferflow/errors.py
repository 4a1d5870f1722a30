"""User-facing errors: a message that says what is wrong, where, and how to fix it."""


class FerflowError(Exception):
    """A mistake the user can fix (bad params, bad input file, unreachable URL...).

    The CLI and the pipeline scripts print the message without a stack trace and exit non-zero.
    """

    exit_code = 2

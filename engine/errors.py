"""``UserError``: a user mistake (a bad file, config value, host or path, a missing camera or dataset).

Its message is one line naming the thing and the problem. Library code in every package raises it
(or a subclass); only the command-line entry points (``app.cli``, ``python -m trainer``) catch it
and turn it into that line on stderr and exit code 2, never a traceback. It lives in ``engine``
because both ``app`` and ``trainer`` import the engine and neither may import the other.
"""
import functools
import sys


class UserError(ValueError):
    """A user mistake: its message is one line for the user."""


def reports_user_errors(prog: str):
    """Decorator for a command's ``main(argv) -> int``: a ``UserError`` it raises becomes the one
    line ``prog: message`` on stderr and the exit code 2."""
    def wrap(main):
        @functools.wraps(main)
        def run(*args, **kwargs) -> int:
            try:
                return main(*args, **kwargs)
            except UserError as e:
                print(f"{prog}: {e}", file=sys.stderr)
                return 2
        return run
    return wrap

"""``UserError``: a user mistake (a bad file, config value, host or path, a missing camera or dataset).

Its message is one line naming the thing and the problem. Library code in every package raises it
(or a subclass); only the command-line entry points (``app.cli``, ``python -m trainer``) catch it
and turn it into that line on stderr and exit code 2, never a traceback. It lives in ``engine``
because both ``app`` and ``trainer`` import the engine and neither may import the other.
"""


class UserError(ValueError):
    """A user mistake: its message is one line for the user."""

"""The base of every user-mistake error the CLI reports as one line."""


class UserError(ValueError):
    """A user mistake (bad file, bad host, missing camera): its message is one line."""

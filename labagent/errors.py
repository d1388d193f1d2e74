"""The one error a user sees: a mistake or a missing prerequisite, said in one line, exit status 2."""


class LabError(Exception):
    """A user's mistake or a missing prerequisite: one line for the user, exit status 2."""

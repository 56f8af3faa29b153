"""The one exception type for problems the user can fix (bad data, bad arguments, bad model files)."""


class HourglassError(ValueError):
    """A user-facing error: the CLI prints its message on one line and exits with code 2.

    It subclasses ValueError so scikit-learn's conventions (and callers catching ValueError) hold.
    """

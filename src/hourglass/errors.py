"""The exception types for problems the user can fix (bad data, bad arguments, bad model files)."""


class HourglassError(ValueError):
    """A user-facing error: the CLI prints its message on one line and exits with code 2.

    It subclasses ValueError so scikit-learn's conventions (and callers catching ValueError) hold.
    """


class ParameterError(HourglassError):
    """An estimator parameter that its spec refuses (``hourglass.params.check``).

    ``name``: the parameter; ``path``: where in its value (``hidden[2]``, or the name itself); ``problem``: what
    is wrong, without the name (``"must be > 0 and finite; got 0"``). The command line names the flag from
    ``name`` instead of the parameter.
    """

    def __init__(self, name: str, path: str, problem: str, message: str) -> None:
        super().__init__(message)
        self.name, self.path, self.problem = name, path, problem

    def __reduce__(self) -> tuple:  # pickled with all four arguments (an exception pickles ``args`` alone)
        return type(self), (self.name, self.path, self.problem, str(self))

"""Declarative checks for values that come from outside: estimator parameters, model folders, checkpoints.

A schema is a table ``field -> Spec``; ``validate(value, spec, where)`` checks a whole value against it
in one walk and turns the first problem into one ``HourglassError`` line naming where it is (the
parameter, or the file and the field) and what is allowed. Nothing here recurses into the *value*
beyond what the schema describes, so hostile input (deeply nested JSON, huge lists) costs no more
than the schema's own depth, and no message ever prints more than a short excerpt of a value.
"""

from __future__ import annotations

import math
import numbers
import operator
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from hourglass.errors import HourglassError

INT_MAX = 2**31 - 1  # the default upper bound of an integer: beyond it torch and numpy index sizes overflow


class Invalid(Exception):
    """A value that does not meet its spec (``validate`` turns it into a HourglassError, ``params.check`` into a
    ParameterError)."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(path, problem)
        self.path, self.problem = path, problem


class Spec:
    """One constraint. Subclasses say what they accept (``accepts``) and how to describe it (``__str__``);
    containers override ``check`` instead, to name the failing item, and ``accepts`` follows from it."""

    def accepts(self, value: Any) -> bool:
        raise NotImplementedError

    def check(self, value: Any, path: str) -> None:
        if not self.accepts(value):
            raise Invalid(path, f"must be {self}; got {show(value)}")


class Int(Spec):
    """An integer (not a bool) in ``[lo, hi]``."""

    def __init__(self, lo: int | None = None, hi: int | None = INT_MAX) -> None:
        self.lo, self.hi = lo, hi

    def accepts(self, value: Any) -> bool:
        if not isinstance(value, numbers.Integral) or isinstance(value, bool):
            return False
        n = operator.index(value)  # exact, however large
        return (self.lo is None or n >= self.lo) and (self.hi is None or n <= self.hi)

    def __str__(self) -> str:
        return "an integer" + _range(self.lo, self.hi, False, False)


class Real(Spec):
    """A real number (not a bool) between ``lo`` and ``hi``, each end closed unless ``open`` names it
    (``"lo"``, ``"hi"`` or both); finite unless ``finite=False`` (then NaN and inf pass too)."""

    def __init__(
        self,
        lo: float | None = None,
        hi: float | None = None,
        open: str = "",  # the open ends, "lo" and/or "hi"
        finite: bool = True,
    ) -> None:
        self.lo, self.hi, self.open, self.finite = lo, hi, open, finite

    def accepts(self, value: Any) -> bool:
        if not isinstance(value, numbers.Real) or isinstance(value, bool):
            return False
        if not math.isfinite(value):
            return not self.finite
        x = float(value)  # isfinite converted it already, so this cannot overflow
        lo_ok = self.lo is None or (x > self.lo if "lo" in self.open else x >= self.lo)
        hi_ok = self.hi is None or (x < self.hi if "hi" in self.open else x <= self.hi)
        return lo_ok and hi_ok

    def __str__(self) -> str:
        if self.lo is None and self.hi is None:
            return "a finite number" if self.finite else "a number"
        bounds = _range(self.lo, self.hi, "lo" in self.open, "hi" in self.open).strip()
        return bounds if self.lo is not None and self.hi is not None else f"{bounds} and finite"


class Bool(Spec):
    def accepts(self, value: Any) -> bool:
        return isinstance(value, bool) or type(value).__name__ == "bool_"  # numpy's bool too

    def __str__(self) -> str:
        return "true or false"


class Text(Spec):
    """A string of at most ``max_len`` characters."""

    def __init__(self, max_len: int = 4096) -> None:
        self.max_len = max_len

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str) and len(value) <= self.max_len

    def __str__(self) -> str:
        return f"a string of at most {self.max_len} characters"


class OneOf(Spec):
    """One of a few strings; ``options`` may be a function, for a registry that grows after import."""

    def __init__(self, *options: str | Callable[[], Iterable[str]]) -> None:
        self.options = options

    def choices(self) -> list[str]:
        out: list[str] = []
        for option in self.options:
            out.extend(option() if callable(option) else [option])
        return out

    def accepts(self, value: Any) -> bool:
        # A fixed option is matched without asking the registry (which may not be loaded: "auto" needs no torch).
        return isinstance(value, str) and (value in self.options or value in self.choices())

    def __str__(self) -> str:
        return "one of " + ", ".join(repr(c) for c in self.choices())


class Satisfies(Spec):
    """A value for which ``test`` returns something true (it may also refuse by raising ``ValueError``)."""

    def __init__(self, test: Callable[[Any], Any], description: str) -> None:
        self.test, self.description = test, description

    def accepts(self, value: Any) -> bool:
        try:
            return bool(self.test(value))
        except (HourglassError, ValueError, TypeError):
            return False

    def __str__(self) -> str:
        return self.description


class Either(Spec):
    """A value that meets any one of ``specs``."""

    def __init__(self, *specs: Spec) -> None:
        self.specs = specs

    def accepts(self, value: Any) -> bool:
        return any(s.accepts(value) for s in self.specs)

    def check(self, value: Any, path: str) -> None:
        for spec in self.specs:
            try:
                spec.check(value, path)
                return
            except Invalid:
                continue
        raise Invalid(path, f"must be {self}; got {show(value)}")

    def __str__(self) -> str:
        return " or ".join(str(s) for s in self.specs)


class Maybe(Spec):
    """``None`` or a value meeting ``spec`` (whose own message explains a bad one)."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec

    def accepts(self, value: Any) -> bool:
        return value is None or self.spec.accepts(value)

    def check(self, value: Any, path: str) -> None:
        if value is not None:
            self.spec.check(value, path)

    def __str__(self) -> str:
        return f"null or {self.spec}"


class _Checked(Spec):
    """A spec defined by its ``check``: it accepts what ``check`` lets through."""

    def accepts(self, value: Any) -> bool:
        try:
            self.check(value, "")
        except Invalid:
            return False
        return True


class ListOf(_Checked):
    """A list (or tuple) of ``min_len`` to ``max_len`` items, each meeting ``item``."""

    def __init__(self, item: Spec, min_len: int = 0, max_len: int = 1_000_000) -> None:
        self.item, self.min_len, self.max_len = item, min_len, max_len

    def check(self, value: Any, path: str) -> None:
        if not isinstance(value, (list, tuple)) or not self.min_len <= len(value) <= self.max_len:
            raise Invalid(path, f"must be {self}; got {show(value)}")
        for i, item in enumerate(value):
            self.item.check(item, f"{path}[{i}]")

    def __str__(self) -> str:
        size = f"{self.min_len} to {self.max_len}" if self.max_len < 1_000_000 else f"at least {self.min_len}"
        return f"a list of {size} items, each {self.item}"


class Omittable:
    """Marks a field of an ``Obj`` that may be absent."""

    def __init__(self, spec: Spec | Mapping[str, Any]) -> None:
        self.spec = spec


class Obj(_Checked):
    """A JSON object with exactly these fields (``Omittable(...)`` ones may be absent; no others)."""

    def __init__(self, fields: Mapping[str, Any]) -> None:
        self.fields = dict(fields)

    def check(self, value: Any, path: str) -> None:
        if not isinstance(value, dict):
            raise Invalid(path, f"must be an object; got {show(value)}")
        prefix = f"{path}." if path else ""
        for name in value:
            if name not in self.fields:
                raise Invalid(f"{prefix}{_short(name)}", "is not a known field" + non_ascii(name))
        for name, spec in self.fields.items():
            optional = isinstance(spec, Omittable)
            spec = as_spec(spec.spec if optional else spec)
            if name in value:
                spec.check(value[name], prefix + name)
            elif not optional:
                raise Invalid(prefix + name, "is missing")

    def __str__(self) -> str:
        return "an object"


class MapOf(Spec):
    """A JSON object of any string keys (at most ``max_len``), each value meeting ``item``."""

    def __init__(self, item: Spec, max_len: int = 64) -> None:
        self.item, self.max_len = item, max_len

    def accepts(self, value: Any) -> bool:
        return isinstance(value, dict)

    def check(self, value: Any, path: str) -> None:
        if not isinstance(value, dict) or len(value) > self.max_len:
            raise Invalid(path, f"must be an object of at most {self.max_len} fields; got {show(value)}")
        for name, item in value.items():
            self.item.check(item, f"{path}.{_short(name)}")

    def __str__(self) -> str:
        return "an object"


def as_spec(spec: Spec | Mapping[str, Any]) -> Spec:
    """A dict in a schema stands for an ``Obj`` with those fields."""
    return Obj(spec) if isinstance(spec, Mapping) else spec


def validate(value: Any, spec: Spec | Mapping[str, Any], where: str, field: str = "") -> None:
    """Check ``value`` against ``spec``; the first problem is one line: ``"{where}: {field} {problem}"``.

    Parameters
    ----------
    value : Any
        What came from outside (a parameter, parsed JSON).
    spec : Spec or Mapping[str, Any]
        A ``Spec``, or a table ``field -> Spec`` that ``as_spec`` turns into one.
    where : str
        Where the value came from (a parameter, a file), the start of the message.
    field : str, default ""
        The value's own name inside ``where``.

    Raises
    ------
    HourglassError
        On the first field that does not meet its spec.

    Examples
    --------
    >>> validate({"epochs": 5}, {"epochs": Int(1)}, "config.json")
    >>> validate({"epochs": 0}, {"epochs": Int(1)}, "config.json")
    Traceback (most recent call last):
    ...
    hourglass.errors.HourglassError: config.json: epochs must be an integer in [1, 2,147,483,647]; got 0
    """
    try:
        as_spec(spec).check(value, field)
    except Invalid as e:
        raise HourglassError(f"{where}: {e.path or 'the value'} {e.problem}") from None


def show(value: Any, limit: int = 40) -> str:
    """A short, safe excerpt of a value for a message: containers by size only, so a deeply
    nested or huge value never reaches ``repr``."""
    if isinstance(value, (list, tuple)):
        return f"a list of {len(value)} item{'s' * (len(value) != 1)}"
    if isinstance(value, dict):
        return f"an object of {len(value)} field{'s' * (len(value) != 1)}"
    if isinstance(value, (str, bool, numbers.Number)) or value is None:
        return _short(value, limit)
    return f"a {type(value).__name__}"


def non_ascii(name: Any) -> str:
    """For a field name that is not ASCII, the words that say why it differs from the one it looks like
    (a Cyrillic "а" for a Latin "a")."""
    if not isinstance(name, str) or name.isascii():
        return ""
    return f" (its name holds non-ASCII characters: {ascii(name)[:60]})"


def _short(value: Any, limit: int = 40) -> str:
    try:
        text = repr(value)
    except ValueError:  # an integer of thousands of digits (Python refuses to print it)
        return "a very large integer"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _range(lo: float | None, hi: float | None, lo_open: bool, hi_open: bool) -> str:
    if lo is not None and hi is not None:
        return f" in {'(' if lo_open else '['}{_num(lo)}, {_num(hi)}{')' if hi_open else ']'}"
    if lo is not None:
        return f" {'>' if lo_open else '>='} {_num(lo)}"
    if hi is not None:
        return f" {'<' if hi_open else '<='} {_num(hi)}"
    return ""


def _num(x: float) -> str:
    return f"{x:,}" if isinstance(x, int) else f"{x:g}"

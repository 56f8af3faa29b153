"""An estimator's flags, generated from its parameter table (``hourglass.params``).

Each parameter with a ``flag`` becomes one option: its value read by what its spec accepts (a number, a
comma-separated list, a word), checked against the spec when parsed (so a bad value is a usage error naming
the flag, before torch loads), its default the table's, its help the table's line with the range and the
default. ``values`` reads them back as the estimator's keyword arguments.
"""

from __future__ import annotations

import argparse
import importlib
from typing import Any

from hourglass.errors import ParameterError
from hourglass.params import Param, Table, check
from hourglass.schema import Bool, Either, Int, ListOf, Maybe, Real, Spec


def add_estimator_flags(p: argparse.ArgumentParser, table: Table) -> None:
    """One option per parameter of ``table`` that has a flag, in the table's order."""
    for param in table:
        if param.flag is None:
            continue
        if isinstance(param.spec, Bool):  # a switch to the opposite of the default
            action, turns = ("store_false", "off") if param.default else ("store_true", "on")
            said = f"{param.help} (default: {'on' if param.default else 'off'}; {param.flag} turns it {turns})"
            p.add_argument(param.flag, dest=param.name, action=action, help=said)
            continue
        p.add_argument(
            param.flag,
            dest=param.name,
            type=flag_type(table, param),
            default=param.default,
            metavar=param.metavar,
            help=help_text(param),
        )


def values(args: argparse.Namespace, table: Table) -> dict[str, Any]:
    """The parsed flags as keyword arguments of ``table``'s estimator."""
    return {param.name: getattr(args, param.name) for param in table if param.flag is not None}


def flag_type(table: Table, param: Param) -> Any:
    """The argparse type of ``param``'s flag: its text read as the spec's kind of value, then checked."""

    def parse(text: str) -> Any:
        value = from_text(param.spec, text)
        if param.needs and value != param.default:  # the registry the check looks up (it imports torch)
            importlib.import_module(param.needs)
        try:
            check(table, {param.name: value})
        except ParameterError as e:
            raise argparse.ArgumentTypeError(flag_problem(e, text)) from None
        return value

    parse.__name__ = param.name  # argparse names a type that fails unexpectedly by it
    return parse


def flag_problem(e: ParameterError, text: str) -> str:
    """What is wrong with a flag's value, for argparse to put after the flag's name: the spec's words, with the
    item of a list that is wrong (``[2] must be ...``) and the text as typed."""
    where = e.path[len(e.name) :]
    problem = e.problem.rsplit("; got ", 1)[0]
    return f"{where} {problem}; got {text!r}".strip()


def from_text(spec: Spec, text: str) -> Any:
    """A flag's text as the value ``spec`` checks: a number for ``Int`` and ``Real``, a tuple of items for
    ``ListOf`` (comma-separated), the first reading an ``Either`` accepts, else the text itself. Text that is
    not such a number stays text, for the check to refuse in the spec's words."""
    if isinstance(spec, Maybe):
        spec = spec.spec
    try:
        if isinstance(spec, Int):
            return int(text)
        if isinstance(spec, Real):
            return float(text)
    except ValueError:
        return text
    if isinstance(spec, ListOf):
        return tuple(from_text(spec.item, item) for item in text.split(",") if item.strip())
    if isinstance(spec, Either):
        return next((v for v in (from_text(s, text) for s in spec.specs) if spec.accepts(v)), text)
    return text


def help_text(param: Param) -> str:
    """The table's line, then what the flag accepts and its default. A spec that looks up a registry (the
    model names) is left to the line: --help must not import torch."""
    spec = param.spec.spec if isinstance(param.spec, Maybe) else param.spec
    accepts = "" if param.needs else f"{spec}; "
    return f"{param.help} ({accepts}default: {shown(param.default)})".replace("%", "%%")


def shown(default: Any) -> str:
    """A default as it would be typed: ``64,32`` for widths, ``none`` for None."""
    if default is None:
        return "none"
    if isinstance(default, tuple):
        return ",".join(map(str, default))
    return str(default)

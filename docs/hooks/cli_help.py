"""mkdocs hook: the command-line page is every command's ``--help``, taken from the parser as the site is built,
so the page cannot drift from what ``hourglass`` accepts."""

from __future__ import annotations

import contextlib
import io
import os
from typing import Any
from unittest import mock

from hourglass.cli import COMMANDS, build_parser

MARKER = "<!-- cli-help -->"
WIDTH = "100"  # argparse wraps to the terminal's width: fixed, so the page is the same wherever it is built


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    """Replace ``MARKER`` in a page with the reference; other pages pass through."""
    return markdown.replace(MARKER, cli_reference()) if MARKER in markdown else markdown


def cli_reference() -> str:
    """One section per command, in ``hourglass --help``'s order, each its summary and its help text."""
    sections = [_section("hourglass", "", [])]
    sections += [_section(f"hourglass {name}", summary, [name]) for name, summary in COMMANDS.items()]
    return "\n\n".join(sections)


def _section(title: str, summary: str, words: list[str]) -> str:
    return f"## `{title}`\n\n{summary}\n\n```text\n{_help(words)}```"


def _help(words: list[str]) -> str:
    """What ``hourglass WORDS --help`` prints (argparse prints it, then exits)."""
    out = io.StringIO()
    with mock.patch.dict(os.environ, {"COLUMNS": WIDTH}), contextlib.redirect_stdout(out):
        try:
            build_parser(words[0] if words else None).parse_args([*words, "--help"])
        except SystemExit as e:
            if e.code != 0:
                raise RuntimeError(f"hourglass {' '.join(words)} --help exited {e.code}") from None
    return out.getvalue()

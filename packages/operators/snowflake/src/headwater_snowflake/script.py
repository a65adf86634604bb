"""Split a Snowflake script into statements, each with the line it starts on (strings, $$ bodies, comments aware)."""

from __future__ import annotations

import re
from dataclasses import dataclass

# A bind placeholder: ``?`` or ``:1`` (qmark / numeric, bound by Snowflake itself).
_PLACEHOLDER = re.compile(r"\?|:\d+")


@dataclass(frozen=True, slots=True)
class Statement:
    """One statement of a script: its text (no trailing ``;``), its 1-based number and the line it starts on."""

    text: str
    index: int
    line: int
    #: the statement's text with string literals and comments blanked out (to look for keywords and binds)
    code: str = ""

    def script_line(self, statement_line: int) -> int:
        """The script line of line ``statement_line`` (1-based) of this statement, as Snowflake numbers them."""
        return self.line + max(statement_line, 1) - 1

    @property
    def has_placeholders(self) -> bool:
        """Whether the statement has ``?`` or ``:N`` bind placeholders outside strings and comments."""
        return bool(_PLACEHOLDER.search(self.code))

    @property
    def first_word(self) -> str:
        """The statement's first keyword, upper-cased (``SELECT``, ``PUT``, ``USE``)."""
        words = self.code.split(None, 1)
        return words[0].upper() if words else ""

    def preview(self, limit: int = 200) -> str:
        """The statement on one line, cut to ``limit`` characters."""
        text = " ".join(self.text.split())
        return text if len(text) <= limit else text[: limit - 1] + "…"


def split_statements(script: str) -> list[Statement]:
    """The statements of ``script`` separated by top-level ``;``; pieces holding only comments are dropped.

    Aware of ``'...'`` strings (with ``''`` and backslash escapes), ``"..."`` identifiers, ``$$...$$`` bodies,
    ``--`` and ``//`` line comments and ``/* */`` block comments.
    """
    statements: list[Statement] = []
    first = -1  # offset of the current piece's first meaningful character (-1: none yet)
    code: list[str] = []  # the current piece with strings and comments blanked
    i, n = 0, len(script)

    def close(end: int) -> None:
        nonlocal first
        if first >= 0:
            text = script[first:end].rstrip()
            line = script.count("\n", 0, first) + 1
            statements.append(Statement(text, len(statements) + 1, line, "".join(code).strip()))
        first = -1
        code.clear()

    while i < n:
        ch = script[i]
        if (ch == "-" and script.startswith("--", i)) or (ch == "/" and script.startswith("//", i)):
            end = script.find("\n", i)
            i = n if end < 0 else end
            code.append(" ")
            continue
        if ch == "/" and script.startswith("/*", i):
            end = script.find("*/", i + 2)
            i = n if end < 0 else end + 2
            code.append(" ")
            continue
        if ch == ";":
            close(i)
            i += 1
            continue
        if not ch.isspace() and first < 0:
            first = i
        if ch == "'":
            i = _skip_string(script, i)
            code.append("''")
        elif ch == '"':
            end = script.find('"', i + 1)
            while end >= 0 and script.startswith('""', end):
                end = script.find('"', end + 2)
            i = n if end < 0 else end + 1
            code.append('""')
        elif ch == "$" and script.startswith("$$", i):
            end = script.find("$$", i + 2)
            i = n if end < 0 else end + 2
            code.append("$$$$")
        else:
            code.append(ch)
            i += 1
    close(n)
    return statements


def _skip_string(script: str, start: int) -> int:
    """The offset just past the ``'...'`` literal starting at ``start`` (``''`` and ``\\'`` stay inside)."""
    i, n = start + 1, len(script)
    while i < n:
        ch = script[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "'":
            if script.startswith("''", i):
                i += 2
                continue
            return i + 1
        i += 1
    return n

"""Split a SQL script into statements, each with the line it starts on (quotes, dollar quotes and comments aware)."""

from __future__ import annotations

import re
from dataclasses import dataclass

_DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")


@dataclass(frozen=True, slots=True)
class Statement:
    """One statement of a script: its text (no trailing ``;``), its 1-based number and the line it starts on."""

    text: str
    index: int
    line: int

    def line_of(self, offset: int) -> int:
        """The script line of character ``offset`` (0-based) of this statement's text (clamped to the text)."""
        return self.line + self.text.count("\n", 0, max(0, min(offset, len(self.text))))


def split_statements(script: str) -> list[Statement]:
    """The statements of ``script`` separated by top-level ``;``; comments-only pieces are dropped.

    Aware of '...' and E'...' strings, "..." identifiers, $tag$...$tag$ bodies, -- and (nested) /* */ comments.
    """
    statements: list[Statement] = []
    start = 0
    meaningful = False  # the current piece has something besides whitespace and comments
    first = -1  # offset of the current piece's first meaningful character
    i, n = 0, len(script)

    def close(end: int) -> None:
        nonlocal start, meaningful, first
        if meaningful:
            text = script[first:end].rstrip()
            statements.append(Statement(text, len(statements) + 1, script.count("\n", 0, first) + 1))
        start, meaningful, first = end + 1, False, -1

    while i < n:
        ch = script[i]
        if ch == "-" and script.startswith("--", i):
            end = script.find("\n", i)
            i = n if end < 0 else end + 1
            continue
        if ch == "/" and script.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if script.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif script.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
            continue
        if ch == ";":
            close(i)
            i += 1
            continue
        if ch.isspace():
            i += 1
            continue
        if not meaningful:
            meaningful, first = True, i
        if ch == "'":
            escapes = (
                i > 0 and script[i - 1] in "eE" and (i < 2 or not (script[i - 2].isalnum() or script[i - 2] == "_"))
            )
            i = _skip_quoted(script, i, "'", escapes)
        elif ch == '"':
            i = _skip_quoted(script, i, '"', False)
        elif ch == "$" and (match := _DOLLAR_TAG.match(script, i)) and not (i > 0 and _is_word(script[i - 1])):
            end = script.find(match.group(0), match.end())
            i = n if end < 0 else end + len(match.group(0))
        else:
            i += 1
    close(n)
    return statements


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _skip_quoted(script: str, i: int, quote: str, backslash_escapes: bool) -> int:
    """The offset just past the quoted text opening at ``i`` (a doubled quote is one quote)."""
    i += 1
    n = len(script)
    while i < n:
        ch = script[i]
        if backslash_escapes and ch == "\\":
            i += 2
            continue
        if ch == quote:
            if i + 1 < n and script[i + 1] == quote:
                i += 2
                continue
            return i + 1
        i += 1
    return n

"""The service's log lines show what a client sent only with control characters escaped.

A path such as ``/x%0a2026-12-07 ... INFO ...: FAKE%1b[31m`` would otherwise write a forged
line, terminal colour codes included, into the operator's log.
"""

from __future__ import annotations

import logging


def escaped(text: str) -> str:
    """``text`` with every non-printable character written as a Python escape."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class EscapeControlCharacters(logging.Filter):
    """Escapes the message and the string arguments of each record of its logger."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = escaped(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(escaped(a) if isinstance(a, str) else a for a in record.args)
        return True


def escape_control_characters(logger: logging.Logger) -> None:
    """Install :class:`EscapeControlCharacters` on ``logger`` (once)."""
    if not any(isinstance(f, EscapeControlCharacters) for f in logger.filters):
        logger.addFilter(EscapeControlCharacters())

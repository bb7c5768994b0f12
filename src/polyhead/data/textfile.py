"""Reading a data file as text: UTF-8 with the failing line named, BOM and CRLF tolerated."""

from __future__ import annotations

import logging
from pathlib import Path

from polyhead.errors import DataError

log = logging.getLogger("polyhead")


def read_text(path: Path) -> str:
    """The file's text; a non-UTF-8 byte is reported with its line, an empty file is an error."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")  # -sig drops a leading byte-order mark
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise DataError(
            path, line, f"byte 0x{data[e.start]:02x} is not valid UTF-8; expected UTF-8 text"
        ) from None
    if not text.strip():
        raise DataError(path, 1, "file is empty; expected at least one example")
    return text


def text_lines(text: str) -> list[str]:
    """Physical lines without their '\\n' or '\\r\\n'; line i+1 of the file is element i.

    Splits on '\\n' only: str.splitlines would also split on characters such as U+2028
    that can occur inside tokens, shifting every later line number.
    """
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def warn_repairs(path: Path, n_repaired: int) -> None:
    """One warning per file, not per sentence: a noisy file should not flood the log."""
    if n_repaired:
        log.warning(
            "%s: %d I- tags did not continue a span of their type and were read as B-",
            path,
            n_repaired,
        )

"""How wide to lay output out: what COLUMNS or the terminal says, where that is a usable width."""
from __future__ import annotations

import os

MIN_WIDTH = 20  # narrower is no width to lay a table out in: COLUMNS=0, a serial line's 0 x 0 terminal
PIPED_WIDTH = 220  # output to a pipe or a file gets room for the whole table


def width(stream) -> int:
    """Columns for output to `stream`: COLUMNS where it says a usable width, else the terminal's (80 where
    it reports none), else -- piped -- room for the whole table."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) >= MIN_WIDTH:
        return int(columns)
    if not stream.isatty():
        return PIPED_WIDTH
    try:
        columns = os.get_terminal_size(stream.fileno()).columns
    except OSError:
        columns = 0
    return columns if columns >= MIN_WIDTH else 80

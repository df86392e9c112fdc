"""Tables the CLI prints, laid out by rich: aligned columns that fit the terminal.

Off a terminal (a pipe, a file, a test) the width is fixed and nothing is coloured, so the
output is the same text wherever it goes and can be read by ``grep`` and diffed.
"""

from __future__ import annotations

import io
import shutil
import sys
from collections.abc import Sequence

from rich import box
from rich.console import Console
from rich.table import Table

#: Columns a table may use off a terminal: wide enough that order ids do not wrap.
PLAIN_WIDTH = 200


def render_table(columns: Sequence[str], rows: Sequence[Sequence[str]], *,
                 numeric: Sequence[str] = (), indent: int = 2) -> str:
    """Return ``rows`` under ``columns`` as aligned text; ``numeric`` columns align right."""
    if not rows:
        return " " * indent + "(none)"
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1))
    for column in columns:
        table.add_column(column, justify="right" if column in numeric else "left",
                         overflow="fold")
    for row in rows:
        table.add_row(*row)
    terminal = sys.stdout.isatty()
    buffer = io.StringIO()
    width = shutil.get_terminal_size((PLAIN_WIDTH, 24)).columns if terminal else PLAIN_WIDTH
    console = Console(file=buffer, width=width,
                      force_terminal=terminal, color_system="auto" if terminal else None,
                      highlight=False)
    console.print(table)
    pad = " " * indent
    return "\n".join(pad + line.rstrip() for line in buffer.getvalue().splitlines()
                     if line.strip())

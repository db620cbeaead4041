"""Plain-text tables: the one ``format_table`` every module and chapter prints with, and
``shape_text``, a tensor shape as a table shows it."""

import math
from collections.abc import Mapping, Sequence

__all__ = ["format_table", "shape_text"]


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e4 or not math.isfinite(value) else f"{value:,.0f}"
    return str(value)


def shape_text(shape: Sequence[int]) -> str:
    """A tensor shape as it reads in a table: ``shape_text((6, 1, 5, 5))`` is ``'6×1×5×5'``."""
    return "×".join(str(s) for s in shape)


def format_table(headers: Sequence, rows: Sequence, align: str | None = None) -> str:
    """An aligned text table with a rule under the header.

    ``rows`` are sequences (one value per header) or mappings (values looked up by header).
    ``align`` is one 'l' or 'r' per column (default: all left). Floats print with 4 significant
    digits; other values with ``str``.
    """
    headers = [str(h) for h in headers]
    align = align or "l" * len(headers)
    if len(align) != len(headers):
        raise ValueError(f"align has {len(align)} letters for {len(headers)} columns: give one "
                         f"'l' or 'r' per column.")
    cells = [headers]
    for row in rows:
        values = [row[h] for h in headers] if isinstance(row, Mapping) else list(row)
        if len(values) != len(headers):
            raise ValueError(f"a row has {len(values)} values for {len(headers)} columns: {values!r}")
        cells.append([_cell(v) for v in values])
    widths = [max(len(line[i]) for line in cells) for i in range(len(headers))]

    def line(row: list) -> str:
        return "  ".join(c.ljust(w) if a == "l" else c.rjust(w)
                         for c, w, a in zip(row, widths, align)).rstrip()

    return "\n".join([line(cells[0]), "  ".join("-" * w for w in widths)] + [line(r) for r in cells[1:]])

"""What ``shapes.trace`` records: a ``LayerRow`` per layer, gathered in a ``Trace`` that prints as a
table (chapter 2 writes ``trace`` itself).

>>> print(trace(lenet_d2l(), (1, 1, 28, 28)))  # doctest: +SKIP
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .tables import format_table, shape_text

__all__ = ["LayerRow", "Trace"]


@dataclass(frozen=True)
class LayerRow:
    """One layer of a trace: its name, class name, output shape and parameter count."""

    name: str
    type: str
    output_shape: tuple[int, ...]
    num_params: int


class Trace(list):
    """The rows of ``trace`` (a list of ``LayerRow``); ``print`` it for a table."""

    def __init__(self, rows: Sequence[LayerRow], input_shape: Sequence[int]) -> None:
        super().__init__(rows)
        self.input_shape = tuple(input_shape)

    @property
    def total_params(self) -> int:
        return sum(r.num_params for r in self)

    def shapes(self, per_example: bool = True) -> list[tuple[int, ...]]:
        """Output shapes in order, without the batch dimension by default."""
        return [r.output_shape[1:] if per_example else r.output_shape for r in self]

    def __str__(self) -> str:
        rows = [(r.name, r.type, shape_text(r.output_shape), f"{r.num_params:,}") for r in self]
        rows.append(("total", "", "", f"{self.total_params:,}"))
        header = f"input: {shape_text(self.input_shape)}\n"
        return header + format_table(["layer", "type", "output shape", "parameters"], rows, "lllr")

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:  # IPython's pretty printer
        p.text(str(self))

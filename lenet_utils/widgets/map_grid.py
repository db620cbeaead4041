"""LeNet-5's layers tiled as pixel grids: where each unit sits, and its colours (red > 0, blue < 0)."""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..models import ScaledTanh
from ..receptive import Box, layer_shape

__all__ = ["ACT_RANGE", "Grid", "GRIDS", "TITLES", "CAPTURED", "input_view"]

ACT_RANGE = ScaledTanh().A  # LeNet-5's scaled tanh lies in +-A: the fixed colour range of every map


@dataclass(frozen=True)
class Grid:
    """A layer's maps tiled on a canvas, ``per_row`` tiles with ``gap`` pixels around each, at
    native size, shown ``scale`` times larger. Dense layers (C5, F6): one pixel per unit, no gap."""

    layer: str
    per_row: int
    scale: int
    gap: int = 1

    @property
    def tile(self) -> tuple:
        return layer_shape(self.layer)[1:]

    @property
    def size(self) -> tuple:
        """(height, width) of the canvas in native pixels."""
        (h, w), rows = self.tile, -(-layer_shape(self.layer)[0] // self.per_row)
        return self.gap + rows * (h + self.gap), self.gap + self.per_row * (w + self.gap)

    def origin(self, channel: int) -> tuple:
        h, w = self.tile
        return (self.gap + (channel // self.per_row) * (h + self.gap),
                self.gap + (channel % self.per_row) * (w + self.gap))

    def locate(self, x: float, y: float) -> "tuple | None":
        """(channel, row, col) of the unit under canvas point (x, y), or None in a gap."""
        h, w = self.tile
        tr, r = divmod(int(y) - self.gap, h + self.gap)
        tc, c = divmod(int(x) - self.gap, w + self.gap)
        channel = tr * self.per_row + tc
        if min(tr, tc, r, c) < 0 or r >= h or c >= w or tc >= self.per_row \
                or channel >= layer_shape(self.layer)[0]:
            return None
        return channel, r, c

    def render(self, maps: "torch.Tensor | None", selected: "tuple | None" = None,
               framed: Sequence[int] = ()) -> np.ndarray:
        """RGBA image of the maps (C x h x w, or C values for a dense layer); ``selected``
        (channel, row, col) is marked green, the ``framed`` channels get an orange frame."""
        out = np.full(self.size + (4,), 235, np.uint8)
        out[..., 3] = 255
        h, w = self.tile
        colours = None if maps is None else _diverging(maps.reshape(-1, h, w).numpy())
        for ch in range(layer_shape(self.layer)[0]):
            y, x = self.origin(ch)
            if ch in framed:
                out[y - 1:y + h + 1, x - 1:x + w + 1, :3] = (255, 140, 0)
            out[y:y + h, x:x + w, :3] = 200 if colours is None else colours[ch]
        if selected is not None:
            ch, r, c = selected
            y, x = self.origin(ch)
            out[y + r, x + c, :3] = (0, 200, 0)
        return out


GRIDS = {g.layer: g for g in (Grid("c1", 6, 3), Grid("s2", 6, 6), Grid("c3", 8, 6), Grid("s4", 8, 12),
                              Grid("c5", 12, 8, gap=0), Grid("f6", 7, 8, gap=0))}
TITLES = {"c1": "C1 (6 maps, 28x28)", "s2": "S2 (6 maps, 14x14)", "c3": "C3 (16 maps, 10x10)",
          "s4": "S4 (16 maps, 5x5)", "c5": "C5 (120 units)", "f6": "F6 (84 units)"}
CAPTURED = {"c1": "c1_act", "s2": "s2_act", "c3": "c3_act", "s4": "s4_act", "c5": "c5_act", "f6": "f6_act"}


def _diverging(v: np.ndarray) -> np.ndarray:
    """Values in +-ACT_RANGE -> RGB: blue (negative), white (0), red (positive)."""
    t = np.clip(v / ACT_RANGE, -1, 1)[..., None]
    red, blue = np.array([-55.0, -225, -225]), np.array([-225.0, -185, -55])  # minus white
    return (255 + np.where(t >= 0, t * red, -t * blue)).astype(np.uint8)


def input_view(x: torch.Tensor, box: "Box | None" = None) -> np.ndarray:
    """RGBA 32x32 picture of what the network sees (ink light on dark, as MNIST); outside the
    receptive field ``box`` dimmed and the box washed orange."""
    grey = (x[0].numpy() * 255).astype(np.float32)
    rgb = np.repeat(grey[..., None], 3, axis=-1)
    if box is not None:
        inside = np.zeros(grey.shape, bool)
        inside[box.slices] = True
        rgb[~inside] *= 0.3
        rgb[inside] = 0.6 * rgb[inside] + 0.4 * np.array([255.0, 140, 0])
    out = np.empty(grey.shape + (4,), np.uint8)
    out[..., :3], out[..., 3] = rgb.astype(np.uint8), 255
    return out

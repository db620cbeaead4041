"""How MNIST-like a drawing is: its ink, its edge, its centre and its strokes, against the ranges
MNIST's training digits span.

    stats = digit_statistics(drawing)      # ink, scaled_ink, off_centre, edge_ink
    unlike_reason(stats)                   # 'too little ink', ... or None when it is like them
"""

import math

import numpy as np
import torch

from ..preprocess import FIELD, PAD, ink_map, mnist_style

__all__ = ["TAILS", "INK_RANGE", "SCALED_INK_RANGE", "MAX_OFF_CENTRE", "digit_statistics",
           "measure_typical_ranges", "unlike_reason"]

#: The percentiles of MNIST's training digits that bound "like them": the rarest 0.5% on each side fall outside.
TAILS = (0.5, 99.5)
#: Measured by ``measure_typical_ranges(load_tensors("MNIST")[0])`` on MNIST's 60,000 training digits
#: (tests/test_draw.py recomputes them on the full set where it is available, and checks them on the
#: bundled sample): the share of the field covered by ink, before and after the drawing is scaled into
#: MNIST's 28x28 field (the 0.5th and 99.5th percentiles), and the largest distance (pixels) of a
#: digit's centre of mass from the field's centre.
INK_RANGE = (0.0449, 0.2598)
SCALED_INK_RANGE = (0.0449, 0.2598)
MAX_OFF_CENTRE = 0.9166


def digit_statistics(drawing: "np.ndarray | torch.Tensor", image: "torch.Tensor | None" = None) -> dict:
    """Simple statistics of a drawing (any size, ink as :func:`~lenet_utils.preprocess.ink_map`
    reads it) and of ``image``, its :func:`~lenet_utils.preprocess.mnist_style` (made if not given):

    - ``ink``: the share of the drawing's area covered by ink (its mean ink, 0-1); the 280x280
      canvas is MNIST's 28x28 field at 10x, drawn with a pen about as wide as MNIST's strokes;
    - ``scaled_ink``: that share in the 28x28 field once the ink is scaled into its 20x20 box;
    - ``off_centre``: the distance (pixels) of the ink's centre of mass from the field's centre;
    - ``edge_ink``: the most ink on the drawing's outermost pixels (0: nothing touches the edge).

        digit_statistics(np.eye(28) * 255)["ink"]   # 28 of 784 pixels: 0.0357
    """
    ink = ink_map(drawing)
    image = mnist_style(drawing) if image is None else image
    field = image[0, PAD:PAD + FIELD, PAD:PAD + FIELD]
    mass = field.sum()
    if mass <= 0:
        raise ValueError("the drawing holds no ink: draw something before asking how MNIST-like it is.")
    position = torch.arange(FIELD, dtype=torch.float32)
    centre = (FIELD - 1) / 2
    row, col = (field.sum(dim=1) @ position) / mass, (field.sum(dim=0) @ position) / mass
    edge = torch.cat([ink[0], ink[-1], ink[:, 0], ink[:, -1]])
    return {"ink": ink.mean().item(), "scaled_ink": field.mean().item(),
            "off_centre": math.hypot(row.item() - centre, col.item() - centre), "edge_ink": edge.max().item()}


def measure_typical_ranges(images: torch.Tensor) -> dict:
    """:data:`INK_RANGE`, :data:`SCALED_INK_RANGE` and :data:`MAX_OFF_CENTRE` measured on ``images``
    (N x 28 x 28, MNIST's digits), rounded to 4 decimals as the constants are stored.

        measure_typical_ranges(load_tensors("MNIST")[0])   # how the constants were made (20 s)
    """
    stats = [digit_statistics(image) for image in np.asarray(images)]
    values = {name: np.array([s[name] for s in stats]) for name in ("ink", "scaled_ink", "off_centre")}
    spread = lambda name: tuple(round(float(v), 4) for v in np.percentile(values[name], TAILS))  # noqa: E731
    return {"INK_RANGE": spread("ink"), "SCALED_INK_RANGE": spread("scaled_ink"),
            "MAX_OFF_CENTRE": round(float(values["off_centre"].max()), 4)}


def unlike_reason(stats: dict) -> "str | None":
    """Why a drawing with these :func:`digit_statistics` is unlike MNIST's training digits (the
    first reason that applies), or None when it is like them.

        unlike_reason(digit_statistics(one_dot))   # 'too little ink'
    """
    checks = ((stats["ink"] < INK_RANGE[0], "too little ink"),
              (stats["ink"] > INK_RANGE[1], "too much ink"),
              (stats["edge_ink"] > 0, "cut off by the canvas edge"),
              (stats["off_centre"] > MAX_OFF_CENTRE, "off-centre: it cannot be centred"),
              (stats["scaled_ink"] > SCALED_INK_RANGE[1], "strokes too thick for its size"),
              (stats["scaled_ink"] < SCALED_INK_RANGE[0], "strokes too thin for its size"))
    return next((reason for failed, reason in checks if failed), None)

"""The ten probabilities of a digit as bars on a log scale, as HTML (live) and as a picture (saved).

    bars_html(probabilities, winner=7)            # the widget's bars
    bars_picture(probabilities, winner=7)         # the same, as a PIL image
"""

import math

import numpy as np
from PIL import Image

from .sheets import LABEL_FONT, TEXT_FONT, TEXT_RGB, font, new_sheet

__all__ = ["LOG_FLOOR", "BARS_PX", "bar_length", "percent", "bars_html", "bars_picture"]

LOG_FLOOR = 1e-4   #: the probability at which a bar is empty (the bars are on a log scale up to 1)
LOG_TICKS = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)
BAR_X, BAR_TRACK_PX, BAR_ROW_PX, BARS_TITLE_PX = 18, 160, 20, 20
WIN_RGB, BAR_RGB, DOUBT_RGB, TRACK_RGB = (217, 83, 79), (91, 141, 239), (160, 160, 160), (232, 232, 232)
BARS_PX = (250, BARS_TITLE_PX + 10 * BAR_ROW_PX + 20)  # (width, height)


def bar_length(p: float) -> float:
    """The share of its track a probability's bar fills, on a log scale: LOG_FLOOR or less empty,
    1 full. ``bar_length(0.01)`` is 0.5, so a digit at 1% still shows a half-long bar."""
    return 0.0 if p <= LOG_FLOOR else min(1.0, 1 - math.log10(p) / math.log10(LOG_FLOOR))


def percent(p: float) -> str:
    """A probability as a percentage that rounds no doubt away: ``percent(0.99996)`` is '>99.99%'."""
    if p < LOG_FLOOR:
        return f"<{100 * LOG_FLOOR:g}%"
    return f">{100 * (1 - LOG_FLOOR):.2f}%" if p > 1 - LOG_FLOOR else f"{100 * p:.2f}%"


def _bar_colour(digit: int, winner: "int | None", doubt: bool) -> tuple:
    return DOUBT_RGB if doubt else WIN_RGB if digit == winner else BAR_RGB


def bars_html(probabilities: "np.ndarray | None", winner: "int | None", doubt: bool = False) -> str:
    """The ten probabilities as HTML bars on a log scale (``bar_length``) with their percentages, in
    the JupyterLab theme's text colour; ``winner``'s bar red, all grey when ``doubt``; empty bars
    when ``probabilities`` is None."""
    rows = [f"<div style='height:{BARS_TITLE_PX}px;white-space:nowrap'>"
            "Probability of each digit (log scale)</div>"]
    for digit, p in enumerate(np.zeros(10) if probabilities is None else probabilities):
        colour = "#%02x%02x%02x" % _bar_colour(digit, winner, doubt)
        rows.append(
            f"<div class='lenet-bar' data-digit='{digit}' data-p='{p:.4f}' style='display:flex;align-items:"
            f"center;height:{BAR_ROW_PX}px;font-family:monospace'><span style='width:{BAR_X}px'>{digit}</span>"
            f"<div style='background:#e8e8e8;width:{BAR_TRACK_PX}px;height:12px'><div style='height:12px;"
            f"width:{round(BAR_TRACK_PX * bar_length(p))}px;background:{colour}'></div></div>"
            f"<span style='margin-left:6px'>{percent(p) if probabilities is not None else ''}</span></div>")
    ticks = "".join(f"<span style='position:absolute;left:{round(BAR_TRACK_PX * bar_length(t))}px;"
                    f"transform:translateX(-50%)'>{100 * t:g}%</span>" for t in LOG_TICKS)
    rows.append(f"<div style='position:relative;height:16px;line-height:16px;margin-left:{BAR_X}px;"
                f"font-size:11px'>{ticks}</div>")
    # the text in the theme's colour, readable on JupyterLab's light and dark themes
    return (f"<div style='font-size:13px;line-height:{BAR_ROW_PX}px;color:var(--jp-ui-font-color1)'>"
            f"{''.join(rows)}</div>")


def bars_picture(probabilities: "np.ndarray | None", winner: "int | None", doubt: bool = False) -> Image.Image:
    """The same bars as :func:`bars_html`, as a picture."""
    sheet, pen = new_sheet(BARS_PX[1], BARS_PX[0])
    pen.text((0, 2), "Probability of each digit (log scale)", fill=TEXT_RGB, font=font(TEXT_FONT))
    for digit, p in enumerate(np.zeros(10) if probabilities is None else probabilities):
        y = BARS_TITLE_PX + digit * BAR_ROW_PX
        pen.text((0, y + BAR_ROW_PX // 2), str(digit), fill=TEXT_RGB, font=font(TEXT_FONT), anchor="lm")
        pen.rectangle([BAR_X, y + 4, BAR_X + BAR_TRACK_PX - 1, y + 15], fill=TRACK_RGB)
        length = round(BAR_TRACK_PX * bar_length(p))
        if length:
            pen.rectangle([BAR_X, y + 4, BAR_X + length - 1, y + 15], fill=_bar_colour(digit, winner, doubt))
        if probabilities is not None:
            pen.text((BAR_X + BAR_TRACK_PX + 6, y + BAR_ROW_PX // 2), percent(p), fill=TEXT_RGB,
                     font=font(TEXT_FONT), anchor="lm")
    y = BARS_TITLE_PX + 10 * BAR_ROW_PX + 2
    for t in LOG_TICKS:
        pen.text((BAR_X + round(BAR_TRACK_PX * bar_length(t)), y), f"{100 * t:g}%", fill=(85, 85, 85),
                 font=font(LABEL_FONT), anchor="mt")
    return sheet

"""The picture a widget leaves in the saved notebook, and what it is drawn with.

    class Clock(SavedPicture):        # a widget: its ipywidgets tree in ``ui``, a PNG of its state
        def snapshot(self) -> bytes: ...
    Clock()                           # in Jupyter: the live widget, and its picture for readers

:class:`SavedPicture` displays a widget's ``ui`` and, as a second output, a PNG of its state that
JupyterLab hides (the live widget is there) and an unrun, untrusted notebook in JupyterLab, GitHub,
nbviewer, ``nbconvert --to html`` and PDFs show; ``refresh_picture()``
redraws it in place. The drawing helpers (heat maps of tensors with their colour bars, captioned
panels on one sheet) serve the widgets' live views as well.
"""

import base64
import functools
import io
from collections.abc import Sequence
from pathlib import Path

import ipywidgets as widgets
import matplotlib
import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

__all__ = ["SavedPicture", "Rows", "heat_image", "colour_bar", "with_colour_bar", "font", "sheet", "png_bytes"]

Rows = list[list[tuple[Image.Image, str]]]  # rows of (picture, caption) panels


def heat_image(values: torch.Tensor, vmax: float, cmap: str = "RdBu_r", vmin: float | None = None,
               scale: int = 8, box: tuple | None = None, blank: torch.Tensor | None = None,
               numbers: bool = False, blank_rgb: tuple[int, int, int] = (236, 236, 236)) -> Image.Image:
    """A 2-D tensor as a PIL image, ``scale`` pixels a value: colours from ``cmap`` on [vmin, vmax] (vmin = -vmax unless
    given), ``blank`` pixels in ``blank_rgb`` (light grey), a red ``box`` (row, col, height, width), each value
    printed in its cell when ``numbers``."""
    lo = -vmax if vmin is None else vmin
    v = ((values.detach().float().cpu() - lo) / max(vmax - lo, 1e-12)).clamp(0, 1).numpy()
    rgb = (matplotlib.colormaps[cmap](v)[..., :3] * 255).astype(np.uint8)
    if blank is not None:
        rgb[blank.numpy()] = blank_rgb
    h, w = v.shape
    img = Image.fromarray(rgb).resize((w * scale, h * scale), Image.NEAREST)
    draw = ImageDraw.Draw(img)
    if numbers:
        font = ImageFont.load_default(size=max(8, scale // 3))
        for (r, c), value in np.ndenumerate(values.detach().cpu().numpy()):
            dark = rgb[r, c] @ np.array([0.299, 0.587, 0.114]) < 128  # luminance of the cell
            draw.text(((c + 0.5) * scale, (r + 0.5) * scale), f"{value:.2f}", anchor="mm", font=font,
                      fill="white" if dark else "black")
    if box is not None:
        r, c, bh, bw = box
        draw.rectangle([c * scale, r * scale, (c + bw) * scale - 1, (r + bh) * scale - 1],
                       outline=(230, 0, 0), width=2)
    return img


@functools.cache
def font(size: int) -> ImageFont.FreeTypeFont:
    """DejaVu Sans (shipped with matplotlib; it has ×, − and →) at ``size`` pixels."""
    return ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"), size)


def _tick(value: float) -> str:
    return f"{value:.2f}".replace("-", "−") if abs(value) < 100 else f"{value:.0f}".replace("-", "−")


def colour_bar(vmin: float, vmax: float, cmap: str, height: int) -> Image.Image:
    """The colour scale of a ``heat_image`` drawn on [vmin, vmax] with ``cmap``: a strip ``height``
    pixels tall (vmax at the top), its two ends and 0 (when inside) labelled in 12 px text.

        colour_bar(-0.5, 0.5, "RdBu_r", 224)     # red at the top (+0.50), blue at the bottom
    """
    if not vmax > vmin or height < 24:
        raise ValueError(f"a colour bar needs vmax > vmin and a height of at least 24 px, got "
                         f"[{vmin}, {vmax}] and {height}.")
    strip_w, label_font = 12, font(12)
    zero_y = vmax / (vmax - vmin) * (height - 1)  # 0's label, where it does not touch the ends' labels
    ticks = [(vmax, "lt"), (vmin, "lb")] + ([(0.0, "lm")] if 22 <= zero_y <= height - 23 else [])
    text_w = max(int(label_font.getlength(_tick(v))) for v, _ in ticks)
    levels = np.linspace(1, 0, height)[:, None].repeat(strip_w, axis=1)
    strip = (matplotlib.colormaps[cmap](levels)[..., :3] * 255).astype(np.uint8)
    bar = Image.new("RGB", (strip_w + 6 + text_w, height), "white")
    bar.paste(Image.fromarray(strip), (0, 0))
    draw = ImageDraw.Draw(bar)
    draw.rectangle([0, 0, strip_w - 1, height - 1], outline=(120, 120, 120))
    for value, anchor in ticks:
        y = round((vmax - value) / (vmax - vmin) * (height - 1))
        draw.line([strip_w, y, strip_w + 3, y], fill="black")
        draw.text((strip_w + 5, y), _tick(value), fill="black", font=label_font, anchor=anchor)
    return bar


def with_colour_bar(img: Image.Image, vmin: float, vmax: float, cmap: str) -> Image.Image:
    """A heat map with its :func:`colour_bar` to the right, as one image."""
    bar = colour_bar(vmin, vmax, cmap, img.height)
    both = Image.new("RGB", (img.width + 6 + bar.width, img.height), "white")
    both.paste(img, (0, 0))
    both.paste(bar, (img.width + 6, 0))
    return both


def sheet(rows: Rows, lines: Sequence[str] = (), columns: bool = False) -> Image.Image:
    """Rows of captioned panels, then lines of text, as one picture (14 px DejaVu Sans). A caption
    may hold several lines ("\\n"). With ``columns`` the k-th panels of every row line up in one
    column, as wide as its widest panel.

        sheet([[(map_img, "C1 map 0"), (kernel_img, "kernel 0")]], ["sum = 1.23"])
    """
    text, gap, line_h = font(14), 14, 22
    widths = [[max([img.width] + [int(text.getlength(part)) for part in caption.split("\n")])
               for img, caption in row] for row in rows]
    if columns:
        column_w = [max(row[k] for row in widths if k < len(row)) for k in range(max(map(len, widths)))]
        widths = [column_w[:len(row)] for row in widths]
    row_h = [max(img.height + line_h * (caption.count("\n") + 1) for img, caption in row) for row in rows]
    width = max([sum(row) + gap * (len(row) + 1) for row in widths] +
                [int(text.getlength(line)) + 2 * gap for line in lines] + [2 * gap])
    height = sum(row_h) + gap * (len(rows) + 1) + line_h * len(lines)
    picture = Image.new("RGB", (width, height), "white")
    draw, y = ImageDraw.Draw(picture), gap
    for row, row_w, h in zip(rows, widths, row_h):
        x = gap
        for (img, caption), w in zip(row, row_w):
            picture.paste(img, (x, y))
            for k, part in enumerate(caption.split("\n")):
                draw.text((x, y + img.height + 3 + k * line_h), part, fill="black", font=text)
            x += w + gap
        y += h + gap
    for line in lines:
        draw.text((gap, y), line, fill="black", font=text)
        y += line_h
    return picture


def png_bytes(img: Image.Image, compress_level: int = 6) -> bytes:
    """A PIL image as PNG bytes (``compress_level`` 1: several times faster, for live views redrawn often)."""
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=compress_level)
    return buf.getvalue()


class SavedPicture:
    """A widget that leaves a PNG of its state in the saved notebook, for readers without widgets.

    A subclass sets ``self.ui`` (its ipywidgets tree) and defines ``snapshot()`` (PNG bytes) and,
    optionally, ``summary()`` (one line of text). Displayed (as a cell's value, or ``show()``), it
    puts out the live ``ui`` and, below it, the picture: a widget view naming no model, which
    JupyterLab hides, with the PNG that renderers without widgets show. ``refresh_picture()``
    redraws that picture in place without touching the live widget.
    """

    ui: "widgets.DOMWidget"
    _picture_id: "str | None" = None  # the display id of the picture's output, once shown

    def snapshot(self) -> bytes:
        """A PNG of what the widget shows now."""
        raise NotImplementedError

    def summary(self) -> str:
        """One line on the widget's state (the picture's text for plain-text readers)."""
        return type(self).__name__

    def picture_bundle(self) -> dict:
        """The picture's output: a hidden widget view, the PNG and the summary."""
        return {"application/vnd.jupyter.widget-view+json": {"version_major": 2, "version_minor": 0,
                                                             "model_id": ""},
                "image/png": base64.b64encode(self.snapshot()).decode("ascii"),
                "text/plain": self.summary()}

    def show(self) -> None:
        """Display the live widget and, below it, its picture for the saved notebook."""
        from IPython.display import display

        live = self.ui._repr_mimebundle_()
        live["text/plain"] = f"{self.summary()} (a live widget: run the notebook to use it)"
        display(live, raw=True)
        handle = display(self.picture_bundle(), raw=True, display_id=True)
        self._picture_id = handle.display_id if handle is not None else None

    def refresh_picture(self) -> None:
        """Redraw the picture in the output where the widget was shown (nothing if not shown)."""
        if self._picture_id is not None:
            from IPython.display import update_display

            update_display(self.picture_bundle(), raw=True, display_id=self._picture_id)

    def _ipython_display_(self) -> None:
        self.show()

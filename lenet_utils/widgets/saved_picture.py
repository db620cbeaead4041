"""The picture a widget leaves in the saved notebook, and what it is drawn with.

    class Clock(SavedPicture):        # a widget: its ipywidgets tree in ``ui``, a PNG of its state
        def snapshot(self) -> bytes: ...
    Clock()                           # in Jupyter: the live widget, and its picture for readers

:class:`SavedPicture` displays a widget's ``ui`` and, as a second output, a PNG of its state that
JupyterLab hides (the live widget is there) and GitHub, nbviewer and PDFs show; ``refresh_picture()``
redraws it in place. The drawing helpers (heat maps of tensors, captioned panels on one sheet) serve
the widgets' live views as well.
"""

import base64
import html
import io

import ipywidgets as widgets
import matplotlib
import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

__all__ = ["SavedPicture", "Rows", "heat_image", "png_bytes", "img_tag", "picture_sheet"]

Rows = list[list[tuple[Image.Image, str]]]  # rows of (picture, caption) panels


def heat_image(values: torch.Tensor, vmax: float, cmap: str = "RdBu_r", vmin: float | None = None,
               scale: int = 8, box: tuple | None = None, blank: torch.Tensor | None = None,
               numbers: bool = False) -> Image.Image:
    """A 2-D tensor as a PIL image, ``scale`` pixels a value: colours from ``cmap`` on [vmin, vmax] (vmin = -vmax unless
    given), ``blank`` pixels light grey, a red ``box`` (row, col, height, width), each value
    printed in its cell when ``numbers``."""
    lo = -vmax if vmin is None else vmin
    v = ((values.detach().float().cpu() - lo) / max(vmax - lo, 1e-12)).clamp(0, 1).numpy()
    rgb = (matplotlib.colormaps[cmap](v)[..., :3] * 255).astype(np.uint8)
    if blank is not None:
        rgb[blank.numpy()] = 236
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


def png_bytes(img: Image.Image) -> bytes:
    """A PIL image as PNG bytes."""
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def img_tag(img: Image.Image, caption: str) -> str:
    """A captioned ``<figure>`` with the image inline (for a widget's HTML view)."""
    data = base64.b64encode(png_bytes(img)).decode("ascii")
    return (f"<figure style='margin:0 8px;text-align:center'><img src='data:image/png;base64,{data}'>"
            f"<figcaption style='font-size:12px'>{html.escape(caption)}</figcaption></figure>")


def picture_sheet(rows: Rows, lines: list[str]) -> bytes:
    """Rows of captioned panels, then text lines: the widget as one PNG."""
    font = ImageFont.load_default(size=14)
    gap, line_h = 14, 22
    width = lambda img, caption: max(img.width, int(font.getlength(caption)))  # noqa: E731
    row_w = [sum(width(*p) + gap for p in row) + gap for row in rows]
    row_h = [max(img.height for img, _ in row) + line_h + gap for row in rows]
    text_w = max((int(font.getlength(line)) + 2 * gap for line in lines), default=0)
    sheet = Image.new("RGB", (max(row_w + [text_w]), sum(row_h) + line_h * len(lines) + 2 * gap), "white")
    draw, y = ImageDraw.Draw(sheet), gap
    for row, h in zip(rows, row_h):
        x = gap
        for img, caption in row:
            sheet.paste(img, (x, y))
            draw.text((x, y + img.height + 3), caption, fill="black", font=font)
            x += width(img, caption) + gap
        y += h
    for line in lines:
        draw.text((gap, y), line, fill="black", font=font)
        y += line_h
    return png_bytes(sheet)


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

"""Pictures for widgets' saved state: heat maps of tensors, and captioned panels on one PNG sheet."""

import base64
import html
import io

import matplotlib
import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

__all__ = ["Rows", "heat_image", "png_bytes", "img_tag", "picture_sheet"]

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

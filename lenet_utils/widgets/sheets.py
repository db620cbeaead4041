"""The white sheets that draw-a-digit's pictures are drawn on with PIL, and the fonts and colour
their text is written in.

    sheet, pen = new_sheet(40, 250)
    pen.text((0, 2), "Probability of each digit", fill=TEXT_RGB, font=font(TEXT_FONT))
"""

from functools import cache

from PIL import Image, ImageDraw, ImageFont

__all__ = ["TEXT_RGB", "TITLE_FONT", "TEXT_FONT", "LABEL_FONT", "font", "new_sheet"]

TEXT_RGB = (40, 40, 40)
TITLE_FONT, TEXT_FONT, LABEL_FONT = 14, 13, 12     # font sizes (px) of titles, text, numbers


@cache
def font(size: int) -> ImageFont.FreeTypeFont:
    """PIL's default font at ``size`` pixels (made once per size)."""
    return ImageFont.load_default(size=size)


def new_sheet(height: int, width: int) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    """A white RGB picture of ``height`` x ``width`` pixels and a pen that draws on it."""
    sheet = Image.new("RGB", (width, height), "white")
    return sheet, ImageDraw.Draw(sheet)

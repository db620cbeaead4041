"""An interactive shape calculator for one convolution or pooling layer, with a picture of the layer.

    from lenet_utils.widgets.calculator import ShapeCalculator
    ShapeCalculator(W=28, F=5, P=2)          # sliders, the result, and the layer drawn to scale

Move a slider and the panel recomputes ``O = (W - F + 2P) / S + 1`` and the parameter count, and
redraws the layer: the W x W input inside its padding ring, the F x F window at its first position
and one stride further, and the O x O output. For an impossible setting it says in red which slider
to move; the checks are those of ``lenet_utils.shapes`` (``conv_out``, ``pool_out``), told in terms
of the sliders instead of Python arguments. A saved notebook shows the settings in one line of
text and a PNG of the picture with the result below it (each said once).
"""

import html

import ipywidgets as widgets
from PIL import Image, ImageDraw

from ..checks import choice, whole_number
from ..parameters import conv_params
from ..shapes import ShapeError, conv_out, pool_out
from .saved_picture import SavedPicture, font, png_bytes, sheet

__all__ = ["ShapeCalculator", "layer_picture"]

PAD_RGB, INPUT_RGB, OUTPUT_RGB = (253, 208, 162), (214, 230, 246), (214, 239, 206)
FIRST_RGB, SECOND_RGB, LINE_RGB = (220, 0, 0), (30, 90, 220), (170, 170, 170)
TEXT_RGB = (26, 26, 26)  # the picture's text, on white
GRID_PX = 260  # the padded input's side (or the window's, if larger) is drawn at most this many px


def layer_picture(W: int, F: int, P: int, S: int, O: int | None, in_channels: int,
                  out_channels: int) -> Image.Image:
    """The layer to scale, one square a value: the W x W input (blue) in its ring of P padding
    (orange), the F x F window at its first position (red) and one stride S further (blue), and
    the O x O output (green; ``None``: no output) with the two cells those windows make.

        layer_picture(28, 5, 2, 1, 28, 1, 6)     # d2l's first convolution
    """
    n = W + 2 * P
    cell = max(3, min(20, GRID_PX // max(n, F)))
    text, big, margin, arrow_w = font(14), font(28), 16, 90
    side = max(n, F) * cell
    second = S + F <= n  # the window has a second position across the padded input
    if second:
        then = f"one stride (S = {S}) to the right" + (" → output cell (0, 1)" if O else "")
    elif F <= n:
        then = f"no second position: a stride of S = {S} takes the window past the edge"
    else:
        then = f"no position at all: the {F}×{F} window is larger than the padded input"
    # a square in the legend only for what is drawn: the red window always, the blue one when it fits
    legend = [(FIRST_RGB, f"the {F}×{F} window at its first position" + (" → output cell (0, 0)" if O else "")),
              (SECOND_RGB if second else None, then)]
    in_caption = [f"input {in_channels}×{W}×{W}",
                  f"padding P = {P} on each side (orange)" if P else "no padding (P = 0)"]
    out_caption = ([f"output {out_channels}×{O}×{O}"] if O else
                   ["no output: this setting", "is impossible (the text says why)"])
    x0, y0 = margin, margin + 22
    ox = x0 + side + arrow_w
    width = max(ox + max((O or 0) * cell, *(int(text.getlength(t)) for t in out_caption)) + margin,
                x0 + max(int(text.getlength(t)) for _, t in legend) + 22 + margin)
    height = y0 + side + 8 + 22 * len(in_caption) + 10 + 24 * len(legend) + margin
    picture = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(picture)

    def grid(x: int, y: int, count: int) -> None:
        if cell >= 6:
            for k in range(count + 1):
                draw.line([x + k * cell, y, x + k * cell, y + count * cell], fill=LINE_RGB)
                draw.line([x, y + k * cell, x + count * cell, y + k * cell], fill=LINE_RGB)

    draw.rectangle([x0, y0, x0 + n * cell - 1, y0 + n * cell - 1], fill=PAD_RGB)
    draw.rectangle([x0 + P * cell, y0 + P * cell, x0 + (P + W) * cell - 1, y0 + (P + W) * cell - 1], fill=INPUT_RGB)
    grid(x0, y0, n)
    if second:  # drawn inside the red one's outline where they overlap
        inset = min(3, (F * cell - 1) // 2)
        draw.rectangle([x0 + S * cell + inset, y0 + inset, x0 + (S + F) * cell - 1 - inset, y0 + F * cell - 1 - inset],
                       outline=SECOND_RGB, width=3)
        middle = x0 + F * cell // 2
        draw.line([middle, y0 - 8, middle + S * cell, y0 - 8], fill=SECOND_RGB, width=2)
        draw.polygon([(middle + S * cell, y0 - 8), (middle + S * cell - 6, y0 - 12), (middle + S * cell - 6, y0 - 4)],
                     fill=SECOND_RGB)
        draw.text((middle + S * cell + 6, y0 - 8), f"S = {S}", fill=SECOND_RGB, font=text, anchor="lm")
    draw.rectangle([x0, y0, x0 + F * cell - 1, y0 + F * cell - 1], outline=FIRST_RGB, width=3)
    draw.text((x0 + side + arrow_w // 2, y0 + min(side, 120) // 2), "→", fill=TEXT_RGB, font=big, anchor="mm")
    if O:
        draw.rectangle([ox, y0, ox + O * cell - 1, y0 + O * cell - 1], fill=OUTPUT_RGB)
        draw.rectangle([ox, y0, ox + cell - 1, y0 + cell - 1], fill=FIRST_RGB)
        if second:
            draw.rectangle([ox + cell, y0, ox + 2 * cell - 1, y0 + cell - 1], fill=SECOND_RGB)
        grid(ox, y0, O)
    y = y0 + side + 8
    for k, line in enumerate(in_caption):
        draw.text((x0, y + 22 * k), line, fill=TEXT_RGB, font=text)
    for k, line in enumerate(out_caption):
        draw.text((ox, y + 22 * k), line, fill=TEXT_RGB if O else FIRST_RGB, font=text)
    y += 22 * len(in_caption) + 10
    for colour, line in legend:
        if colour is not None:
            draw.rectangle([x0, y + 3, x0 + 13, y + 16], outline=colour, width=3)
        draw.text((x0 + 22, y), line, fill=TEXT_RGB, font=text)
        y += 24
    return picture


def _advice(W: int, F: int, P: int, S: int, is_conv: bool, err: ShapeError) -> list[str]:
    """Why the setting is impossible and which slider to move (``shapes``' message speaks to code)."""
    span = W - F + 2 * P
    if F > W + 2 * P:
        return [f"the window F = {F} is larger than the padded input W + 2P = {W + 2 * P}: it fits nowhere.",
                "Make F smaller, or W or P larger."]
    if span % S:
        return [f"W − F + 2P = {span} is not a multiple of S = {S}: change P or S.",
                f"(The last window would hang over the edge; PyTorch would leave it out and give {span // S + 1}.)"]
    if not is_conv and 2 * P > F:
        return [f"pooling padding P = {P} is more than half the window F = {F}: PyTorch refuses it.",
                f"Make P at most {F // 2}, or F larger."]
    return [str(err)]


def _card(colour: str, body: str) -> str:
    """The result's HTML: ``body`` in ``colour`` on a white card, whatever JupyterLab's theme."""
    return (f"<div class='lenet-calc-result' style='background:#ffffff;color:{colour};padding:6px 10px;"
            f"border-radius:4px;font-size:14px;line-height:22px'>{body}</div>")


class ShapeCalculator(SavedPicture):
    """Sliders for W, F, P, S and the channel counts of a conv or pooling layer, with the result
    and a picture of the layer (:func:`layer_picture`); displayed as a cell's value it shows the
    live widget, and a saved notebook shows its PNG.

    Read it from Python too: ``calc.W.value = 32`` updates ``calc.result.value`` (HTML), the
    attributes ``valid``, ``output_shape`` (C, O, O) and ``num_params``, and ``calc.picture``
    (an Image at the PNG's own size). For pooling the output-channel slider follows the input's;
    ``reset()`` (the **reset** button) puts every control back to its starting value. A starting
    value off its slider (``W=100``, ``F=5.7``) is refused with the slider's range, never clamped.

        calc = ShapeCalculator(W=28, F=5, P=2, S=1, in_channels=1, out_channels=6)
        calc.output_shape        # (6, 28, 28)
    """

    def __init__(self, W: int = 28, F: int = 5, P: int = 0, S: int = 1, in_channels: int = 1,
                 out_channels: int = 6, kind: str = "conv"):
        style, layout = {"description_width": "150px"}, widgets.Layout(width="460px")

        def slider(name, value, lo, hi, description):  # a value off the slider is refused, not clamped
            return widgets.IntSlider(value=whole_number(name, value, lo, hi), min=lo, max=hi,
                                     description=description, style=style, layout=layout,
                                     continuous_update=True)

        self.kind = widgets.ToggleButtons(options=[("convolution", "conv"), ("pooling", "pool")],
                                          value=choice("kind", kind, ("conv", "pool")), description="layer",
                                          style=style)
        self.W = slider("W", W, 1, 64, "W: input size")
        self.F = slider("F", F, 1, 11, "F: window size")
        self.P = slider("P", P, 0, 6, "P: padding")
        self.S = slider("S", S, 1, 6, "S: stride")
        self.in_channels = slider("in_channels", in_channels, 1, 64, "input channels")
        self.out_channels = slider("out_channels", out_channels, 1, 128, "output channels")
        # the result on a white card (as the picture), in dark red or green: readable in both themes
        self.result = widgets.HTML(layout=widgets.Layout(flex="1 1 300px", min_width="300px", max_width="560px",
                                                         margin="0 0 8px 0"))
        self.picture = widgets.Image(format="png", layout=widgets.Layout(margin="4px 0 0 0"))
        self.valid, self.output_shape, self.num_params = False, None, None
        self._lines: list[str] = []
        self._conv_out_channels = out_channels  # restored when pooling turns back into a convolution
        self._following = False  # True while the output-channel slider follows the input's
        controls = [self.kind, self.W, self.F, self.P, self.S, self.in_channels, self.out_channels]
        for control in controls[1:]:
            control.observe(self._update, names="value")
        self.kind.observe(self._kind_changed, names="value")
        self._start = {"kind": kind, "W": W, "F": F, "P": P, "S": S, "in_channels": in_channels,
                       "out_channels": out_channels}
        self.reset_button = widgets.Button(description="reset", icon="undo",
                                           tooltip="Back to the values this calculator started with")
        self.reset_button.on_click(lambda _: self.reset())
        # the controls never shrink (their values would hide behind a scrollbar): the result wraps below
        box = widgets.VBox(controls + [self.reset_button],
                           layout=widgets.Layout(flex="0 0 auto", margin="0 16px 8px 0"))
        self.ui = widgets.VBox([widgets.HBox([box, self.result], layout=widgets.Layout(flex_flow="row wrap",
                                                                                       width="100%")),
                                self.picture], layout=widgets.Layout(width="100%"))
        self.ui.add_class("lenet-calc")
        self._update()

    def reset(self) -> None:
        """Put every control back to the value the calculator started with."""
        self.kind.value = self._start["kind"]
        for name in ("W", "F", "P", "S", "in_channels", "out_channels"):
            getattr(self, name).value = self._start[name]
        self._conv_out_channels = self._start["out_channels"]

    def _kind_changed(self, change: dict) -> None:
        if change["new"] == "pool":
            self._conv_out_channels = self.out_channels.value
        else:
            self._following = True
            try:
                self.out_channels.value = self._conv_out_channels
            finally:
                self._following = False
        self._update()

    def _update(self, change: dict | None = None) -> None:
        if self._following:
            return
        is_conv = self.kind.value == "conv"
        self.out_channels.disabled = not is_conv  # pooling keeps the channels: the slider shows them
        if not is_conv and self.out_channels.value != self.in_channels.value:
            self._following = True
            try:
                self.out_channels.value = self.in_channels.value
            finally:
                self._following = False
        W, F, P, S = self.W.value, self.F.value, self.P.value, self.S.value
        c_in = self.in_channels.value
        c_out = self.out_channels.value if is_conv else c_in
        formula = f"O = ({W} − {F} + 2·{P}) / {S} + 1"
        try:
            size = conv_out(W, F, P, S) if is_conv else pool_out(W, F, P, S)
        except ShapeError as err:
            self.valid, self.output_shape, self.num_params = False, None, None
            self._lines = [f"invalid: {formula} = {(W - F + 2 * P) / S + 1:g}", *_advice(W, F, P, S, is_conv, err)]
            self.result.value = _card("#b00020", "<br>".join(html.escape(line) for line in self._lines))
            self._draw(None)
            return
        self.valid, self.output_shape = True, (c_out, size, size)
        if is_conv:
            self.num_params = conv_params(c_in, c_out, F)
            params = f"{self.num_params:,} = {c_out}×{c_in}×{F}×{F} weights + {c_out} biases"
        else:
            self.num_params = 0
            params = "0 (pooling has nothing to learn)"
        self._lines = [f"{formula} = {size}",
                       f"input {c_in}×{W}×{W} → output {c_out}×{size}×{size} ({c_out * size * size:,} values)",
                       f"parameters: {params}"]
        self.result.value = _card("#0b6e0b", f"{html.escape(formula)} = <b>{size}</b><br>"
                                  + "<br>".join(html.escape(line) for line in self._lines[1:]))
        self._draw(size)

    def _draw(self, size: int | None) -> None:
        picture = self._layer(size)
        self.picture.value = png_bytes(picture)
        self.picture.layout.width, self.picture.layout.height = f"{picture.width}px", f"{picture.height}px"

    def _layer(self, size: int | None) -> Image.Image:
        return layer_picture(self.W.value, self.F.value, self.P.value, self.S.value, size,
                             self.in_channels.value, self.out_channels.value)

    def _settings(self) -> str:
        """The sliders' values in one line, e.g. ``convolution: W = 28, F = 5, P = 2, S = 1, channels 1 → 6``."""
        return (f"{'convolution' if self.kind.value == 'conv' else 'pooling'}: W = {self.W.value}, "
                f"F = {self.F.value}, P = {self.P.value}, S = {self.S.value}, "
                f"channels {self.in_channels.value} → {self.out_channels.value}")

    def snapshot(self) -> bytes:
        """A PNG of the layer's picture (its captions give every setting) above the result's text."""
        size = self.output_shape[1] if self.valid else None
        return png_bytes(sheet([[(self._layer(size), "")]], self._lines))

    def summary(self) -> str:
        """The settings in one line: the text a saved notebook shows above the picture, which
        shows the result (so nothing is printed twice)."""
        return self._settings()

"""An interactive shape calculator for one convolution or pooling layer (ipywidgets).

    from lenet_utils.widgets.calculator import ShapeCalculator
    ShapeCalculator(W=28, F=5, P=2)          # shows sliders and the live result in Jupyter

Move a slider and the panel recomputes ``O = (W - F + 2P) / S + 1``, the parameter count and, for an
impossible setting, says why (in red) using the same checks as ``lenet_utils.shapes``.
"""

import html

import ipywidgets as widgets

from ..shapes import ShapeError, conv_out, conv_params, pool_out

__all__ = ["ShapeCalculator"]


class ShapeCalculator(widgets.VBox):
    """Sliders for W, F, P, S and the channel counts of a conv or pooling layer, with the result.

    Read it from Python too: ``calc.W.value = 32`` updates ``calc.result.value`` (HTML) and the
    attributes ``valid``, ``output_shape`` (C, O, O) and ``num_params``.
    """

    def __init__(self, W: int = 28, F: int = 5, P: int = 0, S: int = 1, in_channels: int = 1,
                 out_channels: int = 6, kind: str = "conv"):
        style, layout = {"description_width": "150px"}, widgets.Layout(width="460px")

        def slider(value, lo, hi, description):
            return widgets.IntSlider(value=value, min=lo, max=hi, description=description,
                                     style=style, layout=layout, continuous_update=True)

        self.kind = widgets.ToggleButtons(options=[("convolution", "conv"), ("pooling", "pool")],
                                          value=kind, description="layer", style=style)
        self.W = slider(W, 1, 64, "W: input size")
        self.F = slider(F, 1, 11, "F: window size")
        self.P = slider(P, 0, 6, "P: padding")
        self.S = slider(S, 1, 6, "S: stride")
        self.in_channels = slider(in_channels, 1, 64, "input channels")
        self.out_channels = slider(out_channels, 1, 128, "output channels")
        self.result = widgets.HTML()
        self.valid, self.output_shape, self.num_params = False, None, None
        controls = [self.kind, self.W, self.F, self.P, self.S, self.in_channels, self.out_channels]
        for control in controls:
            control.observe(self._update, names="value")
        super().__init__(controls + [self.result])
        self._update()

    def _update(self, change=None):
        is_conv = self.kind.value == "conv"
        self.out_channels.disabled = not is_conv  # pooling keeps the channels
        W, F, P, S = self.W.value, self.F.value, self.P.value, self.S.value
        c_in = self.in_channels.value
        c_out = self.out_channels.value if is_conv else c_in
        formula = f"O = ({W} − {F} + 2·{P}) / {S} + 1"
        try:
            size = conv_out(W, F, P, S) if is_conv else pool_out(W, F, P, S)
        except ShapeError as err:
            self.valid, self.output_shape, self.num_params = False, None, None
            self.result.value = (f"<div style='color:#b00020'><b>invalid:</b> {html.escape(formula)}<br>"
                                 f"{html.escape(str(err))}</div>")
            return
        self.valid, self.output_shape = True, (c_out, size, size)
        if is_conv:
            self.num_params = conv_params(c_in, c_out, F)
            params = f"{self.num_params:,} = {c_out}×{c_in}×{F}×{F} weights + {c_out} biases"
        else:
            self.num_params = 0
            params = "0 (pooling has nothing to learn)"
        self.result.value = (f"<div style='color:#0b6e0b'>{html.escape(formula)} = <b>{size}</b><br>"
                             f"input {c_in}×{W}×{W} → output <b>{c_out}×{size}×{size}</b> "
                             f"({c_out * size * size:,} values)<br>parameters: {params}</div>")

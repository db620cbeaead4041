"""Draw the LeNet-5 architecture figure into images/lenet5_architecture.png.

The sizes and labels come from a real forward pass of ``lenet_utils.models.LeNet5`` as in the paper
(Gaussian connections from F6 to the output: ``output="rbf"``), via
``lenet_utils.pictures.architecture_figure``, so the picture cannot drift from the code. The input
box holds a digit of the bundled MNIST test sample, padded to 32x32 as LeNet-5 reads it.

    python3 scripts/draw_architecture.py
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from lenet_utils.pictures import architecture_figure  # noqa: E402
from lenet_utils.lenet import LeNet5  # noqa: E402
from lenet_utils.widgets.stepper import sample_digit  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "images" / "lenet5_architecture.png"


def main() -> None:
    fig = architecture_figure(LeNet5(output="rbf"), (1, 1, 32, 32), input_image=sample_digit()[0],
                              title="LeNet-5 (LeCun et al., 1998), drawn from lenet_utils.models.LeNet5(output=\"rbf\")")
    OUT.parent.mkdir(exist_ok=True)
    fig.savefig(OUT, dpi=100, bbox_inches="tight", metadata={"Software": None})
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()

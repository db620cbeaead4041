"""Plots: the live Animator (one output updated in place, or none without a kernel) and the
curves and the other pictures (lenet_utils.pictures: images, a network's maps, kernels, connection
table and architecture) the chapters draw."""

import os
import subprocess
import sys
import warnings

import matplotlib.pyplot as plt
import matplotlib.text
import nbformat
import pytest
import torch
from nbclient import NotebookClient

from lenet_utils import pictures, plot
from lenet_utils.data import D2L_WORKERS, SAMPLE_DIR, textbook_loaders
from lenet_utils.plot import Animator
from lenet_utils.history import History
from lenet_utils.features import capture_feature_maps
from lenet_utils.lenet import LeNet5, c3_connection_mask
from lenet_utils.models import make_lenet


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


class FakeKernelDisplay:
    """Records what the Animator sends to IPython's display machinery."""

    def __init__(self):
        self.displayed, self.updates = [], 0

    def __call__(self, obj, display_id=None):
        assert display_id is True
        self.displayed.append(obj)
        display = self

        class Handle:
            def update(self, obj):
                display.updates += 1

        return Handle()


def test_animator_in_a_kernel_makes_one_output_and_updates_it(monkeypatch):
    fake = FakeKernelDisplay()
    monkeypatch.setattr(plot, "_kernel_display", lambda: fake)
    animator = Animator(xlabel="epoch", legend=["loss", "acc"], min_interval=0)
    assert animator.live
    for i in range(10):
        animator.add(i, (1 / (i + 1), i / 10), status=f"step {i + 1}/10")
    animator.finish(status="done")
    assert len(fake.displayed) == 1
    assert fake.updates == 10  # 9 more points and the final status, all into the same output
    assert animator.axes.get_title(loc="left") == "done"


def test_animator_throttles_redraws(monkeypatch):
    fake = FakeKernelDisplay()
    monkeypatch.setattr(plot, "_kernel_display", lambda: fake)
    animator = Animator(legend=["a"], min_interval=3600)
    for i in range(50):
        animator.add(i, i)
    assert len(fake.displayed) == 1 and fake.updates == 0
    animator.finish()  # the last state is always drawn
    assert fake.updates == 1 and len(animator.axes.lines[0].get_xdata()) == 50


def test_animator_without_a_kernel_draws_at_the_end():
    animator = Animator(xlabel="epoch", legend=["train", "test"])
    assert not animator.live  # pytest is no Jupyter kernel
    for i in range(5):
        animator.add(i, (i, None if i % 2 else 2 * i))
    assert not animator.axes.lines  # nothing drawn while training
    animator.finish()
    xs = [list(line.get_xdata()) for line in animator.axes.lines]
    assert xs == [[0, 1, 2, 3, 4], [0, 2, 4]]
    with pytest.raises(ValueError, match="draws 2 curves"):
        animator.add(5, (1, 2, 3))


def test_animator_works_without_ipython(monkeypatch):
    monkeypatch.setitem(sys.modules, "IPython", None)
    monkeypatch.setitem(sys.modules, "IPython.display", None)
    animator = Animator(legend=["loss"])
    assert not animator.live
    animator.add(1, 0.5)
    animator.finish(status="done")
    assert len(animator.axes.lines) == 1


def test_package_modules_do_not_import_ipython():
    code = "import sys, lenet_utils.plot, lenet_utils.train; print('IPython' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_animator_under_nbclient_leaves_a_single_output():
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell(
        "from lenet_utils.plot import Animator\n"
        "animator = Animator(xlabel='epoch', legend=['loss', 'acc'], min_interval=0)\n"
        "for i in range(10):\n"
        "    animator.add(i, (1 / (i + 1), i / 10), status=f'batch {i + 1}/10')\n"
        "animator.finish(status='done')\n"
        "print(animator.renders)"))
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    outputs = nb.cells[0].outputs
    images = [o for o in outputs if o.output_type in ("display_data", "update_display_data")]
    assert len(images) == 1 and "image/png" in images[0].data
    assert [o.text.strip() for o in outputs if o.output_type == "stream"] == ["11"]


def test_show_images_takes_channel_first_tensors_and_titles():
    imgs = torch.rand(5, 1, 8, 8)
    axes = pictures.show_images(imgs, 2, 3, titles=list("abcde"))
    assert len(axes) == 6
    assert [ax.get_title() for ax in axes[:5]] == list("abcde")
    assert axes[0].images[0].get_array().shape == (8, 8) and not axes[5].images


def test_confusion_matrix_counts():
    y_true = torch.tensor([0, 0, 1, 1, 2, 2, 2])
    y_pred = torch.tensor([0, 1, 1, 1, 2, 0, 2])
    cm = pictures.confusion_matrix(y_true, y_pred)
    assert cm.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 2]]
    assert pictures.confusion_matrix(y_true, y_pred, num_classes=4).shape == (4, 4)
    ax = pictures.plot_confusion_matrix(y_true, y_pred, class_names=["a", "b", "c"])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]
    with pytest.raises(ValueError, match="must match"):
        pictures.confusion_matrix(y_true, y_pred[:3])


def test_misclassified_gallery_shows_only_mistakes(capsys):
    X = torch.rand(6, 1, 4, 4)
    y_true = torch.tensor([0, 1, 2, 0, 1, 2])
    y_pred = torch.tensor([0, 2, 2, 1, 1, 2])
    axes = pictures.show_misclassified(X, y_true, y_pred, class_names=["cat", "dog", "owl"], num_cols=4)
    titles = [ax.get_title() for ax in axes if ax.get_title()]
    assert titles == ["owl\n(true: dog)", "dog\n(true: cat)"]
    assert pictures.show_misclassified(X, y_true, y_true) is None
    assert "No misclassified" in capsys.readouterr().out


def test_plot_history_compares_runs():
    a = History(label="sigmoid", train_loss=[2.3, 1.0], train_acc=[0.1, 0.6], test_acc=[0.1, 0.6])
    b = History(label="relu", train_loss=[0.9, 0.5, 0.4], train_acc=[0.7, 0.8, 0.85], test_acc=[0.7, 0.8, 0.84])
    ax_loss, ax_acc = plot.plot_history([a, b])
    assert [line.get_label() for line in ax_loss.lines] == ["sigmoid", "relu"]
    assert len(ax_acc.lines) == 4 and list(ax_acc.lines[2].get_ydata()) == [0.7, 0.8, 0.84]
    ax_loss, _ = plot.plot_history({"first": a})
    assert ax_loss.lines[0].get_label() == "first"
    with pytest.raises(ValueError, match="at least one"):
        plot.plot_history([])


def test_plot_history_marks_a_diverged_run_where_it_stopped():
    from lenet_utils.history import Point

    h = History(label="too fast", train_loss=[2.0], train_acc=[0.3], test_acc=[0.35], status="diverged",
                points=[Point(0.5, 100, 2.1, 0.2), Point(1.0, 200, 2.0, 0.3), Point(1.4, 280, 950.0, 0.1)])
    ax_loss, _ = plot.plot_history(h)
    crosses = [line for line in ax_loss.lines if line.get_marker() == "x"]
    assert len(crosses) == 1 and list(crosses[0].get_xdata()) == [1.4]
    assert list(crosses[0].get_ydata()) == [950.0]


def test_a_run_is_named_by_the_settings_that_tell_the_runs_drawn_apart():
    runs = [{"lr": 0.1, "pool": "max", "seed": 0}, {"lr": 0.3, "pool": "max", "seed": 1}]
    assert plot.run_label(runs[0], runs) == "lr=0.1, seed=0"
    assert plot.run_label(runs[1], runs, keys=["pool", "seed"]) == "seed=1"
    assert plot.run_label(runs[0], runs[:1]) == "lr=0.1"  # nothing differs: the default
    assert plot.run_label(runs[0], runs[:1], keys=["pool"], default=("pool", "seed"),
                          word=lambda name, value: f"{value} {name}") == "max pool, 0 seed"


def test_draw_run_marks_a_diverged_run_in_its_colour_unless_told():
    _, ax = plt.subplots()
    line = plot.draw_run(ax, [1, 2], [0.5, 0.7], "lr=30", {"marker": "o"}, diverged=(2.5, 0.7))
    plot.draw_run(ax, [1], [0.2], "lr=50", {"color": "C2"}, diverged=(1.5, 0.2), mark={"marker": "X", "color": "red"})
    plot.draw_run(ax, [1, 2], [0.4, 0.6], "lr=0.1", {})
    marks = [m for m in ax.get_lines() if m.get_label().startswith("_")]
    assert [(m.get_marker(), m.get_color(), list(m.get_xdata())) for m in marks] == \
        [("x", line.get_color(), [2.5]), ("X", "red", [1.5])]
    assert [m.get_label() for m in ax.get_lines() if not m.get_label().startswith("_")] == ["lr=30", "lr=50", "lr=0.1"]
    plt.close("all")


def test_curve_plots_live_in_plot_and_pictures_are_separate():
    assert {"plot_history", "plot_runs", "plot_best_worst", "plot_ladder", "draw_runs", "run_label"} <= set(plot.__all__)
    assert not {"show_images", "plot_heatmap", "confusion_matrix"} & set(plot.__all__)
    assert {"show_images", "plot_heatmap", "confusion_matrix", "show_misclassified", "show_feature_maps",
            "show_kernels", "show_connection_table", "architecture_figure"} <= set(pictures.__all__)


def test_animator_one_epoch_run_shows_its_single_test_point_and_labels_its_axes():
    """Chapter 4's d2l loop with one epoch: xlim=[1, 1], five training points and one test point."""
    animator = Animator(xlabel="epoch", xlim=[1, 1], legend=["train loss", "train acc", "test acc"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns about identical xlims
        for i in range(1, 6):
            animator.add(i / 5, (2.3 - 0.3 * i, 0.1 + 0.1 * i, None))
        animator.add(1, (None, None, 0.62))
        animator.finish()
        animator.fig.canvas.draw()
    ax = animator.axes
    test_line = ax.lines[2]
    assert list(test_line.get_xdata()) == [1.0] and test_line.get_marker() not in (None, "None", "")
    assert ax.get_ylabel() == "loss / acc" and ax.get_xlabel() == "epoch"
    low, high = ax.get_xlim()
    assert low < 0.2 and high > 1.0, "the limits span every point"
    box = ax.get_window_extent()
    for line in ax.lines:
        assert line.get_marker() not in (None, "None", ""), f"{line.get_label()} has no markers"
        radius = line.get_markersize() / 2 * animator.fig.dpi / 72
        for x, y in ax.transData.transform(line.get_xydata()):
            assert box.x0 + radius <= x <= box.x1 - radius and box.y0 + radius <= y <= box.y1 - radius
    for text in animator.fig.findobj(matplotlib.text.Text):
        if text.get_visible() and text.get_text():
            assert text.get_fontsize() * 100 / 72 >= 11, f"{text.get_text()!r} is under 11 px at 100 dpi"


def test_animator_keeps_given_labels_formats_and_a_wider_xlim():
    animator = Animator(xlabel="step", ylabel="error", xlim=[0, 10], legend=["a"], fmts=("bs-",))
    for i in range(11):
        animator.add(i, float(i))
    animator.finish()
    ax = animator.axes
    assert ax.get_ylabel() == "error" and ax.lines[0].get_marker() == "s"
    low, high = ax.get_xlim()
    assert -1 < low < 0 and 10 < high < 11, "the given xlim, a little wider for the end markers"
    assert Animator().ylabel == "" and Animator(legend=["lr"]).ylabel == "lr"


def test_chapter_4_textbook_loaders_and_live_plot_print_no_warnings():
    """The default DataLoader workers never exceed what PyTorch suggests on this machine, so it
    prints no 'This DataLoader will create 4 worker processes' warning (checked as an error)."""
    suggested = torch._utils.cpu_count() if hasattr(torch._utils, "cpu_count") else len(os.sched_getaffinity(0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        train_dl, test_dl = textbook_loaders("fashion-mnist", 256, root=SAMPLE_DIR, train_size=512, test_size=256,
                                             verbose=False)
        for loader in (train_dl, test_dl):
            next(iter(loader))  # PyTorch checks the workers against the cores here
    assert 1 <= train_dl.num_workers == test_dl.num_workers <= min(D2L_WORKERS, suggested)


def test_pictures_of_a_network_draw_the_right_things():
    net = LeNet5()
    fig = pictures.show_connection_table(c3_connection_mask())
    image = fig.axes[0].images[0].get_array()
    assert image.shape == (6, 16) and int(image.sum()) == 60

    fig = pictures.show_kernels(net.c3.full_weight(), mask=net.c3.mask)
    drawn = sum(len(ax.images) for ax in fig.axes)
    assert drawn == 60  # one picture per connected kernel, none for the 36 missing ones

    maps = capture_feature_maps(net, torch.rand(1, 1, 32, 32), layers=["c1_act", "c3_act", "f6_act"])
    fig = pictures.show_feature_maps(maps, max_channels=8)
    assert sum(len(ax.images) for ax in fig.axes) == 6 + 8 + 1

    fig = pictures.architecture_figure(net, (1, 1, 32, 32))
    texts = {t.get_text() for t in fig.axes[0].texts}
    assert {"INPUT", "C1", "S2", "C3", "S4", "C5", "F6", "OUTPUT", "6@28×28", "16@5×5", "84"} <= texts
    texts = {t.get_text() for t in pictures.architecture_figure(make_lenet(), (1, 1, 28, 28)).axes[0].texts}
    assert {"CONV1", "6@28×28", "POOL2", "16@5×5", "FC3"} <= texts


def test_architecture_figure_labels_each_arrow_on_one_line_and_draws_the_input():
    """Each connection's label sits right under its arrow, all at one height; the paper's F6 -> output
    is 'Gaussian connections'; an input image is drawn in the input box."""
    fig = pictures.architecture_figure(LeNet5(output="rbf"), (1, 1, 32, 32), input_image=torch.rand(1, 32, 32))
    ax = fig.axes[0]
    arrows = sorted((a.xy[0], a.xyann[0]) for a in ax.texts if hasattr(a, "arrow_patch") and a.arrow_patch)
    labels = [t for t in ax.texts if "\n" in t.get_text()]
    assert [t.get_text() for t in labels][-1] == "Gaussian\nconnections"
    assert len(labels) == len(arrows) == 7
    assert len({t.get_position()[1] for t in labels}) == 1  # one line, not staggered
    for text, (head, tail) in zip(sorted(labels, key=lambda t: t.get_position()[0]), arrows):
        assert tail < text.get_position()[0] < head  # under its own arrow
    assert len(ax.images) == 1
    assert len(pictures.architecture_figure(LeNet5(), (1, 1, 32, 32)).axes[0].images) == 0


def test_the_training_curves_follow_the_batches_and_do_not_restart_at_an_epoch():
    from lenet_utils.history import Point

    # two epochs of 400 examples, a point every 200; each epoch's running mean restarts
    points = [Point(0.5, 200, 2.0, 0.2), Point(1.0, 400, 1.5, 0.3), Point(1.5, 600, 0.9, 0.6), Point(2.0, 800, 0.8, 0.7)]
    assert plot.interval_means(points) == pytest.approx([(200, 2.0), (400, 1.0), (600, 0.9), (800, 0.7)])
    assert plot.interval_means(points, "train_acc") == pytest.approx([(200, 0.2), (400, 0.4), (600, 0.6), (800, 0.8)])
    smooth = plot.moving_means(plot.interval_means(points), window=2)
    assert smooth == pytest.approx([2.0, 1.5, 0.95, 0.8])
    assert all(a >= b for a, b in zip(smooth, smooth[1:])), "no jump up where the second epoch starts"
    uneven = plot.moving_means([(100, 2.0), (200, 1.0), (400, 0.5)], window=2)
    assert uneven == pytest.approx([2.0, 1.5, (100 * 1.0 + 200 * 0.5) / 300]), "weighted by the examples of each interval"
    fig = plot.epoch_curves_figure(points, 2, window=2, batches=32)
    loss = [line for line in fig.axes[0].lines if line.get_label() == "train loss"][0]
    assert list(loss.get_ydata()) == pytest.approx(smooth)
    assert "mean of the last 32 batches" in fig.axes[0].get_xlabel()

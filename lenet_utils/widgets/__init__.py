"""The course's interactive pieces (ipywidgets 8), one module each; import the one you need,
e.g. ``from lenet_utils.widgets.panel import TrainingPanel``. Importing this package imports no
widget library, so plain scripts can use the rest of ``lenet_utils``."""

"""Test-wide settings: the suite (unit tests and notebooks) runs in quick mode unless told otherwise.

Run ``LENET_QUICK=0 pytest`` to execute the chapters in full mode.
"""

import os

os.environ.setdefault("LENET_QUICK", "1")

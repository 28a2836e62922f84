"""Where things are: the source tree, build outputs, results and cached models.

Library modules (evaluation, case study, model store) find their folders here, not in the book
runner (:mod:`hdogreg.book`) or the command line (:mod:`hdogreg.cli`). Each folder can be
moved with an environment variable.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["ROOT", "DEFAULT_DATA", "build_dir", "results_dir", "models_dir"]

#: Repository root of a source checkout: the folder holding ``_toc.yml`` (for an installed
#: wheel, the folder above the installed package - only the book runner needs a checkout).
ROOT = Path(__file__).resolve().parent.parent

#: The embedded default data set (``make data``).
DEFAULT_DATA = ROOT / "data" / "synth"


def build_dir():
    """Folder of build outputs (``$HDOGREG_BUILD`` or ``<root>/build``)."""
    return Path(os.environ.get("HDOGREG_BUILD", ROOT / "build"))


def results_dir():
    """Folder where notebooks write the numbers behind each figure/table.

    ``$HDOGREG_RESULTS`` if set, else ``<build>/results``.
    """
    return Path(os.environ.get("HDOGREG_RESULTS", build_dir() / "results"))


def models_dir():
    """Cache of trained models (``$HDOGREG_MODELS`` or ``<build>/models``)."""
    return Path(os.environ.get("HDOGREG_MODELS", build_dir() / "models"))

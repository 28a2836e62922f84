"""The paper's reported numbers (Tables 1-3, Figs. 5-6) and its parameter grids.

Reference values typed from the paper, not computed: the pages print them next to this run's
numbers (:mod:`hdogreg.evaluation.tables`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["PAPER_XIS", "PAPER_ALPHAS", "PAPER_O_THRS", "PAPER_XI", "PAPER_ALPHA", "PAPER_O_THR",
           "PAPER_FIG6_FP_RANGE", "PAPER_TABLE1", "PAPER_TABLE2", "PAPER_TABLE3",
           "PAPER_TABLE3_P_BOUND", "PAPER_FIG5", "PAPER_FIG6"]


#: The paper's grid of characteristic distances and decay rates (Tables 1-2) and of o_thr.
PAPER_XIS = (6, 8, 10, 12)
PAPER_ALPHAS = (-2, -1, 1e-4, 1, 2)
PAPER_O_THRS = (0.2, 0.3, 0.4, 0.5, 0.6)

#: The paper's choices from that grid: xi = 10, alpha = 1 (highest mean pAUC of Table 1) and
#: o_thr = 0.3 (its o_thr study).
PAPER_XI = 10
PAPER_ALPHA = 1
PAPER_O_THR = 0.3


def _paper_grid(rows):
    out = []
    for alpha, cells in zip(PAPER_ALPHAS, rows):
        for xi, (mean, pm) in zip(PAPER_XIS, cells):
            out.append({"xi": xi, "alpha": alpha, "mean": mean, "pm": pm})
    return pd.DataFrame(out)


#: Table 1 of the paper (INbreast validation set): FROC pAUC (0-1 FP/cm^2), "mean +- pm"
#: with pm the half-width of the bootstrap 95% CI. Reference values, not computed here.
PAPER_TABLE1 = _paper_grid([
    [(0.804, 0.048), (0.812, 0.049), (0.793, 0.040), (0.773, 0.045)],
    [(0.783, 0.058), (0.808, 0.047), (0.790, 0.047), (0.794, 0.045)],
    [(0.813, 0.054), (0.783, 0.056), (0.790, 0.044), (0.784, 0.048)],
    [(0.799, 0.054), (0.776, 0.056), (0.819, 0.046), (0.790, 0.053)],
    [(0.775, 0.056), (0.791, 0.055), (0.802, 0.049), (0.789, 0.053)],
])

#: Table 2 of the paper (INbreast validation set): ``"miou"`` = mean IoU per image (mean +- SD
#: over images), ``"iou_object"`` = IoU per object (mean +- SD over objects; the journal's
#: second block is mislabelled "IoU per image", its xi = 10, alpha = 1 cell is Table 3's IoU
#: per object). Reference values, not computed here.
PAPER_TABLE2 = {
    "miou": _paper_grid([
        [(0.593, 0.109), (0.590, 0.102), (0.576, 0.088), (0.560, 0.066)],
        [(0.590, 0.105), (0.579, 0.094), (0.572, 0.089), (0.566, 0.077)],
        [(0.596, 0.115), (0.584, 0.098), (0.586, 0.097), (0.584, 0.093)],
        [(0.619, 0.125), (0.601, 0.109), (0.583, 0.105), (0.587, 0.098)],
        [(0.610, 0.123), (0.588, 0.108), (0.592, 0.105), (0.580, 0.094)],
    ]),
    "iou_object": _paper_grid([
        [(0.645, 0.207), (0.645, 0.206), (0.648, 0.200), (0.626, 0.228)],
        [(0.647, 0.203), (0.648, 0.201), (0.643, 0.208), (0.640, 0.212)],
        [(0.648, 0.201), (0.644, 0.207), (0.641, 0.214), (0.644, 0.207)],
        [(0.649, 0.200), (0.646, 0.206), (0.647, 0.203), (0.643, 0.208)],
        [(0.650, 0.197), (0.648, 0.202), (0.649, 0.200), (0.643, 0.208)],
    ]),
}

#: Table 3 of the paper (INbreast): mean +- SD. Reference values, not computed here.
PAPER_TABLE3 = pd.DataFrame([
    ("ours", "val", "miou", 0.583, 0.105), ("ours", "test", "miou", 0.670, 0.121),
    ("ours", "val", "iou_object", 0.647, 0.203), ("ours", "test", "iou_object", 0.607, 0.250),
    ("ciecholewski", "val", "miou", 0.517, 0.037), ("ciecholewski", "test", "miou", 0.524, 0.034),
    ("ciecholewski", "val", "iou_object", 0.408, 0.286),
    ("ciecholewski", "test", "iou_object", 0.363, 0.278),
], columns=["method", "split", "metric", "mean", "sd"])

#: The paper gives the Wilcoxon p-values of Table 3 only as a bound: p < 0.01 for both metrics
#: on both splits.
PAPER_TABLE3_P_BOUND = 0.01

#: Fig. 5 / Results text of the paper (INbreast): FROC pAUC mean +- CI half-width and the TPR
#: at 0.4 FP/cm^2 (NaN where the paper gives none). Reference values, not computed here.
PAPER_FIG5 = pd.DataFrame([
    ("ours", "val", 0.819, 0.046, 0.852), ("ours", "test", 0.697, 0.078, 0.744),
    ("wang_yang", "val", 0.703, 0.057, np.nan), ("wang_yang", "test", 0.581, 0.072, 0.581),
], columns=["method", "split", "pauc_mean", "pauc_pm", "tpr_at_0.4"])
# The abstract's "0.581 at 0.4 FP/cm^2" for the comparison method equals its test pAUC in the
# text; it is kept as printed.

#: The FP range (per cm^2) over which the paper compares the two curves of Fig. 6.
PAPER_FIG6_FP_RANGE = (0.2, 0.6)

#: Fig. 6 of the paper (local test set): FROC pAUC of the INbreast-only and the fine-tuned model.
PAPER_FIG6 = pd.DataFrame([
    ("inbreast_only", 0.313, 0.109), ("fine_tuned", 0.420, 0.107),
], columns=["model", "pauc_mean", "pauc_pm"])

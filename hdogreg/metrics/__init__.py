"""Segmentation and detection metrics of the paper's "Evaluation Metrics" section.

All functions work on 2-D label images: the reference is ``Mammogram.mc_labels()`` (int32, one
label per annotation, point annotations are single pixels) and a prediction is an integer label
image (a boolean mask is split into 4-connected objects). For FROC analysis a prediction also
carries one score per object, with the convention of :func:`hdogreg.fusion.fuse`: object ``l``
is kept at threshold ``t`` iff ``scores[l - 1] >= t``. A threshold sweep is therefore only a
filtering of the candidates by score; nothing is re-segmented.

Summary of the definitions (each function's docstring has the details):

* :func:`iou_per_image` -- the paper's "mean IoU per image" (mean of the background-class and
  MC-class IoU) and the MC-class IoU on its own.
* :func:`iou_per_object` -- for every reference object of more than one pixel, the IoU with the
  predicted object that overlaps it most (paper footnote 2: point annotations are excluded).
* :func:`match_detections` -- one-to-one matching of predicted and reference objects under the
  paper's localisation rule (centroid distance <= 5 px or IoU >= 0.3).
* :func:`froc_counts`, :func:`froc_curve`, :func:`partial_auc`, :func:`bootstrap_froc`
  (draws: :func:`bootstrap_weights`),
  :func:`tpr_at` -- FROC analysis against false positives per cm^2 of breast area
  (:func:`breast_area_cm2`).
* :func:`choose_threshold` -- operating point closest to (FP = 0, TPR = 1), on validation only.
* :func:`wilcoxon_paired` -- paired Wilcoxon signed-rank test between two methods.

The public names are importable from ``hdogreg.metrics``; they live in
:mod:`~hdogreg.metrics.segmentation` (IoU, Wilcoxon), :mod:`~hdogreg.metrics.matching`
(localisation rule, matching, per-image FROC counts) and :mod:`~hdogreg.metrics.froc` (the
pooled curve, pAUC, bootstrap, operating points).
"""

from .froc import (
    BootstrapResult,
    bootstrap_froc,
    bootstrap_weights,
    breast_area_cm2,
    choose_threshold,
    froc_curve,
    partial_auc,
    score_thresholds,
    tpr_at,
)
from .matching import (
    MAX_DISTANCE,
    FROCCounts,
    Matching,
    eligibility_pairs,
    froc_counts,
    localisation_distance,
    match_detections,
)
from .segmentation import iou_per_image, iou_per_object, wilcoxon_paired

__all__ = [
    "MAX_DISTANCE",
    "localisation_distance",
    "iou_per_image",
    "iou_per_object",
    "eligibility_pairs",
    "match_detections",
    "froc_counts",
    "breast_area_cm2",
    "score_thresholds",
    "froc_curve",
    "partial_auc",
    "bootstrap_weights",
    "bootstrap_froc",
    "tpr_at",
    "choose_threshold",
    "wilcoxon_paired",
    "Matching",
    "FROCCounts",
    "BootstrapResult",
]

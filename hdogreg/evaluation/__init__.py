"""Evaluation of the paper's Tables 1-3 and Figs. 4-6: orchestration for the book's notebooks.

The evaluation notebooks hold no algorithm; everything they compute comes from here, built on
:mod:`hdogreg.metrics` (IoU, matching, FROC, bootstrap, Wilcoxon), :mod:`hdogreg.training`
(``train_or_load``, ``fine_tune``), :mod:`hdogreg.pipeline` / :mod:`hdogreg.fusion` (the method)
and :mod:`hdogreg.baselines` (the comparison methods). The public names below are importable
from ``hdogreg.evaluation``; each lives in one module:

* :mod:`~hdogreg.evaluation.paper` -- the paper's reported numbers and parameter grids
  (``PAPER_*``), reference values, not computed.
* :mod:`~hdogreg.evaluation.budgets` -- :data:`BUDGETS` and :func:`default_train_config`, the one
  place that defines the compute budgets.
* :mod:`~hdogreg.evaluation.models` -- :func:`load_split` and the book's cached models:
  :func:`default_model` trains (once per settings and data, under
  :func:`hdogreg.paths.models_dir`) the regression network with xi = 10, alpha = 1 and publishes
  it as ``<models_dir>/default.pt``, the default checkpoint of ``hdogreg segment``.
* :mod:`~hdogreg.evaluation.scoring` -- :func:`score_split` runs the method on a list of images:
  HDoG candidates (cached per image, they do not depend on the model), the proximity map
  (cached on disk per model and image), and the fusion scores of every candidate in one pass,
  so that a threshold sweep over ``p_thr`` is only a filtering
  (:func:`hdogreg.fusion.object_scores`). The baselines give the same :class:`ImageScores`
  (:func:`ciecholewski_split`, :func:`wang_yang_split`; the unlearned reference
  :func:`local_contrast_split`).
* :mod:`~hdogreg.evaluation.detection` -- :func:`detection_summary` (FROC pooled over images,
  bootstrap pAUC resampling patients, TPR at 0.4 FP/cm^2), :func:`choose_operating_point`
  (validation only: the point closest to TPR = 1, FP = 0), :func:`threshold_at_fp`,
  :func:`operating_point`.
* :mod:`~hdogreg.evaluation.segmentation` -- :func:`segmentation_summary` (mean IoU per image,
  MC-class IoU, IoU per object) and :func:`compare_segmentation` (paired Wilcoxon tests).
* :mod:`~hdogreg.evaluation.experiments` -- :func:`validated_default_model`,
  :func:`grid_search` (Tables 1-2), :func:`o_thr_sweep`, :func:`vendor_shift` (Fig. 6),
  :func:`example_patches` (Fig. 4).
* :mod:`~hdogreg.evaluation.tables` -- tidy frames for ``save_results`` and markdown tables.

The threshold is chosen on the validation split only and then applied unchanged to the test
split: the test split never tunes anything.
"""

from .budgets import BUDGETS, default_train_config, grid_train_config, wang_yang_settings
from .detection import (
    DetectionSummary,
    choose_operating_point,
    detection_summary,
    mean_tpr,
    operating_point,
    threshold_at_fp,
)
from .experiments import (
    ValidatedModel,
    example_patches,
    grid_search,
    most_annotated,
    o_thr_sweep,
    validated_default_model,
    vendor_shift,
)
from .models import default_model, fine_tuned_model, load_split, publish_default_model, wang_yang_model
from .paper import (
    PAPER_ALPHA,
    PAPER_ALPHAS,
    PAPER_FIG5,
    PAPER_FIG6,
    PAPER_FIG6_FP_RANGE,
    PAPER_O_THR,
    PAPER_O_THRS,
    PAPER_TABLE1,
    PAPER_TABLE2,
    PAPER_TABLE3,
    PAPER_TABLE3_P_BOUND,
    PAPER_XI,
    PAPER_XIS,
)
from .scoring import (
    ImageScores,
    ciecholewski_split,
    image_summary,
    local_contrast_split,
    score_split,
    wang_yang_split,
)
from .segmentation import SegmentationSummary, compare_segmentation, segmentation_summary
from .tables import froc_frame, grid_table, mean_sd_table, paper_grid_table, segmentation_frame

__all__ = [
    "PAPER_TABLE1",
    "PAPER_TABLE2",
    "PAPER_TABLE3",
    "PAPER_TABLE3_P_BOUND",
    "PAPER_FIG5",
    "PAPER_FIG6",
    "PAPER_XIS",
    "PAPER_ALPHAS",
    "PAPER_O_THRS",
    "PAPER_XI",
    "PAPER_ALPHA",
    "PAPER_O_THR",
    "PAPER_FIG6_FP_RANGE",
    "BUDGETS",
    "default_train_config",
    "grid_train_config",
    "wang_yang_settings",
    "load_split",
    "default_model",
    "publish_default_model",
    "fine_tuned_model",
    "wang_yang_model",
    "ImageScores",
    "score_split",
    "ciecholewski_split",
    "wang_yang_split",
    "local_contrast_split",
    "image_summary",
    "DetectionSummary",
    "detection_summary",
    "choose_operating_point",
    "threshold_at_fp",
    "operating_point",
    "mean_tpr",
    "ValidatedModel",
    "validated_default_model",
    "SegmentationSummary",
    "segmentation_summary",
    "compare_segmentation",
    "grid_search",
    "o_thr_sweep",
    "vendor_shift",
    "example_patches",
    "most_annotated",
    "froc_frame",
    "segmentation_frame",
    "mean_sd_table",
    "grid_table",
    "paper_grid_table",
]

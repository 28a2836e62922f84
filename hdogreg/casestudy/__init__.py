"""Case study: classify amorphous-calcification ROIs as benign or malignant.

The paper's case study ("Case Study: Identifying Breast Cancers Among Amorphous
Calcifications", Table 4, Fig. 7 and 8), one module per step; the public names below are
importable from ``hdogreg.casestudy``:

1. :mod:`~hdogreg.casestudy.rois` -- each annotated bounding box becomes a fixed 256 x 256 box
   around its centre (:func:`fixed_box`, :func:`crop`, :func:`load_roi`), removing the
   annotation-size bias;
2. :mod:`~hdogreg.casestudy.segmentation` -- the ROI is segmented (our HDoG + FPN fusion, the
   Ciecholewski baseline, or one of our two components alone: :func:`roi_segmentations`,
   :data:`SEGMENTATION_METHODS`); :mod:`~hdogreg.casestudy.cohort` describes every
   segmentation of a whole cohort by the 31 features of :mod:`hdogreg.features`
   (:func:`casestudy_features`, with an optional on-disk cache keyed by content);
3. :mod:`~hdogreg.casestudy.crossval` -- a gradient tree boosting classifier (XGBoost) in a
   scikit-learn pipeline with mean imputation and standardisation (:func:`make_classifier`) is
   evaluated by five-fold cross-validation split by patient (:func:`patient_folds`,
   :func:`cross_validate`): ROC AUC, and accuracy, sensitivity, specificity and PPV at the
   threshold giving a sensitivity closest to 0.9, chosen on the training folds
   (:func:`threshold_for_sensitivity`); mean and standard deviation across folds;
4. :mod:`~hdogreg.casestudy.reporting` -- the paper's values and the tables and curves the
   pages show (:func:`results_table`, :func:`paper_comparison`, :func:`roc_table`, ...).

:mod:`~hdogreg.casestudy.study` runs the whole study from one :class:`CaseStudyConfig`
(:func:`run_casestudy`), as the Table 4 and Fig. 8 pages do.

Everything fitted (imputer means, scaler, trees, threshold) sees only the training folds.
"""

from .cohort import casestudy_features, features_cache_key
from .crossval import (
    METRICS,
    CVResult,
    binary_metrics,
    cross_validate,
    make_classifier,
    patient_folds,
    threshold_for_sensitivity,
    threshold_sweep,
)
from .reporting import (
    PAPER_COHORT,
    PAPER_FIG8_AUC,
    PAPER_TABLE4,
    chosen_tables,
    class_medians,
    cohort_table,
    comparison_display,
    feature_importance,
    fold_differences,
    paper_comparison,
    results_table,
    roc_table,
    segmentation_overview,
)
from .rois import crop, fixed_box, load_roi
from .segmentation import SEGMENTATION_METHODS, roi_proximity, roi_segmentations, segment_roi
from .study import CaseStudyConfig, CaseStudyRun, gallery_rows, run_casestudy

__all__ = [
    "METRICS",
    "PAPER_TABLE4",
    "PAPER_FIG8_AUC",
    "PAPER_COHORT",
    "fixed_box",
    "crop",
    "load_roi",
    "make_classifier",
    "patient_folds",
    "threshold_for_sensitivity",
    "binary_metrics",
    "CVResult",
    "cross_validate",
    "feature_importance",
    "threshold_sweep",
    "results_table",
    "roc_table",
    "chosen_tables",
    "paper_comparison",
    "comparison_display",
    "cohort_table",
    "segmentation_overview",
    "class_medians",
    "fold_differences",
    "SEGMENTATION_METHODS",
    "roi_proximity",
    "roi_segmentations",
    "segment_roi",
    "features_cache_key",
    "casestudy_features",
    "CaseStudyConfig",
    "CaseStudyRun",
    "run_casestudy",
    "gallery_rows",
]

"""One run of the case study, as the Table 4 and Fig. 8 pages make it.

:class:`CaseStudyConfig` holds the settings (the pages' parameters, one field each);
:func:`run_casestudy` reads the cohort, loads the book's model, computes the features of every
segmentation (cached), tunes the map thresholds by cross-validated AUC if asked, and
cross-validates the classifier on the features of the requested methods. The pages keep only
their narrative and plots.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from functools import partial

import pandas as pd

from ..fusion import DEFAULT_P_THR
from .cohort import casestudy_features
from .crossval import cross_validate, make_classifier, threshold_sweep
from .reporting import chosen_tables, results_table, roc_table
from .rois import load_roi
from .segmentation import SEGMENTATION_METHODS, _check_methods, roi_segmentations

__all__ = ["CaseStudyConfig", "CaseStudyRun", "run_casestudy", "gallery_rows"]


@dataclass(frozen=True)
class CaseStudyConfig:
    """Settings of one case-study run (the parameters of the Table 4 and Fig. 8 pages).

    Attributes
    ----------
    data_dir : str
        Benchmark folder; the cohort is read from ``<data_dir>/casestudy``.
    budget : {"cpu", "paper"}
        Training budget of the book's FPN (:func:`hdogreg.evaluation.default_model`).
    train_settings : dict
        :class:`~hdogreg.training.TrainConfig` overrides of the FPN.
    roi_size : int
        Side of the fixed ROIs (paper: 256).
    tune_thresholds : bool
        Choose the map thresholds of ``"ours"`` and ``"fpn"`` from `p_thr_grid` by the
        cross-validated AUC (:func:`~hdogreg.casestudy.crossval.threshold_sweep`), as the paper.
    p_thr_grid : tuple of float
        Thresholds tried when tuning.
    p_thr : float or None
        Fusion threshold if not tuned (None: the checkpoint's setting, else
        :data:`hdogreg.fusion.DEFAULT_P_THR`).
    o_thr : float
        Overlap threshold of the fusion (paper: 0.3).
    hdog_kwargs : dict
        Blob-segmentation settings overriding :class:`~hdogreg.pipeline.SegmentParams`' (keys
        of :data:`~hdogreg.pipeline.HDOG_FIELDS`), e.g. ``{"h_thr": 1.4, "hessian_rule": "paper"}``.
    ciecholewski_settings : dict
        Overrides of the Ciecholewski baseline (empty: its published parameters).
    n_splits, inner_splits, threshold_from, target_sensitivity, seed
        Of :func:`~hdogreg.casestudy.crossval.cross_validate`.
    xgb_settings : dict
        Overrides of :func:`~hdogreg.casestudy.crossval.make_classifier`.
    use_cache : bool
        Reuse the features cached under ``<build>/cache/casestudy``.
    """

    data_dir: str = "data/synth"
    budget: str = "cpu"
    train_settings: dict = field(default_factory=dict)
    roi_size: int = 256
    tune_thresholds: bool = True
    p_thr_grid: tuple = (DEFAULT_P_THR, 0.05, 0.15, 0.3, 0.5)
    p_thr: float | None = None
    o_thr: float = 0.3
    hdog_kwargs: dict = field(default_factory=dict)
    ciecholewski_settings: dict = field(default_factory=dict)
    n_splits: int = 5
    inner_splits: int = 4
    threshold_from: str = "inner-cv"
    target_sensitivity: float = 0.9
    xgb_settings: dict = field(default_factory=dict)
    seed: int = 0
    use_cache: bool = True

    def __post_init__(self):
        from hdogreg.pipeline import HDOG_FIELDS

        unknown = sorted(set(self.hdog_kwargs) - set(HDOG_FIELDS))
        if unknown:
            raise ValueError(f"hdog_kwargs: {unknown} are not blob-segmentation settings; "
                             f"expected some of {list(HDOG_FIELDS)}")

    def segment_params(self, p_thr):
        """Return the :class:`~hdogreg.pipeline.SegmentParams` of this run at map threshold `p_thr`."""
        from hdogreg.pipeline import SegmentParams

        return SegmentParams(p_thr=p_thr, o_thr=self.o_thr, **self.hdog_kwargs)

    @classmethod
    def from_parameters(cls, namespace):
        """Build a config from a page's parameters: the entries of `namespace` named like fields.

        Parameters
        ----------
        namespace : mapping
            E.g. a notebook's ``globals()`` after its ``parameters`` cell; other names are
            ignored, missing fields keep their defaults.

        Examples
        --------
        >>> CaseStudyConfig.from_parameters({"roi_size": 128, "n_gallery": 3}).roi_size
        128
        """
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in namespace.items() if k in names}
        if "p_thr_grid" in values:
            values["p_thr_grid"] = tuple(values["p_thr_grid"])
        return cls(**values)

    def classifier(self):
        """``classifier(seed) -> pipeline``: :func:`make_classifier` with :attr:`xgb_settings`."""
        return partial(make_classifier, **self.xgb_settings)


@dataclass
class CaseStudyRun:
    """Everything a case-study page shows (see :func:`run_casestudy`).

    Attributes
    ----------
    config : CaseStudyConfig
    cohort : pandas.DataFrame
        :func:`hdogreg.data.read_casestudy_cohort` of ``<data_dir>/casestudy``.
    model, settings, checkpoint
        The book's FPN, as :func:`hdogreg.evaluation.default_model` returns them.
    params : hdogreg.pipeline.SegmentParams
        The segmentation settings, ``p_thr`` the chosen one of ``"ours"``.
    features : dict
        :func:`~hdogreg.casestudy.cohort.casestudy_features` of all
        :data:`SEGMENTATION_METHODS` (and of the sweep's thresholds).
    features_seconds : float
        Time to compute (or read) them.
    sweep : pandas.DataFrame or None
        :func:`~hdogreg.casestudy.crossval.threshold_sweep`, if the thresholds were tuned.
    chosen : dict
        Map threshold used for ``"ours"`` and ``"fpn"``.
    tables : dict
        Feature table of each method compared, in the order asked for.
    results : dict
        :class:`~hdogreg.casestudy.crossval.CVResult` of each method compared.
    y, groups : ndarray
        Labels and patients of the cohort's ROIs.
    """

    config: CaseStudyConfig
    cohort: pd.DataFrame
    model: object
    settings: dict
    checkpoint: object
    params: object
    features: dict
    features_seconds: float
    sweep: pd.DataFrame | None
    chosen: dict
    tables: dict
    results: dict
    y: object
    groups: object

    def results_table(self):
        """Return ``method, metric, mean, sd`` of the compared methods (:func:`results_table`)."""
        return results_table(self.results)

    def roc_table(self):
        """Return the mean ROC curve of each compared method (:func:`roc_table`)."""
        return roc_table(self.results)

    def segment(self, row, methods):
        """ROI of one cohort row and its segmentations by `methods`, with this run's settings.

        Returns
        -------
        roi, pixel_spacing, segmentations
            As :func:`~hdogreg.casestudy.rois.load_roi` and
            :func:`~hdogreg.casestudy.segmentation.roi_segmentations` (``"fpn"`` at its chosen
            threshold).
        """
        c = self.config
        roi, spacing, _ = load_roi(row, c.roi_size)
        segs = roi_segmentations(roi, methods, model=self.model, params=self.params,
                                 fpn_threshold=self.chosen["fpn"],
                                 ciecholewski_kwargs=c.ciecholewski_settings)
        return roi, spacing, segs


def run_casestudy(config, methods, *, progress=False):
    """Run the case study: features of every segmentation, threshold tuning, cross-validation.

    Parameters
    ----------
    config : CaseStudyConfig
    methods : sequence of str
        The segmentation methods compared (of :data:`SEGMENTATION_METHODS`), e.g.
        ``("ours", "ciecholewski")`` (Table 4) or ``("hdog", "fpn", "ours")`` (Fig. 8). The
        features of all methods are computed (and cached) either way, so the two pages share
        one computation.
    progress : bool, optional
        Progress bars of the training and of the features.

    Returns
    -------
    CaseStudyRun

    Notes
    -----
    The map thresholds (``"ours"``, ``"fpn"``) are tuned on the same folds that report the
    result, as in the paper: the tuned AUCs are optimistic.
    """
    from hdogreg.data import read_casestudy_cohort
    from hdogreg.evaluation.models import default_model
    from hdogreg.paths import build_dir
    methods = _check_methods(methods)
    c = config
    cohort = read_casestudy_cohort(f"{c.data_dir}/casestudy")
    model, settings, checkpoint = default_model(c.data_dir, c.budget, progress=progress, **c.train_settings)
    params = c.segment_params(settings.get("p_thr", DEFAULT_P_THR) if c.p_thr is None else c.p_thr)
    start = time.perf_counter()
    features = casestudy_features(cohort, SEGMENTATION_METHODS, model=model, params=params,
                                  ciecholewski_kwargs=c.ciecholewski_settings, size=c.roi_size,
                                  p_thrs=c.p_thr_grid if c.tune_thresholds else (),
                                  cache_dir=build_dir() / "cache" / "casestudy" if c.use_cache else None,
                                  progress=progress)
    seconds = time.perf_counter() - start
    y = cohort["label"].to_numpy()
    groups = cohort["patient_id"].to_numpy()
    classifier = c.classifier()
    sweep = (threshold_sweep(features, y, groups, seed=c.seed, n_splits=c.n_splits, classifier=classifier,
                             progress=False) if c.tune_thresholds else None)
    chosen, tables = chosen_tables(features, sweep, p_thr=params.p_thr)
    tables = {m: tables[m] for m in methods}
    params = params.replace(p_thr=chosen["ours"])
    results = {
        m: cross_validate(tables[m], y, groups, seed=c.seed, n_splits=c.n_splits,
                          target_sensitivity=c.target_sensitivity, threshold_from=c.threshold_from,
                          inner_splits=c.inner_splits, classifier=classifier, progress=False)
        for m in methods
    }
    return CaseStudyRun(c, cohort, model, settings, checkpoint, params, features, seconds, sweep, chosen,
                        tables, results, y, groups)


def gallery_rows(cohort, n, seed=0):
    """Up to `n` ROIs of each class picked at random (seeded): benign first, then malignant.

    Examples
    --------
    >>> cohort = pd.DataFrame({"roi_id": list("abcde"), "label": [0, 0, 0, 1, 1]})
    >>> gallery_rows(cohort, 2)["label"].tolist()
    [0, 0, 1, 1]
    """
    return pd.concat([cohort[cohort["label"] == k].sample(min(int(n), int((cohort["label"] == k).sum())),
                                                          random_state=seed) for k in (0, 1)])

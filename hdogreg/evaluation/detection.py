"""Detection summaries of scored splits: FROC, bootstrap pAUC, operating points.

:func:`detection_summary` pools the FROC curve over images and bootstraps its pAUC by patient
(:mod:`hdogreg.metrics`); :func:`choose_operating_point` and :func:`threshold_at_fp` choose a
threshold on the validation split; :func:`operating_point` reads a curve at a threshold chosen
elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["DetectionSummary", "detection_summary", "choose_operating_point", "threshold_at_fp",
           "operating_point", "mean_tpr"]


@dataclass
class DetectionSummary:
    """FROC analysis of a list of :class:`ImageScores` (see :func:`detection_summary`).

    Attributes
    ----------
    thresholds, fp_per_cm2, tpr : ndarray
        The pooled FROC curve, one point per threshold (ascending thresholds; the last is
        ``+inf``, nothing kept).
    pauc : float
        pAUC (0 to `max_fp` FP/cm^2, not normalised) of the pooled curve.
    pauc_mean, pauc_lo, pauc_hi : float
        Mean and 95% percentile interval over the bootstrap samples.
    tpr_at : float
        TPR at `fp_at` FP/cm^2.
    fp_at, max_fp : float
    band : DataFrame
        ``fp_per_cm2, tpr, tpr_lo, tpr_hi``: the curve as a step function on a regular FP grid
        with its bootstrap 95% band.
    n_images, n_patients, n_ref : int
    n_boot : int
    """

    thresholds: np.ndarray
    fp_per_cm2: np.ndarray
    tpr: np.ndarray
    pauc: float
    pauc_mean: float
    pauc_lo: float
    pauc_hi: float
    tpr_at: float
    fp_at: float
    max_fp: float
    band: pd.DataFrame
    n_images: int
    n_patients: int
    n_ref: int
    n_boot: int

    @property
    def pauc_pm(self):
        """Half-width of the bootstrap interval (the paper's "mean +- x")."""
        return (self.pauc_hi - self.pauc_lo) / 2

    def row(self):
        """Return the summary numbers as a dict (no arrays)."""
        return {"pauc": self.pauc, "pauc_mean": self.pauc_mean, "pauc_lo": self.pauc_lo,
                "pauc_hi": self.pauc_hi, "pauc_pm": self.pauc_pm, f"tpr_at_{self.fp_at:g}": self.tpr_at,
                "n_images": self.n_images, "n_patients": self.n_patients, "n_ref": self.n_ref}


def _step_tpr(fp, tpr, grid):
    """Highest TPR reachable with FP <= x for every x of `grid`; rows of (B, T) arrays.

    Along the threshold axis (ascending thresholds) FP and TPR are non-increasing, so the
    points with FP <= x are a suffix and the best of them is its first point.
    """
    fp = np.atleast_2d(np.asarray(fp, float))[:, ::-1]
    tpr = np.atleast_2d(np.asarray(tpr, float))[:, ::-1]
    fp = np.maximum.accumulate(fp, axis=1)  # ascending (a no-op for a monotone curve)
    tpr = np.maximum.accumulate(tpr, axis=1)
    out = np.zeros((fp.shape[0], len(grid)))
    for b in range(fp.shape[0]):
        n = np.searchsorted(fp[b], grid, side="right")
        out[b] = np.where(n > 0, tpr[b][np.maximum(n - 1, 0)], 0.0)
    return out


def detection_summary(scores, *, n_boot=100, seed=0, groups="patient", fp_at=0.4, max_fp=1.0,
                      max_thresholds=2000, grid_points=101):
    """FROC analysis: pooled curve, bootstrap pAUC with 95% CI, TPR at `fp_at` FP/cm^2.

    Parameters
    ----------
    scores : list of ImageScores
    n_boot : int, optional
        Bootstrap samples (paper: 100).
    seed : int, optional
    groups : {"patient", "image"}, optional
        Resampling unit: whole patients (images of one patient stay together, default) or
        single images (the authors' scripts).
    fp_at : float, optional
        FP/cm^2 at which the TPR is reported (paper: 0.4).
    max_fp : float, optional
        pAUC range (paper: 0 to 1 FP/cm^2).
    max_thresholds : int, optional
        At most this many thresholds (quantiles of the candidate scores,
        :func:`hdogreg.metrics.score_thresholds`).
    grid_points : int, optional
        Points of the FP grid of the bootstrap band (0 to `max_fp`).

    Returns
    -------
    DetectionSummary
    """
    from ..metrics.froc import (
        bootstrap_froc,
        bootstrap_weights,
        froc_curve,
        partial_auc,
        score_thresholds,
        tpr_at,
    )
    from ..metrics.matching import froc_counts

    if not scores:
        raise ValueError("no images to evaluate")
    if groups not in ("patient", "image"):
        raise ValueError(f"groups must be 'patient' or 'image', got {groups!r}")
    thresholds = score_thresholds(*[s.scores for s in scores], max_thresholds=max_thresholds)
    counts = [froc_counts(s.labels, s.scores, s.ref, thresholds, max_distance=s.max_distance)
              for s in scores]
    tp = np.stack([c.tp for c in counts])
    fp = np.stack([c.fp for c in counts])
    nref = np.array([c.n_ref for c in counts], float)
    area = np.array([s.breast_area_cm2 for s in scores], float)
    fp_cm2, tpr = froc_curve(tp, fp, nref, area)
    unit = np.array([s.patient_id if groups == "patient" else s.file_id for s in scores])
    boot = bootstrap_froc(tp, fp, nref, area, groups=unit, n_boot=n_boot, seed=seed, max_fp=max_fp)
    # bootstrap band of the curve: the same draws as bootstrap_froc
    w = bootstrap_weights(unit, n_boot, seed)
    total_ref = w @ nref
    ok = total_ref > 0
    w = w[ok]
    b_fp = (w @ fp) / (w @ area)[:, None]
    b_tpr = (w @ tp) / total_ref[ok][:, None]
    grid = np.linspace(0.0, max_fp, int(grid_points))
    curves = _step_tpr(b_fp, b_tpr, grid)
    lo, hi = np.percentile(curves, [2.5, 97.5], axis=0) if len(curves) else (grid * np.nan, grid * np.nan)
    band = pd.DataFrame({"fp_per_cm2": grid, "tpr": _step_tpr(fp_cm2, tpr, grid)[0], "tpr_lo": lo,
                         "tpr_hi": hi})
    return DetectionSummary(
        thresholds=thresholds, fp_per_cm2=fp_cm2, tpr=tpr, pauc=partial_auc(fp_cm2, tpr, max_fp),
        pauc_mean=boot.mean, pauc_lo=boot.ci95[0], pauc_hi=boot.ci95[1],
        tpr_at=tpr_at(fp_cm2, tpr, fp_at), fp_at=float(fp_at), max_fp=float(max_fp), band=band,
        n_images=len(scores), n_patients=int(np.unique([s.patient_id for s in scores]).size),
        n_ref=int(nref.sum()), n_boot=int(n_boot))


def choose_operating_point(val_summary):
    """Threshold of the point of the validation FROC curve closest to (FP = 0, TPR = 1).

    **Validation only**: apply the returned threshold unchanged to the test split.

    Parameters
    ----------
    val_summary : DetectionSummary
        Of the validation split.

    Returns
    -------
    p_thr : float
        Finite; if the closest point is "nothing kept" (+inf), the largest finite threshold.
    """
    from ..metrics.froc import choose_threshold

    th, fp, tpr = val_summary.thresholds, val_summary.fp_per_cm2, val_summary.tpr
    finite = np.isfinite(th)
    if not finite.any():
        raise ValueError("no finite threshold: the validation split has no candidates")
    p_thr, _ = choose_threshold(th[finite], fp[finite], tpr[finite])
    return float(p_thr)


def threshold_at_fp(summary, fp_per_cm2=0.4):
    """Smallest threshold of a FROC curve whose FP rate is at most `fp_per_cm2`.

    An operating point by FP rate (the paper reports TPR at 0.4 FP/cm^2), chosen on the
    **validation** split and applied unchanged elsewhere.

    Parameters
    ----------
    summary : DetectionSummary
    fp_per_cm2 : float

    Returns
    -------
    threshold : float
        Finite: the largest finite threshold if even that keeps too many FPs.

    Examples
    --------
    >>> import types
    >>> s = types.SimpleNamespace(thresholds=np.array([0.1, 0.5, 0.9, np.inf]),
    ...                           fp_per_cm2=np.array([2.0, 0.6, 0.3, 0.0]))
    >>> threshold_at_fp(s, 0.4)
    0.9
    """
    th = np.asarray(summary.thresholds, float)
    fp = np.asarray(summary.fp_per_cm2, float)
    finite = np.isfinite(th)
    if not finite.any():
        raise ValueError("no finite threshold: the split has no candidates")
    th, fp = th[finite], fp[finite]
    ok = np.flatnonzero(fp <= fp_per_cm2)
    return float(th[ok[0]] if ok.size else th[-1])


def operating_point(summary, threshold):
    """Return ``(fp_per_cm2, tpr)`` of a :class:`DetectionSummary` at a threshold chosen elsewhere.

    E.g. the validation ``p_thr`` on the test curve: the point of the smallest curve threshold
    ``>= threshold``.
    """
    i = int(np.searchsorted(summary.thresholds, threshold, side="left"))
    i = min(i, len(summary.thresholds) - 1)
    return float(summary.fp_per_cm2[i]), float(summary.tpr[i])


def mean_tpr(summary, fp_range):
    """Mean TPR of a FROC curve over a range of FP rates (the paper's Fig. 6: 0.2-0.6 FP/cm^2).

    Parameters
    ----------
    summary : DetectionSummary
        Its ``band`` (the curve as a step function on a regular FP grid) is averaged.
    fp_range : (float, float)
        ``(lo, hi)`` in FP/cm^2, both ends included.

    Returns
    -------
    tpr : float
        NaN if no grid point lies in the range.

    Examples
    --------
    >>> import types
    >>> band = pd.DataFrame({"fp_per_cm2": [0.0, 0.2, 0.4, 0.6, 0.8], "tpr": [0.1, 0.2, 0.4, 0.6, 0.9]})
    >>> round(mean_tpr(types.SimpleNamespace(band=band), (0.2, 0.6)), 6)
    0.4
    """
    lo, hi = (float(v) for v in fp_range)
    if not lo <= hi:
        raise ValueError(f"fp_range must be (lo, hi) with lo <= hi, got {fp_range}")
    fp = summary.band["fp_per_cm2"].to_numpy(float)
    inside = (fp >= lo - 1e-12) & (fp <= hi + 1e-12)
    return float(summary.band["tpr"].to_numpy(float)[inside].mean()) if inside.any() else float("nan")

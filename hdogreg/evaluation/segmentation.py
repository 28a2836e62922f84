"""Segmentation summaries of scored splits at one threshold, and paired tests between methods.

:func:`segmentation_summary` gives the paper's mean IoU per image, the MC-class IoU and the
IoU per object; :func:`compare_segmentation` the paired Wilcoxon tests of Table 3.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["SegmentationSummary", "segmentation_summary", "compare_segmentation"]


@dataclass
class SegmentationSummary:
    """Segmentation metrics of a list of :class:`ImageScores` at one threshold.

    Attributes
    ----------
    per_image : DataFrame
        ``file_id, patient_id, miou, iou_mc, n_ref, n_pred``: the two-class mean IoU of
        each image (the paper's "mean IoU per image") and its MC-class IoU.
    per_object : DataFrame
        ``file_id, ref_label, iou``: IoU of every reference object of more than one pixel with
        the predicted object that overlaps it most (paper's "IoU per object").
    threshold : float
    """

    per_image: pd.DataFrame
    per_object: pd.DataFrame
    threshold: float

    def row(self):
        """Return the means and SDs as one table row.

        ``miou, miou_sd`` over images, ``iou_mc, iou_mc_sd`` over images, ``iou_object,
        iou_object_sd`` pooled over all objects, and counts.
        """
        im, ob = self.per_image, self.per_object
        sd = lambda v: float(np.std(v, ddof=1)) if len(v) > 1 else float("nan")  # noqa: E731
        return {"miou": float(im["miou"].mean()), "miou_sd": sd(im["miou"]),
                "iou_mc": float(im["iou_mc"].mean()), "iou_mc_sd": sd(im["iou_mc"]),
                "iou_object": float(ob["iou"].mean()) if len(ob) else float("nan"),
                "iou_object_sd": sd(ob["iou"]), "n_images": len(im), "n_objects": len(ob)}


def segmentation_summary(scores, threshold=None):
    """Mean IoU per image, MC-class IoU and IoU per object at one threshold.

    Parameters
    ----------
    scores : list of ImageScores
    threshold : float, optional
        Objects with ``score >= threshold`` form the segmentation (our method: ``p_thr``
        chosen on validation). None keeps every object (a method without a threshold).

    Returns
    -------
    SegmentationSummary
    """
    from ..metrics.segmentation import iou_per_image, iou_per_object

    th = -np.inf if threshold is None else float(threshold)
    rows, objs = [], []
    for s in scores:
        pred = s.at(th)
        miou, iou_mc = iou_per_image(pred, s.ref)
        iou, lab = iou_per_object(pred, s.ref, return_labels=True)
        rows.append({"file_id": s.file_id, "patient_id": s.patient_id, "miou": miou, "iou_mc": iou_mc,
                     "n_ref": s.n_ref, "n_pred": int(np.count_nonzero(np.asarray(s.scores) >= th))})
        objs.append(pd.DataFrame({"file_id": s.file_id, "ref_label": np.asarray(lab, np.int64), "iou": iou}))
    per_object = (pd.concat(objs, ignore_index=True) if objs
                  else pd.DataFrame(columns=["file_id", "ref_label", "iou"]))
    return SegmentationSummary(pd.DataFrame(rows), per_object, th)


def _wilcoxon_p(a, b):
    from ..metrics.segmentation import wilcoxon_paired

    try:
        return float(wilcoxon_paired(a, b).pvalue)
    except ValueError:
        return float("nan")


def compare_segmentation(ours, theirs):
    """Paired Wilcoxon signed-rank tests between two :class:`SegmentationSummary` s.

    Pairs are the same images (mean IoU per image, MC-class IoU) and the same reference
    objects (IoU per object).

    Returns
    -------
    dict
        ``p_miou``, ``p_iou_mc``, ``p_iou_object`` (two-sided; NaN if undefined).
    """
    a, b = ours.per_image.set_index("file_id"), theirs.per_image.set_index("file_id")
    if sorted(a.index) != sorted(b.index):
        raise ValueError("the two summaries are not on the same images")
    b = b.loc[a.index]
    key = ["file_id", "ref_label"]
    o = ours.per_object.merge(theirs.per_object, on=key, suffixes=("_a", "_b"), how="inner")
    return {"p_miou": _wilcoxon_p(a["miou"], b["miou"]), "p_iou_mc": _wilcoxon_p(a["iou_mc"], b["iou_mc"]),
            "p_iou_object": _wilcoxon_p(o["iou_a"], o["iou_b"]) if len(o) else float("nan")}

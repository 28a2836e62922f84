"""The experiments of the result pages: validated default model, grid, o_thr sweep, vendor shift, Fig. 4.

Each function trains or loads its models (:mod:`hdogreg.evaluation.models`), scores the images
(:mod:`hdogreg.evaluation.scoring`) and summarises them (:mod:`~hdogreg.evaluation.detection`,
:mod:`~hdogreg.evaluation.segmentation`). Thresholds are chosen on the validation split only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..paths import models_dir
from .budgets import _check_budget, grid_train_config
from .detection import DetectionSummary, choose_operating_point, detection_summary
from .models import default_model, fine_tuned_model, load_split, publish_default_model
from .paper import PAPER_ALPHAS, PAPER_O_THRS, PAPER_XIS
from .scoring import _iter_inputs, _scores_from, ciecholewski_split, score_split
from .segmentation import segmentation_summary

__all__ = ["ValidatedModel", "validated_default_model", "grid_search", "o_thr_sweep", "vendor_shift",
           "most_annotated", "example_patches"]


@dataclass
class ValidatedModel:
    """The book's default model with its validation FROC and operating threshold.

    Attributes
    ----------
    model, settings, checkpoint
        As returned by :func:`default_model`.
    budget : str
        ``"cpu"`` or ``"paper"``.
    params : hdogreg.pipeline.SegmentParams
        Inference and fusion settings used for scoring.
    val_scores : list of ImageScores
        The validation split, scored (:func:`score_split`).
    val_summary : DetectionSummary
        Its FROC analysis.
    p_thr : float
        The operating threshold chosen on it (:func:`choose_operating_point`).
    """

    model: object
    settings: dict
    checkpoint: Path
    budget: str
    params: object
    val_scores: list
    val_summary: DetectionSummary
    p_thr: float


def validated_default_model(data_dir="data/synth", *, budget="cpu", window=512, stride=256, o_thr=0.3,
                            n_boot=100, fp_at=0.4, train_settings=None, publish=True,
                            publish_threshold=False, progress=False):
    """Prepare what the result pages share: default model, validation FROC, operating point.

    Parameters
    ----------
    data_dir : str or Path, optional
    budget : {"cpu", "paper"}, optional
        Training budget of the model (:func:`~hdogreg.evaluation.budgets.default_train_config`).
    window, stride, o_thr : optional
        :class:`hdogreg.pipeline.SegmentParams` of the scoring.
    n_boot, fp_at : optional
        :func:`detection_summary` of the validation split.
    train_settings : dict, optional
        :class:`~hdogreg.training.TrainConfig` overrides of the model.
    publish : bool, optional
        Install the model as the default of ``hdogreg segment`` (as :func:`default_model`).
    publish_threshold : bool, optional
        Also record the chosen ``p_thr`` with it (:func:`publish_default_model`); needs
        `publish`.
    progress : bool, optional
        Progress bars of the training and scoring.

    Returns
    -------
    ValidatedModel
    """
    from ..pipeline import SegmentParams

    _check_budget(budget)
    params = SegmentParams(window=window, stride=stride, o_thr=o_thr)
    if publish_threshold and not publish:
        raise ValueError("publish_threshold=True needs publish=True")
    model, settings, checkpoint = default_model(data_dir, budget, progress=progress, publish=publish,
                                                **(train_settings or {}))
    val_scores = score_split(model, load_split(data_dir, "val"), params, progress=progress, desc="validation")
    val_summary = detection_summary(val_scores, n_boot=n_boot, fp_at=fp_at)
    p_thr = choose_operating_point(val_summary)
    if publish_threshold:
        publish_default_model(checkpoint, p_thr=p_thr)
    return ValidatedModel(model, settings, checkpoint, budget, params, val_scores, val_summary, p_thr)


def _evaluate(scores, *, n_boot, seed):
    det = detection_summary(scores, n_boot=n_boot, seed=seed)
    p_thr = choose_operating_point(det)
    seg = segmentation_summary(scores, p_thr)
    return det, p_thr, seg


def grid_search(data_dir, xis=PAPER_XIS, alphas=PAPER_ALPHAS, budget="cpu", *, params=None, split="val",
                n_boot=100, seed=0, progress=True, cache=True, **train_overrides):
    """Tables 1-2: train one model per (xi, alpha) cell and evaluate it on the validation split.

    For every cell: train (or load) with :func:`grid_train_config`, score the validation
    images (:func:`score_split`; HDoG computed once per image for the whole grid), FROC with
    bootstrap pAUC (:func:`detection_summary`), operating threshold on that same validation
    curve (:func:`choose_operating_point`, as the paper did for model selection), segmentation
    metrics at it (:func:`segmentation_summary`).

    Parameters
    ----------
    data_dir : str or Path
    xis, alphas : sequence of float
    budget : {"cpu", "paper"}, optional
    params : SegmentParams, optional
    split : str, optional
        Evaluation split (the paper: validation).
    n_boot, seed : int, optional
    progress : bool, optional
    cache : bool, optional
        Disk cache of proximity maps (:func:`score_split`).
    **train_overrides
        :class:`~hdogreg.training.TrainConfig` fields for every cell.

    Returns
    -------
    DataFrame
        One row per cell: ``xi, alpha, pauc, pauc_mean, pauc_lo, pauc_hi, tpr_at_0.4, p_thr,
        miou, miou_sd, iou_mc, iou_mc_sd, iou_object, iou_object_sd, n_images, n_objects,
        best_epoch, train_s, eval_s``.
    """
    from ..pipeline import SegmentParams
    from ..training.loop import train_or_load

    params = SegmentParams() if params is None else params
    train, images = load_split(data_dir, "train"), load_split(data_dir, split)
    val = load_split(data_dir, "val")
    rows = []
    for xi in xis:
        for alpha in alphas:
            t0 = time.perf_counter()
            config = grid_train_config(xi, alpha, budget, **train_overrides)
            run = train_or_load(config, train, val, cache_dir=models_dir(), progress=progress)
            model, settings = run.load()
            t1 = time.perf_counter()
            scores = score_split(model, images, params, cache=cache, progress=progress,
                                 desc=f"xi={xi:g} alpha={alpha:g}")
            det, p_thr, seg = _evaluate(scores, n_boot=n_boot, seed=seed)
            rows.append({"xi": float(xi), "alpha": float(alpha), **det.row(), "p_thr": p_thr,
                         **seg.row(), "best_epoch": settings.get("epoch"), "train_s": t1 - t0,
                         "eval_s": time.perf_counter() - t1})
            del model, scores
    return pd.DataFrame(rows)


def o_thr_sweep(model, images, o_thrs=PAPER_O_THRS, params=None, *, n_boot=100, seed=0, progress=True,
                cache=True):
    """Evaluate one model at several overlap thresholds ``o_thr`` (validation split).

    The proximity maps are computed once; for each ``o_thr`` the candidates are re-scored,
    the operating threshold chosen on the same images and the metrics computed.

    Returns
    -------
    DataFrame
        One row per ``o_thr`` with the columns of :func:`grid_search` (no training columns).
    """
    from ..pipeline import SegmentParams

    params = SegmentParams() if params is None else params
    per_o = {float(o): [] for o in o_thrs}
    for item in _iter_inputs(model, images, params, cache, progress, "o_thr sweep"):
        for o in per_o:
            per_o[o].append(_scores_from(*item, params, o_thr=o))
    rows = []
    for o, scores in per_o.items():
        det, p_thr, seg = _evaluate(scores, n_boot=n_boot, seed=seed)
        rows.append({"o_thr": o, **det.row(), "p_thr": p_thr, **seg.row()})
    return pd.DataFrame(rows)


def vendor_shift(data_dir="data/synth", budget="cpu", *, params=None, n_boot=100, seed=0, progress=True,
                 cache=True, train_overrides=None, fine_tune_overrides=None):
    """Fig. 6: the INbreast-only model vs the model fine-tuned with 12-bit local images.

    Both models are evaluated (FROC) on the local test images; the fine-tuned model is
    :func:`fine_tuned_model` (INbreast train + local train, best epoch on INbreast val).

    Returns
    -------
    dict
        ``"inbreast_only"`` and ``"fine_tuned"``: :class:`DetectionSummary` on the local test
        split; ``"checkpoints"``: their paths; ``"n_local_train"``, ``"n_local_test"``.
    """
    train_overrides = dict(train_overrides or {})
    _, _, base_ckpt = default_model(data_dir, budget, progress=progress, **train_overrides)
    from ..regression import load_checkpoint

    base, _ = load_checkpoint(base_ckpt)
    tuned, _, tuned_ckpt = fine_tuned_model(data_dir, budget, base_checkpoint=base_ckpt, progress=progress,
                                            **{**train_overrides, **(fine_tune_overrides or {})})
    test = load_split(data_dir, "test", source="local")
    out = {}
    for name, model in (("inbreast_only", base), ("fine_tuned", tuned)):
        scores = score_split(model, test, params, cache=cache, progress=progress, desc=name)
        out[name] = detection_summary(scores, n_boot=n_boot, seed=seed)
    out["checkpoints"] = {"inbreast_only": base_ckpt, "fine_tuned": tuned_ckpt}
    out["n_local_train"] = len(load_split(data_dir, "train", source="local"))
    out["n_local_test"] = len(test)
    return out


def most_annotated(images, n):
    """Return the `n` images with the most annotated MCs (ties: data set order)."""
    order = sorted(range(len(images)), key=lambda i: (-len(images[i].annotations), i))
    return [images[i] for i in order[: int(n)]]


def example_patches(images, models, p_thrs, *, size=256, params=None, progress=True, cache=True):
    """Make the panels of Fig. 4, one per image.

    The ``size x size`` window with the most annotated MCs of each image, with the reference,
    our segmentation and Ciecholewski's.

    Parameters
    ----------
    images : sequence of Mammogram
    models : torch.nn.Module or sequence of them
        The regression network for each image (e.g. the fine-tuned one for local images).
    p_thrs : float or sequence of float
        Our operating threshold for each image (chosen on validation).
    size : int, optional
    params : SegmentParams, optional

    Returns
    -------
    patches : list of dict
        ``file_id, vendor, window (row, col slices), image, reference, ours, ciecholewski``
        (label patches cut from the full-image results).
    table : DataFrame
        ``file_id, vendor, row0, col0, size, n_ref, iou_mc_ours, iou_mc_ciecholewski``
        (MC-class IoU inside the patch).
    """
    from ..metrics.segmentation import iou_per_image
    from ..pipeline import SegmentParams
    from ..viz import mc_window

    params = SegmentParams() if params is None else params
    n = len(images)
    models = list(models) if isinstance(models, (list, tuple)) else [models] * n
    p_thrs = list(p_thrs) if np.ndim(p_thrs) else [float(p_thrs)] * n
    ours = []
    for m, model, p in zip(images, models, p_thrs):
        ours.append(score_split(model, [m], params, cache=cache, progress=False)[0].at(p))
    theirs = ciecholewski_split(images, progress=progress)
    patches, rows = [], []
    for m, o, c in zip(images, ours, theirs):
        ref = m.mc_labels()
        win = mc_window(m, size)
        item = {"file_id": str(m.file_id), "vendor": getattr(m, "vendor", None), "window": win,
                "image": m.image[win], "reference": ref[win], "ours": o[win], "ciecholewski": c.labels[win]}
        patches.append(item)
        rows.append({"file_id": item["file_id"], "vendor": item["vendor"], "row0": win[0].start,
                     "col0": win[1].start, "size": size, "n_ref": int(np.unique(ref[win][ref[win] > 0]).size),
                     "iou_mc_ours": iou_per_image(item["ours"], item["reference"])[1],
                     "iou_mc_ciecholewski": iou_per_image(item["ciecholewski"], item["reference"])[1]})
    return patches, pd.DataFrame(rows)

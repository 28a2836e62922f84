"""Robustness study: the methods under intensity, tone, bit-depth and pixel-size changes.

Not in the paper, whose Discussion names vendor brightness and contrast as its main limitation
(Fig. 6). Each *condition* is a version of the test split:

* a named perturbation of every image (:data:`hdogreg.perturb.PERTURBATIONS`: intensity
  ``x0.25`` / ``x4``, an offset, gamma 0.7 / 1.4, 12-bit quantisation, an 8-bit windowed
  export), with the annotations unchanged;
* the same breasts imaged by a detector of another pixel spacing
  (:func:`hdogreg.data.synth.benchmark.spacing_twin`: 0.05, 0.1, 0.14 mm; the same MCs, the
  detector's own blur and noise), analysed at their own spacing (the pipeline resamples them
  to 0.07 mm and maps the labels back).

A *method* scores a list of images (:class:`hdogreg.evaluation.ImageScores`) and has an
operating point chosen beforehand on validation data. Per method and condition the study
reports the FROC curve, the TPR at 0.4 FP/cm^2 of that curve, and the TPR and FP/cm^2 of the
fixed operating point (:func:`hdogreg.evaluation.operating_point`) - whether the
validated threshold keeps its meaning. :func:`spread_summary` condenses a study into the range
of TPRs over conditions.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from .perturb import PERTURBATIONS, perturb
from .standardize import DEFAULT_METHOD

__all__ = ["SPACINGS", "Method", "fusion_method", "ciecholewski_method", "wang_yang_method",
           "local_contrast_method",
           "threshold_on", "perturbed_images", "spacing_twins",
           "evaluate_condition", "robustness_table", "spread_summary", "lead_over", "curves_frame", "KINDS",
           "STUDY_METHODS", "study_conditions", "study_methods"]

#: Pixel spacings (mm) of the spacing conditions; 0.07 mm (the benchmark) is ``"original"``.
SPACINGS = (0.05, 0.1, 0.14)

#: Group of each named perturbation (the ``kind`` column of :func:`robustness_table`).
KINDS = {"original": "original", "x0.25": "intensity", "x4": "intensity",
         "offset+0.05": "intensity", "gamma0.7": "tone", "gamma1.4": "tone",
         "12bit": "bit depth", "8bit": "bit depth"}

#: Keys of :func:`study_methods` and the names they get in tables and plots.
STUDY_METHODS = {
    "shipped": "ours: shipped model (standardised)",
    "book": "ours: book model (standardised)",
    "book_raw": "ours: book model (raw scale, as published)",
    "ciecholewski": "Ciecholewski (standardised)",
    "wang_yang": "Wang & Yang (standardised)",
    "local_contrast": "DoG + local contrast (standardised, no learning)",
}


@dataclass
class Method:
    """A method of the study: how it scores images and its operating point.

    Attributes
    ----------
    name : str
    score : callable
        ``score(images) -> list of ImageScores``.
    threshold : float
        Operating point: objects with ``score >= threshold`` are detections (chosen on
        validation data; 1 for a method without scores, such as Ciecholewski's).
    params : SegmentParams, optional
        Our method's other settings (its DoG threshold, ``o_thr``), for :meth:`describe`.
    """

    name: str
    score: Callable
    threshold: float = 1.0
    params: object = None

    def describe(self):
        """One line: the name and the operating point (with our method's DoG threshold and o_thr).

        Examples
        --------
        >>> Method("hand", None, 0.25).describe()
        'hand: operating point 0.25'
        """
        text = f"{self.name}: operating point {self.threshold:.4g}"
        if self.params is not None:
            text += f" (p_thr; T_DoG {self.params.dog_threshold:g}, o_thr {self.params.o_thr:g})"
        return text


def threshold_on(method, images, fp_at=0.4):
    """Choose the operating point of `method` on validation `images`: the threshold at `fp_at` FP/cm^2.

    :func:`hdogreg.evaluation.threshold_at_fp` of the FROC curve of ``method.score(images)``.
    """
    from .evaluation.detection import detection_summary, threshold_at_fp

    return float(threshold_at_fp(detection_summary(method.score(images), n_boot=1), fp_at))


def fusion_method(name, model, params, threshold=None, *, val_images=None, fp_at=0.4):
    """Our method (Fig. 1) with a given network and :class:`hdogreg.pipeline.SegmentParams`.

    Parameters
    ----------
    name : str
    model : torch.nn.Module
    params : SegmentParams
        Its ``normalize`` must be the one the network was trained with.
    threshold : float, optional
        Operating point ``p_thr`` (e.g. the shipped model's, chosen on its validation pool);
        if None, chosen on `val_images` at `fp_at` FP/cm^2 (:func:`threshold_on`).
    val_images : sequence of Mammogram, optional

    Returns
    -------
    Method
    """
    from .evaluation.scoring import score_split

    method = Method(name, lambda images: score_split(model, images, params, cache=False,
                                                     progress=False), params=params)
    return _with_threshold(method, threshold, val_images, fp_at)


def ciecholewski_method(name="Ciecholewski", normalize=DEFAULT_METHOD):
    """Ciecholewski's morphology (:func:`hdogreg.evaluation.ciecholewski_split`): no threshold."""
    from .evaluation.scoring import ciecholewski_split

    return Method(name, lambda images: ciecholewski_split(images, normalize=normalize,
                                                          progress=False), 1.0)


def wang_yang_method(model, name="Wang & Yang", threshold=None, *, val_images=None, fp_at=0.4):
    """Wang & Yang (:func:`hdogreg.evaluation.wang_yang_split`), threshold as in :func:`fusion_method`."""
    from .evaluation.scoring import wang_yang_split

    method = Method(name, lambda images: wang_yang_split(model, images, progress=False))
    return _with_threshold(method, threshold, val_images, fp_at)


def local_contrast_method(name="DoG + local contrast", threshold=None, *, val_images=None, fp_at=0.4,
                          normalize=DEFAULT_METHOD):
    """DoG blobs ranked by local contrast (:func:`hdogreg.evaluation.local_contrast_split`).

    The unlearned reference ranking; threshold as in :func:`fusion_method`.
    """
    from .evaluation.scoring import local_contrast_split

    method = Method(name, lambda images: local_contrast_split(images, normalize=normalize, progress=False))
    return _with_threshold(method, threshold, val_images, fp_at)


def _with_threshold(method, threshold, val_images, fp_at):
    if threshold is None:
        if val_images is None:
            raise ValueError(f"{method.name}: give a threshold or validation images to choose it on")
        threshold = threshold_on(method, val_images, fp_at)
    method.threshold = float(threshold)
    return method


def perturbed_images(images, name):
    """Return copies of `images` whose pixels went through perturbation `name` (annotations kept).

    Parameters
    ----------
    images : sequence of dataclass instances with an ``image`` field
        E.g. :class:`hdogreg.data.Mammogram`.
    name : str
        A key of :data:`hdogreg.perturb.PERTURBATIONS`.

    Returns
    -------
    list
        New objects (:func:`dataclasses.replace`); the inputs are not modified.

    Examples
    --------
    >>> from hdogreg.data.synth.pool import PoolImage
    >>> m = PoolImage(np.full((4, 4), 0.2, np.float32), np.zeros((4, 4), np.int32), 0.07,
    ...               "a", "p", "siemens", 0.07, False)
    >>> float(perturbed_images([m], "x4")[0].image.max()), float(m.image.max())
    (0.800000011920929, 0.20000000298023224)
    """
    if name not in PERTURBATIONS:
        raise ValueError(f"unknown perturbation {name!r}; expected one of {list(PERTURBATIONS)}")
    return [dataclasses.replace(m, image=perturb(m.image, name)) for m in images]


def spacing_twins(data_dir, images, spacing):
    """Image the breasts of `images` at `spacing` mm (:func:`~hdogreg.data.synth.benchmark.spacing_twin`).

    Parameters
    ----------
    data_dir : str or Path
        The generated benchmark the images come from.
    images : sequence of Mammogram
        Images of its INbreast-like set (their ``file_id`` is used).
    spacing : float

    Returns
    -------
    list of hdogreg.data.synth.pool.PoolImage
    """
    from .data.synth.benchmark import spacing_twin

    return [spacing_twin(data_dir, m.file_id, spacing) for m in images]


def evaluate_condition(scores, threshold, *, n_boot=20, fp_at=0.4, seed=0):
    """Summary of one method on one condition.

    Parameters
    ----------
    scores : list of ImageScores
    threshold : float
        The method's operating point.
    n_boot, fp_at, seed : optional
        :func:`hdogreg.evaluation.detection_summary` settings.

    Returns
    -------
    row : dict
        ``tpr04`` (TPR at `fp_at` FP/cm^2 of the FROC curve), ``pauc``, ``pauc_lo``,
        ``pauc_hi``, ``tpr_op`` and ``fp_op`` (at `threshold`), ``n_images``, ``n_ref``.
    summary : DetectionSummary
    """
    from .evaluation.detection import detection_summary, operating_point

    det = detection_summary(scores, n_boot=n_boot, fp_at=fp_at, seed=seed)
    fp_op, tpr_op = operating_point(det, threshold)
    row = {"tpr04": float(det.tpr_at), "pauc": float(det.pauc), "pauc_lo": float(det.pauc_lo),
           "pauc_hi": float(det.pauc_hi), "tpr_op": tpr_op, "fp_op": fp_op,
           "n_images": int(det.n_images), "n_ref": int(det.n_ref)}
    return row, det


def robustness_table(methods, conditions, *, n_boot=20, fp_at=0.4, progress=True):
    """Score every method on every condition.

    Parameters
    ----------
    methods : sequence of Method
    conditions : dict or sequence of (str, str, callable or list)
        ``(condition, kind, images)``: a name, a group (e.g. ``"intensity"``, ``"spacing"``)
        and the images or a function returning them (called once; generating spacing twins
        takes time).
    n_boot, fp_at : optional
        :func:`evaluate_condition` settings.
    progress : bool, optional
        A tqdm bar over conditions x methods.

    Returns
    -------
    table : DataFrame
        One row per method and condition: ``method, condition, kind`` and the columns of
        :func:`evaluate_condition`.
    summaries : dict
        ``(method, condition) -> DetectionSummary`` (the FROC curves).
    """
    from tqdm import tqdm

    rows, summaries = [], {}
    conditions = list(conditions.items()) if isinstance(conditions, dict) else list(conditions)
    with tqdm(total=len(conditions) * len(methods), desc="robustness",
              disable=None if progress else True) as bar:
        for name, kind, images in conditions:
            images = images() if callable(images) else images
            for method in methods:
                bar.set_postfix_str(f"{method.name} | {name}")
                row, det = evaluate_condition(method.score(images), method.threshold,
                                              n_boot=n_boot, fp_at=fp_at)
                rows.append({"method": method.name, "condition": name, "kind": kind, **row})
                summaries[method.name, name] = det
                bar.update()
    return pd.DataFrame(rows), summaries


def spread_summary(table, kinds=None):
    """Range over conditions of each method's TPR at 0.4 FP/cm^2 and of its operating FP rate.

    Parameters
    ----------
    table : DataFrame
        From :func:`robustness_table`.
    kinds : sequence of str, optional
        Keep only conditions of these kinds (default: all).

    Returns
    -------
    DataFrame
        Index ``method`` (in the table's order); columns ``tpr04_min, tpr04_max, spread``
        (max - min), ``fp_op_min, fp_op_max``, ``n_conditions``.

    Examples
    --------
    >>> t = pd.DataFrame({"method": ["a", "a"], "condition": ["x", "y"], "kind": ["k", "k"],
    ...                   "tpr04": [0.5, 0.6], "fp_op": [0.3, 0.5]})
    >>> s = spread_summary(t)
    >>> round(float(s.loc["a", "spread"]), 3), float(s.loc["a", "fp_op_max"])
    (0.1, 0.5)
    """
    t = table if kinds is None else table[table["kind"].isin(list(kinds))]
    order = list(dict.fromkeys(t["method"]))
    g = t.groupby("method", sort=False)
    out = pd.DataFrame({"tpr04_min": g["tpr04"].min(), "tpr04_max": g["tpr04"].max(),
                        "fp_op_min": g["fp_op"].min(), "fp_op_max": g["fp_op"].max(),
                        "n_conditions": g["condition"].nunique()})
    out.insert(2, "spread", out["tpr04_max"] - out["tpr04_min"])
    return out.loc[order]


def lead_over(table, reference):
    """Each method's TPR at 0.4 FP/cm^2 minus that of a `reference` method, per condition.

    Parameters
    ----------
    table : DataFrame
        From :func:`robustness_table`.
    reference : str
        Name of the method to subtract (e.g. ``STUDY_METHODS["local_contrast"]``).

    Returns
    -------
    DataFrame
        Index ``condition`` (in the table's order), one column per other method (in the
        table's order); positive where the method is ahead.

    Raises
    ------
    ValueError
        If `reference` is not a method of `table`.

    Examples
    --------
    >>> t = pd.DataFrame({"method": ["a", "ref", "a", "ref"], "condition": ["x", "x", "y", "y"],
    ...                   "tpr04": [0.7, 0.6, 0.5, 0.6]})
    >>> lead_over(t, "ref").round(3)["a"].tolist()
    [0.1, -0.1]
    """
    if reference not in set(table["method"]):
        raise ValueError(f"reference {reference!r} is not a method of the table")
    tpr = table.pivot(index="condition", columns="method", values="tpr04")
    tpr = tpr.loc[list(dict.fromkeys(table["condition"])), list(dict.fromkeys(table["method"]))]
    return tpr.sub(tpr[reference], axis=0).drop(columns=reference)


def curves_frame(summaries):
    """Return the FROC curves of a study as one long DataFrame (for plotting).

    Parameters
    ----------
    summaries : dict
        ``(method, condition) -> DetectionSummary`` (:func:`robustness_table`).

    Returns
    -------
    DataFrame
        ``method, condition, threshold, fp_per_cm2, tpr`` (the finite-threshold points of
        each curve).
    """
    frames = []
    for (method, condition), det in summaries.items():
        keep = np.isfinite(np.asarray(det.thresholds, float))
        frames.append(pd.DataFrame({"method": method, "condition": condition,
                                    "threshold": np.asarray(det.thresholds, float)[keep],
                                    "fp_per_cm2": np.asarray(det.fp_per_cm2)[keep],
                                    "tpr": np.asarray(det.tpr)[keep]}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["method", "condition", "threshold", "fp_per_cm2", "tpr"])


def study_conditions(data_dir, images, perturbations=tuple(PERTURBATIONS), spacings=SPACINGS):
    """List the conditions of the study on `images` (for :func:`robustness_table`).

    Parameters
    ----------
    data_dir : str or Path
        The generated benchmark `images` come from (for the spacing twins).
    images : sequence of Mammogram
    perturbations : sequence of str, optional
        Keys of :data:`hdogreg.perturb.PERTURBATIONS` (``"original"``: the images as they are).
    spacings : sequence of float, optional
        Spacings (mm) of the twin conditions, named ``"0.1 mm"`` etc.

    Returns
    -------
    list of (str, str, list or callable)
        ``(condition, kind, images)``; perturbed and twin images are made when first needed.
    """
    images = list(images)
    out = []
    for name in perturbations:
        if name not in PERTURBATIONS:
            raise ValueError(f"unknown perturbation {name!r}; expected one of {list(PERTURBATIONS)}")
        out.append((name, KINDS.get(name, "perturbation"),
                    images if name == "original" else (lambda n=name: perturbed_images(images, n))))
    for s in spacings:
        out.append((f"{s:g} mm", "spacing", lambda s=s: spacing_twins(data_dir, images, s)))
    return out


def study_methods(data_dir, val_images, which=tuple(STUDY_METHODS), *, budget="cpu", stride=None,
                  fp_at=0.4, train_overrides=None, wang_yang_overrides=None, progress=True):
    """Build the methods of the study, each with its operating point.

    Parameters
    ----------
    data_dir : str or Path
        Benchmark whose training split trains the book's models
        (:func:`hdogreg.evaluation.default_model`, :func:`hdogreg.evaluation.wang_yang_model`,
        cached under the build folder).
    val_images : sequence of Mammogram
        Where the operating points of the book's models and of Wang & Yang are chosen (at
        `fp_at` FP/cm^2, :func:`threshold_on`). The shipped model keeps its own ``p_thr``
        (chosen on its validation pool, ``hdogreg/weights/default.json``).
    which : sequence of str, optional
        Keys of :data:`STUDY_METHODS`.
    budget : {"cpu", "paper"}, optional
        Training budget of the book's models.
    stride : int, optional
        Sliding-window stride of our method (default :data:`hdogreg.inference.FAST_STRIDE`).
    fp_at : float, optional
    train_overrides, wang_yang_overrides : dict, optional
        :class:`~hdogreg.training.TrainConfig` fields of the book's models and keyword
        arguments of :func:`~hdogreg.baselines.wang_yang.train_wang_yang` (e.g. small budgets).
    progress : bool, optional
        Training progress bars.

    Returns
    -------
    list of Method
        In the order of `which`.
    """
    from .evaluation.models import default_model, wang_yang_model
    from .inference import FAST_STRIDE
    from .pipeline import SegmentParams
    from .store import load_model, shipped_model_path

    stride = FAST_STRIDE if stride is None else int(stride)
    unknown = [k for k in which if k not in STUDY_METHODS]
    if unknown:
        raise ValueError(f"unknown methods {unknown}; expected some of {list(STUDY_METHODS)}")
    methods = []
    for key in which:
        name = STUDY_METHODS[key]
        if key == "shipped":
            model, settings = load_model(shipped_model_path())
            params = SegmentParams.from_checkpoint(settings, stride=stride)
            methods.append(fusion_method(name, model, params, params.p_thr))
        elif key in ("book", "book_raw"):
            normalize = "noise" if key == "book" else "none"
            model, _, _ = default_model(data_dir, budget, progress=progress, publish=False,
                                        **{**(train_overrides or {}), "normalize": normalize})
            params = SegmentParams(stride=stride, normalize=normalize)
            methods.append(fusion_method(name, model, params, val_images=val_images, fp_at=fp_at))
        elif key == "ciecholewski":
            methods.append(ciecholewski_method(name))
        elif key == "local_contrast":
            methods.append(local_contrast_method(name, val_images=val_images, fp_at=fp_at))
        else:
            model, _ = wang_yang_model(data_dir, budget, progress=progress,
                                       **(wang_yang_overrides or {}))
            methods.append(wang_yang_method(model, name, val_images=val_images, fp_at=fp_at))
    return methods

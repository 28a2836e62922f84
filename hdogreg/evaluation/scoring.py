"""Scoring of splits: every candidate object of every image with its score (:class:`ImageScores`).

:func:`score_split` runs our method (HDoG candidates cached in memory per image, proximity maps
cached on disk per model and image, the fusion scores of every candidate in one pass, so that
a threshold sweep over ``p_thr`` is only a filtering); :func:`ciecholewski_split` and
:func:`wang_yang_split` give the comparison methods' results in the same form, and
:func:`local_contrast_split` that of an unlearned reference ranking.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._utils import atomic_path, check_image, model_digest
from ..metrics.froc import breast_area_cm2
from ..spacing import NATIVE_SPACING
from ..standardize import DEFAULT_METHOD

__all__ = ["ImageScores", "score_split", "ciecholewski_split", "wang_yang_split", "local_contrast_split",
           "image_summary"]


@dataclass
class ImageScores:
    """One image's candidate objects with scores, its reference and its breast area.

    Object ``l`` of `labels` is a detection at threshold ``t`` iff ``scores[l - 1] >= t``
    (the convention of :func:`hdogreg.fusion.fuse` and :func:`hdogreg.metrics.froc_counts`).
    A method without a threshold (Ciecholewski) has all scores 1.

    Attributes
    ----------
    file_id, patient_id, vendor : str
    labels : (H, W) ndarray of int
        Candidate objects 1..n.
    scores : (n,) ndarray of float
    ref : (H, W) ndarray of int
        Reference objects (``Mammogram.mc_labels()``).
    breast_area_cm2 : float
    pixel_spacing : float
        mm per pixel of `labels` and `ref` (the image's own grid): the localisation rule is
        applied at 0.35 mm (:func:`hdogreg.metrics.localisation_distance`), 5 px at 0.07 mm.
    """

    file_id: str
    patient_id: str
    vendor: str | None
    labels: np.ndarray
    scores: np.ndarray
    ref: np.ndarray
    breast_area_cm2: float
    pixel_spacing: float = NATIVE_SPACING

    @property
    def max_distance(self):
        """Centroid distance (px of this grid) of the localisation rule."""
        from ..metrics.matching import localisation_distance

        return localisation_distance(self.pixel_spacing)

    @property
    def n_ref(self):
        """Number of reference objects."""
        return int(np.unique(self.ref[self.ref > 0]).size)

    def at(self, threshold):
        """Label image of the objects kept at `threshold` (labels unchanged, others 0)."""
        keep = np.r_[False, np.asarray(self.scores) >= threshold]
        return np.where(keep[self.labels], self.labels, 0)


def _compact(labels):
    labels = np.asarray(labels)
    top = int(labels.max(initial=0))
    return labels.astype(np.uint16 if top < 2**16 else np.int32, copy=False)


def _image_key(image):
    image = np.ascontiguousarray(image)
    return hashlib.blake2b(image.tobytes(), digest_size=16).hexdigest() + str(image.shape)


_HDOG_CACHE: dict = {}
_HDOG_CACHE_MAX = 160


def _native_and_hdog(image, pixel_spacing, params):
    """Return the image as both branches see it (:func:`~hdogreg.pipeline.native_input`), its HDoG labels.

    Cached in memory: they do not depend on the model, so a grid of models computes them once
    per image.
    """
    from ..hdog import hdog_segment
    from ..pipeline import native_input

    key = (_image_key(image), float(pixel_spacing), params.normalize,
           tuple(sorted(params.hdog_kwargs().items())))
    hit = _HDOG_CACHE.get(key)
    if hit is None:
        nat = native_input(image, params.normalize, pixel_spacing=pixel_spacing)
        labels = _compact(hdog_segment(nat.image, **params.hdog_kwargs()).labels)
        hit = (nat, labels)
        if len(_HDOG_CACHE) >= _HDOG_CACHE_MAX:
            _HDOG_CACHE.pop(next(iter(_HDOG_CACHE)))
        _HDOG_CACHE[key] = hit
    return hit


def _pmap(model, image, breast, params, digest, cache_dir, progress):
    """Proximity map of an image, cached on disk per (model, image, inference settings)."""
    from ..inference import predict_proximity

    path = None
    if cache_dir is not None and digest is not None:
        key = hashlib.sha256(json.dumps([digest, _image_key(image), params.inference_kwargs()],
                                        sort_keys=True).encode()).hexdigest()[:32]
        path = Path(cache_dir) / f"{key}.npy"
        if path.is_file():
            try:
                pmap = np.load(path)
                if pmap.shape == image.shape:
                    return pmap
            except (OSError, ValueError):
                pass
    pmap = predict_proximity(model, image, mask=breast, progress=progress, **params.inference_kwargs())
    if path is not None:
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, pmap)
    return pmap


def _pmap_cache_dir(cache):
    if cache is False or cache is None:
        return None
    if cache is True:
        from ..paths import build_dir

        return build_dir() / "cache" / "pmaps"
    return Path(cache)


def _iter_inputs(model, images, params, cache, progress, desc):
    """Yield (mammogram, NativeInput, hdog labels, pmap inside the fusion region) per image."""
    from tqdm import tqdm

    from ..pipeline import fusion_region

    cache_dir = _pmap_cache_dir(cache)
    digest = model_digest(model)[:24] if cache_dir is not None else None
    for m in tqdm(images, desc=desc, disable=None if progress else True):
        image = check_image(m.image, name=str(getattr(m, "file_id", "image")))
        nat, labels = _native_and_hdog(image, m.pixel_spacing, params)
        pmap = _pmap(model, nat.image, nat.breast, params, digest, cache_dir, False)
        region = fusion_region(nat.breast, params.breast_erosion)
        yield m, nat, labels, np.where(region, pmap, np.float32(0))


def _scores_from(m, nat, labels, fmap, params, o_thr=None):
    from ..fusion import fuse

    o = params.o_thr if o_thr is None else o_thr
    cand = fuse(labels, fmap, -np.inf, o, fill_holes=params.fill_holes)
    return ImageScores(str(m.file_id), str(m.patient_id), getattr(m, "vendor", None),
                       _compact(nat.labels_to_input(cand.labels)), np.asarray(cand.scores, float),
                       _compact(m.mc_labels()), breast_area_cm2(nat.breast, nat.native_spacing),
                       float(m.pixel_spacing))


def score_split(model, images, params=None, *, cache=True, progress=True, desc="scoring"):
    """Run the method on images: every HDoG candidate with its fusion score.

    Parameters
    ----------
    model : torch.nn.Module
        Regression network, ``(N, 1, H, W) -> (N, 1, H, W)``.
    images : sequence of Mammogram
    params : SegmentParams, optional
        Pipeline settings (default: the paper's); ``p_thr`` is ignored (every candidate is
        returned with the largest ``p_thr`` at which it is kept).
    cache : bool or path, optional
        Cache proximity maps on disk (default ``<build>/cache/pmaps``), keyed by the model's
        weights, the image and the inference settings; HDoG results are cached in memory.
    progress : bool, optional
    desc : str, optional
        Label of the progress bar.

    Returns
    -------
    list of ImageScores
        Candidates of :meth:`hdogreg.pipeline.SegmentationResult.candidates`: the fusion at
        ``p_thr = -inf`` with holes filled, so that ``scores >= p_thr`` reproduces the output
        at ``p_thr`` (up to holes bordered by several objects).
    """
    from ..pipeline import SegmentParams

    params = SegmentParams() if params is None else params
    return [_scores_from(*item, params)
            for item in _iter_inputs(model, images, params, cache, progress, desc)]


def _native(m, normalize):
    """``native_input`` of a Mammogram (its own spacing), the comparison methods' view of it."""
    from ..pipeline import native_input

    image = check_image(m.image, name=str(getattr(m, "file_id", "image")))
    return native_input(image, normalize, pixel_spacing=m.pixel_spacing)


def _baseline_split(images, normalize, desc, detect, progress):
    """Run ``detect(native) -> (labels, scores)`` on each image prepared by :func:`_native`."""
    from tqdm import tqdm

    out = []
    for m in tqdm(images, desc=desc, disable=None if progress else True):
        nat = _native(m, normalize)
        labels, scores = detect(nat)
        # a candidate whose disk is entirely taken by others (same centre) has no pixel left
        scores = np.asarray(scores, float)[: int(labels.max(initial=0))]
        out.append(ImageScores(str(m.file_id), str(m.patient_id), getattr(m, "vendor", None),
                               _compact(nat.labels_to_input(labels)), scores, _compact(m.mc_labels()),
                               breast_area_cm2(nat.breast, nat.native_spacing), float(m.pixel_spacing)))
    return out


def ciecholewski_split(images, *, normalize=DEFAULT_METHOD, progress=True, **kwargs):
    """Ciecholewski's segmentation of every image as :class:`ImageScores` (all scores 1).

    Each image is prepared as for our method (:func:`hdogreg.pipeline.native_input`: 0.07 mm,
    breast mask, standardisation `normalize`; ``"none"`` is the raw scale the method was
    published on); the breast mask bounds the segmentation, whose labels are mapped back
    onto the image's own grid. `kwargs` go to
    :func:`hdogreg.baselines.ciecholewski.ciecholewski_segment`.
    """
    from ..baselines.ciecholewski import ciecholewski_segment

    def detect(nat):
        labels = ciecholewski_segment(nat.image, breast_mask=nat.breast, **kwargs)
        return labels, np.ones(int(labels.max(initial=0)))

    return _baseline_split(images, normalize, "Ciecholewski", detect, progress)


def wang_yang_split(model, images, *, normalize=None, progress=True):
    """Wang & Yang detections (candidate disks with MC probabilities) as :class:`ImageScores`.

    Images are prepared as in :func:`ciecholewski_split`, standardised as the context network
    was trained (``model.normalize``, ``"none"`` if not recorded); a different `normalize`
    raises ValueError.
    """
    from ..baselines.wang_yang import wang_yang_detect

    trained = getattr(model, "normalize", "none")
    if normalize is None:
        normalize = trained
    elif normalize != trained:
        raise ValueError(f"the context network was trained with normalize={trained!r}, "
                         f"got normalize={normalize!r}")
    return _baseline_split(images, normalize, "Wang & Yang",
                           lambda nat: wang_yang_detect(model, nat.image, breast_mask=nat.breast), progress)


def local_contrast_split(images, *, normalize=DEFAULT_METHOD, progress=True, **kwargs):
    """DoG blobs ranked by local contrast (:mod:`hdogreg.baselines.local_contrast`) as :class:`ImageScores`.

    Images are prepared as in :func:`ciecholewski_split`; `kwargs` go to
    :func:`hdogreg.baselines.local_contrast.local_contrast_detect`.
    """
    from ..baselines.local_contrast import local_contrast_detect

    return _baseline_split(images, normalize, "local contrast",
                           lambda nat: local_contrast_detect(nat.image, breast_mask=nat.breast, **kwargs),
                           progress)


def image_summary(result, mammogram):
    """Measure the detection and segmentation of one segmented image against its annotations.

    The one-image counterpart of scoring a split (the walkthrough page): the localisation
    rule and one-to-one matching of :func:`hdogreg.metrics.match_detections`, false positives
    per cm^2 of the result's breast mask (:func:`hdogreg.metrics.breast_area_cm2`), the mean
    and MC-class IoU per image and the mean IoU per object.

    Parameters
    ----------
    result : hdogreg.pipeline.SegmentationResult
        Output of :func:`hdogreg.pipeline.segment_mammogram` for `mammogram`.
    mammogram : hdogreg.data.Mammogram
        The image with its annotations (``mc_labels()``) and ``pixel_spacing``.

    Returns
    -------
    summary : dict
        ``file_id, p_thr, o_thr, n_reference, n_candidates, n_kept, tp, fp, fn, tpr,
        fp_per_cm2, miou_per_image, iou_mc, iou_per_object`` (``tpr`` is 0 without reference
        MCs; ``iou_per_object`` NaN without a reference object of more than one pixel).
    """
    from ..metrics import iou_per_image, iou_per_object, localisation_distance, match_detections

    reference = mammogram.mc_labels()
    n_ref = int(reference.max(initial=0))
    matching = match_detections(result.labels, reference,
                                max_distance=localisation_distance(mammogram.pixel_spacing))
    miou, iou_mc = iou_per_image(result.mask, reference > 0)
    per_object = np.asarray(iou_per_object(result.labels, reference), float)
    area = breast_area_cm2(result.breast, mammogram.pixel_spacing)
    return {
        "file_id": mammogram.file_id,
        "p_thr": float(result.params.p_thr), "o_thr": float(result.params.o_thr),
        "n_reference": n_ref, "n_candidates": int(result.hdog.n_objects),
        "n_kept": int(result.fusion.n_objects),
        "tp": int(matching.n_tp), "fp": int(matching.n_fp), "fn": int(matching.n_fn),
        "tpr": matching.n_tp / n_ref if n_ref else 0.0,
        "fp_per_cm2": matching.n_fp / area if area > 0 else float("nan"),
        "miou_per_image": float(miou), "iou_mc": float(iou_mc),
        "iou_per_object": float(np.nanmean(per_object)) if np.isfinite(per_object).any() else float("nan"),
    }

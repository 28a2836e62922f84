"""Features of a whole case-study cohort, with an on-disk cache keyed by content.

:func:`casestudy_features` reads each ROI once (:mod:`~hdogreg.casestudy.rois`), segments it
by every requested method (:mod:`~hdogreg.casestudy.segmentation`) and describes each
segmentation by the 31 features of :mod:`hdogreg.features`; :func:`features_cache_key` is the
content hash under which the tables are cached.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from hdogreg._utils import atomic_path, file_sha256, model_digest, source_digest

from .rois import load_roi
from .segmentation import _NEEDS_MODEL, SEGMENTATION_METHODS, _check_methods, roi_segmentations

__all__ = ["features_cache_key", "casestudy_features"]

#: Modules whose code determines the case-study features: these and everything they import
#: (:func:`hdogreg._utils.source_digest`) are part of the cache key.
_FEATURE_ROOTS = ("hdogreg.casestudy.cohort", "hdogreg.features")


def features_cache_key(cohort, methods, *, model=None, params=None, fpn_threshold=None,
                       ciecholewski_kwargs=None, size=256, p_thrs=()):
    """Content hash of a :func:`casestudy_features` computation.

    It covers the methods, the network weights, every segmentation parameter, the ROI size,
    the cohort table and the bytes of its images, and the code of the modules the features
    depend on (ROI loading, HDoG, inference, fusion, baseline, features), so a cached result
    is reused only when recomputing would give the same numbers.
    """
    from hdogreg.pipeline import SegmentParams

    methods = _check_methods(methods)
    params = SegmentParams() if params is None else params
    cols = [c for c in ("roi_id", "image", "x0", "y0", "x1", "y1", "pixel_spacing") if c in cohort]
    table = cohort[cols].copy()
    table["image"] = [Path(p).name for p in table["image"]]
    images = {str(p): file_sha256(p) for p in dict.fromkeys(cohort["image"])}
    uses_model = bool(_NEEDS_MODEL & set(methods))
    payload = {
        "methods": sorted(methods),
        "model": ("none" if model is None else model_digest(model)) if uses_model else "unused",
        "params": {k: repr(v) for k, v in dataclasses.asdict(params).items()},
        "fpn_threshold": repr(fpn_threshold),
        "ciecholewski": repr(sorted((ciecholewski_kwargs or {}).items())),
        "size": int(size),
        "p_thrs": [repr(float(p)) for p in p_thrs],
        "cohort": table.to_csv(index=False),
        "images": sorted(images.values()),
        "code": source_digest(*_FEATURE_ROOTS),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def casestudy_features(cohort, methods=SEGMENTATION_METHODS, *, model=None, params=None,
                       fpn_threshold=None, ciecholewski_kwargs=None, p_thrs=(),
                       size=256, cache_dir=None, load=None, progress=None):
    """Compute the 31 features of every ROI of a cohort, for each segmentation method.

    Parameters
    ----------
    cohort : pandas.DataFrame
        ``roi_id, image, x0, y0, x1, y1`` and optionally ``pixel_spacing``
        (:func:`hdogreg.data.read_casestudy_cohort`).
    methods : sequence of str, optional
        Segmentation methods (:data:`SEGMENTATION_METHODS`, all by default).
    model, params, fpn_threshold, ciecholewski_kwargs, p_thrs
        See :func:`roi_segmentations`. ``p_thrs`` adds the tables of a threshold sweep of
        ``"ours"`` and ``"fpn"`` under the keys ``(method, p)``.
    size : int, optional
        Side of the fixed ROIs (the paper: 256), :func:`fixed_box`.
    cache_dir : str or Path, optional
        If given, the tables are stored there as ``features-<key>.csv`` (``key`` from
        :func:`features_cache_key`) and read back instead of recomputed when the key matches.
    load : callable, optional
        Image reader, see :func:`load_roi`. Not part of the cache key: pass ``cache_dir`` only
        with the default reader.
    progress : bool or None, optional
        tqdm progress bar over the ROIs.

    Returns
    -------
    tables : dict of str or tuple -> pandas.DataFrame
        For each method, in `methods` order (then the sweep's ``(method, p)`` keys), the
        features (:func:`hdogreg.features.roi_features`) of its segmentations: index ``roi_id`` in
        cohort order, columns :data:`hdogreg.features.FEATURE_NAMES` in physical units (each
        ROI's pixel spacing).

    Notes
    -----
    Each image is read once, its fixed-size ROI segmented by all methods at once
    (:func:`roi_segmentations`: the HDoG and the network run once per ROI).
    """
    from hdogreg.features import FEATURE_NAMES, roi_features

    methods = _check_methods(methods)
    need = {"roi_id", "image", "x0", "y0", "x1", "y1"}
    if need - set(cohort.columns):
        raise ValueError(f"cohort is missing columns {sorted(need - set(cohort.columns))}")
    ids = cohort["roi_id"].tolist()
    if len(set(ids)) != len(ids):
        dup = cohort["roi_id"][cohort["roi_id"].duplicated()].iloc[0]
        raise ValueError(f"roi_id {dup!r} appears more than once")
    if _NEEDS_MODEL & set(methods) and model is None:
        raise ValueError(f"methods {sorted(_NEEDS_MODEL & set(methods))} need the regression "
                         "network: pass model=")

    path = None
    if cache_dir is not None:
        key = features_cache_key(cohort, methods, model=model, params=params,
                                 fpn_threshold=fpn_threshold,
                                 ciecholewski_kwargs=ciecholewski_kwargs, size=size,
                                 p_thrs=p_thrs)
        path = Path(cache_dir) / f"features-{key[:32]}.csv"
        if path.is_file():
            cached = pd.read_csv(path, dtype={"roi_id": str, "method": str})
            tables = {}
            for (m, p), sub in cached.groupby(["method", "p_thr"], sort=False, dropna=False):
                tables[m if np.isnan(p) else (m, float(p))] = (
                    sub.set_index("roi_id").reindex([str(i) for i in ids])
                    .set_axis(pd.Index(ids, name="roi_id"))[list(FEATURE_NAMES)].astype(float))
            return tables

    rows = {}
    for row in tqdm(cohort.to_dict("records"), desc="ROIs",
                    disable=None if progress is None else not progress):
        roi, spacing, _ = load_roi(row, size, load=load)
        segs = roi_segmentations(roi, methods, model=model, params=params,
                                 fpn_threshold=fpn_threshold,
                                 ciecholewski_kwargs=ciecholewski_kwargs, p_thrs=p_thrs)
        for key, seg in segs.items():
            rows.setdefault(key, []).append(roi_features(seg, roi, pixel_spacing=spacing))
    index = pd.Index(ids, name="roi_id")
    tables = {k: pd.DataFrame(r, index=index, columns=list(FEATURE_NAMES)).astype(float)
              for k, r in rows.items()}
    if path is not None:
        long = pd.concat([
            t.assign(method=k[0] if isinstance(k, tuple) else k,
                     p_thr=k[1] if isinstance(k, tuple) else np.nan)
            for k, t in tables.items()
        ]).reset_index()
        with atomic_path(path) as tmp:
            long.to_csv(tmp, index=False, float_format="%.17g")
    return tables

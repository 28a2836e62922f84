"""Reference detector: DoG blobs ranked by their local contrast (no learning).

Not a method of the paper. It is the yardstick of the held-out measurement on real mammograms
(``../shared/notes/real-mammogram-statistics.md``, section 4): scale-space DoG blobs
(``skimage.feature.blob_dog``, here :func:`hdogreg.baselines.wang_yang.dog_candidates`) scored
by the brightest pixel of the 3 x 3 window at the blob's centre minus the median of the
15 x 15 window around it (:func:`local_contrast`). A learned ranking (ours, Wang & Yang) is
worth its training only if it ranks MCs above this one; the robustness study
(:mod:`hdogreg.robustness`) reports it beside them.

Candidates are disks of the blob radius (:func:`hdogreg.baselines.wang_yang.candidate_labels`),
scored as in :func:`hdogreg.metrics.froc_counts` (``scores[l - 1]`` for label ``l``).
"""

from __future__ import annotations

import numpy as np

from .._utils import check_image
from .wang_yang import BLOB_RADIUS_FACTOR, candidate_labels, dog_candidates

__all__ = ["PEAK_SIZE", "BACKGROUND_SIZE", "DOG_THRESHOLD", "local_contrast", "local_contrast_detect"]

#: Side (px) of the window whose maximum is the blob's peak value.
PEAK_SIZE = 3

#: Side (px) of the window whose median is the blob's background (about 1 mm at 0.07 mm).
BACKGROUND_SIZE = 15

#: DoG threshold of the candidates on the standardised scale (:mod:`hdogreg.standardize`):
#: low, so that the FROC curve is set by the ranking, not by the candidate list.
DOG_THRESHOLD = 0.003

_CHUNK = 8192   # positions per batch of windows (8192 x 15 x 15 float64: 15 MB)


def local_contrast(image, rows, cols, *, peak_size=PEAK_SIZE, background_size=BACKGROUND_SIZE):
    """Local contrast at given pixels: max over a small window minus median over a large one.

    Parameters
    ----------
    image : (H, W) array_like
        Mammogram, float.
    rows, cols : (n,) array_like of int
        Pixel positions (blob centres).
    peak_size, background_size : int, optional
        Odd window sides (px): the peak's (3) and the background's (15).

    Returns
    -------
    contrast : (n,) ndarray of float64
        ``max(image[peak window]) - median(image[background window])``; windows are clipped at
        the image border (edge pixels repeated).

    Examples
    --------
    >>> img = np.zeros((21, 21)); img[10, 10] = 1.0
    >>> local_contrast(img, [10, 0], [10, 0]).tolist()
    [1.0, 0.0]
    """
    img = np.asarray(check_image(image), dtype=np.float64)
    for name, size in (("peak_size", peak_size), ("background_size", background_size)):
        if int(size) != size or size < 1 or size % 2 == 0:
            raise ValueError(f"{name} must be an odd positive integer, got {size}")
    rows = np.asarray(rows, dtype=np.intp).ravel()
    cols = np.asarray(cols, dtype=np.intp).ravel()
    if rows.shape != cols.shape:
        raise ValueError(f"rows and cols differ in length: {rows.size} and {cols.size}")
    if rows.size and (rows.min() < 0 or cols.min() < 0 or rows.max() >= img.shape[0]
                      or cols.max() >= img.shape[1]):
        raise ValueError(f"positions outside the image of shape {img.shape}")
    half = int(background_size) // 2
    padded = np.pad(img, half, mode="edge")
    views = np.lib.stride_tricks.sliding_window_view(padded, (2 * half + 1, 2 * half + 1))
    p = int(peak_size) // 2
    out = np.empty(rows.size)
    for k in range(0, rows.size, _CHUNK):          # (chunk, B, B) windows centred on the positions
        windows = views[rows[k:k + _CHUNK], cols[k:k + _CHUNK]]
        peak = windows[:, half - p:half + p + 1, half - p:half + p + 1].max(axis=(1, 2))
        out[k:k + _CHUNK] = peak - np.median(windows.reshape(len(windows), -1), axis=1)
    return out


def local_contrast_detect(image, *, breast_mask=None, dog_threshold=DOG_THRESHOLD,
                          radius_factor=BLOB_RADIUS_FACTOR, **candidate_kw):
    """DoG candidates of one image scored by :func:`local_contrast`.

    Parameters
    ----------
    image : (H, W) array_like
        Mammogram at 0.07 mm, on the scale its `dog_threshold` refers to (standardised by
        default).
    breast_mask : (H, W) array of bool, optional
        Keep only candidates whose centre lies inside it.
    dog_threshold : float, optional
        Minimal DoG response of a candidate (:func:`hdogreg.baselines.wang_yang.dog_candidates`).
    radius_factor : float, optional
        Candidate disk radius in blob sigmas.
    **candidate_kw
        Other :func:`~hdogreg.baselines.wang_yang.dog_candidates` arguments (scales, overlap).

    Returns
    -------
    labels : (H, W) ndarray of int32
        Candidate disks labelled 1..n.
    scores : (n,) ndarray of float64
        Local contrast of candidate ``l`` at ``scores[l - 1]``.
    """
    image = check_image(image)
    blobs = dog_candidates(image, threshold=dog_threshold, breast_mask=breast_mask, **candidate_kw)
    labels = candidate_labels(image.shape, blobs, radius_factor=radius_factor)
    rc = np.round(blobs[:, :2]).astype(np.intp)
    rc[:, 0] = rc[:, 0].clip(0, image.shape[0] - 1)
    rc[:, 1] = rc[:, 1].clip(0, image.shape[1] - 1)
    return labels, local_contrast(image, rc[:, 0], rc[:, 1])

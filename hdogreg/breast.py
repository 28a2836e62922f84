"""Breast region of a mammogram (the authors' choice: 0.2 x Otsu, largest component)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage.filters import threshold_otsu

from ._utils import check_image

__all__ = ["breast_mask", "collimation_bands"]


def collimation_bands(image, *, fill=0.95, level=0.9):
    """Bright bands along the image edges (collimator blades, unexposed detector rows).

    Scanning inward from each edge, a row (or column) belongs to a band while at least
    `fill` of its pixels exceed ``min + 0.8 (max - min)`` and its median exceeds
    ``min + level (max - min)``: flat, near-saturated lines that tissue never forms.

    Parameters
    ----------
    image : (H, W) array_like

    Returns
    -------
    bands : (H, W) ndarray of bool

    Examples
    --------
    >>> img = np.zeros((8, 6)); img[3:6, 0:3] = 0.4; img[:2] = 1.0
    >>> collimation_bands(img).sum(axis=1).tolist()
    [6, 6, 0, 0, 0, 0, 0, 0]
    """
    img = np.asarray(image, dtype=np.float64)
    lo, hi = float(img.min()), float(img.max())
    bands = np.zeros(img.shape, bool)
    if hi <= lo:
        return bands
    t_fill, t_med = lo + 0.8 * (hi - lo), lo + level * (hi - lo)
    for axis in (0, 1):
        lines = img if axis == 0 else img.T
        out = bands if axis == 0 else bands.T
        n = lines.shape[0]
        for order in (range(n), range(n - 1, -1, -1)):
            for i in order:
                line = lines[i]
                if (line > t_fill).mean() >= fill and np.median(line) > t_med:
                    out[i] = True
                else:
                    break
    return bands


def _otsu_without_burn_ins(img, bands):
    """Otsu threshold of the image with small bright burn-ins (labels, markers) removed.

    Burnt-in text and markers are near-saturated and would pull Otsu's threshold between
    breast and burn-in instead of between air and breast. They are narrow, so a grey-level
    opening with a disk of radius 29 px, 2 mm at 0.07 mm (on a copy reduced to about
    256 px) removes them while
    the breast stays; collimation bands are left out.
    """
    from skimage.morphology import disk

    f = max(int(min(img.shape) // 256), 1)
    H, W = (img.shape[0] // f) * f, (img.shape[1] // f) * f
    small = img[:H, :W].reshape(H // f, f, W // f, f).mean(axis=(1, 3))
    keep = ~bands[:H, :W].reshape(H // f, f, W // f, f).any(axis=(1, 3))
    if min(small.shape) >= 64:  # a disk of radius ~2 mm at 0.07 mm/px (29 px) on the reduced copy
        small = ndi.grey_opening(small, footprint=disk(max(int(round(29 / f)), 2)))
    vals = small[keep] if keep.any() else small.ravel()
    if vals.min() == vals.max():
        vals = img[~bands] if (~bands).any() else img.ravel()
    return float(threshold_otsu(vals))


def breast_mask(image, fraction=0.2, *, name="image"):
    """Boolean mask of the breast: threshold, largest bright component, holes filled.

    Parameters
    ----------
    image : (H, W) array_like
        Mammogram (e.g. float in [0, 1]); breast bright, background dark.
    fraction : float, optional
        The threshold is ``fraction * otsu(image)`` (authors' code: 0.2): low enough to keep
        the dark, thin breast periphery.
    name : str, optional
        Name used in error messages (e.g. the file name).

    Returns
    -------
    mask : (H, W) ndarray of bool

    Raises
    ------
    ValueError
        If `fraction` is not in (0, 1], or no breast is found (constant or empty image).

    Notes
    -----
    Collimation bands along the image edges (:func:`collimation_bands`) are removed first
    and burnt-in labels and markers do not enter Otsu's threshold (a grey-level opening
    removes them from the copy it is computed on); then the largest 8-connected component
    above the threshold is kept, so labels, markers and detector-edge artefacts disconnected
    from the breast are dropped; holes are filled.

    Examples
    --------
    >>> img = np.zeros((6, 6)); img[1:5, 0:3] = 0.5; img[0, 5] = 0.5
    >>> int(breast_mask(img).sum())
    12
    """
    if not (0 < fraction <= 1):
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    img = check_image(image, name)
    lo, hi = float(img.min()), float(img.max())
    if hi <= lo:
        raise ValueError(f"{name}: no breast found (constant image, value {lo:g})")
    bands = collimation_bands(img)
    thr = fraction * _otsu_without_burn_ins(img, bands)
    fg = (img > thr) & ~bands
    labels, n = ndi.label(fg, structure=np.ones((3, 3), bool))
    if n == 0:
        raise ValueError(f"{name}: no breast found (nothing above {thr:g})")
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    mask = labels == int(np.argmax(sizes))
    return ndi.binary_fill_holes(mask)

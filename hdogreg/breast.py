"""Breast region of a mammogram (the authors' choice: 0.2 x Otsu, largest component)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage.filters import threshold_otsu

from ._utils import check_image

__all__ = ["breast_mask"]


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
    The largest 8-connected component above the threshold is kept, so labels, markers and
    detector-edge artefacts disconnected from the breast are dropped; holes are filled.

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
    thr = fraction * float(threshold_otsu(img))
    fg = img > thr
    labels, n = ndi.label(fg, structure=np.ones((3, 3), bool))
    if n == 0:
        raise ValueError(f"{name}: no breast found (nothing above {thr:g})")
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    mask = labels == int(np.argmax(sizes))
    return ndi.binary_fill_holes(mask)

"""Proximity function of the annotated microcalcifications (Eq. 7-9).

The regression network of the paper is not trained on binary masks but on a smooth
*proximity map*: 1 on annotated MC pixels, decaying with the distance ``r`` to the nearest
annotated pixel, and 0 beyond the characteristic distance ``xi``.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from ._validation import check_xi

__all__ = ["proximity_function", "proximity_map", "points_to_mask"]

#: Below this |alpha| the linear limit 1 - r / xi is used (the paper's 1e-4 is above it).
_ALPHA_LINEAR = 1e-8


def proximity_function(r, xi=10.0, alpha=1.0):
    r"""Proximity ``g`` as a function of the distance to an annotated MC (Eq. 8).

    Parameters
    ----------
    r : array_like
        Non-negative distances in pixels (Eq. 9).
    xi : float, optional
        Characteristic distance: ``g`` vanishes for ``r > xi``. Must be > 0.
    alpha : float, optional
        Decay rate. ``alpha > 0`` gives a peaked profile (fast fall near the MC, long tail,
        below the linear cone), ``alpha < 0`` a plateau (stays high near the MC, falls near
        ``xi``, above the cone), and ``alpha -> 0`` the linear limit ``1 - r / xi``. The paper
        uses ``alpha`` in {-2, -1, 1e-4, 1, 2}.

    Returns
    -------
    g : ndarray of float32
        Values in [0, 1]; 1 at ``r = 0``, 0 for ``r >= xi``, monotonically decreasing.

    Notes
    -----
    .. math::

        g(r) = \begin{cases} \dfrac{e^{\alpha (1 - r/\xi)} - 1}{e^{\alpha} - 1}, & r \le \xi \\
               0, & r > \xi \end{cases}

    evaluated with ``expm1`` so that small ``|alpha|`` loses no precision; for
    ``|alpha| < 1e-8`` the limit ``1 - r/xi`` is returned.

    References
    ----------
    .. [1] Marasinou C. et al. (2023), Eq. 8.
    .. [2] Kainz P. et al. (2015), "You should use regression to detect cells", MICCAI.

    Examples
    --------
    >>> proximity_function([0, 5, 10, 11], xi=10, alpha=1e-4).round(3)
    array([1. , 0.5, 0. , 0. ], dtype=float32)
    """
    check_xi(xi)
    if not np.isfinite(alpha):
        raise ValueError(f"alpha must be finite, got {alpha}")
    r = np.asarray(r, dtype=np.float64)
    if np.any(r < 0):
        raise ValueError("distances r must be >= 0")
    t = np.clip(1.0 - r / xi, 0.0, None)
    if abs(alpha) < _ALPHA_LINEAR:
        g = t
    else:
        g = np.expm1(alpha * t) / np.expm1(alpha)
    return g.astype(np.float32)


def proximity_map(mask, xi=10.0, alpha=1.0):
    """Proximity map P(x, y) of an annotation mask (Eq. 7-9).

    Parameters
    ----------
    mask : (H, W) array_like of bool
        Annotated MC pixels: single pixels for point annotations, filled regions for
        contours (every pixel of a contour counts as an MC location).
    xi, alpha : float, optional
        Parameters of :func:`proximity_function` (paper's choice: ``xi=10``, ``alpha=1``).

    Returns
    -------
    P : (H, W) ndarray of float32
        ``max_i g(r_i)`` over all annotated pixels ``i``. Because ``g`` decreases with ``r``
        this equals ``g`` of the Euclidean distance to the nearest annotated pixel, which is
        computed with one exact Euclidean distance transform. An empty mask gives zeros.

    References
    ----------
    .. [1] Marasinou C. et al. (2023), Eq. 7-9.

    Examples
    --------
    >>> m = np.zeros((1, 7), bool); m[0, 0] = True
    >>> proximity_map(m, xi=4, alpha=1e-4).round(2)
    array([[1.  , 0.75, 0.5 , 0.25, 0.  , 0.  , 0.  ]], dtype=float32)
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2-D, got shape {mask.shape}")
    check_xi(xi)
    mask = mask.astype(bool, copy=False)
    if not mask.any():
        return np.zeros(mask.shape, np.float32)
    # Only distances up to xi matter; the EDT is exact everywhere.
    distance = ndi.distance_transform_edt(~mask)
    return proximity_function(distance, xi=xi, alpha=alpha)


def points_to_mask(points, shape):
    """Rasterize (row, col) point annotations to a boolean mask (nearest pixel).

    Parameters
    ----------
    points : (n, 2) array_like
        Point coordinates as (row, col), possibly fractional.
    shape : tuple of int
        Shape of the output mask.

    Returns
    -------
    mask : ndarray of bool

    Raises
    ------
    ValueError
        If a point falls outside the image.
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    idx = np.rint(pts).astype(np.int64)
    outside = (idx < 0).any(axis=1) | (idx[:, 0] >= shape[0]) | (idx[:, 1] >= shape[1])
    if outside.any():
        bad = pts[np.argmax(outside)]
        raise ValueError(f"point (row={bad[0]:g}, col={bad[1]:g}) lies outside an image of shape "
                         f"{tuple(shape)}")
    mask = np.zeros(shape, bool)
    mask[idx[:, 0], idx[:, 1]] = True
    return mask

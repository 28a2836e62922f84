"""Fixed-size ROIs of the case study: boxes of one size around the annotated bounding boxes.

Every annotated bounding box becomes a fixed ``size x size`` box around its centre
(:func:`fixed_box`, :func:`crop`), removing the annotation-size bias; :func:`load_roi` reads
the ROI of one cohort row.
"""

from __future__ import annotations

import numpy as np

__all__ = ["fixed_box", "crop", "load_roi"]


def _fixed_interval(lo, hi, size, length):
    centre = (lo + hi) / 2.0
    if length <= size:
        return 0, int(length)
    start = int(np.floor(centre - size / 2.0 + 0.5))
    start = min(max(start, 0), int(length) - size)
    return start, start + size


def fixed_box(bbox, size=256, *, shape):
    """Return a ``size`` x ``size`` box with the same centre as a bounding box, inside the image.

    Parameters
    ----------
    bbox : sequence of 4 numbers
        ``(x0, y0, x1, y1)``: x = column, y = row (INbreast's convention), half-open like
        Python slices (the box covers columns ``x0 .. x1 - 1``).
    size : int, optional
        Side of the fixed box in pixels (the paper: 256).
    shape : tuple of int
        ``(rows, cols)`` of the image.

    Returns
    -------
    box : tuple of 4 int
        ``(x0, y0, x1, y1)``, half-open, with ``x1 - x0 == size`` and ``y1 - y0 == size``
        whenever the image is at least ``size`` pixels along that axis.

    Notes
    -----
    The box is centred on the bounding box centre ``((x0 + x1) / 2, (y0 + y1) / 2)`` (start
    rounded half up). Near the border it is *shifted* inward rather than cut, so that every
    ROI keeps the same size; its centre then moves by the shift. Along an axis shorter than
    ``size`` the box is the whole axis.

    Examples
    --------
    >>> fixed_box((400, 300, 440, 320), 256, shape=(1000, 800))
    (292, 182, 548, 438)
    >>> fixed_box((10, 900, 50, 990), 256, shape=(1000, 800))  # shifted inside at the border
    (0, 744, 256, 1000)
    """
    if len(bbox) != 4:
        raise ValueError(f"bbox must be (x0, y0, x1, y1), got {bbox!r}")
    x0, y0, x1, y1 = (float(v) for v in bbox)
    if not (x1 > x0 and y1 > y0):
        raise ValueError(f"bbox must have x1 > x0 and y1 > y0, got {tuple(bbox)}")
    if int(size) != size or size < 1:
        raise ValueError(f"size must be a positive integer, got {size}")
    size = int(size)
    rows, cols = (int(s) for s in shape[:2])
    if rows < 1 or cols < 1:
        raise ValueError(f"shape must be positive, got {tuple(shape)}")
    if not (0 <= (x0 + x1) / 2 <= cols and 0 <= (y0 + y1) / 2 <= rows):
        raise ValueError(f"bbox {tuple(bbox)} has its centre outside an image of shape {tuple(shape)}")
    bx0, bx1 = _fixed_interval(x0, x1, size, cols)
    by0, by1 = _fixed_interval(y0, y1, size, rows)
    return bx0, by0, bx1, by1


def crop(image, box):
    """Return the part of `image` inside ``box = (x0, y0, x1, y1)`` (half-open; x = column)."""
    x0, y0, x1, y1 = (int(v) for v in box)
    return np.asarray(image)[y0:y1, x0:x1]


def _read_image(path, pixel_spacing):
    from hdogreg.data.io import read_image  # the loaders' [0, 1] scale

    image, meta = read_image(path, pixel_spacing)
    return image, meta["pixel_spacing"]


def load_roi(row, size=256, *, load=None):
    """Return the fixed-size ROI of one cohort row.

    Parameters
    ----------
    row : mapping or namedtuple
        With ``image, x0, y0, x1, y1`` and optionally ``pixel_spacing`` (a row of
        :func:`hdogreg.data.read_casestudy_cohort`).
    size : int, optional
        Side of the fixed box (:func:`fixed_box`).
    load : callable, optional
        ``load(path, pixel_spacing) -> (image, pixel_spacing)``; default reads the image with
        :func:`hdogreg.data.io.read_image` (float32 in [0, 1]).

    Returns
    -------
    roi : (size, size) ndarray of float32
        Unless the image is smaller.
    pixel_spacing : float
        mm per pixel (the cohort's value, else the file's).
    box : tuple of int
        ``(x0, y0, x1, y1)`` of the ROI in the image (half-open, x = column).
    """
    get = row.get if hasattr(row, "get") else (lambda k, d=None: getattr(row, k, d))
    spacing = get("pixel_spacing", None)
    if spacing is not None and not np.isfinite(spacing):
        spacing = None
    image, spacing = (load or _read_image)(get("image"), spacing)
    box = fixed_box((get("x0"), get("y0"), get("x1"), get("y1")), size, shape=np.shape(image))
    return crop(image, box), spacing, box

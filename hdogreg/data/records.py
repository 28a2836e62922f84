"""Records shared by every loader: one annotated calcification, one mammogram."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from skimage import draw

__all__ = ["DataError", "Annotation", "Mammogram", "rasterize_polygon", "polygon_area",
           "annotations_to_labels"]

KINDS = ("point", "contour")


class DataError(ValueError):
    """Bad input data: the message names the file and the problem."""


class DataWarning(UserWarning):
    """Input data read with a repair (e.g. an ROI clipped to the image): names the file and what."""


@dataclass
class Annotation:
    """One calcification as annotated.

    Parameters
    ----------
    kind : {"point", "contour"}
        ``"point"``: a single annotated pixel; ``"contour"``: a polygon whose filled
        interior (plus its outline) is the calcification.
    points : (n, 2) ndarray of float
        Coordinates as (row, col). One row for a point, >= 1 vertices for a contour.
    name : str
        The annotation's name (INbreast: ``"Calcification"``).
    """

    kind: str
    points: np.ndarray
    name: str = "Calcification"

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        pts = np.asarray(self.points, dtype=np.float64)
        if pts.size == 0:
            raise ValueError(f"{self.kind} annotation has no points")
        self.points = pts.reshape(-1, 2)
        if self.kind == "point" and len(self.points) != 1:
            raise ValueError(f"a point annotation has exactly one point, got {len(self.points)}")

    @property
    def centroid(self):
        """Mean vertex position (row, col)."""
        return self.points.mean(axis=0)


def polygon_area(points):
    """Return the area (px^2) enclosed by a polygon of (row, col) vertices (shoelace formula).

    Examples
    --------
    >>> polygon_area([[0, 0], [0, 4], [3, 4], [3, 0]])
    12.0
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    r, c = pts[:, 0], pts[:, 1]
    return float(0.5 * abs(np.dot(c, np.roll(r, -1)) - np.dot(r, np.roll(c, -1))))


def rasterize_polygon(points, shape):
    """Pixels of a filled polygon: interior pixel centres plus the outline.

    Parameters
    ----------
    points : (n, 2) array_like
        Vertices as (row, col), n >= 1.
    shape : tuple of int
        Image shape; pixels outside are clipped.

    Returns
    -------
    rr, cc : ndarray of int
        Row and column indices (unique).

    Notes
    -----
    ``skimage.draw.polygon`` alone keeps pixels whose centre is strictly inside, so thin
    or tiny contours can vanish; the outline (``skimage.draw.line`` between consecutive
    vertices rounded to pixels) is added so that a
    contour always covers the pixels it passes through.
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    r, c = pts[:, 0], pts[:, 1]
    rr1, cc1 = draw.polygon(r, c, shape=shape)
    ri, ci = np.rint(r).astype(np.int64), np.rint(c).astype(np.int64)
    n = len(ri)
    outline = [draw.line(ri[i], ci[i], ri[(i + 1) % n], ci[(i + 1) % n]) for i in range(n)]
    rr = np.concatenate([rr1, *(o[0] for o in outline)]).astype(np.int64)
    cc = np.concatenate([cc1, *(o[1] for o in outline)]).astype(np.int64)
    ok = (rr >= 0) & (rr < shape[0]) & (cc >= 0) & (cc < shape[1])
    flat = np.unique(rr[ok] * shape[1] + cc[ok])
    return flat // shape[1], flat % shape[1]


def annotations_to_labels(annotations, shape):
    """Label image of annotations: annotation ``i`` gets label ``i + 1``.

    Points cover the nearest pixel, contours their filled polygon
    (:func:`rasterize_polygon`). Later annotations overwrite earlier ones where they overlap.

    Raises
    ------
    ValueError
        If a point lies outside the image.
    """
    labels = np.zeros(shape, np.int32)
    for i, ann in enumerate(annotations, start=1):
        if ann.kind == "point":
            r, c = np.rint(ann.points[0]).astype(np.int64)
            if not (0 <= r < shape[0] and 0 <= c < shape[1]):
                raise ValueError(
                    f"point (row={ann.points[0][0]:g}, col={ann.points[0][1]:g}) lies outside "
                    f"an image of shape {tuple(shape)}")
            labels[r, c] = i
        else:
            rr, cc = rasterize_polygon(ann.points, shape)
            labels[rr, cc] = i
    return labels


@dataclass
class Mammogram:
    """A mammogram with its calcification annotations.

    Attributes
    ----------
    image : (H, W) ndarray of float32
        ``raw / intensity_scale`` in [0, 1] (full bit depth, no 8-bit quantisation).
    pixel_spacing : float
        mm per pixel.
    file_id, patient_id : str
    laterality : {"L", "R"} or str
    view : {"CC", "MLO", "ML", ...}
    annotations : list of Annotation
        Calcifications only (other lesion types are in ``other_annotations``).
    intensity_scale : float
        The divisor that mapped raw values to [0, 1] (``2**BitsStored - 1`` for DICOM).
    path : Path or None
    vendor : str or None
    other_annotations : list of Annotation
        Non-calcification ROIs (masses, clusters, ...), kept separately.
    """

    image: np.ndarray
    pixel_spacing: float
    file_id: str
    patient_id: str
    laterality: str
    view: str
    annotations: list = field(default_factory=list)
    intensity_scale: float = 1.0
    path: Path | None = None
    vendor: str | None = None
    other_annotations: list = field(default_factory=list)

    @property
    def shape(self):
        """``(rows, cols)`` of the image."""
        return self.image.shape

    @property
    def bits(self):
        """Bit depth of the stored values: ``intensity_scale = 2**bits - 1`` (None otherwise).

        Examples
        --------
        >>> Mammogram(np.zeros((2, 2)), 0.07, "a", "p", "L", "CC", intensity_scale=16383).bits
        14
        >>> Mammogram(np.zeros((2, 2)), 0.07, "a", "p", "L", "CC", intensity_scale=1000.0).bits is None
        True
        """
        scale = float(self.intensity_scale)
        bits = int(round(np.log2(scale + 1))) if scale >= 1 else 0
        return bits if bits >= 1 and 2**bits - 1 == scale else None

    def mc_labels(self) -> np.ndarray:
        """int32 label image, label ``i + 1`` for ``annotations[i]`` (points are 1 pixel)."""
        return annotations_to_labels(self.annotations, self.image.shape)

    def mc_mask(self) -> np.ndarray:
        """Boolean mask of all annotated calcification pixels."""
        return self.mc_labels() > 0

    def mc_points(self) -> np.ndarray:
        """(n, 2) array of annotation centroids (row, col), one per annotation."""
        if not self.annotations:
            return np.zeros((0, 2))
        return np.array([a.centroid for a in self.annotations])

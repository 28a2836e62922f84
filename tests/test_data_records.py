"""Annotation / Mammogram records and rasterization."""

import numpy as np
import pytest

from hdogreg.data import Annotation, Mammogram, annotations_to_labels, rasterize_polygon


def _mammo(anns, shape=(20, 30)):
    return Mammogram(image=np.zeros(shape, np.float32), pixel_spacing=0.07, file_id="1",
                     patient_id="p", laterality="L", view="CC", annotations=anns, intensity_scale=16383.0)


def test_point_is_one_pixel_at_row_col():
    m = _mammo([Annotation("point", [[3.4, 7.6]])])
    lab = m.mc_labels()
    assert lab.dtype == np.int32
    assert np.argwhere(lab).tolist() == [[3, 8]]
    assert m.mc_mask().sum() == 1


def test_contour_is_filled_polygon_and_labels_follow_annotation_order():
    square = [[2, 2], [2, 6], [6, 6], [6, 2]]
    anns = [Annotation("contour", square), Annotation("point", [[10, 10]]), Annotation("point", [[15, 20]])]
    lab = _mammo(anns).mc_labels()
    assert (lab == 1).sum() == 25           # 5x5 filled, boundary included
    assert lab[4, 4] == 1 and lab[10, 10] == 2 and lab[15, 20] == 3
    assert set(np.unique(lab)) == {0, 1, 2, 3}


def test_tiny_or_degenerate_contours_are_not_lost():
    rr, cc = rasterize_polygon([[5.5, 5.5], [5.5, 6.5], [6.5, 6.5]], (10, 10))
    assert len(rr) >= 1
    rr, cc = rasterize_polygon([[1, 1], [1, 4]], (10, 10))  # a 2-vertex "polygon" is a line
    assert sorted(cc.tolist()) == [1, 2, 3, 4]


def test_point_outside_image_raises():
    with pytest.raises(ValueError, match="outside"):
        annotations_to_labels([Annotation("point", [[25, 3]])], (20, 30))


@pytest.mark.parametrize("kind,points", [("blob", [[1, 1]]), ("point", [[1, 1], [2, 2]]),
                                         ("contour", np.zeros((0, 2)))])
def test_bad_annotations_rejected(kind, points):
    with pytest.raises(ValueError):
        Annotation(kind, points)

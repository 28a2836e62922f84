"""Breast mask against the generator's true breast region."""

import numpy as np
import pytest

from hdogreg.breast import breast_mask
from hdogreg.data.synth import synth_mammogram


@pytest.mark.parametrize("view,lat,vendor", [("CC", "L", "siemens"), ("MLO", "R", "siemens"),
                                             ("ML", "L", "hologic")])
def test_dice_with_true_breast(view, lat, vendor):
    sim = synth_mammogram(3, (320, 256), view=view, laterality=lat, vendor=vendor, n_clusters=1, n_single=2)
    mask = breast_mask(sim.raw / (2**sim.bits - 1))
    dice = 2 * (mask & sim.breast).sum() / (mask.sum() + sim.breast.sum())
    assert dice > 0.98


def test_keeps_largest_component_and_fills_holes():
    img = np.zeros((50, 50))
    img[10:40, 0:30] = 0.6
    img[20:25, 10:15] = 0.0        # hole (dark spot inside the breast)
    img[2:5, 45:48] = 0.9          # label / marker outside the breast
    mask = breast_mask(img)
    assert mask[22, 12] and not mask[3, 46]
    assert mask.sum() == 30 * 30


@pytest.mark.parametrize("img", [np.zeros((20, 20)), np.full((20, 20), 0.4)])
def test_no_breast_found(img):
    with pytest.raises(ValueError, match="no breast found"):
        breast_mask(img, name="x.dcm")


def test_bad_fraction():
    with pytest.raises(ValueError, match="fraction must be in"):
        breast_mask(np.eye(4), fraction=0)

"""Domain-randomised training pools: synthetic mammograms of every look, dose and spacing.

The benchmark folder (:mod:`.benchmark`) imitates one data set - INbreast, one vendor. A model
meant for anyone's mammograms (the one shipped with the package, :mod:`hdogreg.train`) is
trained on a *pool* instead: images drawn in memory over the generator's four vendor looks
(each with its own ranges of dose, blur and noise correlation), over pixel spacings (generated
at that spacing, then resampled to the method's 0.07 mm as ``hdogreg segment`` does) and over
random windows, tone curves and bit depths (:func:`hdogreg.perturb.random_look`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .acquisition import VENDORS
from .mammogram import SPACING, shape_at, synth_mammogram

__all__ = ["PoolImage", "POOL_SPACINGS", "pool_image", "randomized_pool"]

#: Pixel spacings (mm) the pool draws from: 0.05 (Hologic/Siemens detectors), 0.07
#: (INbreast), 0.085-0.1 (GE, CR), 0.14 (binned or downsampled copies).
POOL_SPACINGS = (0.05, 0.07, 0.085, 0.1, 0.14)


@dataclass
class PoolImage:
    """A generated image with exact labels, shaped like :class:`hdogreg.data.Mammogram`.

    Pool images (:func:`pool_image`) are on the method's grid (0.07 mm); spacing twins
    (:func:`hdogreg.data.synth.benchmark.spacing_twin`) on their own.

    Attributes
    ----------
    image : (H, W) ndarray of float32
        In [0, 1], at ``pixel_spacing``.
    labels : (H, W) ndarray of int32
        Exact MC footprints (label ``i + 1`` = MC ``i``), on the same grid.
    pixel_spacing : float
    file_id, patient_id : str
    vendor : str
    source_spacing : float
        mm per pixel at which the image was generated before resampling.
    look : bool
        Whether :func:`hdogreg.perturb.random_look` was applied.
    """

    image: np.ndarray
    labels: np.ndarray
    pixel_spacing: float
    file_id: str
    patient_id: str
    vendor: str
    source_spacing: float
    look: bool

    def mc_labels(self):
        """Return the MC label image."""
        return self.labels

    def mc_mask(self):
        """Boolean mask of the MC pixels."""
        return self.labels > 0


def pool_image(seed, index, *, shape=(1280, 1024), vendors=tuple(VENDORS), spacings=POOL_SPACINGS,
               look_p=0.5, count_model="inbreast"):
    """Generate pool image `index` of pool `seed` (deterministic).

    Parameters
    ----------
    seed, index : int
    shape : (int, int)
        Shape on the 0.07 mm grid; the image is generated at its spacing with the same
        physical size (``round(n * 0.07 / spacing)`` px).
    vendors : sequence of str
        Looks drawn in turn (``vendors[index % len(vendors)]``).
    spacings : sequence of float
        Generation spacings, drawn uniformly.
    look_p : float
        Probability of a further :func:`hdogreg.perturb.random_look`.
    count_model : {"inbreast", "dense"}
        Calcifications per image (:data:`.calcifications.COUNT_MODELS`).

    Returns
    -------
    PoolImage
    """
    from hdogreg.perturb import random_look
    from hdogreg.spacing import labels_to_input, to_native

    rng = np.random.default_rng([int(seed), 7, int(index)])
    vendor = str(vendors[int(index) % len(vendors)])
    spacing = float(rng.choice(np.asarray(spacings, float)))
    gen_shape = shape_at(shape, spacing)
    sim = synth_mammogram(rng, gen_shape, view=str(rng.choice(["CC", "MLO"])),
                          laterality=str(rng.choice(["L", "R"])), vendor=vendor, spacing=spacing,
                          count_model=count_model)
    image = (sim.raw / float(2**sim.bits - 1)).astype(np.float32)
    image = to_native(image, spacing, SPACING)
    labels = labels_to_input(np.asarray(sim.labels, np.int32), image.shape)
    looked = bool(rng.random() < look_p)
    if looked:
        image = random_look(image, rng)
    name = f"pool{int(seed)}-{int(index):04d}"
    return PoolImage(image=np.asarray(image, np.float32), labels=labels, pixel_spacing=SPACING,
                     file_id=name, patient_id=name, vendor=vendor, source_spacing=spacing, look=looked)


def _pool_item(args):
    seed, index, kwargs = args
    return pool_image(seed, index, **kwargs)


def randomized_pool(n, seed=0, *, jobs=1, progress=None, **kwargs):
    """Generate `n` pool images (:func:`pool_image` ``(seed, 0 .. n-1)``), in `jobs` processes.

    Parameters
    ----------
    n : int
    seed : int
    jobs : int
        Worker processes (the result does not depend on it).
    progress : bool or None
        tqdm bar (None: only in a terminal).
    **kwargs
        :func:`pool_image` options.

    Returns
    -------
    list of PoolImage
    """
    from ..._utils import parallel_map

    items = [(int(seed), i, kwargs) for i in range(int(n))]
    return parallel_map(_pool_item, items, jobs, f"pool {seed}", progress)

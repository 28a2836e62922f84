"""Training the proximity regression FPN: patches, augmentation, soft Dice (Eq. 10), the loop.

The paper trains the FPN of :mod:`hdogreg.regression` on 512-pixel patches (stride 480) that
contain annotated MCs, augmented (horizontal flip, magnification, translation, random crop to
320, contrast, brightness, gamma), against proximity-map targets (Eq. 7-9, :mod:`hdogreg.proximity`)
with the soft Dice loss of Eq. 10, Adam (lr 1e-4, betas 0.9/0.999, eps 1e-8), batch 8, 40 epochs,
keeping the epoch with the best validation IoU per patch; it then fine-tunes for another 40
epochs on INbreast + local patches. :meth:`TrainConfig.paper` is that configuration;
:class:`TrainConfig` defaults are a small CPU budget for the book.

Images enter at full bit depth as float32 in [0, 1]; nothing is quantised to 8 bits. The
public names below are importable from ``hdogreg.training``; they live in

* :mod:`~hdogreg.training.losses` -- :func:`soft_dice_loss` (Eq. 10), :func:`iou_per_patch`;
* :mod:`~hdogreg.training.patches` -- :func:`extract_patches`, :class:`Augment`,
  :class:`PatchDataset`;
* :mod:`~hdogreg.training.config` -- :class:`TrainConfig`, :class:`TrainResult`,
  :func:`learning_rate`, the cache hashes :func:`data_hash` and :func:`config_hash`;
* :mod:`~hdogreg.training.loop` -- :func:`train`, :func:`fine_tune`, :func:`train_or_load`,
  :func:`patch_datasets` (a run's patch sets) and :func:`recalibrate_checkpoint` (BatchNorm
  statistics recomputed on many batches once training is done).
"""

from .config import LR_SCHEDULES, TrainConfig, TrainResult, config_hash, data_hash, learning_rate
from .loop import fine_tune, patch_datasets, recalibrate_checkpoint, train, train_or_load
from .losses import iou_per_patch, soft_dice_loss
from .patches import Augment, PatchDataset, Patches, extract_patches

__all__ = [
    "soft_dice_loss",
    "iou_per_patch",
    "Patches",
    "extract_patches",
    "Augment",
    "PatchDataset",
    "LR_SCHEDULES",
    "TrainConfig",
    "TrainResult",
    "learning_rate",
    "data_hash",
    "config_hash",
    "train",
    "fine_tune",
    "train_or_load",
    "patch_datasets",
    "recalibrate_checkpoint",
]

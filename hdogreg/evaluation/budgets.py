"""Compute budgets of the book: the training settings of every model the pages train.

:data:`BUDGETS` and :func:`default_train_config` are the one place that defines them.
"""

from __future__ import annotations

from ..standardize import DEFAULT_METHOD

__all__ = ["BUDGETS", "default_train_config", "grid_train_config", "wang_yang_settings"]


#: Compute budgets of the book. ``"cpu"`` is the CPU default
#: (:class:`hdogreg.training.TrainConfig` defaults: EfficientNet-Lite0 FPN with the half-width
#: decoder, 16 epochs of 10 steps of 8 crops of 160 px, lr 1e-3, ~3 min on 2 cores); ``"paper"`` is
#: :meth:`hdogreg.training.TrainConfig.paper` (Inception-v4, 40 epochs, batch 8, 512/480
#: patches, crop 320). ``"grid"`` overrides the ``"cpu"`` budget for each of the 20 cells of
#: Tables 1-2 (short: the grid ranks configurations, it does not produce the final model).
#: ``"wang_yang"`` is the CPU budget of the detection baseline (its author's recommendation:
#: 16 filters instead of 32; 30 steps of 64 patches, ~1.5 min; a step cap rather than a time
#: cap keeps the result independent of the machine's speed).
BUDGETS = {
    "cpu": {},
    "grid": {"epochs": 4, "steps_per_epoch": 10, "max_val_patches": 8, "bn_recalibration_batches": 4},
    "fine_tune": {"epochs": 4},
    "wang_yang": {"n_filters": 16, "epochs": 3, "max_patches": 2000, "max_steps": 30, "time_budget_s": None},
}


def _check_budget(budget):
    if budget not in ("cpu", "paper"):
        raise ValueError(f"budget must be 'cpu' or 'paper', got {budget!r}")


def default_train_config(budget="cpu", **overrides):
    """Training settings of the book's regression network.

    Parameters
    ----------
    budget : {"cpu", "paper"}, optional
        ``"cpu"``: :class:`hdogreg.training.TrainConfig` defaults (the book's CPU budget).
        ``"paper"``: :meth:`hdogreg.training.TrainConfig.paper` (40 epochs, batch 8,
        Inception-v4, 512/480 patches, crop 320).
    **overrides
        Any :class:`~hdogreg.training.TrainConfig` field (e.g. ``xi``, ``alpha``, ``epochs``).

    Returns
    -------
    TrainConfig
        With the paper's best proximity parameters ``xi = 10``, ``alpha = 1`` unless overridden.
    """
    from ..training.config import TrainConfig

    _check_budget(budget)
    if budget == "paper":
        return TrainConfig.paper(**overrides)
    return TrainConfig(**{**BUDGETS["cpu"], **overrides})


def grid_train_config(xi, alpha, budget="cpu", **overrides):
    """Return the settings of one cell of the xi x alpha grid (Tables 1-2).

    ``budget="cpu"`` shortens the default CPU budget by :data:`BUDGETS` ``["grid"]``;
    ``"paper"`` trains every cell with the paper's settings. `overrides` win over both.
    """
    _check_budget(budget)
    base = BUDGETS["grid"] if budget == "cpu" else {}
    return default_train_config(budget, **{**base, **overrides, "xi": float(xi), "alpha": float(alpha)})


def wang_yang_settings(budget="cpu", **overrides):
    """Keyword arguments of :func:`hdogreg.baselines.wang_yang.train_wang_yang`.

    ``"cpu"``: :data:`BUDGETS` ``["wang_yang"]`` (16 filters, 30 steps, ~1.5 min);
    ``"paper"``: the authors' network (32 filters) trained without caps (10 epochs, all
    patches).
    """
    _check_budget(budget)
    if budget == "paper":
        base = {"n_filters": 32, "epochs": 10, "max_patches": None, "max_steps": None, "time_budget_s": None}
    else:
        base = dict(BUDGETS["wang_yang"])
    return {**base, "seed": 0, "normalize": DEFAULT_METHOD, **overrides}

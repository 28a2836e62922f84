"""Model store: where checkpoints live, which one is the default, how one is installed.

The package ships one trained regression network (package data ``hdogreg/weights/``: an fp16
``state_dict``, its settings JSON with the validated operating point, and its training log),
made by ``python -m hdogreg.train default --out hdogreg/weights``. :func:`default_model_path`
resolves the model ``hdogreg segment`` uses when ``--model`` is not given:

1. ``$HDOGREG_MODEL``, if set;
2. the shipped model, :func:`shipped_model_path`.

The book trains its own models (its numbers come from its own run) under
``<build>/models`` (:func:`hdogreg.paths.models_dir`); :func:`install_model` copies one of
them, with settings such as a validated ``p_thr`` added to its JSON.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from ._utils import atomic_path, missing_file_message

__all__ = ["SHIPPED_NAME", "shipped_model_path", "default_model_path", "install_model", "load_model",
           "model_source"]

#: File name of the shipped checkpoint inside the package's ``weights`` folder.
SHIPPED_NAME = "default.pt"


def shipped_model_path():
    """Path of the model shipped with the package (``hdogreg/weights/default.pt``).

    Works for an installed wheel as for a source checkout (``importlib.resources``).

    Examples
    --------
    >>> shipped_model_path().name
    'default.pt'
    """
    from importlib.resources import files

    return Path(str(files("hdogreg") / "weights" / SHIPPED_NAME))


def default_model_path():
    """Return the checkpoint ``hdogreg segment`` uses: ``$HDOGREG_MODEL``, else the shipped model."""
    env = os.environ.get("HDOGREG_MODEL")
    if env:
        return Path(env)
    return shipped_model_path()


def model_source(path):
    """How `path` was chosen, for messages: ``"$HDOGREG_MODEL"``, ``"shipped"`` or ``"given"``."""
    path = Path(path)
    env = os.environ.get("HDOGREG_MODEL")
    if env and Path(env) == path:
        return "$HDOGREG_MODEL"
    if path == shipped_model_path():
        return "shipped"
    return "given"


def _plain(obj):
    """JSON fallback for NumPy scalars and paths."""
    return obj.item() if hasattr(obj, "item") else str(obj)


def install_model(checkpoint, dest, **settings):
    """Copy a checkpoint (``.pt`` and its ``.json``) to `dest`, adding `settings` to the JSON.

    Parameters
    ----------
    checkpoint : str or Path
        A checkpoint written by :func:`hdogreg.regression.save_checkpoint` (e.g.
        ``TrainResult.best_checkpoint``).
    dest : str or Path
        Destination ``.pt`` (its JSON beside it).
    **settings
        Settings to add to or override in the copied JSON, e.g. ``p_thr=`` chosen on the
        validation set (``hdogreg segment`` uses a checkpoint's ``p_thr``).

    Returns
    -------
    dest : Path

    Notes
    -----
    ``installed_from`` records the source checkpoint by its folder and file name (e.g.
    ``"ab12cd/best.pt"``), not by this machine's absolute path.
    """
    checkpoint = Path(checkpoint)
    meta = checkpoint.with_suffix(".json")
    for p in (checkpoint, meta):
        if not p.is_file():
            raise FileNotFoundError(f"{p}: checkpoint file not found")
    dest = Path(dest)
    values = {**json.loads(meta.read_text()), **settings}
    values["installed_from"] = f"{checkpoint.parent.name}/{checkpoint.name}"
    with atomic_path(dest) as tmp:
        shutil.copyfile(checkpoint, tmp)
    with atomic_path(dest.with_suffix(".json")) as tmp:
        tmp.write_text(json.dumps(values, indent=2, sort_keys=True, default=_plain) + "\n")
    return dest


def load_model(path=None):
    """Load a checkpoint (default :func:`default_model_path`): ``(model, settings)``.

    Raises
    ------
    FileNotFoundError
        Naming the path and how it was chosen.
    """
    from .regression import load_checkpoint

    path = default_model_path() if path is None else Path(path)
    if path.is_dir():
        raise FileNotFoundError(missing_file_message(path, "model checkpoint (.pt)"))
    if not path.is_file():
        how = {"$HDOGREG_MODEL": "set by $HDOGREG_MODEL", "shipped": "the shipped model is missing "
               "from this installation (reinstall hdogreg)", "given": "check the path"}[model_source(path)]
        raise FileNotFoundError(f"{path}: model checkpoint not found ({how})")
    return load_checkpoint(path)

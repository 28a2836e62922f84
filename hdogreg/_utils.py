"""Small shared helpers: input validation, atomic output writing, seeding."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np


def check_image(image, name="image", *, ndim=2, min_size=1):
    """Return `image` as a float array after checking its shape and values.

    Parameters
    ----------
    image : array_like
        The image to check.
    name : str, optional
        What to call it in error messages (e.g. a file name).
    ndim : int, optional
        Required number of dimensions.
    min_size : int, optional
        Smallest allowed length of every axis.

    Returns
    -------
    image : ndarray of float32 or float64
        A floating-point view/copy of the input; float64 input stays float64.

    Raises
    ------
    ValueError
        If the array has the wrong number of dimensions, is too small, or holds NaN/inf.
    """
    arr = np.asarray(image)
    if arr.ndim != ndim:
        raise ValueError(f"{name}: expected a {ndim}-D image, got shape {arr.shape}")
    if arr.size == 0 or min(arr.shape) < min_size:
        raise ValueError(f"{name}: image of shape {arr.shape} is smaller than {min_size} px per side")
    if arr.dtype.kind not in "fiub":
        raise ValueError(f"{name}: expected a numeric image, got dtype {arr.dtype}")
    if arr.dtype != np.float64:
        arr = arr.astype(np.float32, copy=False)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name}: image contains NaN or infinite values")
    return arr


def one_line(text):
    r"""Return a (possibly multi-line) message as one line: its non-empty lines joined by spaces.

    Libraries often end a message's first line on a colon and put the reason on the next
    ones; error tables and ``hdogreg: error:`` lines keep one line per error.

    Examples
    --------
    >>> one_line("Unable to decode as exceptions were raised by all plugins:\n  pyjpegls: bad stream\n")
    'Unable to decode as exceptions were raised by all plugins: pyjpegls: bad stream'
    """
    return " ".join(line.strip() for line in str(text).splitlines() if line.strip())


def missing_file_message(path, what="file"):
    """``"<path>: <what> not found"``, or that `path` is a folder where a file was expected.

    Examples
    --------
    >>> missing_file_message("/")
    '/: is a folder, expected a file'
    >>> missing_file_message("nope.xml", "annotation file")
    'nope.xml: annotation file not found'
    """
    path = Path(path)
    if path.is_dir():
        return f"{path}: is a folder, expected a{'n' if what[0] in 'aeiou' else ''} {what}"
    return f"{path}: {what} not found"


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path next to `path`; move it into place only on success.

    Outputs are written whole or not at all: if the body raises, the temporary file
    is removed and `path` is left untouched. The file gets the permissions of a new file
    (``0o666`` less the umask).

    Examples
    --------
    >>> with atomic_path("out.csv") as tmp:          # doctest: +SKIP
    ...     frame.to_csv(tmp)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~current_umask())   # mkstemp makes 0600; a new file respects the umask
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


@functools.cache
def current_umask():
    """Return the process's umask (read once: reading it means setting it back at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def default_rng(seed):
    """Return a NumPy Generator from an int seed, a Generator (returned as is) or None."""
    return np.random.default_rng(seed)


def torch_save(obj, path):
    """``torch.save`` `obj` to `path` atomically, with the same bytes for the same tensors.

    Saved straight to the temporary file of :func:`atomic_path`, the archive would record that
    file's random name inside it; saved to memory first it records a fixed one, so the same
    weights give the same file (a shipped model can be checked by its hash).
    """
    import io

    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())
    return Path(path)


def save_weights(path, model, settings, *, json_default=None):
    """Save ``model.state_dict()`` to `path` and `settings` to ``path.with_suffix('.json')``.

    Both files are written atomically; no model object is pickled, so a checkpoint is loaded
    by rebuilding the model from the JSON and ``torch.load(path, weights_only=True)``.
    """
    import json

    path = Path(path)
    text = json.dumps(settings, indent=2, sort_keys=True, default=json_default)
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    torch_save(state, path)
    with atomic_path(path.with_suffix(".json")) as tmp:
        tmp.write_text(text + "\n")
    return path


def file_sha256(path):
    """Return the SHA-256 hex digest of a file's bytes, read in 1 MiB chunks.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.txt"; _ = p.write_bytes(b"abc")
    >>> file_sha256(p)[:12]
    'ba7816bf8f01'
    """
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def parallel_map(fn, items, jobs=1, desc=None, progress=None):
    """``[fn(item) for item in items]`` in `jobs` worker processes, with a tqdm bar.

    Parameters
    ----------
    fn : callable
        A picklable (module-level) function of one item.
    items : sequence
    jobs : int, optional
        Worker processes; ``<= 1`` runs in this process. The result does not depend on it.
    desc : str, optional
        Label of the progress bar.
    progress : bool or None, optional
        Show the bar (None: only in a terminal).

    Returns
    -------
    list
        The results, in the order of `items`.

    Examples
    --------
    >>> parallel_map(abs, [-1, 2, -3], progress=False)
    [1, 2, 3]
    """
    from tqdm import tqdm

    disable = None if progress is None else not progress
    if jobs and jobs > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(jobs) as ex:
            return list(tqdm(ex.map(fn, items, chunksize=2), total=len(items), desc=desc,
                             disable=disable))
    return [fn(it) for it in tqdm(items, desc=desc, disable=disable)]


#: ``1.4826 * MAD`` estimates the standard deviation of normally distributed values.
MAD_TO_SD = 1.4826


def robust_sd(values):
    """Robust standard deviation ``1.4826 * median(|v - median(v)|)`` of `values`.

    Examples
    --------
    >>> robust_sd([0.0, 1.0, 2.0, 3.0, 100.0])
    1.4826
    """
    v = np.asarray(values).ravel()   # computed in the values' own float type
    return MAD_TO_SD * float(np.median(np.abs(v - np.median(v))))


def model_digest(model):
    """SHA-256 hex digest of a network: its class name and every tensor of its ``state_dict``.

    Two models with the same weights (in the same layout) have the same digest, whatever
    file they came from: the cache key of everything computed from a model.
    """
    h = hashlib.sha256(type(model).__qualname__.encode())
    for name, tensor in model.state_dict().items():
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _module_file(name):
    """Source file of an ``hdogreg`` module name, or None if there is none."""
    pkg = Path(__file__).resolve().parent
    parts = name.split(".")[1:]
    for path in (pkg.joinpath(*parts).with_suffix(".py"), pkg.joinpath(*parts, "__init__.py")):
        if parts and path.is_file():
            return path
    return pkg / "__init__.py" if not parts else None


def _imported_modules(name, path):
    """``hdogreg`` modules imported anywhere in one module's source (also inside functions)."""
    import ast

    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{a.name}" for a in node.names)  # `from . import hessian`
    return {m for m in found if m.split(".")[0] == "hdogreg" and _module_file(m) is not None}


def source_digest(*modules):
    """SHA-256 hex digest of the source of `modules` and of every ``hdogreg`` module they import.

    The imports are followed transitively, including those inside functions (read from the
    source, nothing is imported), so a cache keyed by this digest is invalidated by a change
    to any code its result can depend on, and only by such a change.

    Parameters
    ----------
    *modules : str
        Dotted names, e.g. ``"hdogreg.features"``.

    Examples
    --------
    >>> source_digest("hdogreg.features") == source_digest("hdogreg.features")
    True
    """
    todo, seen = list(modules), {}
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        path = _module_file(name)
        if path is None:
            raise ValueError(f"{name}: not a module of the hdogreg package")
        seen[name] = path
        todo.extend(_imported_modules(name, path))
    pkg = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for path in sorted(set(seen.values())):
        h.update(f"{path.relative_to(pkg).as_posix()}\n".encode())
        h.update(path.read_bytes())
    return h.hexdigest()

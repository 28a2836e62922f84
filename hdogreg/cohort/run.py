"""Segment a cohort: every image once, resumably, in this process or on a Dask cluster.

:func:`run_cohort` skips an image whose committed outputs (:mod:`hdogreg.cohort.outputs`)
were made from the same input file (size and modification time), by the same model
(:func:`model_digest`) with the same settings (:func:`run_settings`); ``force=True`` redoes
it. Each image is segmented by :func:`segment_input`, which never raises for a bad image: it
returns a ``failed`` row with the error, and the others go on. The rows make the cohort table
(:data:`ROW_COLUMNS`), written to ``OUT/cohort.parquet`` and ``OUT/cohort.csv`` at the end,
also when the run is interrupted (images not reached are ``pending``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from hdogreg._utils import atomic_path, file_sha256

from .outputs import (
    IMAGES_DIR,
    check_out_dir,
    commit_folder,
    image_folder,
    read_record,
    remove_stale,
    staging_folder,
    write_record,
    write_result_files,
)

__all__ = ["ROW_COLUMNS", "CohortResult", "run_cohort", "segment_input", "read_input",
           "run_settings", "model_digest", "image_summary", "error_message", "cluster_spec",
           "CLUSTER_DISTANCE_MM", "CLUSTER_MIN_MCS", "WORKER_MEMORY"]

#: Version of the output layout; part of the settings, so a new layout redoes old outputs.
OUTPUT_FORMAT = 1

#: MCs closer than this (mm, centroid to centroid, chained) belong to one group ...
CLUSTER_DISTANCE_MM = 5.0
#: ... and a group of at least this many MCs is a cluster (a common CAD convention).
CLUSTER_MIN_MCS = 3

#: Memory limit of each worker of the local Dask cluster: one INbreast-size (4084 x 3328)
#: image with the shipped model peaked at 1.9 GB of resident memory in one process
#: (``benchmarks/bench_cohort.py`` measures it per worker).
WORKER_MEMORY = 3 * 2**30

#: Columns of the cohort table.
ROW_COLUMNS = ["name", "path", "patient_id", "study_id", "laterality", "view", "status", "error",
               "n_mcs", "mc_area_px_total", "mc_area_mm2_total", "mc_area_mm2_max", "n_clusters",
               "largest_cluster_mcs", "pixel_spacing", "spacing_source", "presentation_intent",
               "photometric", "rows", "columns", "seconds", "model_digest", "settings", "outputs"]


def error_message(path, exc):
    """First line of an exception's message, starting with the file it concerns.

    A first line that ends on a colon is continued by the next lines until one does not
    (libraries put the reason there), so the message never ends on a dangling colon.
    """
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    msg = lines.pop(0) if lines else type(exc).__name__
    while msg.endswith(":") and lines:
        msg = f"{msg} {lines.pop(0)}"
    name = str(path)
    return msg if msg.startswith(name) else f"{name}: {msg}"


def model_digest(model):
    """SHA-256 of a model: of its checkpoint files, or of a module's class and weights.

    Parameters
    ----------
    model : str or Path or torch.nn.Module
        A checkpoint ``.pt`` (with its ``.json`` settings beside it, if any) or a module.

    Returns
    -------
    digest : str
        64 hex digits.
    """
    h = hashlib.sha256()
    if isinstance(model, (str, Path)):
        path = Path(model)
        for p in (path, path.with_suffix(".json")):
            h.update(file_sha256(p).encode() if p.is_file() else b"-")
        return h.hexdigest()
    cls = type(model)
    h.update(f"{cls.__module__}.{cls.__qualname__}".encode())
    for key, value in sorted(model.state_dict().items()):
        h.update(key.encode())
        h.update(value.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def run_settings(params, *, pixel_spacing=None, intensity_scale=None, voi_lut=False):
    """Return the settings that decide an image's outputs (JSON-able; part of the resume key)."""
    return {"format": OUTPUT_FORMAT,
            "params": {k: (float(v) if isinstance(v, float) else v)
                       for k, v in dataclasses.asdict(params).items()},
            "pixel_spacing": None if pixel_spacing is None else float(pixel_spacing),
            "intensity_scale": None if intensity_scale is None else float(intensity_scale),
            "voi_lut": bool(voi_lut)}


def read_input(path, *, pixel_spacing=None, intensity_scale=None, voi_lut=False):
    """Read an input image and its plausible pixel spacing.

    Parameters
    ----------
    path : str or Path
        DICOM, PNG or TIFF image.
    pixel_spacing : float, optional
        mm per pixel; required for PNG/TIFF, overrides the DICOM header.
    intensity_scale : float, optional
        Divisor of PNG/TIFF values (:func:`hdogreg.data.io.read_image`); not used for DICOM,
        whose header gives it.
    voi_lut : bool, optional
        DICOM: apply the header's VOI LUT or window (:func:`hdogreg.data.io.read_dicom`).

    Returns
    -------
    image : ndarray of float32
    spacing : float
        Checked by :func:`hdogreg.spacing.check_pixel_spacing`.
    meta : dict
        The reader's metadata (:func:`hdogreg.data.io.read_image`).

    Raises
    ------
    ValueError
        Naming the file: unreadable, not an image, no or an implausible pixel spacing.
    """
    from hdogreg.data.io import read_image
    from hdogreg.spacing import check_pixel_spacing

    plain = {".png", ".tif", ".tiff"}
    suffix = Path(path).suffix.lower()
    if suffix in plain and pixel_spacing is None:
        raise ValueError(f"{path}: the pixel spacing of a PNG/TIFF image is unknown; "
                         "pass --pixel-spacing MM (INbreast: 0.07)")
    try:
        image, meta = read_image(path, pixel_spacing, voi_lut=voi_lut and suffix not in plain,
                                 intensity_scale=intensity_scale if suffix in plain else None)
    except ValueError as exc:
        # Anything that is not PNG/TIFF is tried as DICOM (DICOM files often lack a suffix);
        # for other suffixes say what was expected rather than why DICOM parsing failed.
        if Path(path).is_file() and suffix not in plain | {".dcm", ".dicom", ""} \
                and "DICOM" in str(exc):
            raise ValueError(f"{path}: not a DICOM, PNG or TIFF image") from exc
        raise
    source = meta.get("spacing_source")
    name = "--pixel-spacing" if source == "given" else f"{path}: {source} (DICOM header)"
    try:
        spacing = check_pixel_spacing(meta["pixel_spacing"], name=name)
    except ValueError as exc:
        if source == "given":
            raise ValueError(f"{path}: {exc}") from None
        raise ValueError(f"{exc}; pass --pixel-spacing MM to override") from None
    return image, spacing, meta


def image_summary(table, pixel_spacing):
    """Per-image numbers of the cohort table from an MC table (:func:`hdogreg.pipeline.mc_table`).

    Clusters: MCs chained by centroid distances below :data:`CLUSTER_DISTANCE_MM`, at least
    :data:`CLUSTER_MIN_MCS` of them.

    Examples
    --------
    >>> t = pd.DataFrame({"x": [0, 10, 20, 500], "y": [0, 0, 0, 0], "area_px": [4, 5, 6, 7]})
    >>> s = image_summary(t.assign(area_mm2=t.area_px * 0.0049), 0.07)
    >>> s["n_mcs"], s["n_clusters"], s["largest_cluster_mcs"], s["mc_area_px_total"]
    (4, 1, 3, 22)
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    n = len(table)
    out = {"n_mcs": n, "mc_area_px_total": int(table["area_px"].sum()) if n else 0,
           "mc_area_mm2_total": float(table["area_mm2"].sum()) if n else 0.0,
           "mc_area_mm2_max": float(table["area_mm2"].max()) if n else 0.0,
           "n_clusters": 0, "largest_cluster_mcs": 0}
    if n < CLUSTER_MIN_MCS:
        return out
    xy = table[["x", "y"]].to_numpy(float) * pixel_spacing
    pairs = cKDTree(xy).query_pairs(CLUSTER_DISTANCE_MM, output_type="ndarray")
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, group = connected_components(graph, directed=False)
    sizes = np.bincount(group)
    clusters = sizes[sizes >= CLUSTER_MIN_MCS]
    out["n_clusters"] = int(clusters.size)
    out["largest_cluster_mcs"] = int(clusters.max(initial=0))
    return out


def _base_row(item, digest, settings, status="pending"):
    row = dict.fromkeys(ROW_COLUMNS)
    row.update(name=item.name, path=str(item.path), patient_id=item.patient_id,
               study_id=item.study_id, laterality=item.laterality, view=item.view,
               status=status, error="", model_digest=digest,
               settings=json.dumps(settings, sort_keys=True),
               outputs=f"{IMAGES_DIR}/{item.name}")
    return row


def _item_settings(item, settings):
    if item.pixel_spacing is None:
        return settings
    return {**settings, "pixel_spacing": float(item.pixel_spacing)}


_MODELS, _MODELS_LOCK = {}, threading.Lock()


def _worker_model(model):
    """Return the model object: a checkpoint path is loaded once per process (worker) and cached."""
    if not isinstance(model, (str, Path)):
        return model
    with _MODELS_LOCK:
        key = str(model)
        if key not in _MODELS:
            from hdogreg.store import load_model

            _MODELS[key] = load_model(model)[0]
        return _MODELS[key]


def _set_threads(torch_threads):
    if torch_threads:
        import torch

        if torch.get_num_threads() != torch_threads:
            torch.set_num_threads(torch_threads)


def _stat(path):
    st = Path(path).stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def segment_input(item, out_dir, model, params, *, settings, digest, torch_threads=None):
    """Segment one cohort image and commit its outputs; return its cohort-table row.

    Parameters
    ----------
    item : CohortInput
    out_dir : Path
        Output folder (checked by :func:`hdogreg.cohort.outputs.check_out_dir`).
    model : torch.nn.Module or str or Path
        The network, or a checkpoint loaded once per process.
    params : hdogreg.pipeline.SegmentParams
    settings : dict
        :func:`run_settings` (its ``pixel_spacing`` and ``intensity_scale`` are used; the
        item's own ``pixel_spacing`` takes precedence).
    digest : str
        :func:`model_digest` of the model, recorded.
    torch_threads : int, optional
        Torch threads of this process (set in worker processes).

    Returns
    -------
    row : dict
        :data:`ROW_COLUMNS`; ``status`` is ``"ok"`` or ``"failed"`` (``error`` says why).
        A failed image leaves no output folder.
    """
    from hdogreg.pipeline import segment_mammogram

    t0 = time.perf_counter()
    settings = _item_settings(item, settings)
    row = _base_row(item, digest, settings)
    try:
        _set_threads(torch_threads)
        net = _worker_model(model)
        image, spacing, meta = read_input(item.path, pixel_spacing=settings["pixel_spacing"],
                                          intensity_scale=settings["intensity_scale"],
                                          voi_lut=settings["voi_lut"])
        stat = _stat(item.path)
        result = segment_mammogram(image, net, params, pixel_spacing=spacing, progress=False)
        row.update(image_summary(result.table, spacing), status="ok", pixel_spacing=spacing,
                   spacing_source=meta.get("spacing_source", ""),
                   presentation_intent=meta.get("presentation_intent", ""),
                   photometric=meta.get("photometric", ""),
                   rows=int(image.shape[0]), columns=int(image.shape[1]))
        for key in ("patient_id", "laterality", "view"):
            row[key] = row[key] or meta.get(key, "")
        with staging_folder(out_dir, item.name) as tmp:
            source = item.path if meta.get("sop_instance_uid") else None
            files = write_result_files(tmp, image, result, source_dicom=source,
                                       uid_seed=(digest, row["settings"]))
            row["seconds"] = round(time.perf_counter() - t0, 3)
            write_record(tmp, {"input": {"path": str(item.path), **stat}, "name": item.name,
                               "model_digest": digest, "settings": settings, "files": files,
                               "row": row})
            commit_folder(tmp, out_dir, item.name)
    except Exception as exc:  # one bad image must not stop the cohort
        row.update(status="failed", error=error_message(item.path, exc),
                   seconds=round(time.perf_counter() - t0, 3))
    return row


def _done_row(item, out_dir, digest, settings):
    """Return the stored row of an image whose outputs are up to date, else None."""
    record = read_record(out_dir, item.name)
    if record is None or record.get("model_digest") != digest:
        return None
    if record.get("settings") != json.loads(json.dumps(_item_settings(item, settings))):
        return None
    try:
        if {k: record["input"][k] for k in ("size", "mtime_ns")} != _stat(item.path):
            return None
    except (OSError, KeyError, TypeError):
        return None
    if not all((image_folder(out_dir, item.name) / f).is_file() for f in record.get("files", [])):
        return None
    current = {k: v for k, v in _base_row(item, digest, {}).items()
               if k in ("name", "path", "patient_id", "study_id", "laterality", "view") and v}
    return {**record["row"], **current, "status": "skipped"}   # the manifest's fields of today


#: Numeric columns of the cohort table (the others are text, empty when unknown).
_NUMERIC = {**dict.fromkeys(["n_mcs", "mc_area_px_total", "n_clusters", "largest_cluster_mcs", "rows",
                             "columns"], "Int64"),
            **dict.fromkeys(["mc_area_mm2_total", "mc_area_mm2_max", "pixel_spacing", "seconds"],
                            "float64")}


def write_cohort_table(out_dir, rows):
    """Write the cohort table (``cohort.parquet`` and ``cohort.csv``) atomically; return it."""
    table = pd.DataFrame(rows, columns=ROW_COLUMNS)
    for col, dtype in _NUMERIC.items():
        table[col] = table[col].astype(dtype)
    text = [c for c in ROW_COLUMNS if c not in _NUMERIC]
    table[text] = table[text].fillna("").astype(str)
    with atomic_path(Path(out_dir) / "cohort.parquet") as tmp:
        table.to_parquet(tmp, index=False)
    with atomic_path(Path(out_dir) / "cohort.csv") as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g")
    return table


@dataclass
class CohortResult:
    """What :func:`run_cohort` did.

    Attributes
    ----------
    table : pandas.DataFrame
        The cohort table (:data:`ROW_COLUMNS`), one row per input in input order.
    """

    table: pd.DataFrame

    @property
    def n_failed(self):
        """Number of images that failed."""
        return int((self.table["status"] == "failed").sum())

    def counts(self):
        """Return the number of images per status."""
        return self.table["status"].value_counts().to_dict()


def cluster_spec(n_items, workers=None, *, memory_limit=None):
    """``(n_workers, threads_per_worker, memory_limit_bytes, torch_threads)`` of a local cluster.

    By default as many single-threaded workers as there are cores and as memory allows
    (:data:`WORKER_MEMORY` each, within 90 % of the machine's); never more than images.
    """
    import os

    import psutil

    cores = os.cpu_count() or 1
    memory = int(memory_limit or WORKER_MEMORY)
    if workers is None:
        by_memory = max(1, int(0.9 * psutil.virtual_memory().total) // memory)
        workers = min(cores, by_memory)
    workers = max(1, min(workers, n_items))
    return workers, 1, memory, max(1, cores // workers)


def _run_sequential(todo, submit_kw, on_row, bar):
    for index, item in todo:
        row = segment_input(item, **submit_kw)
        on_row(index, row)
        bar.update()


def _run_dask(todo, submit_kw, on_row, bar, client):
    from distributed import as_completed

    model = submit_kw["model"]
    if not isinstance(model, (str, Path)):
        model = client.scatter(model, broadcast=True, hash=False)
    futures = {client.submit(segment_input, item, **{**submit_kw, "model": model}, pure=False,
                             key=f"segment-{index}-{item.name[:40]}"): (index, item)
               for index, item in todo}
    try:
        for future in as_completed(futures):
            index, item = futures[future]
            try:
                row = future.result()
            except Exception as exc:  # a worker died (e.g. out of memory)
                row = _base_row(item, submit_kw["digest"], _item_settings(item, submit_kw["settings"]),
                                status="failed")
                row["error"] = error_message(item.path, exc)
            on_row(index, row)
            bar.update()
    except BaseException:
        client.cancel(list(futures))
        raise


def _client(workers, scheduler, memory_limit, n_items):
    """(client, cluster, torch_threads, description) for `scheduler` or a new LocalCluster."""
    import logging

    from distributed import Client, LocalCluster

    if scheduler is not None:
        if not isinstance(scheduler, str):     # a LocalCluster or Client given by the caller
            client = scheduler if isinstance(scheduler, Client) else Client(scheduler)
            return client, None, None, "the given Dask cluster"
        try:      # timeout: dask's distributed.comm.timeouts.connect (30 s)
            return Client(scheduler), None, None, f"Dask scheduler {scheduler}"
        except (OSError, TimeoutError) as exc:
            raise ConnectionError(f"Dask scheduler {scheduler}: cannot connect ({exc})") from None
    n, threads, memory, torch_threads = cluster_spec(n_items, workers, memory_limit=memory_limit)
    cluster = LocalCluster(n_workers=n, threads_per_worker=threads, processes=True,
                           memory_limit=memory, dashboard_address=None,
                           silence_logs=logging.ERROR, preload=["hdogreg.cohort._worker"])
    desc = (f"local Dask cluster: {n} worker{'s' * (n > 1)} x {threads} thread, "
            f"{memory / 2**30:.1f} GiB memory limit each")
    return Client(cluster), cluster, torch_threads, desc


def run_cohort(inputs, out_dir, model, params, *, digest=None, pixel_spacing=None,
               intensity_scale=None, voi_lut=False, force=False, workers=1, scheduler=None, memory_limit=None,
               progress=None, on_row=None, on_start=None):
    """Segment every image of a cohort, skipping those already done.

    Parameters
    ----------
    inputs : list of CohortInput
        :func:`hdogreg.cohort.collect_inputs`.
    out_dir : str or Path
        Output folder (:mod:`hdogreg.cohort.outputs`); checked before any image is read.
    model : torch.nn.Module or str or Path
        The network, or a checkpoint (loaded once per worker).
    params : hdogreg.pipeline.SegmentParams
    digest : str, optional
        :func:`model_digest` of the model (computed if not given).
    pixel_spacing : float, optional
        mm per pixel for every image (a manifest's per-image value takes precedence);
        required for PNG/TIFF, overrides DICOM headers.
    intensity_scale : float, optional
        Divisor of PNG/TIFF values (e.g. 4095 for 12-bit data in 16-bit files).
    voi_lut : bool, optional
        Apply the VOI LUT or window of DICOM headers (default: the stored values).
    force : bool, optional
        Redo images whose outputs are up to date.
    workers : int or None, optional
        1 (default): in this process, no Dask. ``N > 1``: a local Dask cluster of N
        single-threaded worker processes; None: as many as the machine allows
        (:func:`cluster_spec`).
    scheduler : str or distributed.Client or LocalCluster, optional
        Run on this existing Dask cluster instead (an address such as
        ``tcp://host:8786``); its workers must see `out_dir` and the inputs at the same paths.
    memory_limit : int, optional
        Bytes per local worker (default :data:`WORKER_MEMORY`).
    progress : bool or None, optional
        Progress bar over the cohort (None: only on a terminal).
    on_row : callable, optional
        ``on_row(row)`` in this process as each image finishes (e.g. to print errors).
    on_start : callable, optional
        ``on_start(text)`` with a description of the cluster once it runs.

    Returns
    -------
    CohortResult

    Raises
    ------
    DataError
        If `out_dir` cannot be used (before any image is processed).
    ConnectionError
        If `scheduler` cannot be reached (before any image is processed).
    KeyboardInterrupt
        Passed on after the cohort table of what was done is written; no image is left
        half-written and a rerun resumes.

    Notes
    -----
    On a `scheduler` given by address the images are sent by absolute path (the ``path`` of
    their rows is then absolute).
    """
    from tqdm import tqdm

    out_dir = check_out_dir(out_dir)
    remove_stale(out_dir)
    digest = digest or model_digest(model)
    settings = run_settings(params, pixel_spacing=pixel_spacing, intensity_scale=intensity_scale,
                            voi_lut=voi_lut)
    rows = [_base_row(item, digest, _item_settings(item, settings)) for item in inputs]
    todo = []
    for index, item in enumerate(inputs):
        done = None if force else _done_row(item, out_dir, digest, settings)
        if done is None:
            todo.append((index, item))
        else:
            rows[index] = done

    def record(index, row):
        rows[index] = row
        if on_row is not None:
            on_row(row)

    disable = None if progress is None else not progress
    submit_kw = {"out_dir": out_dir, "model": model, "params": params, "settings": settings,
                 "digest": digest}
    bar = tqdm(total=len(inputs), initial=len(inputs) - len(todo), desc="cohort", unit="image",
               disable=disable)
    client = cluster = None
    if scheduler is None:   # no more local workers than images; one runs in this process
        workers = cluster_spec(len(todo), workers, memory_limit=memory_limit)[0]
    try:
        if todo and (scheduler is not None or workers > 1):
            client, cluster, torch_threads, desc = _client(workers, scheduler, memory_limit,
                                                           len(todo))
            if on_start is not None:
                on_start(desc)
            if isinstance(scheduler, str):   # other machines: paths that do not depend on our cwd
                todo = [(i, dataclasses.replace(item, path=Path(item.path).absolute()))
                        for i, item in todo]
                submit_kw["out_dir"] = out_dir.absolute()
            _run_dask(todo, {**submit_kw, "torch_threads": torch_threads}, record, bar, client)
        else:
            _run_sequential(todo, submit_kw, record, bar)
    finally:
        bar.close()
        if cluster is not None:
            client.close()
            cluster.close()
        elif client is not None and isinstance(scheduler, str):
            client.close()
        table = write_cohort_table(out_dir, rows)
    return CohortResult(table)

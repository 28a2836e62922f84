"""Notebook runner: jupytext sources -> papermill -> executed notebooks -> Jupyter Book.

Every page of the book is a jupytext percent-format script in ``notebooks/`` with one cell
tagged ``parameters``. :func:`run_notebook` converts it to a notebook in memory, executes it
with papermill (parameters injected) from the repository root, and writes the executed copy to
``build/notebooks/<name>.ipynb`` together with a ``.meta.json`` record (parameters, run time,
package version and commit, content hash). A notebook whose source, parameters, package code
and input data are unchanged is not executed again.

Command line (``python -m hdogreg.book``)::

    build [--force] [--only NAME ...] [--no-html]   run the book's notebooks, build _build/html
    run NAME [-p KEY VALUE ...] [-f PARAMS.yml]     rerun one notebook with new parameters
    screenshots                                     headless-Chromium pictures of built pages
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from hdogreg import __version__
from hdogreg._utils import atomic_path
from hdogreg.paths import DEFAULT_DATA, ROOT, build_dir, results_dir

__all__ = [
    "ROOT",
    "save_results",
    "shown_path",
    "environment",
    "book_notebooks",
    "notebook_hash",
    "run_notebook",
    "write_reproducing_page",
    "environment_lines",
    "lock_mismatches",
    "build_book",
    "main",
]

NOTEBOOK_SOURCES = ROOT / "notebooks"


def shown_path(path):
    """Return a path as a page shows it: never this machine's absolute path.

    Inside the build folder it is shown as ``build/...``, inside the repository relative to
    its root, anywhere else by its file name only.

    Examples
    --------
    >>> shown_path(build_dir() / "models" / "abc" / "best.pt")
    'build/models/abc/best.pt'
    >>> shown_path(ROOT / "data" / "synth")
    'data/synth'
    """
    p = Path(path).resolve()
    for base, prefix in ((build_dir().resolve(), "build"), (ROOT.resolve(), None)):
        try:
            rel = p.relative_to(base)
        except ValueError:
            continue
        return str(Path(prefix) / rel) if prefix else str(rel)
    return p.name


def save_results(frame, name):
    """Write the numbers behind a figure or table to ``<results>/<name>.csv`` atomically.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table to save (written without the index).
    name : str
        Notebook name, e.g. ``"fig2_proximity"``.

    Returns
    -------
    path : pathlib.Path
        The written CSV.
    """
    path = results_dir() / f"{name}.csv"
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
    return path


# ----------------------------------------------------------------------------- hashing


def _sha256(*chunks):
    h = hashlib.sha256()
    for chunk in chunks:
        h.update(chunk if isinstance(chunk, bytes) else str(chunk).encode())
        h.update(b"\0")
    return h.hexdigest()


def package_hash():
    """Hash of every ``hdogreg/**/*.py`` file (any code change re-runs the notebooks)."""
    pkg = Path(__file__).resolve().parent
    files = sorted(p for p in pkg.rglob("*.py") if "__pycache__" not in p.parts)
    return _sha256(*(f"{p.relative_to(pkg)}\n".encode() + p.read_bytes() for p in files))


def _data_hash(parameters):
    """Hash of the ``manifest.json`` of the data folder named by ``data_dir``, if any."""
    data_dir = parameters.get("data_dir")
    if not data_dir:
        return ""
    manifest = (ROOT / data_dir) / "manifest.json"
    return manifest.read_text() if manifest.is_file() else str(Path(data_dir).resolve())


def notebook_hash(source_text, parameters):
    """Content hash of one notebook run: source, parameters, package code and input data."""
    return _sha256(
        source_text,
        json.dumps(parameters, sort_keys=True, default=str),
        package_hash(),
        _data_hash(parameters),
    )


# ----------------------------------------------------------------------------- running


def book_notebooks(toc=ROOT / "_toc.yml"):
    """Names of the notebooks the book shows, in table-of-contents order.

    A toc entry ``build/notebooks/<name>`` refers to the executed copy of
    ``notebooks/<name>.py``.
    """
    text = Path(toc).read_text()
    names = []

    def walk(node):
        if isinstance(node, dict):
            entry = node.get("file")
            if isinstance(entry, str) and entry.startswith("build/notebooks/"):
                names.append(Path(entry).name)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(yaml.safe_load(text))
    return names


def _default_parameters(nb):
    """Evaluate the parameters cell's assignments (for the reproducing page)."""
    for cell in nb.cells:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            scope = {}
            exec(compile(cell.source, "<parameters>", "exec"), {}, scope)  # noqa: S102
            return {k: v for k, v in scope.items() if not k.startswith("_")}
    raise ValueError("no cell tagged 'parameters'")


def _git_commit():
    try:
        out = subprocess.run(
            ["git", "-C", str(ROOT), "describe", "--always", "--dirty", "--abbrev=10"],
            capture_output=True, text=True, check=True, timeout=10,
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


@dataclass
class RunRecord:
    """What one notebook execution used and produced (stored as ``<name>.meta.json``)."""

    name: str
    parameters: dict
    hash: str
    seconds: float
    version: str
    commit: str
    executed_at: str
    output: str
    skipped: bool = field(default=False, compare=False)


#: Environment of the notebook kernels: third-party imports (timm via huggingface_hub) load
#: ``tqdm.auto``, which warns "IProgress not found" in a kernel without ipywidgets; the
#: package's own bars are plain ``tqdm``, so the warning says nothing about the page.
KERNEL_ENV = {"PYTHONWARNINGS": "ignore:IProgress not found"}

#: Transport between the runner and its kernels. Over TCP (jupyter_client's default) every
#: ipykernel >= 7 logs "Kernel is running over TCP without encryption" to the runner's stderr,
#: once per notebook; the runner and its kernel share one machine, so they talk over local
#: IPC sockets (in Jupyter's runtime folder, removed with the kernel), which is what that
#: warning recommends: nothing goes over the network and the warning does not arise.
KERNEL_TRANSPORT = "ipc"


def _kernel_config():
    """Return the traitlets config of the kernels the runner starts (see :data:`KERNEL_TRANSPORT`)."""
    from traitlets.config import Config

    return Config({"KernelManager": {"transport": KERNEL_TRANSPORT}})


@contextlib.contextmanager
def environment(env):
    """Set environment variables inside the block (``None`` unsets one); restore them after.

    Examples
    --------
    >>> with environment({"HDOGREG_EXAMPLE": "1"}):
    ...     os.environ["HDOGREG_EXAMPLE"]
    '1'
    >>> "HDOGREG_EXAMPLE" in os.environ
    False
    """
    saved = {k: os.environ.get(k) for k in env}
    try:
        _set_environment(env)
        yield
    finally:
        _set_environment(saved)


def _set_environment(values):
    for k, v in values.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def run_notebook(name, parameters=None, *, output=None, force=False, progress=False, timeout=None):
    """Execute ``notebooks/<name>.py`` with papermill unless an identical run exists.

    Parameters
    ----------
    name : str
        Notebook name (file stem in ``notebooks/``).
    parameters : dict, optional
        Values that override the notebook's ``parameters`` cell.
    output : path, optional
        Executed notebook path; default ``<build>/notebooks/<name>.ipynb``.
    force : bool, optional
        Execute even if the content hash is unchanged.
    progress : bool, optional
        Show papermill's per-cell progress bar.
    timeout : float, optional
        Per-cell timeout in seconds.

    Returns
    -------
    record : RunRecord
    """
    import jupytext
    import papermill

    source = NOTEBOOK_SOURCES / f"{name}.py"
    if not source.is_file():
        raise FileNotFoundError(f"{source}: no such notebook source")
    parameters = dict(parameters or {})
    output = Path(output or build_dir() / "notebooks" / f"{name}.ipynb")
    meta_path = output.with_suffix(".meta.json")
    text = source.read_text()
    digest = notebook_hash(text, parameters)
    if not force and output.is_file() and meta_path.is_file():
        old = json.loads(meta_path.read_text())
        if old.get("hash") == digest:
            return RunRecord(**{**old, "skipped": True})

    nb = jupytext.reads(text, fmt="py:percent")
    effective = {**_default_parameters(nb), **parameters}
    for cell in nb.cells:  # the parameters cell is folded away in the book
        tags = cell.metadata.setdefault("tags", [])
        if "parameters" in tags and "hide-cell" not in tags:
            tags.append("hide-cell")
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}

    start = time.perf_counter()
    output.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(output) as tmp, environment(KERNEL_ENV):
        executed = papermill.execute_notebook(
            nb, str(tmp), parameters=parameters, cwd=str(ROOT), kernel_name="python3",
            progress_bar=progress, execution_timeout=timeout, log_output=False,
            config=_kernel_config(),
        )
        for cell in executed.cells:  # papermill's injected cell: folded too
            tags = cell.metadata.get("tags", [])
            if "injected-parameters" in tags and "hide-cell" not in tags:
                tags.append("hide-cell")
        import nbformat

        nbformat.write(executed, str(tmp))
    record = RunRecord(
        name=name,
        parameters=json.loads(json.dumps(effective, default=str)),
        hash=digest,
        seconds=round(time.perf_counter() - start, 1),
        version=__version__,
        commit=_git_commit(),
        executed_at=_dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        output=str(output),
    )
    with atomic_path(meta_path) as tmp:
        tmp.write_text(json.dumps(asdict(record), indent=1))
    return record


# ----------------------------------------------------------------------------- the book


#: Packages whose versions the reproducing page names first (the method's own stack).
KEY_PACKAGES = ("numpy", "scipy", "scikit-image", "scikit-learn", "torch", "torchvision",
                "segmentation-models-pytorch", "timm", "pydicom", "highdicom", "xgboost-cpu", "dask",
                "papermill", "jupyter-book")


def _canonical(name):
    return name.lower().replace("_", "-").replace(".", "-")


def lock_mismatches(lock=ROOT / "requirements.lock", installed=None):
    r"""Compare the installed packages with the lock file's exact versions.

    Parameters
    ----------
    lock : str or Path
        ``requirements.lock`` (``name==version`` lines; comments ignored).
    installed : dict, optional
        ``name -> version`` (default: this interpreter's, :mod:`importlib.metadata`).

    Returns
    -------
    list of (str, str, str or None)
        ``(name, locked, installed)`` for every locked package whose installed version
        differs (None: not installed); empty if the environment is the locked one.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = (Path(d) / "lock").write_text("# c\nnumpy==2.0.0\nSix==1.16.0\n")
    ...     lock_mismatches(Path(d) / "lock", {"numpy": "2.0.0", "six": "1.17.0"})
    [('Six', '1.16.0', '1.17.0')]
    """
    if installed is None:
        from importlib.metadata import distributions

        installed = {d.metadata["Name"]: d.version for d in distributions()}
    have = {_canonical(k): v for k, v in installed.items()}
    out = []
    for line in Path(lock).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" not in line:
            continue
        name, version = (part.strip() for part in line.split("==", 1))
        got = have.get(_canonical(name))
        if got != version:
            out.append((name, version, got))
    return out


def environment_lines(lock=ROOT / "requirements.lock"):
    """Markdown lines describing the environment the book ran in.

    Python and platform, the versions of :data:`KEY_PACKAGES`, the SHA-256 of the lock file
    and whether the installed packages are exactly the locked ones (:func:`lock_mismatches`).
    """
    import platform
    from importlib.metadata import PackageNotFoundError, version

    def ver(name):
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    lock = Path(lock)
    lines = ["## The environment of this build", "",
             f"Python {platform.python_version()} on {platform.system()} {platform.machine()}, "
             f"{os.cpu_count()} CPUs; hdogreg {__version__}.", "",
             "| package | version |", "|---|---|"]
    lines += [f"| {name} | {ver(name)} |" for name in KEY_PACKAGES]
    lines.append("")
    if not lock.is_file():
        lines.append(f"No lock file (`{lock.name}`) was found beside the package.")
    else:
        digest = hashlib.sha256(lock.read_bytes()).hexdigest()[:12]
        n = sum("==" in ln.split("#", 1)[0] for ln in lock.read_text().splitlines())
        bad = lock_mismatches(lock)
        lines.append(f"Lock file `{lock.name}` (sha256 `{digest}…`, {n} packages): "
                     + ("every package installed at its locked version." if not bad else
                        f"**{len(bad)} installed version(s) differ from it:** "
                        + ", ".join(f"{a} {b} (installed: {c or 'none'})" for a, b, c in bad) + "."))
    return lines + [""]


def write_reproducing_page(records, path=ROOT / "book" / "reproducing.md", *, environment=True):
    """Write the "Reproducing this book" page from the run records.

    With `environment`, the page ends with the environment of this build
    (:func:`environment_lines`).
    """
    lines = [
        "# Reproducing this book",
        "",
        "Every page of this book is a notebook in `notebooks/` executed by",
        "`python -m hdogreg.book build` (`make book`). This page is generated by that runner;",
        "it lists, for each notebook, the parameters it ran with, how long it took and the",
        "package version and git commit it ran with. A notebook is executed again only when its",
        "source, its parameters, the package code or its input data change.",
        "",
        "To rerun one notebook with other parameters:",
        "",
        "```bash",
        "make notebook NB=fig2_proximity PARAMS=\"-p xi 8 -p alpha -1\"",
        "# or, with plain papermill:",
        "jupytext --to ipynb -o fig2.ipynb notebooks/fig2_proximity.py",
        "papermill fig2.ipynb out.ipynb -p xi 8 -p alpha -1",
        "```",
        "",
        "| notebook | parameters | run time (s) | version | commit | executed |",
        "|---|---|---|---|---|---|",
    ]
    total = 0.0
    for r in records:
        params = ", ".join(f"`{k}={v!r}`" for k, v in r.parameters.items()) or "(defaults)"
        params = params.replace("|", "\\|")
        lines.append(
            f"| {r.name} | {params} | {r.seconds:.1f} | {r.version} | `{r.commit}` | {r.executed_at} |"
        )
        total += r.seconds
    lines += ["", f"Total notebook execution time of the runs shown: {total:.0f} s.", ""]
    if environment:
        lines += environment_lines()
    text = "\n".join(lines)
    path = Path(path)
    if not path.is_file() or path.read_text() != text:  # unchanged page: no Sphinx rebuild
        with atomic_path(path) as tmp:
            tmp.write_text(text)
    return path


def ensure_default_data(data_dir=DEFAULT_DATA):
    """Generate the default synthetic benchmark unless ``data_dir`` holds the current one.

    The data are regenerated when the manifest is missing or was written by another
    generator version (so the book never runs on stale synthetic data).
    """
    from hdogreg.data.synth import GENERATOR_VERSION

    manifest = Path(data_dir) / "manifest.json"
    if manifest.is_file():
        found = json.loads(manifest.read_text())
        if found.get("version") == GENERATOR_VERSION and found.get("seed") == 0:
            return Path(data_dir)
    subprocess.run(
        [sys.executable, "-m", "hdogreg.data", "synth", "--out", str(data_dir), "--seed", "0",
         "--preset", "default", "--overwrite", "--jobs", "2"],
        check=True, cwd=ROOT,
    )
    return Path(data_dir)


def build_book(*, only=None, force=False, html=True, strict=True):
    """Run the book's notebooks (cached) and build the HTML book into ``_build/html``.

    Returns the list of run records.
    """
    from tqdm import tqdm

    names = book_notebooks()
    if only:
        unknown = sorted(set(only) - set(names))
        if unknown:
            raise SystemExit(f"hdogreg.book: not in _toc.yml: {', '.join(unknown)}")
    ensure_default_data()
    records = []
    bar = tqdm(names, desc="notebooks", unit="nb")
    for name in bar:
        bar.set_postfix_str(name)
        if only and name not in only:
            meta = build_dir() / "notebooks" / f"{name}.meta.json"
            if meta.is_file():
                records.append(RunRecord(**json.loads(meta.read_text())))
            continue
        record = run_notebook(name, force=force)
        records.append(record)
        state = "cached" if record.skipped else f"{record.seconds:.0f}s"
        tqdm.write(f"  {name}: {state}")
    write_reproducing_page(records)
    if html:
        cmd = [str(Path(sys.executable).parent / "jupyter-book"), "build", str(ROOT)]
        if strict:
            cmd += ["-W", "-n", "--keep-going"]
        subprocess.run(cmd, check=True, cwd=ROOT)
    return records


def screenshots(pages=None, out=None):
    """Take headless-Chromium screenshots of built pages (needs Debian ``chromium``)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("hdogreg.book: chromium not found (apt-get install chromium)")
    html = ROOT / "_build" / "html"
    out = Path(out or ROOT / "screenshots")
    out.mkdir(exist_ok=True)
    pages = pages or [f"build/notebooks/{n}.html" for n in book_notebooks()]
    shots = []
    for page in pages:
        target = html / page
        if not target.is_file():
            raise SystemExit(f"hdogreg.book: {target} does not exist; run `make book` first")
        png = out / (Path(page).stem + ".png")
        subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--no-first-run", f"--user-data-dir={out / '.chromium'}", "--hide-scrollbars",
             "--virtual-time-budget=8000", "--window-size=1280,2400", f"--screenshot={png}",
             target.as_uri()],
            check=True, capture_output=True, timeout=120,
        )
        shots.append(png)
        print(png)
    return shots


# ----------------------------------------------------------------------------- CLI


def _parse_value(text):
    """Parse a ``-p`` value the way papermill does (YAML scalars)."""
    return yaml.safe_load(text)


def main(argv=None):
    """Run ``python -m hdogreg.book`` (`argv` as in :data:`sys.argv` without the program)."""
    parser = argparse.ArgumentParser(prog="python -m hdogreg.book", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="run the notebooks and build the HTML book")
    b.add_argument("--only", nargs="+", metavar="NAME")
    b.add_argument("--force", action="store_true")
    b.add_argument("--no-html", action="store_true")
    r = sub.add_parser("run", help="rerun one notebook with new parameters")
    r.add_argument("name")
    r.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"))
    r.add_argument("-f", "--parameters-file", type=Path)
    r.add_argument("--force", action="store_true")
    s = sub.add_parser("screenshots", help="headless-Chromium screenshots of built pages")
    s.add_argument("pages", nargs="*")
    args = parser.parse_args(argv)

    if args.command == "build":
        build_book(only=args.only, force=args.force, html=not args.no_html)
    elif args.command == "run":
        params = {}
        if args.parameters_file:
            params.update(yaml.safe_load(args.parameters_file.read_text()) or {})
        params.update({k: _parse_value(v) for k, v in args.parameter})
        if "data_dir" not in params:
            ensure_default_data()
        # Runs with other parameters land beside the book's copy, never over it.
        tag = _sha256(json.dumps(params, sort_keys=True, default=str))[:8] if params else "default"
        out_dir = build_dir() / "runs" / f"{args.name}-{tag}"
        os.environ["HDOGREG_RESULTS"] = str(out_dir / "results")
        record = run_notebook(args.name, params, output=out_dir / f"{args.name}.ipynb",
                              force=args.force, progress=True)
        print(f"{record.output} ({'cached' if record.skipped else f'{record.seconds:.0f} s'}); "
              f"results in {out_dir / 'results'}")
    elif args.command == "screenshots":
        screenshots(args.pages or None)
    return 0


if __name__ == "__main__":
    sys.exit(main())

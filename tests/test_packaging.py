"""Project files that must agree with each other."""

import json
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from hdogreg.book import ROOT
from hdogreg.train import RECIPES


def test_environment_yml_mirrors_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + project["optional-dependencies"]["dev"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "python=3.11" in env["dependencies"]
    assert sorted(p for p in pip if p != "-e .") == sorted(wanted)


def test_lock_pins_exact_versions_that_satisfy_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, sep, version = line.partition("==")
        assert sep and version and not set(version) & set("<>=!~;, *"), f"not an exact pin: {line!r}"
        pins[canonicalize_name(name)] = version
    assert "hdogreg" not in pins                 # installed from the work tree with --no-deps
    for spec in project["dependencies"] + project["optional-dependencies"]["dev"]:
        req = Requirement(spec)
        version = pins.get(canonicalize_name(req.name))
        assert version is not None, f"{req.name} is missing from requirements.lock: run make lock"
        assert req.specifier.contains(version, prereleases=True), \
            f"requirements.lock pins {req.name}=={version}, outside {req.specifier}: run make lock"


def test_make_installs_from_the_lock():
    make = (ROOT / "Makefile").read_text()
    assert "$(STAMP): pyproject.toml $(LOCK)" in make
    assert "pip install --quiet -r $(LOCK)" in make and "pip install --quiet --no-deps -e ." in make


def test_readme_has_the_two_commands():
    text = (ROOT / "README.md").read_text()
    assert "make book" in text and "make test" in text
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_ci_lints_before_it_tests():
    steps = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()
             if line.strip().startswith("make ")]
    assert steps == ["make lint", "make test"]
    assert "lint:" in (ROOT / "Makefile").read_text()


def test_shipped_model_works_from_an_installed_wheel(tmp_path, make_dicom):
    """A non-editable wheel in a clean venv: the model is package data; `hdogreg segment` runs."""
    import os
    import shutil
    import subprocess
    import sys
    import sysconfig
    import venv

    import numpy as np

    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "hdogreg", src / "hdogreg",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-index",
                    "--no-build-isolation", "-w", str(wheels), str(src)], check=True,
                   capture_output=True)
    (wheel,) = wheels.glob("hdogreg-*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True, symlinks=True)
    py = env_dir / "bin" / "python"
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          check=True, capture_output=True, text=True).stdout.strip()
    # the dependencies (torch, ...) from this environment, after the venv's own site-packages;
    # a plain path entry: this environment's editable hdogreg (.pth hook) is not activated
    (Path(site) / "deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    subprocess.run([str(py), "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", str(wheel)],
                   check=True, capture_output=True)
    work = tmp_path / "elsewhere"
    work.mkdir()
    probe = ("import json, hdogreg; from hdogreg.store import default_model_path, load_model; "
             "p = default_model_path(); m, s = load_model(p); "
             "print(json.dumps({'file': hdogreg.__file__, 'model': str(p), 'p_thr': s['p_thr'], "
             "'normalize': s['normalize']}))")
    env = {k: v for k, v in os.environ.items() if k not in ("HDOGREG_MODEL", "PYTHONPATH")}
    out = subprocess.run([str(py), "-c", probe], cwd=work, env=env, check=True, capture_output=True,
                         text=True)
    info = json.loads(out.stdout.strip().splitlines()[-1])
    assert info["file"].startswith(site) and info["model"].startswith(site)
    assert info["normalize"] == RECIPES["default"]["config"]["normalize"] and 0 < info["p_thr"] < 1
    # the console script segments a DICOM with the shipped model, no --model, no book build
    rng = np.random.default_rng(0)
    raw = np.zeros((300, 260), np.uint16)
    raw[20:280, :200] = 1800
    raw = (raw + rng.normal(0, 12, raw.shape) * (raw > 0)).clip(0, 4095).astype(np.uint16)
    dcm = make_dicom(work / "x.dcm", raw, bits=12, PixelSpacing=["0.1", "0.1"])
    run = subprocess.run([str(env_dir / "bin" / "hdogreg"), "segment", str(dcm), "--out", "out"],
                         cwd=work, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    folder = work / "out" / "images" / "x.dcm"
    assert all((folder / f).is_file() for f in ("mcs.csv", "mask.png", "seg.dcm"))
    assert (work / "out" / "cohort.parquet").is_file()

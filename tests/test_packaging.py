"""Project files that must agree with each other."""

import tomllib

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from hdogreg.book import ROOT


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

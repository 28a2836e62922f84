"""Project files that must agree with each other."""

import tomllib

import yaml

from hdogreg.book import ROOT


def test_environment_yml_mirrors_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + project["optional-dependencies"]["dev"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "python=3.11" in env["dependencies"]
    assert sorted(p for p in pip if p != "-e .") == sorted(wanted)


def test_readme_has_the_two_commands():
    text = (ROOT / "README.md").read_text()
    assert "make book" in text and "make test" in text
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_ci_lints_before_it_tests():
    steps = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()
             if line.strip().startswith("make ")]
    assert steps == ["make lint", "make test"]
    assert "lint:" in (ROOT / "Makefile").read_text()

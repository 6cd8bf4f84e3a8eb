"""Puli's ``octopus`` import paths: what they give, and that the package is installed with the project."""

from __future__ import annotations

import tomllib
from pathlib import Path

from setuptools import find_packages

ROOT = Path(__file__).resolve().parents[3]


def test_license_manager_at_puli_path_offers_puli_methods() -> None:
    from octopus.dispatcher.licenses.licensemanager import LicenseManager

    manager = LicenseManager()
    manager.setMaxLicensesNumber("shave", 70)
    assert manager.reserve(("shave",), "rn1:8000")
    assert manager.stats() == [{"name": "shave", "total": 70, "used": 1, "rns": ["rn1:8000"]}]
    assert manager.releaseLicenseForRenderNode("shave", "rn1:8000") is True
    assert manager.releaseLicenseForRenderNode("shave", "rn1:8000") is False  # never twice
    assert manager.stats() == [{"name": "shave", "total": 70, "used": 0, "rns": []}]


def test_the_octopus_shim_is_in_the_packages_the_project_installs() -> None:
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    packages = set(find_packages(str(ROOT), include=settings["include"]))
    assert {"octopus", "octopus.commandwatcher", "octopus.dispatcher", "octopus.dispatcher.licenses"} <= packages

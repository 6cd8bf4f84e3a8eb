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
    assert {"octopus", "octopus.commandwatcher", "octopus.core.enums", "octopus.dispatcher",
            "octopus.dispatcher.licenses"} <= packages


def test_puli_status_enums_at_their_octopus_paths_have_puli_numbers() -> None:
    from octopus.core import enums
    from octopus.core.enums.command import CMD_DONE, CMD_STATUS_NAME
    from octopus.core.enums.node import NODE_DONE
    from octopus.core.enums.rendernode import RN_IDLE, RN_STATUS_NAMES

    # Puli's numbers: command and node numbering differ (behaviour notes, section 2).
    assert (CMD_DONE, NODE_DONE, RN_IDLE) == (5, 3, 3)
    assert (enums.CMD_ERROR, enums.NODE_ERROR, enums.RN_WORKING) == (7, 4, 5)
    assert CMD_STATUS_NAME[enums.CMD_TIMEOUT] == "TIMEOUT" and RN_STATUS_NAMES[RN_IDLE] == "Idle"
    assert set(enums.__all__) >= {"CMD_CANCELED", "NODE_PAUSED", "RN_FINISHING", "isFinalStatus"}

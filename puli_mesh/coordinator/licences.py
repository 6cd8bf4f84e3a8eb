"""Licence tokens: how many of each licence exist and who holds them.

A command needing ``lic="mtoa&shave"`` runs only when one token of each is free
and takes them all at once (all or nothing, like Puli's
``reserveLicenseForRenderNode``). Tokens are counted per render node so that an
early release by the runner (``releaseLicenseForRenderNode``) and the release
when the command ends never give the same token back twice.

Totals change at run time; lowering a total below what is in use only stops new
reservations, it never takes a token back.

Not here: deciding who gets a token (``assignment``), persistence.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


class Licence:
    __slots__ = ("name", "total", "used", "rns")

    def __init__(self, name: str, total: int) -> None:
        self.name = name
        self.total = total
        self.used = 0
        self.rns: dict[str, int] = {}  # render node name -> tokens it holds

    @property
    def free(self) -> bool:
        return self.used < self.total


class LicenseManager:
    """Licence counters (Puli's ``LicenseManager``, with its method names kept)."""

    def __init__(self) -> None:
        self.licences: dict[str, Licence] = {}

    # ---------------------------------------------------------------- totals
    def set_total(self, name: str, total: int) -> Licence:
        if total < 0:
            raise ValueError(f"licence {name!r}: total must be >= 0, not {total}")
        lic = self.licences.get(name)
        if lic is None:
            lic = self.licences[name] = Licence(name, total)
            log.info("licence %s defined with %d tokens", name, total)
        else:
            log.info("licence %s total %d -> %d (%d in use)", name, lic.total, total, lic.used)
            lic.total = total
        return lic

    setMaxLicensesNumber = set_total

    def get(self, name: str) -> Licence | None:
        return self.licences.get(name)

    def __contains__(self, name: str) -> bool:
        return name in self.licences

    # ----------------------------------------------------------- reservation
    def available(self, names: tuple[str, ...]) -> bool:
        lics = self.licences
        for n in names:
            lic = lics.get(n)
            if lic is None or lic.used >= lic.total:
                return False
        return True

    def reserve(self, names: tuple[str, ...], rn: str) -> bool:
        """Take one token of each licence for ``rn``; all or nothing."""
        if not self.available(names):
            return False
        for n in names:
            lic = self.licences[n]
            lic.used += 1
            lic.rns[rn] = lic.rns.get(rn, 0) + 1
        return True

    def release(self, names: tuple[str, ...], rn: str) -> None:
        for n in names:
            self.releaseLicenseForRenderNode(n, rn)

    def releaseLicenseForRenderNode(self, licenseName: str, renderNode: str) -> bool:
        """Give back one token of ``licenseName`` held by ``renderNode``.

        Returns False (and changes nothing) when that node holds none, which is
        what makes an early release followed by the normal release safe.
        """
        lic = self.licences.get(licenseName)
        if lic is None:
            return False
        held = lic.rns.get(renderNode, 0)
        if held <= 0:
            return False
        if held == 1:
            del lic.rns[renderNode]
        else:
            lic.rns[renderNode] = held - 1
        lic.used -= 1
        return True

    # ----------------------------------------------------------------- views
    def stats(self) -> list[dict[str, Any]]:
        out = []
        for name in sorted(self.licences):
            lic = self.licences[name]
            rns: list[str] = []
            for rn in sorted(lic.rns):
                rns.extend([rn] * lic.rns[rn])
            out.append({"name": name, "total": lic.total, "used": lic.used, "rns": rns})
        return out

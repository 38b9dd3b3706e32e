"""Build hook: the wheel carries the templates, migrations, runtime image recipes and compiled catalogs.

Those folders stay at the top of the checkout (where the code finds them when run from source); the
installed packages find them inside themselves (`panel.data_dir`, `agents.images.RECIPES_DIR`).
"""
from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
# top-level folder of the checkout → where it goes inside the installed packages
TREES = {"templates": "panel/templates", "migrations": "panel/migrations", "images": "agents/recipes"}
CATALOGS = "panel/translations"


class BuildWithData(build_py):
    """Copy the top-level data folders into the packages and compile the message catalogs."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads them from the checkout
        build = Path(self.build_lib)
        for source, target in TREES.items():
            shutil.rmtree(build / target, ignore_errors=True)  # nothing stale from an earlier build
            shutil.copytree(ROOT / source, build / target,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        compile_catalogs(ROOT / CATALOGS, build / CATALOGS)


def compile_catalogs(source: Path, target: Path) -> None:
    """Write a .mo beside each .po under `target` (the .mo files are built, never committed)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    for po in sorted(source.glob("*/LC_MESSAGES/*.po")):
        with po.open("rb") as fh:
            catalog = read_po(fh, locale=po.parent.parent.name)
        mo = target / po.relative_to(source).with_suffix(".mo")
        mo.parent.mkdir(parents=True, exist_ok=True)
        with mo.open("wb") as fh:
            write_mo(fh, catalog)


setup(cmdclass={"build_py": BuildWithData})

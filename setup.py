"""Packaging: the design card's top-level folders installed under one ``entryscan`` namespace.

``device/`` becomes ``entryscan.device``, ``collector/`` ``entryscan.collector`` and ``provisioning/``
``entryscan.provisioning``, so the wheel adds no generic top-level names to a venv that, on a Pi, must also see
the system's site-packages. Everything else is declared in pyproject.toml.

Building compiles the office's gettext catalogs (``collector/web/locale/*/LC_MESSAGES/messages.po``) into the
``.mo`` files beside them, with Babel when it is importable (the collector loads a ``.po`` itself otherwise).
"""

from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

ROOTS = ("device", "collector", "provisioning")
LOCALE = Path(__file__).resolve().parent / "collector" / "web" / "locale"


def compile_catalogs() -> None:
    try:
        from babel.messages.mofile import write_mo
        from babel.messages.pofile import read_po
    except ImportError:
        return
    for po in LOCALE.glob("*/LC_MESSAGES/messages.po"):
        with po.open("rb") as source, po.with_suffix(".mo").open("wb") as target:
            write_mo(target, read_po(source))


class BuildWithCatalogs(build_py):
    def run(self) -> None:
        compile_catalogs()
        super().run()


setup(
    cmdclass={"build_py": BuildWithCatalogs},
    package_dir={f"entryscan.{root}": root for root in ROOTS},
    package_data={"entryscan.provisioning.fonts": ["*.ttf", "*.txt", "*.md"],
                  "entryscan.collector.web": ["templates/*.html", "static/*.css", "static/*.js", "static/leaflet/*.js",
                                              "static/leaflet/*.css", "static/leaflet/LICENSE",
                                              "static/leaflet/README.md", "static/leaflet/images/*.png", "babel.cfg",
                                              "locale/*/LC_MESSAGES/*.po", "locale/*/LC_MESSAGES/*.mo"]},
    packages=[f"entryscan.{root}{sub}" for root in ROOTS for sub in ["", *(f".{p}" for p in find_packages(root))]],
)

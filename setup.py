"""Packaging: the design card's top-level folders installed under one ``entryscan`` namespace.

``device/`` becomes ``entryscan.device``, ``collector/`` ``entryscan.collector`` and ``provisioning/``
``entryscan.provisioning``, so the wheel adds no generic top-level names to a venv that, on a Pi, must also see
the system's site-packages. Everything else is declared in pyproject.toml.
"""

from setuptools import find_packages, setup

ROOTS = ("device", "collector", "provisioning")

setup(
    package_dir={f"entryscan.{root}": root for root in ROOTS},
    package_data={"entryscan.provisioning.fonts": ["*.ttf", "*.txt", "*.md"]},
    packages=[f"entryscan.{root}{sub}" for root in ROOTS for sub in ["", *(f".{p}" for p in find_packages(root))]],
)

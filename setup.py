"""Installs the keras_enas package and its bin/ scripts."""

import glob
import os

import setuptools

HERE = os.path.dirname(os.path.abspath(__file__))


def _requirements(name):
    """Requirement specifiers from a requirements file, without comments or blank lines."""
    with open(os.path.join(HERE, name), encoding="utf-8") as f:
        lines = (line.split("#", 1)[0].strip() for line in f)
        return [line for line in lines if line]


def _scripts():
    """Every file in bin/ (absl apps, python scripts without an extension)."""
    return sorted(p for p in glob.glob("bin/*") if os.path.isfile(p))


setuptools.setup(
    name="keras_enas",
    version="0.1.0",
    description="Efficient Neural Architecture Search (Pham et al. 2018) in Keras 3.",
    packages=setuptools.find_packages(include=["keras_enas", "keras_enas.*"]),
    install_requires=_requirements("requirements.txt"),
    extras_require={"dev": _requirements("requirements-dev.txt")},
    scripts=_scripts(),
    python_requires=">=3.10",
)

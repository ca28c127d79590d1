"""Package discovery for the mapped plugin folders (metadata lives in pyproject.toml).

``biasbench/`` is the core; ``protocols/``, ``baselines/``, ``methods/`` and ``reports/`` sit
at the top level of the repository but install as ``biasbench.<name>``. Every package under
each mapped folder is found here, so a new subpackage can never be left out of the wheel
(``tests/test_packaging.py`` builds the wheel and checks it against the source tree).
"""

from setuptools import find_packages, setup

MAPPED = {
    "biasbench": "biasbench",
    "biasbench.protocols": "protocols",
    "biasbench.baselines": "baselines",
    "biasbench.methods": "methods",
    "biasbench.reports": "reports",
}


def mapped_packages() -> list[str]:
    """Every package under every mapped folder, named as it installs."""
    return [
        pkg
        for name, folder in MAPPED.items()
        for pkg in [name, *(f"{name}.{sub}" for sub in find_packages(folder))]
    ]


setup(packages=mapped_packages(), package_dir=MAPPED)

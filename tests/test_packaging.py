"""pyproject's license is an SPDX expression (PEP 639) with a setuptools that reads it:
the `{ text = ... }` table makes setuptools warn that builds stop working after
2027-02-18. (`pip install .` into a fresh venv and `coachpass demo` from it are checked
by hand before a release; see the commit that made this change.)"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_license_is_an_spdx_string_and_setuptools_can_read_it() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    project = pyproject["project"]
    assert project["license"] == "Apache-2.0"
    for name in project.get("license-files", []):
        assert (ROOT / name).is_file(), name
    (setuptools,) = [r for r in pyproject["build-system"]["requires"] if "setuptools" in r]
    match = re.fullmatch(r"setuptools>=(\d+)(?:\.\d+)*", setuptools)
    assert match and int(match.group(1)) >= 77, setuptools  # PEP 639 support
    assert not any("License ::" in c for c in project.get("classifiers", []))

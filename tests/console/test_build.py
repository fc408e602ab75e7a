"""The console as shipped: its sources type-check against schema.graphql, and the wheel and
the sdist carry the built page."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

from tests.console.conftest import REPO

BUILD_SECONDS = 240


def test_the_console_type_checks_and_its_documents_match_the_schema():
    checked = subprocess.run(
        ["bash", "scripts/build-console", "check"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=BUILD_SECONDS,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_wheel_and_the_sdist_hold_the_console_page(tmp_path: Path):
    built = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(tmp_path), str(REPO)],
        capture_output=True,
        text=True,
        timeout=BUILD_SECONDS,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = tmp_path.glob("*.whl")
    (sdist,) = tmp_path.glob("*.tar.gz")

    with zipfile.ZipFile(wheel) as archive:
        in_wheel = archive.namelist()
    with tarfile.open(sdist) as archive:
        in_sdist = [name.split("/", 1)[1] for name in archive.getnames() if "/" in name]

    for names in (in_wheel, in_sdist):
        assert "jobtower/console/dist/index.html" in names
        assert any(name.startswith("jobtower/console/dist/assets/") and name.endswith(".js") for name in names)

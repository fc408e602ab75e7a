"""``jobtower_client/`` is generated from ``schema.graphql`` and ``client/operations/``: a test fails
while the committed client differs from what they generate."""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGE = "jobtower_client"


def modules(package: Path) -> dict[str, str]:
    return {path.relative_to(package).as_posix(): path.read_text() for path in package.rglob("*.py")}


def test_the_committed_client_is_what_the_schema_and_the_operations_generate(tmp_path: Path) -> None:
    subprocess.run(
        ["bash", str(REPO / "scripts" / "generate-client"), str(tmp_path)],
        check=True,
        capture_output=True,
        timeout=240,
    )
    committed, generated = modules(REPO / PACKAGE), modules(tmp_path / PACKAGE)
    stale = sorted(name for name in committed.keys() | generated.keys() if committed.get(name) != generated.get(name))
    assert not stale, f"{PACKAGE}/ is stale ({', '.join(stale)}): run `bash scripts/generate-client`"

"""Writes ``schema.graphql`` from the code: ``python -m gql.export`` (``--check`` to verify)."""

from __future__ import annotations

import sys
from pathlib import Path

from gql.schema import schema

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schema.graphql"


def sdl() -> str:
    return schema.as_str() + "\n"


def main(argv: list[str]) -> int:
    if "--check" in argv:
        if SCHEMA_FILE.read_text() != sdl():
            print("schema.graphql is stale: run `python -m gql.export`", file=sys.stderr)
            return 1
        return 0
    SCHEMA_FILE.write_text(sdl())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

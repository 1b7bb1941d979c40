"""Regenerate the committed protobuf modules from the .proto sources.

Run from anywhere: ``python scripts/gen_proto.py`` (needs the ``dev`` extra,
``pip install -e '.[dev]'``, which brings grpcio-tools and its bundled protoc).
"""

from __future__ import annotations

import sys
from pathlib import Path

PROTO_DIR = Path(__file__).resolve().parents[1] / "cursor_api" / "upstream" / "proto"


def main() -> int:
    from grpc_tools import protoc  # dev-only, untyped: see [mypy-grpc_tools.*] in setup.cfg

    sources = sorted(p.name for p in PROTO_DIR.glob("*.proto"))
    args = [
        "protoc",
        f"-I{PROTO_DIR}",
        f"--python_out={PROTO_DIR}",
        f"--pyi_out={PROTO_DIR}",
        *sources,
    ]
    status = int(protoc.main(args))
    if status == 0:
        print(f"regenerated {', '.join(sources)} in {PROTO_DIR}")
    return status


if __name__ == "__main__":
    sys.exit(main())

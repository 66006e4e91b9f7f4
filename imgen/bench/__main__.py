"""``python -m imgen.bench RESULT.json``: print the tables of a saved ``imgen bench`` report."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from imgen.bench.table import render


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m imgen.bench RESULT.json", file=sys.stderr)
        return 2
    print(render(json.loads(Path(args[0]).read_text())), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())

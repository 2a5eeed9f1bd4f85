"""Microspace API server. `python server.py` serves; `python server.py <command>` operates.

With DATABASE_URL unset it starts an embedded PostgreSQL under .data/, applies
migrations, seeds a demo tenant and prints a demo owner token.
"""

from __future__ import annotations

import sys

from microspace.app import create_app
from microspace.commands.cli import main

__all__ = ["create_app", "main"]

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

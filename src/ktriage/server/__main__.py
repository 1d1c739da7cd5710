"""``python -m ktriage.server [--host H] [--port P] [--rules PATH]``: same as ``ktriage serve``."""

from __future__ import annotations

from ..cli_service import serve_main

if __name__ == "__main__":
    serve_main()

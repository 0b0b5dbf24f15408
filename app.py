"""Start the rag web UI: ``python app.py [--host H] [--port P] [--corpus DIR] [--index DIR]``.

A thin launcher for ``rag.ui.main`` (the same as ``rag serve``); all the work is there.
"""

from __future__ import annotations

import sys

if __name__ == "__main__":
    from rag.ui import main

    sys.exit(main(sys.argv[1:]))

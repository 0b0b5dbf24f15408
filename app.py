"""Start the rag web UI: ``python app.py [--host H] [--port P] [--corpus DIR] [--index DIR]
[--model NAME]`` (``--help`` says more).

A thin launcher for ``rag.ui.main`` (the same as ``rag serve``); all the work is there. The
options are defined once, in ``rag.settings.add_serve_arguments``, for both.
"""

from __future__ import annotations

import sys

if __name__ == "__main__":
    from rag.ui import main

    sys.exit(main(sys.argv[1:]))

"""Library behind the serverless TFLite functions: plain Python over bytes and numpy arrays.

Nothing here imports Flask or functions-framework; the handlers in ``functions/*/main.py``
call the serving edge (``shared.edge``), a pipeline (``shared.face``, ``shared.gesture``)
and the edge again. Layers, bottom up: errors, settings, logs, images; the model runtime
(``shared.runtime``); state (``shared.state``); pixel geometry (``shared.vision``); the
pipelines; the serving edge. See docs/ARCHITECTURE.md.
"""

__version__ = "0.5.0"

import os as _os

# numpy's OpenBLAS starts a thread per core when numpy is imported (~60 ms of a cold start
# measured here, before any request) for matrix products this library never does; one
# thread skips that. Set before numpy's first import; an operator's own value wins.
_os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

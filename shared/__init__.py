"""Library behind the serverless TFLite functions: plain Python over bytes and numpy arrays.

Nothing here imports Flask or functions-framework; the handlers in ``functions/*/main.py``
call the serving edge (``shared.edge``), a pipeline (``shared.face``, ``shared.gesture``)
and the edge again. Layers, bottom up: errors, settings, logs, images; the model runtime
(``shared.runtime``); state (``shared.state``); pixel geometry (``shared.vision``); the
pipelines; the serving edge. See docs/ARCHITECTURE.md.
"""

__version__ = "0.3.0"

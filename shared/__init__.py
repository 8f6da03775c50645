"""Library behind the serverless TFLite functions: plain Python over bytes and numpy arrays.

Nothing here imports Flask or functions-framework; the handlers in ``functions/*/main.py``
parse HTTP requests, call into this package, and serialise what it returns.
"""

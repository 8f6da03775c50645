#!/usr/bin/env python3
"""Serve one function: functions-framework's app on gunicorn, read by shared/edge/server.py's
worker so that slow clients cost a timer, not a serving thread.

The platform contract is functions-framework's: FUNCTION_TARGET (or --target) names the
function, PORT (or --port) the port, WORKERS and THREADS the gunicorn processes and
threads, CLOUD_RUN_TIMEOUT_SECONDS gunicorn's worker timeout, GUNICORN_LOG_LEVEL its log
level; the app is the one `functions-framework --target X` builds (`create_app`), with the
same handlers and error handler. Why not functions-framework's own command: its gunicorn
takes no options from outside, and its threaded worker gives a thread to a connection as
soon as a byte arrives (README, "Slow clients").

    python functions/serve.py --target verify_face            # the image's CMD, Render's start command
    FUNCTION_TARGET=predict_gesture PORT=9090 python functions/serve.py
"""

from __future__ import annotations

import argparse
import gc
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
LIBRARY_ROOT = os.path.dirname(HERE)  # holds shared/, in the repo and in the image's app/
TARGETS = ("verify_face", "predict_gesture")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", default=os.environ.get("FUNCTION_TARGET", ""), help="the function: verify_face or predict_gesture")
    parser.add_argument("--source", default=os.environ.get("FUNCTION_SOURCE", ""), help="its main.py (default functions/<target>/main.py)")
    parser.add_argument("--host", default=os.environ.get("HOST", "0.0.0.0"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    args = parser.parse_args(argv)
    if args.target not in TARGETS and not args.source:
        parser.error(f"--target (or FUNCTION_TARGET) must be one of {', '.join(TARGETS)}, got {args.target!r}")
    source = args.source or os.path.join(HERE, args.target, "main.py")

    sys.path.insert(0, LIBRARY_ROOT)  # the serving worker is the library's, whatever main.py serves
    # No collection while the app is built: everything built here lives as long as the
    # process, and the pre_fork hook (shared/edge/server.py) freezes it, then collects again.
    gc.disable()
    from functions_framework import create_app

    app = create_app(args.target, source)  # imports main.py, which puts the library on sys.path
    from shared.edge.server import serve

    serve(
        app,
        args.host,
        args.port,
        workers=int(os.environ.get("WORKERS", "1")),
        threads=int(os.environ.get("THREADS", str((os.cpu_count() or 1) * 4))),  # functions-framework's default
        timeout_s=int(os.environ.get("CLOUD_RUN_TIMEOUT_SECONDS", "0")),
        log_level=os.environ.get("GUNICORN_LOG_LEVEL", "error"),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

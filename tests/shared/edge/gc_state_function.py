"""A function that answers its serving process's pid and garbage-collector state, served by
tests/shared/edge/test_server.py through functions/serve.py."""

import gc
import os

import functions_framework


@functions_framework.http
def gc_state(request):
    return {"pid": os.getpid(), "frozen": gc.get_freeze_count(), "collecting": gc.isenabled()}

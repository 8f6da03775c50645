"""The benchmark's floor: a bare functions-framework function, started the same way as ours.

Its cold start (process spawn -> first answer) is what functions-framework itself costs;
the benchmark reports every function's cold start as a ratio to it.
"""

import functions_framework


@functions_framework.http
def hello(request):
    return {"hello": "world"}

import gc, sys, psutil, pytest
@pytest.fixture(autouse=True)
def _mem(request):
    yield
    gc.collect()
    print(f"\nRSS after {request.node.name}: {psutil.Process().memory_info().rss/2**20:.0f} MiB", file=sys.stderr)

@pytest.fixture(autouse=True)
def _trim(request):
    yield
    import ctypes
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)

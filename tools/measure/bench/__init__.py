"""The benchmark's pieces (tools/measure/benchmark.py): what runs where (cases), real inputs
(inputs, gesture), gs:// bundles on an emulator (gs), running the cases on the serving
harness (runner), in-process model timing (modeltime), tables and plot (report); and the
functions it serves besides ours (hello_function: the floor; tensorflow_function: the "before")."""

"""Coverage-guided fuzz targets (atheris) for every decoder, the auto-detection, the Extended JSON
converter, the Avro path, the config loader and ``Processor.process``.

Layout: :mod:`fuzz.targets` (one module per target, each a ``test_one_input(data: bytes)`` and,
for structured inputs, a ``custom_mutator``), :mod:`fuzz.harness` (the invariants every target
asserts), :mod:`fuzz.mutator` and :mod:`fuzz.vocabulary` (structure-aware mutation),
:mod:`fuzz.seeds`, :mod:`fuzz.literals` and :mod:`fuzz.avro_schemas` (seed corpora and the mock
schema registry), :mod:`fuzz.run` (the runner: ``make fuzz`` and the short run of
``tests/fuzz``), ``python -m fuzz TARGET [libFuzzer flags]`` (one target under atheris) and
``crashes/`` (the inputs found, replayed by ``tests/fuzz/test_fuzz_regressions.py``). How to run
them and what they found: docs/RELIABILITY.md, "Fuzzing".
"""

"""Benchmarks run by ``make bench`` (``python -m infra.bench.run_all``). See README.md here.

Each benchmark is a module with a ``main()`` that can also be run on its own; ``run_all``
drives them on every backend and writes their results to ``docs/benchmarks.md``.
"""

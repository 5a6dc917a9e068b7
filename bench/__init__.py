"""The benchmarks `mestream bench` (`make bench`) runs, one module per benchmark; each
gives table rows ``(benchmark, result, statistic, target)`` for BENCHMARKS.md."""

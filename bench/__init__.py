"""malloc-lab's benchmarks (`make bench`, `python -m bench`): the issue-6 goals measured side by side in
one run, each as a ratio or a count, written to docs/benchmarks.md and bench/results/latest.json."""

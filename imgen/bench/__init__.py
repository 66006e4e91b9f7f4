"""``imgen bench``: what imgen does on this machine, and the measurements that make it fast.

The measuring code lives in the package (so that it works from an installed wheel, and a
plugin's task is benchmarked like a built-in one); ``benchmarks/`` holds the entry scripts and
the committed results. Modules, one job each:

- :mod:`~imgen.bench.environment`: the machine and the versions;
- :mod:`~imgen.bench.timing`: synchronised clocks and peak-memory meters;
- :mod:`~imgen.bench.flops`: FLOP counts and the measured matmul peak;
- :mod:`~imgen.bench.modes`: the training modes and how ``fast`` is chosen;
- :mod:`~imgen.bench.variants`: which models per task, at which sizes;
- :mod:`~imgen.bench.training`, :mod:`~imgen.bench.inference`, :mod:`~imgen.bench.pipeline`,
  :mod:`~imgen.bench.metrics`: the four sections;
- :mod:`~imgen.bench.suite`: runs them; :mod:`~imgen.bench.table`: prints them.
"""

from imgen.bench.suite import SECTIONS, SuiteOptions, run_suite

__all__ = ["SECTIONS", "SuiteOptions", "run_suite"]

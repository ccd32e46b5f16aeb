"""``python -m benchmarks`` (``make bench``): the network size and speed table (``benchmarks.models``), the one
benchmark that needs neither data nor the teacher. Every other benchmark is its own module, run as ``python -m
benchmarks.NAME`` (``heldout_video``, ``tracking``, ``real3d``, ``motion``, ``acquisition``, ...); each module's
doc says what it needs, how long it takes and what it writes under ``benchmarks/results/``."""
from benchmarks import models

models.main([])

"""Edgeline's Dagster code location: definitions, jobs, sensors, the CLI and the dev runner."""

import warnings

# Edgeline uses a few Dagster features marked beta or preview on purpose (partition mappings
# between model and day partitions, partitioned asset checks); their notices would repeat in
# every process's log without telling an operator anything they can act on.
warnings.filterwarnings("ignore", message=r".* is currently in (beta|preview)")

# slurm.mk — sharded sweeps on Slurm: `make test-slurm` starts a real one-node Slurm (slurm-wlm + munge) on
# localhost, runs experiments/slurm/sweep.sbatch as a job array over configs/fixtures.json, merges the shards
# and checks the result equals a single-process run. Installs the packages itself when root.
## make test-slurm    one-node Slurm on localhost: job-array sweep, merge, compare with a single run (root)
EXTRA_DEBS += slurm-wlm munge  # for make deps-dev; test-slurm installs them itself
SLURM_CONFIG ?= configs/fixtures.json
.PHONY: test-slurm
test-slurm: $(BUILD)/qinsbench
	@if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge; \
	  else echo "make test-slurm: needs slurm-wlm and munge (run as root to install them)"; exit 1; fi; \
	fi
	experiments/slurm/test-slurm.sh $(BUILD)/qinsbench $(SLURM_CONFIG)

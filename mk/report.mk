# report.mk — `make report`: regenerates the committed REPORT.md and its charts (docs/report/*.png, .svg)
# from the shipped configs: austen.json (the trained toy: greedy, teacher-forced, perplexity and KL on
# Persuasion, a few minutes), claim-toy.json (the claim's 500-step protocol on a random toy synthesized
# into models/toy) and gate.json (adds the KV-cache modes the V-cache claim needs, about a minute). Runs
# resume: results already in results/*.h5 are kept (delete them, or the config changed, to start over).
# The Phi-3.5 speed bench (`make bench-phi35` → results/bench-phi35.csv) is used when present.
## make report          run the shipped configs, then qinsbench plot + report → REPORT.md, docs/report/

REPORT_RUNS  := results/austen.h5 results/claim-toy.h5 results/gate.h5
REPORT_BENCH := $(wildcard results/bench-phi35.csv)
# `make report REPORT_FRESH=--fresh` reruns everything (needed after a config change: a run refuses to
# resume a results file made from different config text).
REPORT_FRESH ?=

.PHONY: report
# REPORT.md must come from a clean build of the commit it ships with: a -dirty binary is refused (the results
# files record the binary's commit, and the report prints it); REPORT_DIRTY=1 overrides for a local look.
report: $(BUILD)/qinsbench
	@v=$$($(BUILD)/qinsbench --version); case "$$v" in *-dirty*) \
	  if [ "$(REPORT_DIRTY)" = 1 ]; then echo "make report: WARNING: $$v is a -dirty build; this REPORT.md is not reproducible"; \
	  else echo "make report: $$v was built with uncommitted changes; commit, then make clean all report (or REPORT_DIRTY=1)"; exit 2; fi;; esac
	@mkdir -p results docs/report build
	test -f models/toy/config.json || $(BUILD)/qinsbench synth --preset toy --out models/toy --quiet
	$(BUILD)/qinsbench synth --preset toy --out build/gate-toy --seed 7 --force --quiet
	$(BUILD)/qinsbench run configs/austen.json --out results/austen.h5 $(REPORT_FRESH)
	$(BUILD)/qinsbench run configs/claim-toy.json --out results/claim-toy.h5 $(REPORT_FRESH)
	$(BUILD)/qinsbench run configs/gate.json --out results/gate.h5 $(REPORT_FRESH)
	rm -f docs/report/*.png docs/report/*.svg
	for r in $(REPORT_RUNS); do $(BUILD)/qinsbench plot $$r --out docs/report $(if $(REPORT_BENCH),--bench $(REPORT_BENCH)) || exit 1; done
	$(BUILD)/qinsbench report $(REPORT_RUNS) $(if $(REPORT_BENCH),--bench $(REPORT_BENCH)) --charts docs/report --out REPORT.md

# gate.mk — `make gate`, the CI regression gate (.ci/run calls it after the tests): runs configs/gate.json
# (the two fixtures, austen-toy and a random toy synthesized here into build/gate-toy; every codec and KV
# mode; short workloads, under a minute on 2 cores) and checks the results against
# configs/gate-thresholds.json with `qinsbench gate` (exit 1 if any check fails). `make gate-thresholds`
# rewrites the thresholds from a fresh run with the margins stated in the file — only after a deliberate,
# reviewed change of what a codec does, never to make a red gate green.
## make gate            CI regression gate: run configs/gate.json, check it against configs/gate-thresholds.json
## make gate-thresholds rewrite configs/gate-thresholds.json from a fresh gate run (stated margins; review the diff)

GATE_TOY := build/gate-toy
GATE_OUT := $(BUILD)/gate.h5

.PHONY: gate gate-run gate-thresholds
gate-run: $(BUILD)/qinsbench
	@mkdir -p build $(BUILD)
	$(BUILD)/qinsbench synth --preset toy --out $(GATE_TOY) --seed 7 --force --quiet
	$(BUILD)/qinsbench run configs/gate.json --out $(GATE_OUT) --fresh

gate: gate-run
	$(BUILD)/qinsbench gate $(GATE_OUT) --thresholds configs/gate-thresholds.json

gate-thresholds: gate-run
	$(BUILD)/qinsbench gate $(GATE_OUT) --suggest > configs/gate-thresholds.json.new
	mv configs/gate-thresholds.json.new configs/gate-thresholds.json

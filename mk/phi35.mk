# phi35.mk — Phi-3.5-mini at its real size, synthesized (nothing here can download the real weights):
# memory per codec on the full 32-layer model, and speed per codec on 8 layers of the real shapes.
## make bench-phi35   synthesize Phi-3.5-mini (8 layers, and all 32: 7.6 GB, on demand), memory + speed tables
PHI35_8L  ?= models/phi35-synth-8l
PHI35_32L ?= models/phi35-synth
PHI35_CODECS ?= fp32,bf16,qins,qins8,q8_0,q4_0
.PHONY: bench-phi35 bench-phi35-speed bench-phi35-memory
bench-phi35: bench-phi35-speed bench-phi35-memory

$(PHI35_8L)/config.json: | $(BUILD)/qinsbench
	$(BUILD)/qinsbench synth --preset phi3.5-mini --layers 8 --seed 1 --out $(PHI35_8L) --force

$(PHI35_32L)/config.json: | $(BUILD)/qinsbench
	$(BUILD)/qinsbench synth --preset phi3.5-mini --seed 1 --out $(PHI35_32L) --force

# Speed: one thread and two, llama-bench's pp512 / tg32, with the bandwidth bound measured in the same run.
bench-phi35-speed: $(BUILD)/qinsbench $(PHI35_8L)/config.json
	@mkdir -p results
	$(BUILD)/qinsbench bench --model $(PHI35_8L) --codec $(PHI35_CODECS) --threads 1,2 -p 512 -n 32 -r 2 \
	  --csv results/bench-phi35.csv | tee results/bench-phi35.md

# Memory: load the full model under each codec (one process each) and report exact bytes and peak RSS.
bench-phi35-memory: $(BUILD)/qinsbench $(PHI35_32L)/config.json
	@mkdir -p results
	@for c in fp32 bf16 qins qins8 q8_0; do \
	  echo "== $$c"; $(BUILD)/qinsbench info --model $(PHI35_32L) --codec $$c --ctx 4096; \
	done 2>&1 | tee results/bench-phi35-memory.txt

# phi35.mk — Phi-3.5-mini at its real size, synthesized (nothing here can download the real weights):
# memory per codec on the full 32-layer model, and speed per codec on 8 layers of the real shapes.
## make bench-phi35   synthesize Phi-3.5-mini (8 layers, and all 32: 7.6 GB, on demand), memory + speed tables
##                    (LLAMA_CPP_DIR=<llama.cpp build>: with llama.cpp beside it on the same weights)
PHI35_8L  ?= models/phi35-synth-8l
PHI35_32L ?= models/phi35-synth
PHI35_CODECS ?= fp32,bf16,qins,qins8,q8_0,q4_0
.PHONY: bench-phi35 bench-phi35-speed bench-phi35-memory
bench-phi35: bench-phi35-speed bench-phi35-memory

$(PHI35_8L)/config.json: | $(BUILD)/qinsbench
	$(BUILD)/qinsbench synth --preset phi3.5-mini --layers 8 --seed 1 --out $(PHI35_8L) --force

$(PHI35_32L)/config.json: | $(BUILD)/qinsbench
	$(BUILD)/qinsbench synth --preset phi3.5-mini --seed 1 --out $(PHI35_32L) --force

# llama.cpp beside it: LLAMA_CPP_DIR = a llama.cpp build directory (bin/llama-bench), LLAMA_GGUF = the
# prefix of GGUFs made from the same weights (<prefix>-f32.gguf, -bf16, -f16, -q8_0-outf32, -q4_0-outf32)
# and LLAMA_CKPT = the checkpoint they were made from. ../shared/llamacpp/setup.sh (a developer tool, not
# part of the project) makes all three under /tmp/qb-llama, hence the defaults. bench/README.md has the steps.
LLAMA_CPP_DIR ?=
LLAMA_GGUF ?= $(abspath $(LLAMA_CPP_DIR)/..)/phi35-8L
LLAMA_CKPT ?= $(LLAMA_GGUF)

# Speed: one thread and two, llama-bench's pp512 / tg32, with the bandwidth bound measured in the same run;
# then, with LLAMA_CPP_DIR set, both engines interleaved on the same weights (bench/llama_side_by_side.sh).
bench-phi35-speed: $(BUILD)/qinsbench $(PHI35_8L)/config.json
	@mkdir -p results
	$(BUILD)/qinsbench bench --model $(PHI35_8L) --codec $(PHI35_CODECS) --threads 1,2 -p 512 -n 32 -r 2 \
	  --csv results/bench-phi35.csv | tee results/bench-phi35.md
	@if [ -z "$(LLAMA_CPP_DIR)" ]; then \
	  echo "bench-phi35: no llama.cpp columns (set LLAMA_CPP_DIR to a llama.cpp build, see bench/README.md)"; \
	else \
	  { echo "## llama.cpp ($(LLAMA_CPP_DIR)) beside qinsbench, checkpoint $(LLAMA_CKPT)"; echo; \
	    bench/llama_side_by_side.sh $(BUILD)/qinsbench $(LLAMA_CPP_DIR)/bin/llama-bench $(LLAMA_CKPT) \
	      $(LLAMA_GGUF) results/bench-phi35-llama.csv; } >results/bench-phi35-llama.md || exit 1; \
	  cat results/bench-phi35-llama.md; \
	fi

# Memory: load the full model under each codec (one process each) and report exact bytes and peak RSS.
bench-phi35-memory: $(BUILD)/qinsbench $(PHI35_32L)/config.json
	@mkdir -p results
	@for c in fp32 bf16 qins qins8 q8_0; do \
	  echo "== $$c"; $(BUILD)/qinsbench info --model $(PHI35_32L) --codec $$c --ctx 4096; \
	done 2>&1 | tee results/bench-phi35-memory.txt

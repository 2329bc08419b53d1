# fuzz.mk — `make fuzz`: libFuzzer targets (fuzz/fuzz_*.c) for every parser of outside input, built with
# clang -fsanitize=fuzzer,address,undefined against a sanitized copy of the libraries (build-fuzz/), each run
# FUZZ_SECONDS seconds from a seed corpus taken from the fixtures (plus fuzz/seeds/<name>) with the
# dictionary fuzz/<name>.dict. Fails on any crash, leak, UB report (-fno-sanitize-recover) or timeout
# (FUZZ_TIMEOUT seconds for one input). The corpus grows in build-fuzz/corpus/<name> across runs;
# findings are written to build-fuzz/findings/<name>/. clang is installed from Debian when missing and root.
## make fuzz           build the libFuzzer targets and run each FUZZ_SECONDS (default 60) seconds
## make fuzz-build     only build them (build-fuzz/fuzz_*)

FUZZ_SECONDS ?= 60
# libclang-rt-dev holds libFuzzer and the sanitizer runtimes (only a Recommends of clang in Debian 12).
FUZZ_DEBS    := clang libomp-dev libclang-rt-dev
EXTRA_DEBS   += $(FUZZ_DEBS)
FUZZ_TIMEOUT ?= 10
FUZZ_RSS_MB  ?= 2048
FUZZ_CC      ?= clang
FUZZ_BUILD   := build-fuzz
FUZZ_LIB     := build-fuzz/lib
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_NAMES   := $(patsubst fuzz/fuzz_%.c,%,$(sort $(wildcard fuzz/fuzz_*.c)))

# Seeds per target, from the fixtures (small files only: libFuzzer's max_len follows the largest seed).
FUZZ_SEEDS_safetensors     := $(wildcard tests/fixtures/phi3-tiny*/*.safetensors)
FUZZ_SEEDS_config          := $(wildcard tests/fixtures/phi3-tiny*/config.json models/*/config.json)
FUZZ_SEEDS_genconfig       := $(wildcard tests/fixtures/phi3-tiny*/generation_config.json models/*/generation_config.json)
FUZZ_SEEDS_index           := $(wildcard tests/fixtures/phi3-tiny/model.safetensors.index.json)
FUZZ_SEEDS_tokenizer_load  := $(wildcard models/austen-toy/tokenizer.json)
FUZZ_SEEDS_tokenizer_codec := $(wildcard experiments/prompts/austen-prompts.txt models/austen-toy/README.md tests/fixtures/tokenizers/README.md)
FUZZ_SEEDS_expconfig       := $(wildcard configs/*.json)
FUZZ_SEEDS_prompts_corpus  := $(wildcard experiments/prompts/*.txt experiments/fixtures-ids.txt experiments/claim-toy-corpus-ids.txt)

.PHONY: fuzz fuzz-build fuzz-libs fuzz-clang
fuzz-clang:
	@command -v $(FUZZ_CC) >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(FUZZ_DEBS); \
	  else echo "make fuzz: $(FUZZ_CC) not found; run as root, or: sudo apt-get install $(FUZZ_DEBS)"; exit 1; fi; }

# The libraries with coverage instrumentation (fuzzer-no-link) and the sanitizers, built by the main
# Makefile's rules in $(FUZZ_LIB) (-Wno-pass-failed: at -O1 clang cannot honour every `omp simd`).
# `lib` is a sub-make that is always entered (it is incremental); the binaries relink after it.
fuzz-libs: fuzz-clang
	$(MAKE) --no-print-directory CC=$(FUZZ_CC) BUILD=$(FUZZ_LIB) OPT="-O1 -g -fno-omit-frame-pointer -Wno-pass-failed" \
	  SAN="-fsanitize=fuzzer-no-link $(FUZZ_SAN)" $(FUZZ_LIB)/libqinsengine.a $(FUZZ_LIB)/libqinsharness.a

fuzz-build: fuzz-libs
	@mkdir -p $(FUZZ_BUILD)
	@for n in $(FUZZ_NAMES); do \
	  if [ ! -e $(FUZZ_BUILD)/fuzz_$$n ] || [ -n "$$(find fuzz/fuzz_$$n.c fuzz/fuzz_common.h $(FUZZ_LIB)/libqinsengine.a \
	        $(FUZZ_LIB)/libqinsharness.a -newer $(FUZZ_BUILD)/fuzz_$$n 2>/dev/null)" ]; then \
	    echo "link $(FUZZ_BUILD)/fuzz_$$n"; \
	    $(FUZZ_CC) -std=c11 -O1 -g -fno-omit-frame-pointer -Wall -Wextra -Werror -D_GNU_SOURCE -fopenmp \
	      -fsanitize=fuzzer $(FUZZ_SAN) $(shell pkg-config --cflags $(PKGS) 2>/dev/null) -Iengine -Iharness \
	      fuzz/fuzz_$$n.c $(FUZZ_LIB)/libqinsharness.a $(FUZZ_LIB)/libqinsengine.a -o $(FUZZ_BUILD)/fuzz_$$n $(LDLIBS) \
	      || exit 1; \
	  fi; \
	done

# One target after another (the machine may be shared); all run even if one fails, then the verdict.
fuzz: fuzz-build
	@fail=0; for n in $(FUZZ_NAMES); do \
	  c=$(FUZZ_BUILD)/corpus/$$n; s=$(FUZZ_BUILD)/seeds/$$n; o=$(FUZZ_BUILD)/findings/$$n; \
	  mkdir -p $$c $$s $$o; \
	  eval "seeds=\"\$$FUZZ_SEEDS_$$n\""; \
	  for f in $$seeds $$(ls fuzz/seeds/$$n/* 2>/dev/null); do cp "$$f" "$$s/$$(echo $$f | tr / _)"; done; \
	  echo "== fuzz_$$n: $(FUZZ_SECONDS) s"; \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ASAN_OPTIONS=detect_leaks=1 \
	  $(FUZZ_BUILD)/fuzz_$$n -max_total_time=$(FUZZ_SECONDS) -timeout=$(FUZZ_TIMEOUT) -rss_limit_mb=$(FUZZ_RSS_MB) \
	    -dict=fuzz/$$n.dict -artifact_prefix=$$o/ -print_final_stats=1 $$c $$s > $(FUZZ_BUILD)/fuzz_$$n.log 2>&1; \
	  rc=$$?; grep -E '^stat::number_of_executed_units|^Done|ERROR|SUMMARY' $(FUZZ_BUILD)/fuzz_$$n.log | head -5; \
	  if [ $$rc -ne 0 ]; then echo "fuzz_$$n: FAILED (exit $$rc; log $(FUZZ_BUILD)/fuzz_$$n.log, input in $$o/)"; fail=1; fi; \
	done; \
	if [ $$fail -ne 0 ]; then echo "make fuzz: FAILED"; exit 1; fi; echo "make fuzz: every target ran $(FUZZ_SECONDS) s without a finding"

# tokenizer.mk — the tokenizer benchmark (issue #4). Timings live here, never in tests.
## make bench-tokenizer  tokenizer MB/s: persuasion.txt as one string and paragraph by paragraph (Phi-3 tokenizer)

BENCH_TOK_JSON ?= tests/fixtures/tokenizers/phi3-tokenizer.json
BENCH_TOK_TEXT ?= experiments/corpora/persuasion.txt

.PHONY: bench-tokenizer
$(BUILD)/bench/bench_tokenizer: tests/bench_tokenizer.c $(BUILD)/libqinsengine.a $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< $(BUILD)/libqinsengine.a -o $@ $(LDLIBS)

bench-tokenizer: $(BUILD)/bench/bench_tokenizer
	$< $(BENCH_TOK_JSON) $(BENCH_TOK_TEXT)

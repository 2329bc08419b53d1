/* fuzz_prompts_corpus.c — the text files an experiment reads besides its config, on arbitrary bytes:
 * a greedy prompts_file (through exp_config_parse, which reads it), a corpus_ids file (exp_parse_ids) and
 * one `tokenize --jsonl` line (tok_json_string_field). Corpus text goes through the tokenizer, fuzzed by
 * fuzz_tokenizer_codec. */
#include "expconfig.h"
#include "fuzz_common.h"
#include "tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *pf = fuzz_file(0, data, size);
    char cfg[512];
    snprintf(cfg, sizeof cfg,
             "{\"name\":\"f\",\"models\":[{\"label\":\"m\",\"path\":\"p\"}],\"codecs\":[\"fp32\"],"
             "\"greedy\":{\"prompts_file\":\"%s\",\"steps\":4}}", pf);
    ExpConfig c;
    if (exp_config_parse("exp.json", cfg, &c) == QB_OK) {
        if (c.n_prompts < 1) abort();
        exp_config_free(&c);
    }
    char *s = fuzz_text(data, size);
    int *ids = NULL, n = 0;
    if (exp_parse_ids(s, 1000000, &ids, &n) == 0) {
        for (int i = 0; i < n; i++)
            if (ids[i] < 0 || ids[i] > 1000000) abort();
        free(ids);
    }
    free(s);
    char *text = NULL;
    size_t len = 0;
    if (tok_json_string_field((const char *)data, size, "text", &text, &len) == QB_OK) {
        if (len > size) abort();
        free(text);
    }
    return 0;
}

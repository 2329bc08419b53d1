/* fuzz_genconfig.c — generation_config.json as config_load reads it: a valid config.json beside arbitrary
 * generation_config.json bytes. */
#include "config.h"
#include "fuzz_common.h"

static const char k_config[] =
    "{\"model_type\":\"phi3\",\"hidden_size\":96,\"intermediate_size\":256,\"num_hidden_layers\":3,"
    "\"num_attention_heads\":6,\"num_key_value_heads\":2,\"vocab_size\":384,\"max_position_embeddings\":1536,"
    "\"eos_token_id\":2}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int ready;
    if (!ready) {
        fuzz_put("config.json", k_config, sizeof k_config - 1);
        ready = 1;
    }
    fuzz_put("generation_config.json", data, size);
    Config c;
    if (config_load(fuzz_dir(), &c) == QB_OK) {
        if (c.n_eos < 1 || c.n_eos > QB_MAX_EOS) abort(); /* config.json's eos id is always kept */
        config_free(&c);
    }
    return 0;
}

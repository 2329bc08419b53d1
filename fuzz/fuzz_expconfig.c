/* fuzz_expconfig.c — an experiment config (exp_config_parse) on arbitrary bytes. */
#include "expconfig.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *s = fuzz_text(data, size);
    ExpConfig c;
    if (exp_config_parse("exp.json", s, &c) == QB_OK) exp_config_free(&c);
    free(s);
    return 0;
}

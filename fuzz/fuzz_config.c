/* fuzz_config.c — config.json (config_parse) on arbitrary bytes. */
#include "config.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *s = fuzz_text(data, size);
    Config c;
    if (config_parse("config.json", s, &c) == QB_OK) config_free(&c);
    free(s);
    return 0;
}

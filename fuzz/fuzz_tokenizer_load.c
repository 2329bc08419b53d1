/* fuzz_tokenizer_load.c — tokenizer.json (tok_load) on arbitrary bytes; a file that loads is used once
 * (encode a fixed text, decode what it gives) so the tables it built are exercised. */
#include "fuzz_common.h"
#include "tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    Tokenizer *t = NULL;
    if (tok_load(fuzz_file(0, data, size), &t) == QB_OK) {
        static const char text[] = "Hello <|end|> wor\xC3\xA9ld  \t\n<s>";
        int *ids = NULL, n = 0;
        if (tok_encode(t, text, sizeof text - 1, -1, &ids, &n) == QB_OK) {
            char *s = NULL;
            size_t len;
            if (tok_decode(t, ids, n, 0, &s, &len) == QB_OK) free(s);
            free(ids);
        }
        tok_free(t);
    }
    return 0;
}

/* fuzz_tokenizer_codec.c — the tokenizer (models/austen-toy's, or QB_FUZZ_TOKENIZER) on arbitrary bytes.
 * Checks, aborting on any difference:
 *   encode: the fast path (word cut) gives exactly the ids of tok_encode_ref (BPE over whole pre-tokens);
 *   decode: the input read as ids (2 bytes each, modulo the vocabulary) decodes the same through the
 *           streaming decoder (pushed one id at a time, then finished) as whole, with and without
 *           skip_special;
 *   the ids of the encoded text decode without error. */
#include "fuzz_common.h"
#include "tokenizer.h"

static Tokenizer *tok;

static void check_stream(const int *ids, int n, int skip) {
    char *whole = NULL;
    size_t wlen = 0;
    if (tok_decode(tok, ids, n, skip, &whole, &wlen) != QB_OK) abort();
    TokStream *s = tok_stream_new(tok, skip);
    if (!s) abort();
    char *acc = malloc(wlen + 1);
    size_t alen = 0;
    for (int i = 0; i <= n; i++) {
        char *piece = NULL;
        size_t plen = 0;
        if ((i < n ? tok_stream_push(s, ids[i], &piece, &plen) : tok_stream_finish(s, &piece, &plen)) != QB_OK) abort();
        if (alen + plen > wlen || memcmp(whole + alen, piece, plen) != 0) {
            fprintf(stderr, "streaming decode differs from whole decode at id %d\n", i);
            abort();
        }
        memcpy(acc + alen, piece, plen);
        alen += plen;
        free(piece);
    }
    if (alen != wlen) {
        fprintf(stderr, "streaming decode gave %zu bytes, whole decode %zu\n", alen, wlen);
        abort();
    }
    tok_stream_free(s);
    free(acc);
    free(whole);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!tok) {
        const char *p = getenv("QB_FUZZ_TOKENIZER");
        if (tok_load(p ? p : "models/austen-toy/tokenizer.json", &tok)) {
            fprintf(stderr, "fuzz_tokenizer_codec: %s\n", qb_last_error());
            abort();
        }
    }
    int *a = NULL, *b = NULL, na = 0, nb = 0;
    qb_status sa = tok_encode(tok, (const char *)data, size, 0, &a, &na);
    qb_status sb = tok_encode_ref(tok, (const char *)data, size, 0, &b, &nb);
    if (sa != sb || (sa == QB_OK && (na != nb || (na && memcmp(a, b, (size_t)na * sizeof *a) != 0)))) {
        fprintf(stderr, "tok_encode (%d, %d ids) != tok_encode_ref (%d, %d ids)\n", sa, na, sb, nb);
        abort();
    }
    if (sa == QB_OK) check_stream(a, na, 0);
    free(a);
    free(b);
    int vocab = tok_vocab_size(tok), n = (int)(size / 2);
    int *ids = malloc((size_t)(n ? n : 1) * sizeof *ids);
    for (int i = 0; i < n; i++) ids[i] = (data[2 * i] | data[2 * i + 1] << 8) % vocab;
    check_stream(ids, n, 0);
    check_stream(ids, n, 1);
    free(ids);
    return 0;
}

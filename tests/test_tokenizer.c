/* test_tokenizer.c — the tokenizer (engine/tokenizer.h) against Hugging Face `tokenizers`: every vector
 * of tests/fixtures/tokenizers/phi3-vectors.jsonl (ids, decoded, decoded_skip_special), a whole book
 * encoded as one string and decoded back byte for byte, the fast word-cut encoder against the plain
 * reference (also on random texts), streaming decode, the chat format, the toy model's own tokenizer,
 * malformed files, and the tokenize / detokenize commands. Run from the repo root. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "tokenizer.h"
#include "util.h"

#define PHI3_TOK "tests/fixtures/tokenizers/phi3-tokenizer.json"
#define PHI3_VECTORS "tests/fixtures/tokenizers/phi3-vectors.jsonl"
#define PERSUASION "experiments/corpora/persuasion.txt"
#define AUSTEN_DIR "models/austen-toy"

static Tokenizer *phi3;

static void setup(void) {
    qb_status st = tok_load(PHI3_TOK, &phi3);
    ck_assert_msg(st == QB_OK, "load: %s", qb_last_error());
}

static void teardown(void) {
    tok_free(phi3);
    phi3 = NULL;
}

static char *read_all(const char *path, size_t *len) {
    char *buf;
    qb_status st = qb_read_file(path, &buf, len, (size_t)1 << 30);
    ck_assert_msg(st == QB_OK, "%s", qb_last_error());
    return buf;
}

/* The ids array of a vector line, with cJSON. */
static int *json_ids(const cJSON *arr, int *n) {
    *n = cJSON_GetArraySize(arr);
    int *ids = malloc(((size_t)*n + 1) * sizeof(int));
    int k = 0;
    for (const cJSON *x = arr->child; x; x = x->next) ids[k++] = x->valueint;
    return ids;
}

START_TEST(test_vectors) {
    size_t len;
    char *all = read_all(PHI3_VECTORS, &len);
    int total = 0, ok_ids = 0, ok_ref = 0, ok_dec = 0, ok_skip = 0, ok_stream = 0;
    for (char *line = all, *end; *line; line = end + 1) {
        end = strchr(line, '\n');
        if (!end) end = line + strlen(line);
        size_t n = (size_t)(end - line);
        if (n == 0) {
            if (!*end) break;
            continue;
        }
        cJSON *v = cJSON_ParseWithLength(line, n);
        ck_assert_msg(v != NULL, "vector %d: bad JSON", total + 1);
        /* the text through tok_json_string_field: cJSON would cut it at a "\u0000" */
        char *text;
        size_t tlen;
        ck_assert_int_eq(tok_json_string_field(line, n, "text", &text, &tlen), QB_OK);
        int nexp, *exp = json_ids(cJSON_GetObjectItemCaseSensitive(v, "ids"), &nexp);
        char *dec, *dskip;
        size_t declen, dskiplen;
        ck_assert_int_eq(tok_json_string_field(line, n, "decoded", &dec, &declen), QB_OK);
        ck_assert_int_eq(tok_json_string_field(line, n, "decoded_skip_special", &dskip, &dskiplen), QB_OK);
        total++;

        int *ids, m, *rids, rm;
        ck_assert_int_eq(tok_encode(phi3, text, tlen, 0, &ids, &m), QB_OK);
        ck_assert_int_eq(tok_encode_ref(phi3, text, tlen, 0, &rids, &rm), QB_OK);
        int same = m == nexp && memcmp(ids, exp, (size_t)m * sizeof(int)) == 0;
        ok_ids += same;
        ok_ref += rm == m && memcmp(ids, rids, (size_t)m * sizeof(int)) == 0;
        if (!same) fprintf(stderr, "vector %d ids differ: %s\n", total, text);

        char *out;
        size_t olen;
        ck_assert_int_eq(tok_decode(phi3, exp, nexp, 0, &out, &olen), QB_OK);
        int d1 = olen == declen && memcmp(out, dec, olen) == 0;
        /* streaming: the pieces concatenate to the decode, each a whole UTF-8 text */
        TokStream *s = tok_stream_new(phi3, 0);
        size_t cap = olen + 16, got = 0;
        char *acc = malloc(cap);
        for (int i = 0; i <= nexp; i++) {
            char *piece;
            size_t plen;
            qb_status st = i < nexp ? tok_stream_push(s, exp[i], &piece, &plen) : tok_stream_finish(s, &piece, &plen);
            ck_assert_int_eq(st, QB_OK);
            if (got + plen >= cap) acc = realloc(acc, cap = 2 * (got + plen) + 16);
            memcpy(acc + got, piece, plen);
            got += plen;
            free(piece);
        }
        tok_stream_free(s);
        ok_stream += got == olen && memcmp(acc, out, olen) == 0;
        free(acc);
        free(out);
        ck_assert_int_eq(tok_decode(phi3, exp, nexp, 1, &out, &olen), QB_OK);
        int d2 = olen == dskiplen && memcmp(out, dskip, olen) == 0;
        ok_dec += d1;
        ok_skip += d2;
        if (!d1 || !d2) fprintf(stderr, "vector %d decode differs: %s\n", total, dec);
        free(out);
        free(ids);
        free(rids);
        free(exp);
        free(text);
        free(dec);
        free(dskip);
        cJSON_Delete(v);
        if (!*end) break;
    }
    free(all);
    printf("phi3 vectors: ids %d/%d, ref encoder %d/%d, decoded %d/%d, decoded_skip_special %d/%d, stream %d/%d\n",
           ok_ids, total, ok_ref, total, ok_dec, total, ok_skip, total, ok_stream, total);
    ck_assert_int_eq(total, 255);
    ck_assert_int_eq(ok_ids, total);
    ck_assert_int_eq(ok_ref, total);
    ck_assert_int_eq(ok_dec, total);
    ck_assert_int_eq(ok_skip, total);
    ck_assert_int_eq(ok_stream, total);
}
END_TEST

/* The whole book as one string: decodes back byte-identical, and the fast word-cut encoder agrees
 * with the plain heap BPE over the whole string. */
START_TEST(test_persuasion_roundtrip) {
    size_t len;
    char *book = read_all(PERSUASION, &len);
    ck_assert_uint_gt(len, 400000);
    int *ids, n, *rids, rn;
    ck_assert_int_eq(tok_encode(phi3, book, len, 0, &ids, &n), QB_OK);
    ck_assert_int_eq(tok_encode_ref(phi3, book, len, 0, &rids, &rn), QB_OK);
    int first_diff = -1;
    for (int i = 0; i < n && i < rn && first_diff < 0; i++)
        if (ids[i] != rids[i]) first_diff = i;
    printf("persuasion: %zu bytes -> %d tokens (reference encoder %d tokens, first difference %d)\n", len, n, rn,
           first_diff);
    ck_assert_int_eq(n, rn);
    ck_assert_int_eq(first_diff, -1);
    char *text;
    size_t tlen;
    ck_assert_int_eq(tok_decode(phi3, ids, n, 0, &text, &tlen), QB_OK);
    ck_assert_uint_eq(tlen, len);
    ck_assert_msg(memcmp(text, book, len) == 0, "persuasion does not round-trip");
    /* with BOS: one more id in front, same text with skip_special */
    int *bids, bn;
    ck_assert_int_eq(tok_encode(phi3, book, len, 1, &bids, &bn), QB_OK);
    ck_assert_int_eq(bn, n + 1);
    ck_assert_int_eq(bids[0], 1);
    free(text);
    ck_assert_int_eq(tok_decode(phi3, bids, bn, 1, &text, &tlen), QB_OK);
    ck_assert_uint_eq(tlen, len);
    ck_assert(memcmp(text, book, len) == 0);
    free(text);
    free(bids);
    free(ids);
    free(rids);
    free(book);
}
END_TEST

START_TEST(test_accessors_and_bos) {
    ck_assert_int_eq(tok_vocab_size(phi3), 32011);
    ck_assert_int_eq(tok_bos_id(phi3), 1);
    ck_assert_int_eq(tok_eos_id(phi3), 2);
    ck_assert_int_eq(tok_add_bos_default(phi3), 1); /* the post_processor's template has <s> */
    ck_assert_int_eq(tok_piece_id(phi3, "<|end|>"), 32007);
    ck_assert_int_eq(tok_piece_id(phi3, "\xE2\x96\x81the"), 278);
    ck_assert_int_eq(tok_piece_id(phi3, "no such piece"), -1);
    ck_assert_str_eq(tok_piece(phi3, 32010), "<|user|>");
    ck_assert_ptr_null(tok_piece(phi3, 32011));
    ck_assert_ptr_null(tok_piece(phi3, -1));
    ck_assert(tok_is_special(phi3, 32007));
    ck_assert(tok_is_special(phi3, 1));
    ck_assert(!tok_is_special(phi3, 2)); /* </s> is not special in Phi-3's file */
    ck_assert(!tok_is_special(phi3, 278));
    int *ids, n;
    ck_assert_int_eq(tok_encode(phi3, "Hello", 5, -1, &ids, &n), QB_OK);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(ids[0], 1);
    ck_assert_int_eq(ids[1], 15043);
    free(ids);
    ck_assert_int_eq(tok_encode(phi3, "", 0, 0, &ids, &n), QB_OK);
    ck_assert_int_eq(n, 0);
    free(ids);
    /* invalid UTF-8 is an input error, not a guess */
    ck_assert_int_eq(tok_encode(phi3, "a\xFF", 2, 0, &ids, &n), QB_ERR_INPUT);
    ck_assert_ptr_null(ids);
}
END_TEST

START_TEST(test_decode_bytes) {
    int e5 = tok_piece_id(phi3, "<0xE5>"), x8f = tok_piece_id(phi3, "<0x8F>"), xab = tok_piece_id(phi3, "<0xAB>");
    int a = tok_piece_id(phi3, "a");
    char *s;
    size_t n;
    int incomplete[] = {e5, x8f, a};
    ck_assert_int_eq(tok_decode(phi3, incomplete, 3, 0, &s, &n), QB_OK);
    ck_assert_str_eq(s, "\xEF\xBF\xBD\xEF\xBF\xBD" "a"); /* one U+FFFD per byte of the broken run */
    free(s);
    int whole[] = {e5, x8f, xab};
    ck_assert_int_eq(tok_decode(phi3, whole, 3, 0, &s, &n), QB_OK);
    ck_assert_str_eq(s, "\xE5\x8F\xAB");
    free(s);
    int bad[] = {1, 32011};
    ck_assert_int_eq(tok_decode(phi3, bad, 2, 0, &s, &n), QB_ERR_INPUT);
    int neg[] = {-1};
    ck_assert_int_eq(tok_decode(phi3, neg, 1, 0, &s, &n), QB_ERR_INPUT);
    /* streaming never releases half a character */
    TokStream *st = tok_stream_new(phi3, 0);
    char *p;
    size_t pl;
    ck_assert_int_eq(tok_stream_push(st, e5, &p, &pl), QB_OK);
    ck_assert_uint_eq(pl, 0);
    free(p);
    ck_assert_int_eq(tok_stream_push(st, x8f, &p, &pl), QB_OK);
    ck_assert_uint_eq(pl, 0);
    free(p);
    /* the run is complete, but a following byte token could still make the whole run invalid (one U+FFFD
     * per byte, as the whole decode gives): released with the first token after the run */
    ck_assert_int_eq(tok_stream_push(st, xab, &p, &pl), QB_OK);
    ck_assert_uint_eq(pl, 0);
    free(p);
    ck_assert_int_eq(tok_stream_push(st, a, &p, &pl), QB_OK);
    ck_assert_str_eq(p, "\xE5\x8F\xAB" "a");
    free(p);
    ck_assert_int_eq(tok_stream_push(st, e5, &p, &pl), QB_OK);
    ck_assert_uint_eq(pl, 0);
    free(p);
    ck_assert_int_eq(tok_stream_finish(st, &p, &pl), QB_OK); /* the broken tail comes out as U+FFFD */
    ck_assert_str_eq(p, "\xEF\xBF\xBD");
    free(p);
    ck_assert_int_eq(tok_stream_push(st, 99999, &p, &pl), QB_ERR_INPUT);
    tok_stream_free(st);
}
END_TEST

START_TEST(test_chat) {
    int *ids, n;
    ck_assert_int_eq(tok_encode_chat(phi3, "You are helpful.", "Hi", &ids, &n), QB_OK);
    /* the vector's ids, after the BOS the tokenizer adds by default */
    const int exp[] = {1, 32006, 887, 526, 8444, 29889, 32007, 32010, 6324, 32007, 32001};
    ck_assert_int_eq(n, 11);
    ck_assert(memcmp(ids, exp, sizeof exp) == 0);
    free(ids);
    ck_assert_int_eq(tok_encode_chat(phi3, NULL, "What is the capital of France?", &ids, &n), QB_OK);
    const int exp2[] = {1, 32010, 1724, 338, 278, 7483, 310, 3444, 29973, 32007, 32001};
    ck_assert_int_eq(n, 11);
    ck_assert(memcmp(ids, exp2, sizeof exp2) == 0);
    free(ids);
}
END_TEST

/* The toy model's own 5K tokenizer: same family, merges in the pair form, BOS from tokenizer_config. */
START_TEST(test_austen_toy) {
    Tokenizer *t;
    qb_status st = tok_load_dir(AUSTEN_DIR, &t);
    ck_assert_msg(st == QB_OK, "%s", qb_last_error());
    ck_assert_int_eq(tok_vocab_size(t), 5000);
    ck_assert_int_eq(tok_add_bos_default(t), 1);
    ck_assert_int_eq(tok_bos_id(t), 1);
    ck_assert_int_eq(tok_eos_id(t), 2);
    const int *eos;
    ck_assert_int_eq(tok_eos_ids(t, &eos), 1);
    ck_assert_int_eq(eos[0], 2);
    size_t len;
    char *book = read_all(PERSUASION, &len);
    /* a few paragraphs from the middle of the book, and the whole book */
    const char *from = strstr(book, "Chapter 3");
    ck_assert_ptr_nonnull(from);
    size_t plen = 3000;
    const size_t lens[] = {plen, len};
    const char *starts[] = {from, book};
    for (int k = 0; k < 2; k++) {
        int *ids, n, *rids, rn;
        ck_assert_int_eq(tok_encode(t, starts[k], lens[k], -1, &ids, &n), QB_OK);
        ck_assert_int_gt(n, 1);
        ck_assert_int_eq(ids[0], 1); /* BOS per tokenizer_config.json */
        ck_assert_int_eq(tok_encode_ref(t, starts[k], lens[k], -1, &rids, &rn), QB_OK);
        ck_assert_int_eq(n, rn);
        ck_assert(memcmp(ids, rids, (size_t)n * sizeof(int)) == 0);
        for (int i = 1; i < n; i++) ck_assert_int_lt(ids[i], 5000);
        char *text;
        size_t tlen;
        ck_assert_int_eq(tok_decode(t, ids, n, 1, &text, &tlen), QB_OK);
        ck_assert_uint_eq(tlen, lens[k]);
        ck_assert(memcmp(text, starts[k], tlen) == 0);
        if (k == 1) printf("austen-toy tokenizer: persuasion -> %d tokens, round trip ok\n", n);
        free(text);
        free(ids);
        free(rids);
    }
    free(book);
    /* no Phi-3 chat tokens in this vocabulary: a clear error */
    int *ids, n;
    ck_assert_int_eq(tok_encode_chat(t, NULL, "Hi", &ids, &n), QB_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(qb_last_error(), "<|user|>"));
    tok_free(t);
}
END_TEST

/* A Metaspace pre-tokenizer (the newer Llama form) in place of the Prepend+Replace normalizer gives the
 * same ids on texts where the two agree: no leading space, no added tokens. */
START_TEST(test_metaspace_form) {
    size_t len;
    char *json = read_all(PHI3_TOK, &len);
    cJSON *root = cJSON_Parse(json);
    free(json);
    cJSON_ReplaceItemInObjectCaseSensitive(root, "normalizer", cJSON_CreateNull());
    cJSON *ms = cJSON_CreateObject();
    cJSON_AddStringToObject(ms, "type", "Metaspace");
    cJSON_AddStringToObject(ms, "replacement", "\xE2\x96\x81");
    cJSON_AddStringToObject(ms, "prepend_scheme", "first");
    cJSON_AddBoolToObject(ms, "split", 0);
    cJSON_ReplaceItemInObjectCaseSensitive(root, "pre_tokenizer", ms);
    char *out = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    char dir[] = "/tmp/qb_tok_msXXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    FILE *f = fopen(path, "w");
    fputs(out, f);
    fclose(f);
    free(out);
    Tokenizer *t;
    ck_assert_msg(tok_load(path, &t) == QB_OK, "%s", qb_last_error());
    const char *texts[] = {"Hello world", "Sir Walter Elliot, of Kellynch Hall", "grabbed   three\tspaces",
                           "caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC 42"};
    for (int i = 0; i < 4; i++) {
        int *a, na, *b, nb;
        ck_assert_int_eq(tok_encode(phi3, texts[i], strlen(texts[i]), 0, &a, &na), QB_OK);
        ck_assert_int_eq(tok_encode(t, texts[i], strlen(texts[i]), 0, &b, &nb), QB_OK);
        ck_assert_int_eq(na, nb);
        ck_assert(memcmp(a, b, (size_t)na * sizeof(int)) == 0);
        free(a);
        free(b);
    }
    tok_free(t);
    unlink(path);
    rmdir(dir);
}
END_TEST

/* Only special tokens, skipped: the Fuse step leaves one empty string with no arena behind it, and the
 * Strip step after it once computed NULL + 0 (clang UBSan: pointer-overflow). The result is "". */
START_TEST(test_skip_special_only) {
    int ids[2] = {tok_piece_id(phi3, "<|end|>"), tok_piece_id(phi3, "<s>")};
    ck_assert_int_ge(ids[0], 0);
    ck_assert_int_ge(ids[1], 0);
    char *text = NULL;
    size_t len = 99;
    ck_assert_int_eq(tok_decode(phi3, ids, 2, 1, &text, &len), QB_OK);
    ck_assert_uint_eq(len, 0);
    ck_assert_str_eq(text, "");
    free(text);
    TokStream *s = tok_stream_new(phi3, 1);
    ck_assert_ptr_nonnull(s);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(tok_stream_push(s, ids[i], &text, &len), QB_OK);
        ck_assert_uint_eq(len, 0);
        free(text);
    }
    ck_assert_int_eq(tok_stream_finish(s, &text, &len), QB_OK);
    ck_assert_uint_eq(len, 0);
    free(text);
    tok_stream_free(s);
}
END_TEST

/* Streaming decode equals whole decode when a byte-token run is invalid UTF-8 as a whole: <0x66> <0xA9>
 * is two U+FFFD (ByteFallback validates the run), and the stream once released "f" first (found by
 * fuzz_tokenizer_codec). A skipped special token between the bytes joins the run the same way. */
static void stream_equals_whole(const int *ids, int n, int skip) {
    char *whole, *piece;
    size_t wlen, plen, got = 0;
    ck_assert_int_eq(tok_decode(phi3, ids, n, skip, &whole, &wlen), QB_OK);
    TokStream *s = tok_stream_new(phi3, skip);
    char buf[256];
    for (int i = 0; i <= n; i++) {
        ck_assert_int_eq(i < n ? tok_stream_push(s, ids[i], &piece, &plen) : tok_stream_finish(s, &piece, &plen), QB_OK);
        ck_assert_uint_le(got + plen, sizeof buf);
        memcpy(buf + got, piece, plen);
        got += plen;
        free(piece);
    }
    tok_stream_free(s);
    ck_assert_uint_eq(got, wlen);
    ck_assert_msg(memcmp(buf, whole, wlen) == 0, "stream differs from whole decode '%s'", whole);
    free(whole);
}

START_TEST(test_stream_byte_runs) {
    int f = tok_piece_id(phi3, "<0x66>"), a9 = tok_piece_id(phi3, "<0xA9>"), end = tok_piece_id(phi3, "<|end|>");
    int the = tok_piece_id(phi3, "\xE2\x96\x81the");
    ck_assert(f >= 0 && a9 >= 0 && end >= 0 && the >= 0);
    int run[] = {f, a9, the};
    stream_equals_whole(run, 2, 0);
    stream_equals_whole(run, 3, 0);
    int split[] = {f, end, a9, the};
    stream_equals_whole(split, 4, 1);
    stream_equals_whole(split, 4, 0);
}
END_TEST

/* Malformed or unsupported files: an error naming the file and the problem, never a crash. */
/* A Prepend string longer than the tokenizer's NORM_MAX_PREPEND (4096 bytes). */
#define LONG_PREPEND "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"

static const char BASE[] =
    "{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,"
    "\"added_tokens\":[{\"id\":0,\"content\":\"<unk>\",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,"
    "\"normalized\":false,\"special\":true},{\"id\":4,\"content\":\"<|end|>\",\"single_word\":false,\"lstrip\":false,"
    "\"rstrip\":true,\"normalized\":false,\"special\":true}],"
    "\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Prepend\",\"prepend\":\"_\"},"
    "{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},\"content\":\"_\"}]},"
    "\"pre_tokenizer\":null,\"post_processor\":null,"
    "\"decoder\":{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"Replace\",\"pattern\":{\"String\":\"_\"},"
    "\"content\":\" \"},{\"type\":\"Fuse\"}]},"
    "\"model\":{\"type\":\"BPE\",\"dropout\":null,\"unk_token\":\"<unk>\",\"fuse_unk\":true,\"byte_fallback\":false,"
    "\"vocab\":{\"<unk>\":0,\"_\":1,\"a\":2,\"_a\":3},\"merges\":[\"_ a\"]}}";

static char *replace1(const char *s, const char *from, const char *to) {
    const char *p = strstr(s, from);
    ck_assert_msg(p != NULL, "fixture lacks %s", from);
    size_t a = (size_t)(p - s), fl = strlen(from), tl = strlen(to), n = strlen(s);
    char *out = malloc(n - fl + tl + 1);
    memcpy(out, s, a);
    memcpy(out + a, to, tl);
    memcpy(out + a + tl, p + fl, n - a - fl + 1);
    return out;
}

START_TEST(test_malformed) {
    char dir[] = "/tmp/qb_tok_badXXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[96];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    /* the base file is good */
    FILE *f = fopen(path, "w");
    fputs(BASE, f);
    fclose(f);
    Tokenizer *t;
    ck_assert_msg(tok_load(path, &t) == QB_OK, "%s", qb_last_error());
    int *ids, n;
    ck_assert_int_eq(tok_encode(t, "a a<|end|>  a", 13, 0, &ids, &n), QB_OK);
    const int exp[] = {3, 3, 4, 3};
    ck_assert_int_eq(n, 4);
    ck_assert(memcmp(ids, exp, sizeof exp) == 0);
    free(ids);
    tok_free(t);

    struct { const char *from, *to, *what; } cases[] = {
        {"\"merges\":[\"_ a\"]}}", "\"merges\":[\"_ a\"]", "not valid JSON"}, /* truncated */
        {BASE, "[1,2,3]", "not a JSON object"},
        {"\"type\":\"BPE\"", "\"type\":\"WordPiece\"", "WordPiece"},
        {"\"merges\":[\"_ a\"]", "\"merges\":[\"_ b\"]", "\"b\""},
        {"\"merges\":[\"_ a\"]", "\"merges\":[[\"_\",\"zz\"]]", "\"zz\""},
        {"\"merges\":[\"_ a\"]", "\"merges\":[\"_a\"]", "one space"},
        {"\"a\":2", "\"a\":1", "duplicate id"},
        {"\"_a\":3", "\"_a\":7", "past the vocabulary"},
        {"\"_a\":3", "\"_a\":-3", "not a non-negative integer"},
        {"\"_a\":3", "\"_a\":3.5", "not a non-negative integer"},
        {"\"id\":4,", "\"id\":9,", "past the vocabulary"},
        {"\"id\":4,", "\"id\":2,", "already piece"},
        {"\"vocab\":{\"<unk>\":0,\"_\":1,\"a\":2,\"_a\":3}", "\"vocab\":[\"<unk>\",\"_\"]", "not an object"},
        {"\"type\":\"Prepend\"", "\"type\":\"NFKC\"", "NFKC"},
        {"\"type\":\"Fuse\"", "\"type\":\"WordPiece\"", "WordPiece"},
        {"\"pre_tokenizer\":null", "\"pre_tokenizer\":{\"type\":\"ByteLevel\"}", "ByteLevel"},
        {"\"post_processor\":null", "\"post_processor\":{\"type\":\"RobertaProcessing\"}", "RobertaProcessing"},
        {"\"truncation\":null", "\"truncation\":{\"max_length\":5}", "truncation"},
        {"\"fuse_unk\":true", "\"fuse_unk\":true,\"continuing_subword_prefix\":\"##\"", "continuing_subword_prefix"},
        {"\"fuse_unk\":true", "\"fuse_unk\":true,\"frobnicate\":1", "frobnicate"},
        {"\"dropout\":null", "\"dropout\":0.1", "dropout"},
        {"\"unk_token\":\"<unk>\"", "\"unk_token\":\"<nope>\"", "<nope>"},
        {"{\"String\":\" \"}", "{\"Regex\":\" \"}", "Regex"},
        {"\"content\":\"<|end|>\"", "\"content\":\"<unk>\"", "duplicate added token"},
        /* fuzz_tokenizer_load's finding: Replaces whose contents repeat their pattern compound (here 9^3 =
         * 729-fold); before the load-time bound, encoding 30 bytes took gigabytes */
        {"{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},\"content\":\"_\"}",
         "{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},\"content\":\"_ _ _ _ _\"},"
         "{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},\"content\":\"_ _ _ _ _\"},"
         "{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},\"content\":\"_ _ _ _ _\"}",
         "normalizer chain can grow"},
        {"\"prepend\":\"_\"", "\"prepend\":\"" LONG_PREPEND "\"", "normalizer chain can grow"},
        {"{\"type\":\"Fuse\"}",
         "{\"type\":\"Replace\",\"pattern\":{\"String\":\"a\"},\"content\":\"aaaaaaaaa\"},"
         "{\"type\":\"Replace\",\"pattern\":{\"String\":\"a\"},\"content\":\"aaaaaaaaa\"},{\"type\":\"Fuse\"}",
         "decoder chain can grow"},
    };
    int ncases = (int)(sizeof cases / sizeof cases[0]);
    for (int i = 0; i < ncases; i++) {
        char *bad = replace1(BASE, cases[i].from, cases[i].to);
        f = fopen(path, "w");
        fputs(bad, f);
        fclose(f);
        free(bad);
        t = NULL;
        qb_status st = tok_load(path, &t);
        const char *msg = qb_last_error();
        ck_assert_msg(st == QB_ERR_INPUT || st == QB_ERR_UNSUPPORTED, "case %d (%s): status %d", i, cases[i].what,
                      (int)st);
        ck_assert_ptr_null(t);
        ck_assert_msg(strstr(msg, path) != NULL, "case %d: message lacks the path: %s", i, msg);
        ck_assert_msg(strstr(msg, cases[i].what) != NULL, "case %d: message lacks \"%s\": %s", i, cases[i].what, msg);
    }
    printf("malformed tokenizer files: %d cases rejected with a message naming the file\n", ncases);
    /* truncated real file */
    size_t len;
    char *real = read_all(PHI3_TOK, &len);
    f = fopen(path, "w");
    fwrite(real, 1, len / 2, f);
    fclose(f);
    free(real);
    ck_assert_int_eq(tok_load(path, &t), QB_ERR_INPUT);
    ck_assert_ptr_nonnull(strstr(qb_last_error(), path));
    unlink(path);
    /* missing file */
    ck_assert_int_eq(tok_load(path, &t), QB_ERR_INPUT);
    ck_assert_ptr_nonnull(strstr(qb_last_error(), path));
    ck_assert_int_eq(tok_load_dir(dir, &t), QB_ERR_INPUT);
    rmdir(dir);
}
END_TEST

/* Random texts (fixed seed) from fragments that stress the word cut — space runs, a literal "▁", tabs,
 * newlines, byte-fallback characters, added tokens, long words: the fast encoder equals the reference,
 * and texts without "▁" or added tokens decode back to themselves. */
START_TEST(test_random_texts) {
    static const char *frag[] = {" ", "  ", "   ", "\t", "\n", "\n\n", "a", "the", "Anne", "Elliot", ",", ".",
                                 "\xE2\x96\x81", "\xE2\x96\x81\xE2\x96\x81", "\xC3\xA9", "\xE6\x97\xA5\xE6\x9C\xAC",
                                 "\xF0\x9F\x98\x80", "\xE1\xBA\x9E", "1234567", "<|end|>", "<|user|>\n", "<s>",
                                 "supercalifragilisticexpialidocious", "x", "'s", "--", "\xEF\xBF\xBD"};
    const int nfrag = (int)(sizeof frag / sizeof frag[0]);
    uint64_t rng = 0x9E3779B97F4A7C15ULL;
    char buf[4096];
    int same = 0, trips = 0, trip_ok = 0;
    for (int it = 0; it < 3000; it++) {
        size_t len = 0;
        int plain = 1, count = 1 + (int)((rng >> 33) % (it < 2900 ? 12 : 400));
        for (int k = 0; k < count; k++) {
            rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
            int f = (int)((rng >> 33) % (uint64_t)nfrag);
            size_t fl = strlen(frag[f]);
            if (len + fl >= sizeof buf) break;
            if (frag[f][0] == '<' || (unsigned char)frag[f][0] == 0xE2) plain = 0;
            memcpy(buf + len, frag[f], fl);
            len += fl;
        }
        rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
        int *a, na, *b, nb;
        ck_assert_int_eq(tok_encode(phi3, buf, len, 0, &a, &na), QB_OK);
        ck_assert_int_eq(tok_encode_ref(phi3, buf, len, 0, &b, &nb), QB_OK);
        int eq = na == nb && memcmp(a, b, (size_t)na * sizeof(int)) == 0;
        if (!eq) fprintf(stderr, "fast != reference on: %.*s\n", (int)len, buf);
        same += eq;
        if (plain) {
            char *text;
            size_t tlen;
            ck_assert_int_eq(tok_decode(phi3, a, na, 0, &text, &tlen), QB_OK);
            trips++;
            trip_ok += tlen == len && memcmp(text, buf, len) == 0;
            free(text);
        }
        free(a);
        free(b);
    }
    printf("random texts: fast == reference %d/3000, round trip %d/%d\n", same, trip_ok, trips);
    ck_assert_int_eq(same, 3000);
    ck_assert_int_eq(trip_ok, trips);
}
END_TEST

/* Runs the built qinsbench (QB_BIN) with a shell command line; returns its exit status and stdout /
 * stderr in the given buffers. */
static int run(const char *args, char *out, size_t outcap, char *err, size_t errcap) {
    const char *bin = getenv("QB_BIN");
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s %s >/tmp/qb_tok_out.$PPID 2>/tmp/qb_tok_err.$PPID", bin, args);
    int rc = system(cmd);
    char p[64];
    snprintf(p, sizeof p, "/tmp/qb_tok_out.%d", (int)getpid());
    FILE *f = fopen(p, "rb");
    size_t n = f ? fread(out, 1, outcap - 1, f) : 0;
    out[n] = 0;
    if (f) fclose(f);
    unlink(p);
    snprintf(p, sizeof p, "/tmp/qb_tok_err.%d", (int)getpid());
    f = fopen(p, "rb");
    n = f ? fread(err, 1, errcap - 1, f) : 0;
    err[n] = 0;
    if (f) fclose(f);
    unlink(p);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

START_TEST(test_cli) {
    if (!getenv("QB_BIN")) {
        printf("test_cli: QB_BIN not set, skipped (make test sets it)\n");
        return;
    }
    static char out[1 << 16], err[1 << 16];
    ck_assert_int_eq(run("tokenize --tokenizer " PHI3_TOK " --text 'grabbed'", out, sizeof out, err, sizeof err), 0);
    ck_assert_str_eq(out, "2646 1327 287\n");
    ck_assert_int_eq(run("tokenize --tokenizer " PHI3_TOK " --text 'Hello' --bos", out, sizeof out, err, sizeof err), 0);
    ck_assert_str_eq(out, "1 15043\n");
    ck_assert_int_eq(run("tokenize --model " AUSTEN_DIR " --text 'Anne' --default-bos", out, sizeof out, err, sizeof err), 0);
    ck_assert_int_eq(strncmp(out, "1 ", 2), 0);
    ck_assert_int_eq(run("tokenize --tokenizer " PHI3_TOK " --jsonl " PHI3_VECTORS " | head -3", out, sizeof out, err,
                         sizeof err), 0);
    ck_assert_str_eq(out, "[]\n[259]\n[1678]\n");
    ck_assert_int_eq(run("detokenize --tokenizer " PHI3_TOK " --ids 1,16333,2,451,4266", out, sizeof out, err, sizeof err), 0);
    ck_assert_str_eq(out, "<s> literal</s> not special");
    ck_assert_int_eq(run("detokenize --tokenizer " PHI3_TOK " --ids 1,16333,2,451,4266 --skip-special", out, sizeof out,
                         err, sizeof err), 0);
    ck_assert_str_eq(out, "literal</s> not special");
    /* the ids file is named after this test process ($PPID in the shell), so two test runs at once cannot
     * trample each other's ids */
    ck_assert_int_eq(run("tokenize --tokenizer " PHI3_TOK " --file " PERSUASION " > /tmp/qb_tok_ids.$PPID && " "$QB_BIN"
                         " detokenize --tokenizer " PHI3_TOK " --ids-file /tmp/qb_tok_ids.$PPID | cmp - " PERSUASION
                         " && rm -f /tmp/qb_tok_ids.$PPID && echo same", out, sizeof out, err, sizeof err), 0);
    ck_assert_str_eq(out, "same\n");
    /* errors: exit 2, "path: …" */
    ck_assert_int_eq(run("tokenize --tokenizer /nonexistent/tok.json --text x", out, sizeof out, err, sizeof err), 2);
    ck_assert_ptr_nonnull(strstr(err, "/nonexistent/tok.json: "));
    ck_assert_int_eq(run("tokenize --tokenizer " PHI3_TOK " --file /nonexistent/book.txt", out, sizeof out, err, sizeof err), 2);
    ck_assert_ptr_nonnull(strstr(err, "/nonexistent/book.txt: "));
    ck_assert_int_eq(run("detokenize --tokenizer " PHI3_TOK " --ids 1,x,3", out, sizeof out, err, sizeof err), 2);
    ck_assert_ptr_nonnull(strstr(err, "--ids"));
    ck_assert_int_eq(run("detokenize --tokenizer " PHI3_TOK " --ids 1,99999", out, sizeof out, err, sizeof err), 2);
    ck_assert_int_eq(run("tokenize --tokenizer " PHI3_TOK " --text a --frob", out, sizeof out, err, sizeof err), 2);
    ck_assert_ptr_nonnull(strstr(err, "usage:"));
    ck_assert_int_eq(run("tokenize --help", out, sizeof out, err, sizeof err), 0);
    ck_assert_ptr_nonnull(strstr(out, "--no-bos"));
    ck_assert_int_eq(run("detokenize --help", out, sizeof out, err, sizeof err), 0);
}
END_TEST

int main(void) {
    Suite *s = suite_create("tokenizer");
    TCase *tc = tcase_create("tokenizer");
    tcase_set_timeout(tc, 300);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_vectors);
    tcase_add_test(tc, test_persuasion_roundtrip);
    tcase_add_test(tc, test_accessors_and_bos);
    tcase_add_test(tc, test_decode_bytes);
    tcase_add_test(tc, test_chat);
    tcase_add_test(tc, test_austen_toy);
    tcase_add_test(tc, test_metaspace_form);
    tcase_add_test(tc, test_random_texts);
    tcase_add_test(tc, test_malformed);
    tcase_add_test(tc, test_skip_special_only);
    tcase_add_test(tc, test_stream_byte_runs);
    tcase_add_test(tc, test_cli);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}

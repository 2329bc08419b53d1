/* test_json.c — the shared JSON helpers (engine/qb_json.c) and the parsers that use them: duplicate keys
 * anywhere in a tree (found in near-linear time: the comparison count is asserted, not a timing), typed
 * getters with range checks (no float → int cast of an out-of-range value), unknown keys, and the
 * checkpoint index whose duplicate-key message once printed a freed key. */
#include <check.h>
#include "check_main.h"
#include <limits.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "config.h"
#include "expconfig.h"
#include "qb_json.h"
#include "tokenizer.h"

static char tmpdir[256];

static void tmp_setup(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/qb_json_test_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void tmp_teardown(void) {
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", tmpdir);
}

static const char *tmp_path(const char *name) {
    static char p[512];
    snprintf(p, sizeof p, "%s/%s", tmpdir, name);
    return p;
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fputs(text, f) >= 0, 1);
    fclose(f);
}

/* The index's duplicate-key message used to print the key after cJSON_Delete freed it (ASan:
 * heap-use-after-free; without ASan: garbage in the message). */
START_TEST(index_duplicate_key_named) {
    write_text(tmp_path("model.safetensors.index.json"),
               "{\"metadata\": {\"total_size\": 1, \"total_size\": 2}, \"weight_map\": {}}");
    Checkpoint ck;
    qb_status st = ckpt_open(tmpdir, &ck);
    ck_assert_int_eq(st, QB_ERR_INPUT);
    const char *msg = qb_last_error();
    ck_assert_msg(strstr(msg, "model.safetensors.index.json") != NULL, "message '%s' does not name the file", msg);
    ck_assert_msg(strstr(msg, "total_size") != NULL, "message '%s' does not name the key", msg);
}
END_TEST


/* A growable text buffer for building large JSON files. */
typedef struct {
    char *p;
    size_t n, cap;
} Text;

static void put(Text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(Text *t, const char *fmt, ...) {
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int k = vsnprintf(t->p ? t->p + t->n : NULL, t->p ? t->cap - t->n : 0, fmt, ap);
        va_end(ap);
        ck_assert_int_ge(k, 0);
        if (t->p && t->n + (size_t)k < t->cap) {
            t->n += (size_t)k;
            return;
        }
        t->cap = (t->cap + (size_t)k + 1) * 2;
        t->p = realloc(t->p, t->cap);
        ck_assert_ptr_nonnull(t->p);
    }
}

static double log2n(double n) { return log(n) / log(2.0); }

#define NKEYS 40000

/* 40k keys: the duplicate check sorts (the old pairwise scan took 7 s here and hours on files the size cap
 * allows). Asserted as a comparison count ≤ 2 n log2 n, not a time. */
START_TEST(many_keys_near_linear) {
    Text t = {0};
    put(&t, "{\"hidden_size\":96,\"intermediate_size\":256,\"num_hidden_layers\":3,\"num_attention_heads\":6,"
            "\"num_key_value_heads\":2,\"vocab_size\":384,\"max_position_embeddings\":1536");
    for (int i = 0; i < NKEYS; i++) put(&t, ",\"extra_%d\":%d", i, i);
    put(&t, "}");
    uint64_t before = qb_json_key_compares();
    Config c;
    ck_assert_msg(config_parse("big.json", t.p, &c) == QB_OK, "%s", qb_last_error());
    config_free(&c);
    uint64_t used = qb_json_key_compares() - before;
    double bound = 2.0 * NKEYS * log2n(NKEYS);
    printf("40k-key config: %llu key comparisons (bound 2 n log2 n = %.0f; pairwise would be %.0f)\n",
           (unsigned long long)used, bound, (double)NKEYS * (NKEYS - 1) / 2);
    ck_assert_uint_gt(used, NKEYS - 1);
    ck_assert_msg((double)used <= bound, "%llu comparisons > %.0f", (unsigned long long)used, bound);
    /* the same file with one key repeated at the very end: found, and named */
    t.n--;
    put(&t, ",\"extra_17\":1}");
    before = qb_json_key_compares();
    ck_assert_int_eq(config_parse("big.json", t.p, &c), QB_ERR_INPUT);
    ck_assert_msg(strstr(qb_last_error(), "big.json: extra_17: key appears twice") != NULL, "%s", qb_last_error());
    ck_assert((double)(qb_json_key_compares() - before) <= bound);
    free(t.p);
}
END_TEST

/* Duplicates are found at any depth and named by their key path; arrays count in the path. */
START_TEST(duplicate_paths) {
    cJSON *root;
    const char *txt = "{\"a\":[{\"x\":1},{\"y\":{\"z\":1,\"z\":2}}]}";
    ck_assert_int_eq(qb_json_parse("f.json", txt, strlen(txt), &root), QB_ERR_INPUT);
    ck_assert_msg(strstr(qb_last_error(), "f.json: a[1].y.z: key appears twice") != NULL, "%s", qb_last_error());
    txt = "{\"a\":1} {\"b\":2}";
    ck_assert_int_eq(qb_json_parse("f.json", txt, strlen(txt), &root), QB_ERR_INPUT);
    ck_assert(strstr(qb_last_error(), "text after the value") != NULL);
    const char nul[] = "{\"a\":1}\0{}";
    ck_assert_int_eq(qb_json_parse("f.json", nul, sizeof nul - 1, &root), QB_ERR_INPUT);
    ck_assert(strstr(qb_last_error(), "NUL") != NULL);
    txt = " {\"a\":{\"b\":1},\"b\":{\"a\":1}} \n";
    ck_assert_int_eq(qb_json_parse("f.json", txt, strlen(txt), &root), QB_OK);
    cJSON_Delete(root);
}
END_TEST

/* Typed getters: range-checked as doubles before any conversion (1e19 into an integer is UB: clang's
 * float-cast-overflow), and every message names file and key path. */
START_TEST(typed_getters) {
    const char *txt = "{\"big\":1e19,\"edge\":9223372036854775808,\"neg\":-9223372036854775808,\"half\":2.5,"
                      "\"s\":\"x\",\"b\":true,\"n\":null,\"inner\":{\"k\":7}}";
    cJSON *root;
    ck_assert_int_eq(qb_json_parse("g.json", txt, strlen(txt), &root), QB_OK);
    long long x = 5;
    int present = -1;
    ck_assert_int_eq(qb_json_int("g.json", "", root, "big", 1, 0, LLONG_MAX, &x, &present), QB_ERR_INPUT);
    ck_assert_msg(strstr(qb_last_error(), "g.json: big: 1e+19 is out of range") != NULL, "%s", qb_last_error());
    ck_assert_int_eq(present, 0);
    ck_assert_int_eq(x, 5);
    ck_assert_int_eq(qb_json_int("g.json", "", root, "edge", 1, LLONG_MIN, LLONG_MAX, &x, NULL), QB_ERR_INPUT);
    ck_assert_int_eq(qb_json_int("g.json", "", root, "neg", 1, LLONG_MIN, LLONG_MAX, &x, NULL), QB_OK);
    ck_assert(x == LLONG_MIN);
    ck_assert_int_eq(qb_json_int("g.json", "", root, "half", 1, 0, 10, &x, NULL), QB_ERR_INPUT);
    ck_assert(strstr(qb_last_error(), "g.json: half: expected an integer") != NULL);
    int i32 = 0;
    ck_assert_int_eq(qb_json_int32("g.json", "inner", cJSON_GetObjectItem(root, "inner"), "k", 1, 0, 6, &i32, NULL),
                     QB_ERR_INPUT);
    ck_assert_msg(strstr(qb_last_error(), "g.json: inner.k: 7 is out of range (0..6)") != NULL, "%s", qb_last_error());
    ck_assert_int_eq(qb_json_int32("g.json", "inner", cJSON_GetObjectItem(root, "inner"), "k", 1, 0, 7, &i32, NULL),
                     QB_OK);
    ck_assert_int_eq(i32, 7);
    /* null counts as absent: an optional key leaves the default, a required one is "missing" */
    double d = 0.5;
    ck_assert_int_eq(qb_json_num("g.json", "", root, "n", 0, 0, 1, &d, &present), QB_OK);
    ck_assert_int_eq(present, 0);
    ck_assert(d == 0.5);
    ck_assert_int_eq(qb_json_num("g.json", "", root, "nope", 1, 0, 1, &d, NULL), QB_ERR_INPUT);
    ck_assert(strstr(qb_last_error(), "g.json: nope: missing") != NULL);
    const char *str = NULL;
    int b = 0;
    ck_assert_int_eq(qb_json_str("g.json", "", root, "b", 1, &str, NULL), QB_ERR_INPUT);
    ck_assert(strstr(qb_last_error(), "g.json: b: expected a string") != NULL);
    ck_assert_int_eq(qb_json_bool("g.json", "", root, "b", 1, &b, NULL), QB_OK);
    ck_assert_int_eq(b, 1);
    static const char *const allowed[] = {"big", "edge", "neg", "half", "s", "b", "n", NULL};
    ck_assert_int_eq(qb_json_check_keys("g.json", "", root, allowed), QB_ERR_INPUT);
    ck_assert(strstr(qb_last_error(), "g.json: inner: unknown key") != NULL);
    cJSON_Delete(root);
}
END_TEST

/* The integer field of 1e19 that was a float → long long cast (UB) in the experiment config. */
START_TEST(expconfig_huge_integer) {
    const char *txt = "{\"name\":\"x\",\"models\":[{\"label\":\"m\",\"path\":\"p\"}],\"codecs\":[\"fp32\"],"
                      "\"speed\":{},\"seed\":1e19}";
    ExpConfig c;
    ck_assert_int_eq(exp_config_parse("e.json", txt, &c), QB_ERR_INPUT);
    ck_assert_msg(strstr(qb_last_error(), "e.json: seed: 1e+19 is out of range") != NULL, "%s", qb_last_error());
}
END_TEST

/* 40k added tokens: the duplicate-content and duplicate-id checks are a hash set and a counter (the old
 * pairwise scans were quadratic); asserted as hash probes ≤ 4 per token. */
START_TEST(many_added_tokens_near_linear) {
    Text t = {0};
    put(&t, "{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,\"added_tokens\":[");
    for (int i = 0; i < NKEYS; i++)
        put(&t, "%s{\"id\":%d,\"content\":\"<tok%d>\",\"special\":true,\"normalized\":false}", i ? "," : "", 4 + i, i);
    put(&t, "],\"normalizer\":null,\"pre_tokenizer\":null,\"post_processor\":null,\"decoder\":null,"
            "\"model\":{\"type\":\"BPE\",\"unk_token\":\"<unk>\",\"vocab\":{\"<unk>\":0,\"_\":1,\"a\":2,\"_a\":3},"
            "\"merges\":[\"_ a\"]}}");
    write_text(tmp_path("tokenizer.json"), t.p);
    uint64_t before = tok_added_probes();
    Tokenizer *tok = NULL;
    ck_assert_msg(tok_load(tmp_path("tokenizer.json"), &tok) == QB_OK, "%s", qb_last_error());
    uint64_t used = tok_added_probes() - before;
    printf("40k added tokens: %llu hash probes (pairwise would be %.0f comparisons)\n", (unsigned long long)used,
           (double)NKEYS * (NKEYS - 1) / 2);
    ck_assert_uint_ge(used, NKEYS);
    ck_assert_uint_le(used, 4 * NKEYS);
    int *ids, n;
    ck_assert_int_eq(tok_encode(tok, "<tok39999>a", 11, 0, &ids, &n), QB_OK);
    ck_assert_int_ge(n, 1);
    ck_assert_int_eq(ids[0], 4 + NKEYS - 1);
    free(ids);
    tok_free(tok);
    /* a repeated content at the end, then a repeated id: found and named */
    char *p = strstr(t.p, "],\"normalizer\"");
    size_t tail = strlen(p);
    char *copy = malloc(t.n + 200);
    memcpy(copy, t.p, (size_t)(p - t.p));
    sprintf(copy + (p - t.p), ",{\"id\":%d,\"content\":\"<tok5>\",\"special\":true}%s", 4 + NKEYS, p);
    write_text(tmp_path("tokenizer.json"), copy);
    ck_assert_int_eq(tok_load(tmp_path("tokenizer.json"), &tok), QB_ERR_INPUT);
    ck_assert_msg(strstr(qb_last_error(), "duplicate added token \"<tok5>\"") != NULL, "%s", qb_last_error());
    sprintf(copy + (p - t.p), ",{\"id\":%d,\"content\":\"<new>\",\"special\":true}%s", 4 + 7, p);
    write_text(tmp_path("tokenizer.json"), copy);
    ck_assert_int_eq(tok_load(tmp_path("tokenizer.json"), &tok), QB_ERR_INPUT);
    ck_assert_msg(strstr(qb_last_error(), "duplicate id 11") != NULL, "%s", qb_last_error());
    (void)tail;
    free(copy);
    free(t.p);
}
END_TEST

/* Names that must be distinct in an experiment config: a repeated codec or model label, and labels that
 * h5r_cell_name maps to the same results group ("m:1" and "m_1" once stored two models in one group). */
START_TEST(expconfig_names_distinct) {
    ExpConfig c;
    const char *rep_codec = "{\"name\":\"x\",\"models\":[{\"label\":\"m\",\"path\":\"p\"}],\"codecs\":[\"fp32\",\"qins\","
                            "\"fp32\"],\"speed\":{}}";
    ck_assert_int_eq(exp_config_parse("e.json", rep_codec, &c), QB_ERR_INPUT);
    ck_assert_msg(strstr(qb_last_error(), "e.json: codecs[2]: 'fp32' repeats codecs[0]") != NULL, "%s", qb_last_error());
    const char *rep_model = "{\"name\":\"x\",\"models\":[{\"label\":\"m\",\"path\":\"p\"},{\"label\":\"m\",\"path\":\"q\"}],"
                            "\"codecs\":[\"fp32\"],\"speed\":{}}";
    ck_assert_int_eq(exp_config_parse("e.json", rep_model, &c), QB_ERR_INPUT);
    ck_assert_msg(strstr(qb_last_error(), "e.json: models[1]: 'm' repeats models[0]") != NULL, "%s", qb_last_error());
    const char *collide = "{\"name\":\"x\",\"models\":[{\"label\":\"m:1\",\"path\":\"p\"},{\"label\":\"m_1\",\"path\":\"q\"}],"
                          "\"codecs\":[\"fp32\",\"qins\"],\"speed\":{}}";
    ck_assert_int_eq(exp_config_parse("e.json", collide, &c), QB_ERR_INPUT);
    const char *msg = qb_last_error();
    ck_assert_msg(strstr(msg, "e.json: models[0].label 'm:1' and models[1].label 'm_1' map to the same results group")
                  != NULL, "%s", msg);
    const char *fine = "{\"name\":\"x\",\"models\":[{\"label\":\"m-1\",\"path\":\"p\"},{\"label\":\"m_1\",\"path\":\"q\"}],"
                       "\"codecs\":[\"fp32\",\"qins\"],\"kv\":[\"f32\",\"f16\"],\"speed\":{}}";
    ck_assert_msg(exp_config_parse("e.json", fine, &c) == QB_OK, "%s", qb_last_error());
    exp_config_free(&c);
}
END_TEST

Suite *json_suite(void);
Suite *json_suite(void) {
    Suite *s = suite_create("json");
    TCase *tc = tcase_create("index");
    tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
    tcase_add_test(tc, index_duplicate_key_named);
    tcase_add_test(tc, many_keys_near_linear);
    tcase_add_test(tc, duplicate_paths);
    tcase_add_test(tc, typed_getters);
    tcase_add_test(tc, expconfig_huge_integer);
    tcase_add_test(tc, many_added_tokens_near_linear);
    tcase_add_test(tc, expconfig_names_distinct);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return qb_check_run(json_suite());
}

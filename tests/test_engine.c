/* test_engine.c — the engine against Hugging Face transformers' outputs (the fixtures' reference files):
 * short/long logits and hidden states within 1e-4 relative, greedy and crossing tokens identical up to the
 * first thin reference margin; determinism; and the clean errors for malformed configs and inputs. */
#include <check.h>
#include "check_main.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model.h"
#include "safetensors.h"
#include "verify.h"

/* The tolerances the engine issue sets: logits and hidden states relative to the largest reference value;
 * greedy tokens compared until the reference's own top-1/top-2 margin is thinner than this. */
#define LOGIT_TOL 1e-4
#define THIN_MARGIN 1e-3

static const char *model_dirs[] = {"tests/fixtures/phi3-tiny", "tests/fixtures/phi3-tiny-gqa", "models/austen-toy"};
#define N_MODELS ((int)(sizeof model_dirs / sizeof model_dirs[0]))

static void verify_dir(const char *dir, int threads, kv_mode kv) {
    Model m;
    ModelOptions o = {.codec = "fp32", .kv = kv_mode_name(kv), .threads = threads};
    qb_status st = model_load(dir, &o, &m);
    ck_assert_msg(st == QB_OK, "model_load(%s): %s", dir, qb_last_error());
    char ref[512];
    snprintf(ref, sizeof ref, "%s/reference.safetensors", dir);
    VerifyOptions vo = {.tol = LOGIT_TOL, .thin_margin = THIN_MARGIN};
    VerifyResult res;
    st = verify_model(&m, ref, &vo, &res);
    ck_assert_msg(st == QB_OK, "verify %s: %s", dir, qb_last_error());
    printf("%s (threads %d, kv %s):\n", dir, threads, kv_mode_name(kv));
    verify_print(stdout, &res, &vo);
    int present = 0;
    for (int i = 0; i < res.n_cases; i++) {
        const VerifyCase *c = &res.cases[i];
        present += c->present;
        ck_assert_msg(c->present, "%s: reference case %s missing", dir, c->name);
        if (c->kind == 0)
            ck_assert_msg(c->pass, "%s %s: max rel logit error %.3e, hidden %.3e (entry %d) > %.0e", dir, c->name,
                          c->max_rel_logit, c->max_rel_hidden, c->worst_hidden_entry, LOGIT_TOL);
        else
            ck_assert_msg(c->pass, "%s %s: token mismatch at step %d within the thick-margin prefix (%d checked)",
                          dir, c->name, c->first_mismatch, c->n_checked);
    }
    ck_assert_int_eq(present, 4);
    ck_assert(res.pass);
    model_free(&m);
}

START_TEST(test_reference_fp32) { verify_dir(model_dirs[_i], 1, KV_F32); }
END_TEST

START_TEST(test_reference_two_threads) { verify_dir(model_dirs[_i], 2, KV_F32); }
END_TEST

/* Same inputs and thread count → bit-identical logits, across two loads and two runs. */
START_TEST(test_determinism) {
    const char *dir = "tests/fixtures/phi3-tiny-gqa";
    ModelOptions o = {.codec = "fp32", .threads = 2};
    int ids[40];
    for (int i = 0; i < 40; i++) ids[i] = (i * 37 + 5) % 384;
    float *out[2];
    for (int k = 0; k < 2; k++) {
        Model m;
        RunState s;
        ck_assert_msg(model_load(dir, &o, &m) == QB_OK, "%s", qb_last_error());
        ck_assert(runstate_build(&s, &m) == QB_OK);
        out[k] = malloc(40 * 384 * sizeof(float));
        ck_assert(model_forward(&m, &s, ids, 30, out[k], 1, NULL) == QB_OK);
        /* decode steps too */
        for (int t = 30; t < 40; t++) ck_assert(model_forward(&m, &s, ids + t, 1, out[k] + t * 384, 1, NULL) == QB_OK);
        runstate_free(&s);
        model_free(&m);
    }
    ck_assert_msg(memcmp(out[0], out[1], 40 * 384 * sizeof(float)) == 0, "two identical runs differ");
    free(out[0]);
    free(out[1]);
}
END_TEST

/* Prefill of n tokens at once and n single-token decode steps agree (the KV cache is right). */
START_TEST(test_prefill_equals_decode) {
    const char *dir = "tests/fixtures/phi3-tiny";
    ModelOptions o = {.codec = "fp32", .threads = 1};
    Model m;
    RunState s;
    ck_assert(model_load(dir, &o, &m) == QB_OK);
    ck_assert(runstate_build(&s, &m) == QB_OK);
    enum { N = 20, V = 512 };
    int ids[N];
    for (int i = 0; i < N; i++) ids[i] = (i * 101 + 3) % V;
    float *a = malloc(N * V * sizeof(float)), *b = malloc(N * V * sizeof(float));
    ck_assert(model_forward(&m, &s, ids, N, a, 1, NULL) == QB_OK);
    runstate_reset(&s);
    for (int t = 0; t < N; t++) ck_assert(model_forward(&m, &s, ids + t, 1, b + t * V, 0, NULL) == QB_OK);
    double maxref = 0, maxdiff = 0;
    for (int i = 0; i < N * V; i++) {
        maxref = fmax(maxref, fabs(a[i]));
        maxdiff = fmax(maxdiff, fabs(a[i] - b[i]));
    }
    printf("prefill vs decode: max rel diff %.3e\n", maxdiff / maxref);
    ck_assert_msg(maxdiff / maxref <= LOGIT_TOL, "prefill vs decode differ: %.3e", maxdiff / maxref);
    free(a);
    free(b);
    runstate_free(&s);
    model_free(&m);
}
END_TEST

/* Prefill hands runs of up to ATTN_ROWS rows to the attention kernels together, splitting each row's
 * positions into those all rows of the run attend to and its own (attend_rows in model.c). A row's result
 * must not depend on that: one prefill of 23 tokens equals, bit for bit, the same tokens prefilled in
 * pieces that put the rows in other runs (2+3+5+6+7 and 3+4+4+4+4+4; pieces of ≥ 2 rows, whose products
 * have the same bits for any row count: kernels.h), for sliding windows shorter than, equal to and longer
 * than a run (the split's edge cases), every KV mode (f16 and qins-v convert 16 positions at a time) and
 * one or two threads, on the GQA fixture. And the window must act: rows closer to the start than the
 * window see what they see without one, later rows do not. */
START_TEST(test_prefill_blocks_bitwise) {
    const char *dir = "tests/fixtures/phi3-tiny-gqa";
    static const int windows[] = {1, 2, 3, 4, 5, 0};
    enum { N = 23 };
    for (int kv = 0; kv < KV_MODE_COUNT; kv++)
        for (int threads = 1; threads <= 2; threads++) {
            ModelOptions o = {.codec = "fp32", .kv = kv_mode_name((kv_mode)kv), .threads = threads};
            Model m;
            RunState s;
            ck_assert_msg(model_load(dir, &o, &m) == QB_OK, "%s", qb_last_error());
            ck_assert(runstate_build(&s, &m) == QB_OK);
            const int V = m.config.vocab;
            int ids[N];
            for (int i = 0; i < N; i++) ids[i] = (i * 101 + 3) % V;
            float *a = malloc((size_t)N * V * sizeof(float)), *b = malloc((size_t)N * V * sizeof(float));
            float *none = malloc((size_t)N * V * sizeof(float));
            for (size_t wi = 0; wi < sizeof windows / sizeof windows[0]; wi++) {
                int w = windows[wi];
                m.config.sliding_window = w;
                runstate_reset(&s);
                ck_assert(model_forward(&m, &s, ids, N, a, 1, NULL) == QB_OK);
                static const int pieces[2][7] = {{2, 3, 5, 6, 7}, {3, 4, 4, 4, 4, 4}};
                for (int pi = 0; pi < 2; pi++) {
                    runstate_reset(&s);
                    for (int k = 0, t = 0; t < N; t += pieces[pi][k++])
                        ck_assert(model_forward(&m, &s, ids + t, pieces[pi][k], b + (size_t)t * V, 1, NULL) == QB_OK);
                    for (int t = 0; t < N; t++)
                        ck_assert_msg(memcmp(a + (size_t)t * V, b + (size_t)t * V, sizeof(float) * (size_t)V) == 0,
                                      "kv %s, %d threads, window %d: row %d differs when prefilled in pieces %d",
                                      kv_mode_name((kv_mode)kv), threads, w, t, pi);
                }
                if (w == 0) memcpy(none, a, (size_t)N * V * sizeof(float));
            }
            for (size_t wi = 0; wi + 1 < sizeof windows / sizeof windows[0]; wi++) {
                int w = windows[wi];
                m.config.sliding_window = w;
                runstate_reset(&s);
                ck_assert(model_forward(&m, &s, ids, N, a, 1, NULL) == QB_OK);
                for (int t = 0; t < N; t++) {
                    int same = memcmp(a + (size_t)t * V, none + (size_t)t * V, sizeof(float) * (size_t)V) == 0;
                    ck_assert_msg(same == (t < w), "kv %s, window %d: row %d %s the unwindowed logits",
                                  kv_mode_name((kv_mode)kv), w, t, same ? "equals" : "differs from");
                }
            }
            free(a), free(b), free(none);
            runstate_free(&s);
            model_free(&m);
        }
}
END_TEST

/* Bytes computed from shapes alone (how the report sizes Phi-3.5-mini) equal the bytes a load allocates,
 * for every codec and for a spec that codes every group. */
static const char *byte_specs[] = {"fp32", "bf16", "f16", "qins", "qins:scale=tensor", "qins8", "qins-compute",
                                   "int8", "q8_0", "q4_0", "q4_0:apply=attn+mlp+lm_head+embed",
                                   "qins:apply=attn+lm_head"};

START_TEST(test_bytes_for_config) {
    for (int d = 0; d < N_MODELS; d++) {
        Model m;
        ModelOptions o = {.codec = byte_specs[_i], .threads = 1};
        ck_assert_msg(model_load(model_dirs[d], &o, &m) == QB_OK, "%s", qb_last_error());
        WeightBytes b;
        model_bytes_for_config(&m.config, &m.codec, &b);
        ck_assert_msg(memcmp(&b, &m.bytes, sizeof b) == 0,
                      "%s %s: shapes say attn %llu mlp %llu head %llu embed %llu, load says %llu %llu %llu %llu",
                      model_dirs[d], byte_specs[_i], (unsigned long long)b.attn, (unsigned long long)b.mlp,
                      (unsigned long long)b.lm_head, (unsigned long long)b.embed, (unsigned long long)m.bytes.attn,
                      (unsigned long long)m.bytes.mlp, (unsigned long long)m.bytes.lm_head,
                      (unsigned long long)m.bytes.embed);
        model_free(&m);
    }
}
END_TEST

/* ---- bad input: config.json ---- */

static char tmpdir[256];

static void make_model_dir(const char *config_json) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/qb_test_engine_XXXXXX");
    ck_assert(mkdtemp(tmpdir) != NULL);
    char path[512];
    snprintf(path, sizeof path, "%s/config.json", tmpdir);
    FILE *f = fopen(path, "w");
    ck_assert(f != NULL);
    fputs(config_json, f);
    fclose(f);
    /* a real weights file, so that only the config can be at fault */
    snprintf(path, sizeof path, "cp tests/fixtures/phi3-tiny-gqa/model.safetensors %s/", tmpdir);
    ck_assert(system(path) == 0);
}

static void remove_model_dir(void) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    ck_assert(system(cmd) == 0);
}

/* The gqa fixture's shape, to be broken one field at a time. */
#define GOOD_CONFIG_PREFIX \
    "{\"model_type\":\"phi3\",\"hidden_size\":96,\"intermediate_size\":256,\"num_hidden_layers\":3,"
#define GOOD_CONFIG_REST "\"num_key_value_heads\":2,\"vocab_size\":384,\"max_position_embeddings\":1536,\"rms_norm_eps\":1e-5}"

static const struct {
    const char *json;
    const char *expect; /* a substring of the message */
} bad_configs[] = {
    {"{not json", "not valid JSON"},
    {"[1,2,3]", "not a JSON object"},
    {GOOD_CONFIG_PREFIX GOOD_CONFIG_REST, "num_attention_heads"},                                   /* missing */
    {GOOD_CONFIG_PREFIX "\"num_attention_heads\":\"six\"," GOOD_CONFIG_REST, "expected an integer"}, /* wrong type */
    {GOOD_CONFIG_PREFIX "\"num_attention_heads\":5," GOOD_CONFIG_REST, "not divisible"},            /* 96 % 5 */
    {GOOD_CONFIG_PREFIX "\"num_attention_heads\":6,\"hidden_act\":\"gelu\"," GOOD_CONFIG_REST, "silu"},
    {GOOD_CONFIG_PREFIX "\"num_attention_heads\":6,\"rope_scaling\":{\"type\":\"yarn\"}," GOOD_CONFIG_REST, "yarn"},
    {GOOD_CONFIG_PREFIX "\"num_attention_heads\":6,\"rope_scaling\":{\"type\":\"longrope\",\"short_factor\":[1],"
                        "\"long_factor\":[1]},\"original_max_position_embeddings\":48," GOOD_CONFIG_REST,
     "entries"},
    {GOOD_CONFIG_PREFIX "\"num_attention_heads\":-6," GOOD_CONFIG_REST, "out of range"},
    {GOOD_CONFIG_PREFIX "\"num_attention_heads\":6,\"hidden_size\":97," GOOD_CONFIG_REST, "appears twice"},
    /* shapes that disagree with the tensors */
    {"{\"hidden_size\":96,\"intermediate_size\":300,\"num_hidden_layers\":3,\"num_attention_heads\":6,"
     "\"num_key_value_heads\":2,\"vocab_size\":384,\"max_position_embeddings\":1536}",
     "shape"},
    {"{\"hidden_size\":96,\"intermediate_size\":256,\"num_hidden_layers\":4,\"num_attention_heads\":6,"
     "\"num_key_value_heads\":2,\"vocab_size\":384,\"max_position_embeddings\":1536}",
     "missing tensor model.layers.3"},
    {"{\"hidden_size\":96,\"intermediate_size\":256,\"num_hidden_layers\":3,\"num_attention_heads\":6,"
     "\"num_key_value_heads\":4,\"vocab_size\":384,\"max_position_embeddings\":1536}",
     "multiple"},
};

START_TEST(test_bad_config) {
    make_model_dir(bad_configs[_i].json);
    Model m;
    ModelOptions o = {0};
    qb_status st = model_load(tmpdir, &o, &m);
    const char *msg = qb_last_error();
    printf("bad config %d: %s\n", _i, msg);
    ck_assert_msg(st == QB_ERR_INPUT || st == QB_ERR_UNSUPPORTED, "case %d: status %d", _i, st);
    ck_assert_msg(strstr(msg, tmpdir) != NULL, "case %d: message does not name the path: %s", _i, msg);
    ck_assert_msg(strstr(msg, bad_configs[_i].expect) != NULL, "case %d: expected '%s' in: %s", _i,
                  bad_configs[_i].expect, msg);
    remove_model_dir();
}
END_TEST

/* RoPE parameters: the top-level value wins, the rope object's is used when alone, Phi3Config's default
 * original_max (4096) when absent everywhere, conflicting values are refused; rope_scaling.factor sets the
 * attention factor when given (transformers 5). */
#define ROPE_BASE "{\"hidden_size\":64,\"intermediate_size\":160,\"num_hidden_layers\":2,\"num_attention_heads\":4," \
                  "\"vocab_size\":512,\"max_position_embeddings\":2048,"
#define FACTORS "\"short_factor\":[1,1,1,1,1,1,1,1],\"long_factor\":[2,2,2,2,2,2,2,2]"
START_TEST(test_rope_parameters) {
    Config c;
    /* only inside rope_scaling */
    ck_assert_msg(config_parse("c.json", ROPE_BASE "\"rope_scaling\":{\"type\":\"longrope\"," FACTORS
                                           ",\"original_max_position_embeddings\":64}}", &c) == QB_OK, "%s", qb_last_error());
    ck_assert_int_eq(c.orig_max_pos, 64);
    ck_assert(fabs(c.attention_factor - sqrt(1 + log(32.0) / log(64.0))) < 1e-12);
    config_free(&c);
    /* absent everywhere: 4096, so max 2048 gives no scaling */
    ck_assert(config_parse("c.json", ROPE_BASE "\"rope_scaling\":{\"type\":\"longrope\"," FACTORS "}}", &c) == QB_OK);
    ck_assert_int_eq(c.orig_max_pos, 4096);
    ck_assert(c.attention_factor == 1.0);
    config_free(&c);
    /* factor given */
    ck_assert(config_parse("c.json", ROPE_BASE "\"original_max_position_embeddings\":64,\"rope_scaling\":{\"type\":"
                                   "\"longrope\",\"factor\":4," FACTORS "}}", &c) == QB_OK);
    ck_assert(fabs(c.attention_factor - sqrt(1 + log(4.0) / log(64.0))) < 1e-12);
    config_free(&c);
    /* conflicting */
    ck_assert_int_eq(config_parse("c.json", ROPE_BASE "\"original_max_position_embeddings\":8,\"rope_scaling\":{\"type\":"
                                          "\"longrope\"," FACTORS ",\"original_max_position_embeddings\":32}}", &c),
                     QB_ERR_INPUT);
    ck_assert(strstr(qb_last_error(), "c.json: original_max_position_embeddings") != NULL);
    /* a duplicate inside a nested object */
    ck_assert_int_eq(config_parse("c.json", ROPE_BASE "\"rope_scaling\":{\"type\":\"longrope\",\"type\":\"longrope\","
                                          FACTORS "}}", &c), QB_ERR_INPUT);
    ck_assert(strstr(qb_last_error(), "appears twice") != NULL);
}
END_TEST

START_TEST(test_missing_dir) {
    Model m;
    ModelOptions o = {0};
    ck_assert_int_eq(model_load("tests/fixtures/no-such-model", &o, &m), QB_ERR_INPUT);
    ck_assert(strstr(qb_last_error(), "tests/fixtures/no-such-model") != NULL);
}
END_TEST

START_TEST(test_token_out_of_vocab) {
    Model m;
    RunState s;
    ModelOptions o = {.threads = 1};
    ck_assert(model_load("tests/fixtures/phi3-tiny", &o, &m) == QB_OK);
    ck_assert(runstate_build(&s, &m) == QB_OK);
    int ids[2] = {5, 512};
    ck_assert_int_eq(model_forward(&m, &s, ids, 2, NULL, 0, NULL), QB_ERR_INPUT);
    ck_assert(strstr(qb_last_error(), "outside the vocabulary") != NULL);
    ck_assert_int_eq(s.pos, 0); /* nothing was run */
    runstate_free(&s);
    model_free(&m);
}
END_TEST

Suite *engine_suite(void) {
    Suite *s = suite_create("engine");
    TCase *tc = tcase_create("reference");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_reference_fp32, 0, N_MODELS);
    tcase_add_loop_test(tc, test_reference_two_threads, 0, N_MODELS);
    tcase_add_test(tc, test_determinism);
    tcase_add_test(tc, test_prefill_equals_decode);
    tcase_add_test(tc, test_prefill_blocks_bitwise);
    tcase_add_loop_test(tc, test_bytes_for_config, 0, (int)(sizeof byte_specs / sizeof byte_specs[0]));
    suite_add_tcase(s, tc);
    TCase *bad = tcase_create("bad input");
    tcase_set_timeout(bad, 60);
    tcase_add_loop_test(bad, test_bad_config, 0, (int)(sizeof bad_configs / sizeof bad_configs[0]));
    tcase_add_test(bad, test_rope_parameters);
    tcase_add_test(bad, test_missing_dir);
    tcase_add_test(bad, test_token_out_of_vocab);
    suite_add_tcase(s, bad);
    return s;
}

int main(void) {
    return qb_check_run(engine_suite());
}

/* test_synth.c — `qinsbench synth`: determinism (same seed → identical bytes, other seed → other weights),
 * config.json / generation_config.json values, tensor names, shapes and initial values, sharding with an
 * index that covers every tensor, the command's option handling, and that the engine loads the result. */
#include <check.h>
#include "check_main.h"
#include <dirent.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "commands.h"
#include "config.h"
#include "model.h"
#include "safetensors.h"
#include "synth.h"

static char tmpdir[256];

static void tmp_setup(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/qb_synth_test_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void tmp_teardown(void) {
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", tmpdir);
}

/* tmpdir/a[/b] in one of a few rotating buffers (so two can be used in one expression). */
static const char *tp(const char *a, const char *b) {
    static char bufs[4][600];
    static int k;
    char *p = bufs[k++ & 3];
    if (b) snprintf(p, 600, "%s/%s/%s", tmpdir, a, b);
    else snprintf(p, 600, "%s/%s", tmpdir, a);
    return p;
}

static void synth_ok(const char *preset, int layers, st_dtype dt, uint64_t seed, uint64_t shard, const char *sub) {
    synth_options o = {.preset = preset, .out_dir = tp(sub, NULL), .layers = layers, .dtype = dt, .seed = seed,
                       .shard_size = shard, .quiet = 1};
    synth_result r;
    qb_status st = synth_write(&o, &r);
    ck_assert_msg(st == QB_OK, "synth_write: %s", qb_last_error());
}

static char *slurp(const char *path, size_t *len) {
    char *s;
    size_t n;
    ck_assert_msg(qb_read_file(path, &s, &n, 1u << 30) == QB_OK, "%s", qb_last_error());
    if (len) *len = n;
    return s;
}

static int same_file(const char *a, const char *b) {
    size_t na, nb;
    char *x = slurp(a, &na), *y = slurp(b, &nb);
    int same = na == nb && !memcmp(x, y, na);
    free(x);
    free(y);
    return same;
}

static cJSON *load_json(const char *path) {
    char *s = slurp(path, NULL);
    cJSON *j = cJSON_Parse(s);
    free(s);
    ck_assert_msg(j != NULL, "%s is not JSON", path);
    return j;
}

static double jnum(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    ck_assert_msg(cJSON_IsNumber(v), "missing number %s", k);
    return v->valuedouble;
}

static const char *jstr(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    ck_assert_msg(cJSON_IsString(v), "missing string %s", k);
    return v->valuestring;
}

START_TEST(test_deterministic) {
    synth_ok("toy", 1, ST_BF16, 7, 0, "a");
    synth_ok("toy", 1, ST_BF16, 7, 0, "b");
    synth_ok("toy", 1, ST_BF16, 8, 0, "c");
    const char *files[3] = {"config.json", "generation_config.json", "model.safetensors"};
    for (int i = 0; i < 3; i++)
        ck_assert_msg(same_file(tp("a", files[i]), tp("b", files[i])), "%s differs for the same seed", files[i]);
    ck_assert(same_file(tp("a", "config.json"), tp("c", "config.json")));
    ck_assert_msg(!same_file(tp("a", "model.safetensors"), tp("c", "model.safetensors")),
                  "another seed gave the same weights");
    /* …and every random tensor changes, not just one */
    st_file fa, fc;
    ck_assert_int_eq(st_open(tp("a", "model.safetensors"), &fa), QB_OK);
    ck_assert_int_eq(st_open(tp("c", "model.safetensors"), &fc), QB_OK);
    ck_assert_int_eq(fa.n_tensors, fc.n_tensors);
    for (int i = 0; i < fa.n_tensors; i++) {
        const st_tensor *x = &fa.tensors[i], *y = st_find(&fc, x->name);
        ck_assert_ptr_nonnull(y);
        int norm = strstr(x->name, "norm") != NULL;
        int same = !memcmp(x->data, y->data, x->nbytes);
        ck_assert_msg(same == norm, "%s: seed dependence wrong", x->name);
    }
    st_close(&fa);
    st_close(&fc);
}
END_TEST

START_TEST(test_toy_config) {
    synth_ok("toy", 1, ST_BF16, 0, 0, "t");
    cJSON *c = load_json(tp("t", "config.json"));
    ck_assert_int_eq((int)jnum(c, "hidden_size"), 256);
    ck_assert_int_eq((int)jnum(c, "num_hidden_layers"), 1); /* --layers overrides */
    ck_assert_int_eq((int)jnum(c, "num_attention_heads"), 4);
    ck_assert_int_eq((int)jnum(c, "num_key_value_heads"), 4);
    ck_assert_int_eq((int)jnum(c, "intermediate_size"), 688);
    ck_assert_int_eq((int)jnum(c, "vocab_size"), 5000);
    ck_assert_int_eq((int)jnum(c, "max_position_embeddings"), 4096);
    ck_assert_int_eq((int)jnum(c, "original_max_position_embeddings"), 512);
    ck_assert_int_eq((int)jnum(c, "bos_token_id"), 1);
    ck_assert_int_eq((int)jnum(c, "eos_token_id"), 2);
    ck_assert_double_eq(jnum(c, "initializer_range"), 0.02);
    ck_assert_double_eq(jnum(c, "rms_norm_eps"), 1e-5);
    ck_assert_str_eq(jstr(c, "model_type"), "phi3");
    ck_assert_str_eq(jstr(c, "torch_dtype"), "bfloat16");
    ck_assert(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(c, "tie_word_embeddings")));
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(c, "rope_scaling");
    ck_assert_str_eq(jstr(rs, "type"), "longrope");
    const cJSON *lf = cJSON_GetObjectItemCaseSensitive(rs, "long_factor");
    const cJSON *sf = cJSON_GetObjectItemCaseSensitive(rs, "short_factor");
    ck_assert_int_eq(cJSON_GetArraySize(lf), 32); /* head_dim 64 / 2 */
    ck_assert_int_eq(cJSON_GetArraySize(sf), 32);
    ck_assert_double_eq(cJSON_GetArrayItem(lf, 1)->valuedouble, 1.0208);
    ck_assert_double_eq(cJSON_GetArrayItem(lf, 31)->valuedouble, 21.0);
    ck_assert_double_eq(cJSON_GetArrayItem(sf, 31)->valuedouble, 1.8);
    cJSON_Delete(c);
    /* the toy's rope_scaling is the claim's toy model's, value for value */
    cJSON *ref = load_json("models/austen-toy/config.json");
    c = load_json(tp("t", "config.json"));
    ck_assert(cJSON_Compare(cJSON_GetObjectItemCaseSensitive(ref, "rope_scaling"),
                            cJSON_GetObjectItemCaseSensitive(c, "rope_scaling"), 1));
    cJSON_Delete(ref);
    cJSON_Delete(c);
    /* Python's json.dumps(indent=2) layout, as transformers writes it */
    char *text = slurp(tp("t", "config.json"), NULL);
    ck_assert_ptr_nonnull(strstr(text, "{\n  \"_name_or_path\": \"synth-toy\",\n  \"architectures\": [\n    \"Phi3ForCausalLM\"\n  ],\n"));
    ck_assert_ptr_nonnull(strstr(text, "\"rope_theta\": 10000.0,\n"));
    ck_assert_ptr_nonnull(strstr(text, "\"rms_norm_eps\": 1e-05,\n"));
    ck_assert_ptr_nonnull(strstr(text, "  \"vocab_size\": 5000\n}\n"));
    free(text);
    cJSON *g = load_json(tp("t", "generation_config.json"));
    ck_assert_int_eq((int)jnum(g, "bos_token_id"), 1);
    ck_assert_int_eq((int)jnum(g, "eos_token_id"), 2);
    cJSON_Delete(g);
    /* and the engine's own config reader accepts it */
    Config cfg;
    ck_assert_msg(config_load(tp("t", NULL), &cfg) == QB_OK, "config_load: %s", qb_last_error());
    ck_assert_int_eq(cfg.hidden, 256);
    ck_assert_int_eq(cfg.n_layers, 1);
    ck_assert_int_eq(cfg.head_dim, 64);
    ck_assert(cfg.longrope);
    ck_assert_int_eq(cfg.orig_max_pos, 512);
    config_free(&cfg);
}
END_TEST

START_TEST(test_phi35_config) {
    synth_options o = {.preset = "phi3.5-mini", .out_dir = tp("p", NULL), .dtype = ST_BF16, .quiet = 1,
                       .config_only = 1};
    ck_assert_msg(synth_write(&o, NULL) == QB_OK, "%s", qb_last_error());
    ck_assert(access(tp("p", "model.safetensors"), F_OK) != 0);
    cJSON *c = load_json(tp("p", "config.json"));
    ck_assert_int_eq((int)jnum(c, "hidden_size"), 3072);
    ck_assert_int_eq((int)jnum(c, "intermediate_size"), 8192);
    ck_assert_int_eq((int)jnum(c, "num_hidden_layers"), 32);
    ck_assert_int_eq((int)jnum(c, "num_attention_heads"), 32);
    ck_assert_int_eq((int)jnum(c, "num_key_value_heads"), 32);
    ck_assert_int_eq((int)jnum(c, "vocab_size"), 32064);
    ck_assert_int_eq((int)jnum(c, "max_position_embeddings"), 131072);
    ck_assert_int_eq((int)jnum(c, "original_max_position_embeddings"), 4096);
    ck_assert_int_eq((int)jnum(c, "sliding_window"), 262144);
    ck_assert_int_eq((int)jnum(c, "eos_token_id"), 32000);
    ck_assert_int_eq((int)jnum(c, "pad_token_id"), 32000);
    ck_assert_double_eq(jnum(c, "rope_theta"), 10000.0);
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(c, "rope_scaling");
    const cJSON *lf = cJSON_GetObjectItemCaseSensitive(rs, "long_factor");
    const cJSON *sf = cJSON_GetObjectItemCaseSensitive(rs, "short_factor");
    ck_assert_int_eq(cJSON_GetArraySize(lf), 48);
    ck_assert_int_eq(cJSON_GetArraySize(sf), 48);
    ck_assert_double_eq(cJSON_GetArrayItem(lf, 0)->valuedouble, 1.0800000429153442);
    ck_assert_double_eq(cJSON_GetArrayItem(lf, 47)->valuedouble, 64.83999633789062);
    ck_assert_double_eq(cJSON_GetArrayItem(sf, 47)->valuedouble, 2.8399994373321533);
    cJSON_Delete(c);
    char *text = slurp(tp("p", "config.json"), NULL);
    ck_assert_ptr_nonnull(strstr(text, "\n      1.0800000429153442,\n      1.1100000143051147,\n"));
    free(text);
    cJSON *g = load_json(tp("p", "generation_config.json"));
    const cJSON *eos = cJSON_GetObjectItemCaseSensitive(g, "eos_token_id");
    ck_assert_int_eq(cJSON_GetArraySize(eos), 3);
    ck_assert_int_eq(cJSON_GetArrayItem(eos, 0)->valueint, 32007);
    ck_assert_int_eq(cJSON_GetArrayItem(eos, 1)->valueint, 32001);
    ck_assert_int_eq(cJSON_GetArrayItem(eos, 2)->valueint, 32000);
    cJSON_Delete(g);
    Config cfg;
    ck_assert_msg(config_load(tp("p", NULL), &cfg) == QB_OK, "config_load: %s", qb_last_error());
    ck_assert_int_eq(cfg.head_dim, 96);
    ck_assert_int_eq(cfg.n_eos, 3);
    config_free(&cfg);
}
END_TEST

/* Name → expected shape of the toy with 1 layer. */
static const struct {
    const char *name;
    int ndim;
    int64_t d0, d1;
} toy_shapes[] = {
    {"model.embed_tokens.weight", 2, 5000, 256},
    {"model.layers.0.self_attn.qkv_proj.weight", 2, 768, 256},
    {"model.layers.0.self_attn.o_proj.weight", 2, 256, 256},
    {"model.layers.0.mlp.gate_up_proj.weight", 2, 1376, 256},
    {"model.layers.0.mlp.down_proj.weight", 2, 256, 688},
    {"model.layers.0.input_layernorm.weight", 1, 256, 0},
    {"model.layers.0.post_attention_layernorm.weight", 1, 256, 0},
    {"model.norm.weight", 1, 256, 0},
    {"lm_head.weight", 2, 5000, 256},
};
#define N_TOY ((int)(sizeof toy_shapes / sizeof toy_shapes[0]))

static void check_toy_tensors(const Checkpoint *ck, st_dtype dt) {
    for (int i = 0; i < N_TOY; i++) {
        const st_tensor *t = ckpt_find(ck, toy_shapes[i].name, NULL);
        ck_assert_msg(t != NULL, "%s missing", toy_shapes[i].name);
        ck_assert_int_eq(t->dtype, dt);
        ck_assert_int_eq(t->ndim, toy_shapes[i].ndim);
        ck_assert_int_eq(t->shape[0], toy_shapes[i].d0);
        if (t->ndim == 2) ck_assert_int_eq(t->shape[1], toy_shapes[i].d1);
        float *x = malloc(t->numel * sizeof(float));
        ck_assert_int_eq(st_to_f32(t, 0, t->numel, x), QB_OK);
        if (strstr(t->name, "norm")) {
            for (uint64_t k = 0; k < t->numel; k++) ck_assert_float_eq(x[k], 1.0f);
        } else {
            double s = 0, s2 = 0;
            for (uint64_t k = 0; k < t->numel; k++) {
                s += x[k];
                s2 += (double)x[k] * x[k];
            }
            double mean = s / t->numel, sd = sqrt(s2 / t->numel - mean * mean);
            /* ≥ 65536 samples: the sample std of normal(0, 0.02) is within 1.5 % with overwhelming odds */
            ck_assert_msg(fabs(mean) < 0.001 && fabs(sd - 0.02) < 0.0003, "%s: mean %g sd %g", t->name, mean, sd);
            if (!strcmp(t->name, "model.embed_tokens.weight")) /* padding row (pad_token_id 2) is zero */
                for (int k = 0; k < 256; k++) ck_assert_float_eq(x[2 * 256 + k], 0.0f);
        }
        free(x);
    }
}

START_TEST(test_shapes_and_values) {
    synth_ok("toy", 1, ST_BF16, 3, 0, "s");
    Checkpoint ck;
    ck_assert_msg(ckpt_open(tp("s", NULL), &ck) == QB_OK, "%s", qb_last_error());
    ck_assert_int_eq(ck.n_files, 1);
    ck_assert_int_eq(ck.files[0].n_tensors, N_TOY);
    ck_assert_str_eq(st_meta(&ck.files[0], "format"), "pt");
    check_toy_tensors(&ck, ST_BF16);
    ckpt_close(&ck);
    synth_ok("toy", 1, ST_F16, 3, 0, "h");
    ck_assert_msg(ckpt_open(tp("h", NULL), &ck) == QB_OK, "%s", qb_last_error());
    check_toy_tensors(&ck, ST_F16);
    ckpt_close(&ck);
    synth_ok("toy", 1, ST_F32, 3, 0, "f");
    ck_assert_msg(ckpt_open(tp("f", NULL), &ck) == QB_OK, "%s", qb_last_error());
    check_toy_tensors(&ck, ST_F32);
    ckpt_close(&ck);
    cJSON *c = load_json(tp("f", "config.json"));
    ck_assert_str_eq(jstr(c, "torch_dtype"), "float32");
    cJSON_Delete(c);
}
END_TEST

START_TEST(test_sharding) {
    /* 1 MB shards: the 2.56 MB embedding and lm_head each exceed it and get shards of their own */
    synth_ok("toy", 1, ST_BF16, 5, 1000000, "sh");
    synth_ok("toy", 1, ST_BF16, 5, 0, "one");
    cJSON *idx = load_json(tp("sh", "model.safetensors.index.json"));
    const cJSON *wm = cJSON_GetObjectItemCaseSensitive(idx, "weight_map");
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(idx, "metadata");
    ck_assert_int_eq(cJSON_GetArraySize(wm), N_TOY);
    int n_shards = 0;
    uint64_t total = 0;
    st_file one;
    ck_assert_int_eq(st_open(tp("one", "model.safetensors"), &one), QB_OK);
    for (int i = 0; i < N_TOY; i++) {
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(wm, toy_shapes[i].name);
        ck_assert_msg(cJSON_IsString(f), "%s not in weight_map", toy_shapes[i].name);
        int k, n;
        ck_assert_msg(sscanf(f->valuestring, "model-%05d-of-%05d.safetensors", &k, &n) == 2, "%s", f->valuestring);
        ck_assert(k >= 1 && k <= n);
        if (!n_shards) n_shards = n;
        ck_assert_int_eq(n, n_shards);
        st_file sf;
        ck_assert_msg(st_open(tp("sh", f->valuestring), &sf) == QB_OK, "%s", qb_last_error());
        const st_tensor *t = st_find(&sf, toy_shapes[i].name);
        ck_assert_ptr_nonnull(t);
        total += t->nbytes;
        /* the bytes do not depend on the shard layout */
        const st_tensor *u = st_find(&one, toy_shapes[i].name);
        ck_assert_uint_eq(t->nbytes, u->nbytes);
        ck_assert(!memcmp(t->data, u->data, t->nbytes));
        st_close(&sf);
    }
    st_close(&one);
    /* huggingface_hub's order: embed (oversized) alone first, o+qkv, gate_up, lm_head (oversized), the rest */
    ck_assert_int_eq(n_shards, 5);
    ck_assert_str_eq(jstr(wm, "model.embed_tokens.weight"), "model-00001-of-00005.safetensors");
    ck_assert_str_eq(jstr(wm, "model.layers.0.self_attn.o_proj.weight"), "model-00002-of-00005.safetensors");
    ck_assert_str_eq(jstr(wm, "model.layers.0.self_attn.qkv_proj.weight"), "model-00002-of-00005.safetensors");
    ck_assert_str_eq(jstr(wm, "model.layers.0.mlp.gate_up_proj.weight"), "model-00003-of-00005.safetensors");
    ck_assert_str_eq(jstr(wm, "lm_head.weight"), "model-00004-of-00005.safetensors");
    ck_assert_str_eq(jstr(wm, "model.norm.weight"), "model-00005-of-00005.safetensors");
    ck_assert_uint_eq((uint64_t)jnum(md, "total_size"), total);
    /* every shard the name pattern promises exists, and nothing else claims to be one */
    for (int k = 1; k <= n_shards; k++) {
        char name[64];
        snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", k, n_shards);
        ck_assert_msg(access(tp("sh", name), F_OK) == 0, "%s missing", name);
    }
    ck_assert(access(tp("sh", "model.safetensors"), F_OK) != 0);
    cJSON_Delete(idx);
    /* the engine's checkpoint reader follows the index */
    Checkpoint ck;
    ck_assert_msg(ckpt_open(tp("sh", NULL), &ck) == QB_OK, "%s", qb_last_error());
    ck_assert_int_eq(ck.n_files, n_shards);
    ck_assert_uint_eq(ckpt_data_bytes(&ck), total);
    check_toy_tensors(&ck, ST_BF16);
    ckpt_close(&ck);
}
END_TEST

static int run_cli(int argc, const char **argv) {
    return cmd_synth(argc, (char **)argv);
}

START_TEST(test_cli) {
    const char *help[] = {"synth", "--help", NULL};
    ck_assert_int_eq(run_cli(2, help), 0);
    const char *bad[] = {"synth", "--bogus", NULL};
    ck_assert_int_eq(run_cli(2, bad), 2);
    const char *nopreset[] = {"synth", "--out", tp("x", NULL), NULL};
    ck_assert_int_eq(run_cli(3, nopreset), 2);
    const char *badpreset[] = {"synth", "--preset", "phi4", "--out", tp("x", NULL), NULL};
    ck_assert_int_eq(run_cli(5, badpreset), 2);
    const char *badlayers[] = {"synth", "--preset", "toy", "--layers", "0", "--out", tp("x", NULL), NULL};
    ck_assert_int_eq(run_cli(7, badlayers), 2);
    const char *baddtype[] = {"synth", "--preset", "toy", "--dtype", "q8", "--out", tp("x", NULL), NULL};
    ck_assert_int_eq(run_cli(7, baddtype), 2);
    const char *badshard[] = {"synth", "--preset", "toy", "--shard-size", "-5", "--out", tp("x", NULL), NULL};
    ck_assert_int_eq(run_cli(7, badshard), 2);
    const char *badseed[] = {"synth", "--preset", "toy", "--seed", "abc", "--out", tp("x", NULL), NULL};
    ck_assert_int_eq(run_cli(7, badseed), 2);
    ck_assert(access(tp("x", NULL), F_OK) != 0); /* nothing written on bad options */

    /* sharded, with a tokenizer, into a directory that does not exist yet (nested) */
    const char *ok[] = {"synth", "--preset", "toy", "--layers", "1", "--seed", "9", "--shard-size", "1000000",
                        "--tokenizer", "tests/fixtures/tokenizers/phi3-tokenizer.json", "--quiet", "--out",
                        tp("new/dir", NULL), NULL};
    ck_assert_int_eq(run_cli(14, ok), 0);
    ck_assert(same_file(tp("new/dir", "tokenizer.json"), "tests/fixtures/tokenizers/phi3-tokenizer.json"));
    ck_assert(access(tp("new/dir", "model.safetensors.index.json"), F_OK) == 0);
    /* non-empty directory: refused without --force */
    const char *again[] = {"synth", "--preset", "toy", "--layers", "1", "--quiet", "--out", tp("new/dir", NULL),
                           NULL};
    ck_assert_int_eq(run_cli(8, again), 2);
    ck_assert(access(tp("new/dir", "model.safetensors.index.json"), F_OK) == 0);
    /* with --force: unsharded now, and the old shards, index and tokenizer are gone */
    const char *force[] = {"synth", "--preset", "toy", "--layers", "1", "--quiet", "--force", "--out",
                           tp("new/dir", NULL), NULL};
    ck_assert_int_eq(run_cli(9, force), 0);
    FILE *keep = fopen(tp("new/dir", "notes.txt"), "w"); /* not synth's: must survive --force */
    fclose(keep);
    ck_assert_int_eq(run_cli(9, force), 0);
    DIR *d = opendir(tp("new/dir", NULL));
    ck_assert_ptr_nonnull(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        n++;
        ck_assert_msg(!strcmp(e->d_name, "config.json") || !strcmp(e->d_name, "generation_config.json") ||
                          !strcmp(e->d_name, "model.safetensors") || !strcmp(e->d_name, "notes.txt"),
                      "stale or unexpected file %s after --force", e->d_name);
    }
    closedir(d);
    ck_assert_int_eq(n, 4);
    /* a file where the directory should be */
    FILE *f = fopen(tp("afile", NULL), "w");
    fclose(f);
    const char *notdir[] = {"synth", "--preset", "toy", "--quiet", "--out", tp("afile", NULL), NULL};
    ck_assert_int_eq(run_cli(6, notdir), 2);
    /* a tokenizer that is not there */
    const char *notok[] = {"synth", "--preset", "toy", "--quiet", "--tokenizer", "/nonexistent.json", "--out",
                           tp("y", NULL), NULL};
    ck_assert_int_eq(run_cli(8, notok), 2);
}
END_TEST

/* The engine loads what synth writes and runs it. */
START_TEST(test_model_load) {
    synth_ok("toy", 1, ST_BF16, 11, 0, "m");
    Model m;
    ModelOptions opt = {.threads = 1, .ctx = 64};
    ck_assert_msg(model_load(tp("m", NULL), &opt, &m) == QB_OK, "model_load: %s", qb_last_error());
    ck_assert_int_eq(m.config.n_layers, 1);
    ck_assert_int_eq(m.config.vocab, 5000);
    RunState s;
    ck_assert_msg(runstate_build(&s, &m) == QB_OK, "%s", qb_last_error());
    int toks[3] = {1, 100, 4999};
    float *logits = malloc(5000 * sizeof(float));
    ck_assert_msg(model_forward(&m, &s, toks, 3, logits, 0, NULL) == QB_OK, "%s", qb_last_error());
    int finite = 1;
    for (int i = 0; i < 5000; i++) finite &= isfinite(logits[i]) != 0;
    ck_assert(finite);
    free(logits);
    runstate_free(&s);
    model_free(&m);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("synth");
    TCase *tc = tcase_create("synth");
    tcase_set_timeout(tc, 120); /* ASan builds are slow; the largest case writes ~30 MB */
    tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
    tcase_add_test(tc, test_deterministic);
    tcase_add_test(tc, test_toy_config);
    tcase_add_test(tc, test_phi35_config);
    tcase_add_test(tc, test_shapes_and_values);
    tcase_add_test(tc, test_sharding);
    tcase_add_test(tc, test_cli);
    tcase_add_test(tc, test_model_load);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return qb_check_run(suite());
}

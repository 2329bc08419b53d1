/* synth.c — `qinsbench synth`'s library part: builds the tensor list of a Phi-3 preset, generates its random
 * weights tensor by tensor inside st_writer's fill callbacks (so a 7.6 GB checkpoint never sits in memory),
 * shards them the way transformers' save_pretrained does, and writes the JSON files the way transformers
 * writes them (json.dumps(indent=2, sort_keys=True)). See synth.h. */
#include "synth.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---------------------------------------------------------------------------------------------------- */
/* Presets                                                                                              */

/* Phi-3.5-mini-instruct's LongRoPE factors, as its config.json lists them (float32 values printed as
 * doubles; head_dim 96 → 48 each). */
static const double phi35_long[48] = {
    1.0800000429153442, 1.1100000143051147, 1.1399999856948853, 1.340000033378601,  1.5899999141693115,
    1.600000023841858,  1.6200000047683716, 2.620000123977661,  3.2300000190734863, 3.2300000190734863,
    4.789999961853027,  7.400000095367432,  7.700000286102295,  9.09000015258789,   12.199999809265137,
    17.670000076293945, 24.46000099182129,  28.57000160217285,  30.420001983642578, 30.840002059936523,
    32.590003967285156, 32.93000411987305,  42.320003509521484, 44.96000289916992,  50.340003967285156,
    50.45000457763672,  57.55000305175781,  57.93000411987305,  58.21000289916992,  60.1400032043457,
    62.61000442504883,  62.62000274658203,  62.71000289916992,  63.1400032043457,   63.1400032043457,
    63.77000427246094,  63.93000411987305,  63.96000289916992,  63.970001220703125, 64.02999877929688,
    64.06999969482422,  64.08000183105469,  64.12000274658203,  64.41000366210938,  64.4800033569336,
    64.51000213623047,  64.52999877929688,  64.83999633789062,
};
static const double phi35_short[48] = {
    1.0,                1.0199999809265137, 1.0299999713897705, 1.0299999713897705, 1.0499999523162842,
    1.0499999523162842, 1.0499999523162842, 1.0499999523162842, 1.0499999523162842, 1.0699999332427979,
    1.0999999046325684, 1.1099998950958252, 1.1599998474121094, 1.1599998474121094, 1.1699998378753662,
    1.2899998426437378, 1.339999794960022,  1.679999828338623,  1.7899998426437378, 1.8199998140335083,
    1.8499997854232788, 1.8799997568130493, 1.9099997282028198, 1.9399996995925903, 1.9899996519088745,
    2.0199997425079346, 2.0199997425079346, 2.0199997425079346, 2.0199997425079346, 2.0199997425079346,
    2.0199997425079346, 2.0299997329711914, 2.0299997329711914, 2.0299997329711914, 2.0299997329711914,
    2.0299997329711914, 2.0299997329711914, 2.0299997329711914, 2.0299997329711914, 2.0299997329711914,
    2.0799996852874756, 2.0899996757507324, 2.189999580383301,  2.2199995517730713, 2.5899994373321533,
    2.729999542236328,  2.749999523162842,  2.8399994373321533,
};

/* The toy's factors are models/austen-toy's: smooth curves rounded to 4 decimals,
 * short = 1 + 0.8·t³ and long = 1 + 20·t² for t = i/31 (head_dim 64 → 32 each). Filled on first use. */
static double toy_long[32], toy_short[32];

static void toy_factors(void) {
    for (int i = 0; i < 32; i++) {
        double t = i / 31.0;
        toy_short[i] = round((1.0 + 0.8 * t * t * t) * 1e4) / 1e4;
        toy_long[i] = round((1.0 + 20.0 * t * t) * 1e4) / 1e4;
    }
}

static const synth_preset presets[] = {
    {.name = "toy", .name_or_path = "synth-toy", .hidden = 256, .intermediate = 688, .n_layers = 3, .n_heads = 4,
     .n_kv_heads = 4, .vocab = 5000, .max_pos = 4096, .orig_max_pos = 512, .sliding_window = 4096,
     .rope_theta = 10000.0, .rms_eps = 1e-5, .init_range = 0.02, .bos = 1, .eos = 2, .pad = 2, .gen_eos = {2},
     .n_gen_eos = 1, .short_factor = toy_short, .long_factor = toy_long},
    {.name = "phi3.5-mini", .name_or_path = "synth-phi3.5-mini", .hidden = 3072, .intermediate = 8192,
     .n_layers = 32, .n_heads = 32, .n_kv_heads = 32, .vocab = 32064, .max_pos = 131072, .orig_max_pos = 4096,
     .sliding_window = 262144, .rope_theta = 10000.0, .rms_eps = 1e-5, .init_range = 0.02, .bos = 1,
     .eos = 32000, .pad = 32000, .gen_eos = {32007, 32001, 32000}, .n_gen_eos = 3, .short_factor = phi35_short,
     .long_factor = phi35_long},
};
#define N_PRESETS ((int)(sizeof presets / sizeof presets[0]))

const synth_preset *synth_find_preset(const char *name) {
    for (int i = 0; i < N_PRESETS; i++)
        if (!strcmp(presets[i].name, name)) {
            if (presets[i].short_factor == toy_short) toy_factors();
            return &presets[i];
        }
    return NULL;
}

const char *synth_preset_names(void) { return "toy, phi3.5-mini"; }

/* ---------------------------------------------------------------------------------------------------- */
/* Deterministic normal numbers                                                                         */

static uint64_t fnv1a(const char *s) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

/* Elements are generated in fixed blocks, each with its own stream keyed by (seed, tensor name, block), so
 * the bytes do not depend on the thread count, the shard layout or the order tensors are written in. */
#define SYNTH_BLOCK 65536

typedef struct {
    const char *name;
    st_dtype dtype;
    int ndim;
    int64_t shape[2];
    uint64_t numel;
    int ones;          /* RMSNorm weight: all 1 */
    int64_t zero_row;  /* embedding padding row to zero, or -1 */
    double std;
    uint64_t seed;
    int shard;
} synth_tensor;

/* Same rounding as qb_f32_to_bf16 (nearest even, NaN kept quiet), inlined: this runs 3.8 billion times for
 * the full phi3.5-mini. */
static inline uint16_t to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static inline void store(void *dst, uint64_t i, float v, st_dtype dt) {
    uint8_t *d = dst;
    if (dt == ST_BF16) {
        uint16_t h = to_bf16(v);
        memcpy(d + 2 * i, &h, 2);
    } else if (dt == ST_F16) {
        uint16_t h = qb_f32_to_f16(v);
        memcpy(d + 2 * i, &h, 2);
    } else {
        memcpy(d + 4 * i, &v, 4);
    }
}

static void gen_block(const synth_tensor *t, uint64_t b, void *dst) {
    uint64_t lo = b * SYNTH_BLOCK, hi = lo + SYNTH_BLOCK < t->numel ? lo + SYNTH_BLOCK : t->numel;
    uint64_t key = t->seed ^ fnv1a(t->name) ^ (b * 0xd1b54a32d192ed03ull);
    qb_rng r;
    qb_rng_seed(&r, key);
    for (uint64_t i = lo; i < hi; i += 2) {
        /* Marsaglia's polar method: one log and one sqrt per pair, no sin/cos (half the cost of Box–Muller). */
        double u, v, s;
        do {
            u = (double)(qb_rng_next(&r) >> 11) * 0x1p-52 - 1.0;
            v = (double)(qb_rng_next(&r) >> 11) * 0x1p-52 - 1.0;
            s = u * u + v * v;
        } while (s >= 1.0 || s == 0.0);
        double m = t->std * sqrt(-2.0 * log(s) / s);
        store(dst, i, (float)(u * m), t->dtype);
        if (i + 1 < hi) store(dst, i + 1, (float)(v * m), t->dtype);
    }
}

static qb_status synth_fill(void *ctx, void *dst, uint64_t nbytes) {
    const synth_tensor *t = ctx;
    if (nbytes != t->numel * st_dtype_size(t->dtype))
        return qb_errorf(QB_ERR_INTERNAL, "synth: %s: writer asked for %" PRIu64 " bytes", t->name, nbytes);
    if (t->ones) {
        for (uint64_t i = 0; i < t->numel; i++) store(dst, i, 1.0f, t->dtype);
        return QB_OK;
    }
    int64_t nblocks = (int64_t)((t->numel + SYNTH_BLOCK - 1) / SYNTH_BLOCK);
#pragma omp parallel for schedule(dynamic, 4)
    for (int64_t b = 0; b < nblocks; b++) gen_block(t, (uint64_t)b, dst);
    if (t->zero_row >= 0) /* transformers zeroes nn.Embedding's padding_idx row after normal_() */
        memset((uint8_t *)dst + (uint64_t)t->zero_row * (uint64_t)t->shape[1] * st_dtype_size(t->dtype), 0,
               (size_t)t->shape[1] * st_dtype_size(t->dtype));
    return QB_OK;
}

/* ---------------------------------------------------------------------------------------------------- */
/* JSON as Python's json.dumps(obj, indent=2, sort_keys=True) prints it (callers emit keys sorted).      */

typedef struct {
    FILE *f;
    char *buf;
    size_t len;
    int depth;
    int first; /* no item yet in the innermost container */
} jw;

static int jw_open(jw *w) {
    memset(w, 0, sizeof *w);
    w->f = open_memstream(&w->buf, &w->len);
    w->first = 1;
    return w->f ? 0 : -1;
}

static void jw_item(jw *w) { /* separator + newline + indent before an item */
    fprintf(w->f, "%s\n%*s", w->first ? "" : ",", 2 * w->depth, "");
    w->first = 0;
}

static void jw_key(jw *w, const char *k) {
    jw_item(w);
    fprintf(w->f, "\"%s\": ", k); /* our keys need no escaping */
}

static void jw_begin(jw *w, char c) {
    fputc(c, w->f);
    w->depth++;
    w->first = 1;
}

static void jw_end(jw *w, char c) {
    w->depth--;
    if (!w->first) fprintf(w->f, "\n%*s", 2 * w->depth, "");
    fputc(c, w->f);
    w->first = 0;
}

/* Python's repr of a float: the shortest digits that round-trip, ".0" on integral values. */
static void jw_double(jw *w, double v) {
    char s[40];
    if (v == floor(v) && fabs(v) < 1e16) {
        snprintf(s, sizeof s, "%.1f", v);
    } else {
        for (int p = 1; p <= 17; p++) {
            snprintf(s, sizeof s, "%.*g", p, v);
            if (strtod(s, NULL) == v) break;
        }
    }
    fputs(s, w->f);
}

static void jw_kint(jw *w, const char *k, long long v) {
    jw_key(w, k);
    fprintf(w->f, "%lld", v);
}
static void jw_kdouble(jw *w, const char *k, double v) {
    jw_key(w, k);
    jw_double(w, v);
}
static void jw_kstr(jw *w, const char *k, const char *v) {
    jw_key(w, k);
    fprintf(w->f, "\"%s\"", v);
}
static void jw_kbool(jw *w, const char *k, int v) {
    jw_key(w, k);
    fputs(v ? "true" : "false", w->f);
}
static void jw_kdoubles(jw *w, const char *k, const double *v, int n) {
    jw_key(w, k);
    jw_begin(w, '[');
    for (int i = 0; i < n; i++) {
        jw_item(w);
        jw_double(w, v[i]);
    }
    jw_end(w, ']');
}

/* Writes dir/name atomically (name.tmp, then rename). */
static qb_status write_file(const char *dir, const char *name, const void *data, size_t n) {
    char *path = qb_path_join(dir, name);
    if (!path) return QB_ERR_NOMEM;
    size_t pl = strlen(path);
    char *tmp = qb_malloc(pl + 5, "path");
    if (!tmp) {
        free(path);
        return QB_ERR_NOMEM;
    }
    memcpy(tmp, path, pl);
    memcpy(tmp + pl, ".tmp", 5);
    qb_status st = QB_OK;
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        st = qb_errorf(QB_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    } else {
        int bad = n && fwrite(data, 1, n, f) != n;
        if (fclose(f) != 0 || bad) st = qb_errorf(QB_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
        if (!st && rename(tmp, path) < 0)
            st = qb_errorf(QB_ERR_IO, "%s: cannot rename to %s: %s", tmp, path, strerror(errno));
        if (st) unlink(tmp);
    }
    free(tmp);
    free(path);
    return st;
}

static qb_status jw_finish(jw *w, const char *dir, const char *name) {
    fputc('\n', w->f); /* transformers appends a newline */
    if (fclose(w->f) != 0) {
        free(w->buf);
        return qb_errorf(QB_ERR_NOMEM, "synth: out of memory writing %s", name);
    }
    qb_status st = write_file(dir, name, w->buf, w->len);
    free(w->buf);
    return st;
}

static const char *torch_dtype_name(st_dtype dt) {
    return dt == ST_BF16 ? "bfloat16" : dt == ST_F16 ? "float16" : "float32";
}

static qb_status write_config(const synth_preset *p, int layers, st_dtype dt, const char *dir) {
    jw w;
    if (jw_open(&w)) return qb_errorf(QB_ERR_NOMEM, "synth: out of memory");
    int half = p->hidden / p->n_heads / 2;
    jw_begin(&w, '{');
    jw_kstr(&w, "_name_or_path", p->name_or_path);
    jw_key(&w, "architectures");
    jw_begin(&w, '[');
    jw_item(&w);
    fputs("\"Phi3ForCausalLM\"", w.f);
    jw_end(&w, ']');
    jw_kbool(&w, "attention_bias", 0);
    jw_kdouble(&w, "attention_dropout", 0.0);
    jw_kint(&w, "bos_token_id", p->bos);
    jw_kdouble(&w, "embd_pdrop", 0.0);
    jw_kint(&w, "eos_token_id", p->eos);
    jw_kstr(&w, "hidden_act", "silu");
    jw_kint(&w, "hidden_size", p->hidden);
    jw_kdouble(&w, "initializer_range", p->init_range);
    jw_kint(&w, "intermediate_size", p->intermediate);
    jw_kint(&w, "max_position_embeddings", p->max_pos);
    jw_kstr(&w, "model_type", "phi3");
    jw_kint(&w, "num_attention_heads", p->n_heads);
    jw_kint(&w, "num_hidden_layers", layers);
    jw_kint(&w, "num_key_value_heads", p->n_kv_heads);
    jw_kint(&w, "original_max_position_embeddings", p->orig_max_pos);
    jw_kint(&w, "pad_token_id", p->pad);
    jw_kdouble(&w, "resid_pdrop", 0.0);
    jw_kdouble(&w, "rms_norm_eps", p->rms_eps);
    jw_key(&w, "rope_scaling");
    jw_begin(&w, '{');
    jw_kdoubles(&w, "long_factor", p->long_factor, half);
    jw_kdoubles(&w, "short_factor", p->short_factor, half);
    jw_kstr(&w, "type", "longrope");
    jw_end(&w, '}');
    jw_kdouble(&w, "rope_theta", p->rope_theta);
    jw_kint(&w, "sliding_window", p->sliding_window);
    jw_kbool(&w, "tie_word_embeddings", 0);
    jw_kstr(&w, "torch_dtype", torch_dtype_name(dt));
    jw_kstr(&w, "transformers_version", "4.43.3"); /* the version Phi-3.5-mini-instruct was saved with */
    jw_kbool(&w, "use_cache", 1);
    jw_kint(&w, "vocab_size", p->vocab);
    jw_end(&w, '}');
    return jw_finish(&w, dir, "config.json");
}

static qb_status write_generation_config(const synth_preset *p, const char *dir) {
    jw w;
    if (jw_open(&w)) return qb_errorf(QB_ERR_NOMEM, "synth: out of memory");
    jw_begin(&w, '{');
    jw_kbool(&w, "_from_model_config", 1);
    jw_kint(&w, "bos_token_id", p->bos);
    if (p->n_gen_eos == 1) {
        jw_kint(&w, "eos_token_id", p->gen_eos[0]);
    } else {
        jw_key(&w, "eos_token_id");
        jw_begin(&w, '[');
        for (int i = 0; i < p->n_gen_eos; i++) {
            jw_item(&w);
            fprintf(w.f, "%d", p->gen_eos[i]);
        }
        jw_end(&w, ']');
    }
    jw_kint(&w, "pad_token_id", p->pad);
    jw_kstr(&w, "transformers_version", "4.43.3");
    jw_end(&w, '}');
    return jw_finish(&w, dir, "generation_config.json");
}

/* ---------------------------------------------------------------------------------------------------- */
/* Output directory                                                                                     */

static qb_status make_dirs(const char *dir) {
    char *p = strdup(dir);
    if (!p) return qb_errorf(QB_ERR_NOMEM, "synth: out of memory");
    qb_status st = QB_OK;
    for (char *s = p + 1;; s++) {
        if (*s == '/' || !*s) {
            char c = *s;
            *s = 0;
            if (mkdir(p, 0755) < 0 && errno != EEXIST) {
                st = qb_errorf(QB_ERR_IO, "%s: cannot create directory: %s", p, strerror(errno));
                break;
            }
            *s = c;
            if (!c) break;
        }
    }
    free(p);
    if (!st && !qb_dir_exists(dir)) st = qb_errorf(QB_ERR_INPUT, "%s: exists and is not a directory", dir);
    return st;
}

/* The files a previous synth may have left: removed under --force so no stale shard or index remains. */
static int is_ours(const char *name) {
    static const char *const pats[] = {"config.json", "generation_config.json", "tokenizer.json",
                                       "model.safetensors", "model.safetensors.index.json",
                                       "model-[0-9][0-9][0-9][0-9][0-9]-of-[0-9][0-9][0-9][0-9][0-9].safetensors",
                                       NULL};
    for (const char *const *p = pats; *p; p++)
        if (!fnmatch(*p, name, 0)) return 1;
    return 0;
}

static qb_status prepare_dir(const char *dir, int force) {
    qb_status st = make_dirs(dir);
    if (st) return st;
    DIR *d = opendir(dir);
    if (!d) return qb_errorf(QB_ERR_IO, "%s: cannot read directory: %s", dir, strerror(errno));
    int nonempty = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        nonempty = 1;
        if (!force) break;
        if (is_ours(e->d_name)) {
            char *p = qb_path_join(dir, e->d_name);
            if (!p) {
                st = QB_ERR_NOMEM;
                break;
            }
            if (unlink(p) < 0) st = qb_errorf(QB_ERR_IO, "%s: cannot remove: %s", p, strerror(errno));
            free(p);
            if (st) break;
        }
    }
    closedir(d);
    if (!st && nonempty && !force)
        st = qb_errorf(QB_ERR_INPUT, "%s: directory is not empty (use --force to overwrite)", dir);
    return st;
}

/* Copies the tokenizer after checking it is JSON; warns when its ids do not fit the vocabulary. */
static qb_status copy_tokenizer(const char *src, const char *dir, int vocab, int quiet) {
    char *text;
    size_t len;
    qb_status st = qb_read_file(src, &text, &len, (size_t)1 << 30);
    if (st) return st;
    cJSON *root = cJSON_ParseWithLength(text, len);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        free(text);
        return qb_errorf(QB_ERR_INPUT, "%s: not a tokenizer.json (not a JSON object)", src);
    }
    int max_id = -1;
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    const cJSON *v = model ? cJSON_GetObjectItemCaseSensitive(model, "vocab") : NULL;
    for (const cJSON *e = v ? v->child : NULL; e; e = e->next)
        if (cJSON_IsNumber(e) && e->valuedouble > max_id) max_id = (int)e->valuedouble;
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    for (const cJSON *e = added ? added->child : NULL; e; e = e->next) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "id");
        if (cJSON_IsNumber(id) && id->valuedouble > max_id) max_id = (int)id->valuedouble;
    }
    cJSON_Delete(root);
    if (!quiet && max_id >= vocab)
        fprintf(stderr, "synth: warning: %s has token ids up to %d but vocab_size is %d\n", src, max_id, vocab);
    st = write_file(dir, "tokenizer.json", text, len);
    free(text);
    return st;
}

/* ---------------------------------------------------------------------------------------------------- */
/* The checkpoint                                                                                       */

typedef struct {
    synth_tensor *t;
    int n;
    char **names; /* owned */
} tensor_list;

static void list_free(tensor_list *l) {
    for (int i = 0; i < l->n; i++) free(l->names[i]);
    free(l->names);
    free(l->t);
}

static qb_status list_add(tensor_list *l, const char *name, int64_t rows, int64_t cols, int ones) {
    synth_tensor *t = &l->t[l->n];
    memset(t, 0, sizeof *t);
    if (!(l->names[l->n] = strdup(name))) return qb_errorf(QB_ERR_NOMEM, "synth: out of memory");
    t->name = l->names[l->n];
    t->ndim = cols ? 2 : 1;
    t->shape[0] = rows;
    t->shape[1] = cols;
    t->numel = (uint64_t)rows * (uint64_t)(cols ? cols : 1);
    t->ones = ones;
    t->zero_row = -1;
    l->n++;
    return QB_OK;
}

/* Phi3ForCausalLM's state_dict order (module definition order), which decides the sharding. */
static qb_status build_list(const synth_preset *p, int layers, tensor_list *l) {
    int hd = p->hidden / p->n_heads;
    int cap = 3 + 6 * layers;
    l->t = qb_calloc((size_t)cap, sizeof *l->t, "synth tensor list");
    l->names = qb_calloc((size_t)cap, sizeof *l->names, "synth tensor list");
    if (!l->t || !l->names) return QB_ERR_NOMEM;
    qb_status st;
    char name[128];
    if ((st = list_add(l, "model.embed_tokens.weight", p->vocab, p->hidden, 0))) return st;
    l->t[l->n - 1].zero_row = p->pad >= 0 && p->pad < p->vocab ? p->pad : -1;
    for (int i = 0; i < layers; i++) {
        const struct {
            const char *suffix;
            int64_t rows, cols;
            int ones;
        } parts[6] = {
            {"self_attn.o_proj.weight", p->hidden, (int64_t)p->n_heads * hd, 0},
            {"self_attn.qkv_proj.weight", (int64_t)(p->n_heads + 2 * p->n_kv_heads) * hd, p->hidden, 0},
            {"mlp.gate_up_proj.weight", 2 * (int64_t)p->intermediate, p->hidden, 0},
            {"mlp.down_proj.weight", p->hidden, p->intermediate, 0},
            {"input_layernorm.weight", p->hidden, 0, 1},
            {"post_attention_layernorm.weight", p->hidden, 0, 1},
        };
        for (int k = 0; k < 6; k++) {
            snprintf(name, sizeof name, "model.layers.%d.%s", i, parts[k].suffix);
            if ((st = list_add(l, name, parts[k].rows, parts[k].cols, parts[k].ones))) return st;
        }
    }
    if ((st = list_add(l, "model.norm.weight", p->hidden, 0, 1))) return st;
    return list_add(l, "lm_head.weight", p->vocab, p->hidden, 0);
}

static int cmp_by_name(const void *a, const void *b) {
    return strcmp((*(synth_tensor *const *)a)->name, (*(synth_tensor *const *)b)->name);
}

static void shard_name(char *out, size_t n, int k, int n_shards) {
    if (n_shards == 1) snprintf(out, n, "model.safetensors");
    else snprintf(out, n, "model-%05d-of-%05d.safetensors", k + 1, n_shards);
}

static qb_status write_shard(const tensor_list *l, int k, int n_shards, const char *dir, int quiet) {
    /* safetensors (the Rust library) orders a file's tensors by name; so do we, for identical layouts. */
    synth_tensor **idx = qb_malloc((size_t)l->n * sizeof *idx, "synth shard");
    if (!idx) return QB_ERR_NOMEM;
    int m = 0;
    uint64_t bytes = 0;
    for (int i = 0; i < l->n; i++)
        if (l->t[i].shard == k) {
            idx[m++] = &l->t[i];
            bytes += l->t[i].numel * st_dtype_size(l->t[i].dtype);
        }
    qsort(idx, (size_t)m, sizeof *idx, cmp_by_name);
    char fname[64];
    shard_name(fname, sizeof fname, k, n_shards);
    char *path = qb_path_join(dir, fname);
    st_writer *w = st_writer_new();
    qb_status st = (!path || !w) ? QB_ERR_NOMEM : st_writer_meta(w, "format", "pt");
    for (int i = 0; i < m && !st; i++)
        st = st_writer_add_lazy(w, idx[i]->name, idx[i]->dtype, idx[i]->ndim, idx[i]->shape, synth_fill, idx[i]);
    if (!st) {
        if (!quiet) fprintf(stderr, "synth: writing %s (%d tensors, %.2f GB)\n", path, m, bytes / 1e9);
        st = st_writer_finish(w, path);
    }
    st_writer_free(w);
    free(path);
    free(idx);
    return st;
}

static qb_status write_index(const tensor_list *l, int n_shards, uint64_t total, const char *dir) {
    synth_tensor **idx = qb_malloc((size_t)l->n * sizeof *idx, "synth index");
    jw w;
    if (!idx || jw_open(&w)) {
        free(idx);
        return qb_errorf(QB_ERR_NOMEM, "synth: out of memory");
    }
    for (int i = 0; i < l->n; i++) idx[i] = &l->t[i];
    qsort(idx, (size_t)l->n, sizeof *idx, cmp_by_name);
    jw_begin(&w, '{');
    jw_key(&w, "metadata");
    jw_begin(&w, '{');
    jw_kint(&w, "total_size", (long long)total);
    jw_end(&w, '}');
    jw_key(&w, "weight_map");
    jw_begin(&w, '{');
    char fname[64];
    for (int i = 0; i < l->n; i++) {
        shard_name(fname, sizeof fname, idx[i]->shard, n_shards);
        jw_kstr(&w, idx[i]->name, fname);
    }
    jw_end(&w, '}');
    jw_end(&w, '}');
    free(idx);
    return jw_finish(&w, dir, "model.safetensors.index.json");
}

qb_status synth_write(const synth_options *o, synth_result *res) {
    if (res) memset(res, 0, sizeof *res);
    if (!o->preset) return qb_errorf(QB_ERR_INPUT, "synth: no preset given (%s)", synth_preset_names());
    const synth_preset *p = synth_find_preset(o->preset);
    if (!p) return qb_errorf(QB_ERR_INPUT, "synth: unknown preset '%s' (known: %s)", o->preset, synth_preset_names());
    if (!o->out_dir || !*o->out_dir) return qb_errorf(QB_ERR_INPUT, "synth: no output directory given");
    if (o->dtype != ST_BF16 && o->dtype != ST_F16 && o->dtype != ST_F32)
        return qb_errorf(QB_ERR_INPUT, "synth: dtype %s not supported (bf16, f16 or f32)", st_dtype_name(o->dtype));
    int layers = o->layers ? o->layers : p->n_layers;
    if (layers < 1 || layers > 10000) return qb_errorf(QB_ERR_INPUT, "synth: %d layers is out of range", layers);
    if (o->tokenizer && !qb_file_exists(o->tokenizer))
        return qb_errorf(QB_ERR_INPUT, "%s: tokenizer file not found", o->tokenizer);
    uint64_t shard_max = o->shard_size ? o->shard_size : SYNTH_DEFAULT_SHARD;

    tensor_list l = {0};
    qb_status st = build_list(p, layers, &l);
    if (st) goto done;
    /* huggingface_hub's split_state_dict_into_shards (what save_pretrained uses): greedy in state_dict
     * order; a tensor larger than the limit is appended at once as a shard of its own while the current
     * shard stays open, so shard numbers follow the order shards are closed. */
    int next = 0, cur_first = 0; /* the open shard holds tensors cur_first.. with shard == -1 */
    uint64_t cur = 0, total = 0, params = 0;
    for (int i = 0; i < l.n; i++) {
        synth_tensor *t = &l.t[i];
        t->dtype = o->dtype;
        t->std = p->init_range;
        t->seed = o->seed;
        uint64_t b = t->numel * st_dtype_size(o->dtype);
        total += b;
        params += t->numel;
        if (b > shard_max) {
            t->shard = next++;
            continue;
        }
        if (cur + b > shard_max) { /* close the open shard */
            for (int k = cur_first; k < i; k++)
                if (l.t[k].shard < 0) l.t[k].shard = next;
            next++;
            cur = 0;
            cur_first = i;
        }
        t->shard = -1;
        cur += b;
    }
    int open_used = 0;
    for (int k = cur_first; k < l.n; k++)
        if (l.t[k].shard < 0) {
            l.t[k].shard = next;
            open_used = 1;
        }
    int n_shards = next + open_used;
    if (n_shards > 99999) {
        st = qb_errorf(QB_ERR_INPUT, "synth: --shard-size %" PRIu64 " would need %d shards", shard_max, n_shards);
        goto done;
    }

    if ((st = prepare_dir(o->out_dir, o->force))) goto done;
    if ((st = write_config(p, layers, o->dtype, o->out_dir))) goto done;
    if ((st = write_generation_config(p, o->out_dir))) goto done;
    if (o->tokenizer && (st = copy_tokenizer(o->tokenizer, o->out_dir, p->vocab, o->quiet))) goto done;
    if (o->config_only) n_shards = 0;
    for (int k = 0; k < n_shards && !st; k++) st = write_shard(&l, k, n_shards, o->out_dir, o->quiet);
    if (st) goto done;
    if (n_shards > 1 && (st = write_index(&l, n_shards, total, o->out_dir))) goto done;
    if (res) {
        res->n_tensors = l.n;
        res->n_shards = n_shards;
        res->total_bytes = total;
        res->n_params = params;
    }
done:
    list_free(&l);
    return st;
}

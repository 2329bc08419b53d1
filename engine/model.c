/* model.c — Phi3ForCausalLM as transformers implements it: loading a checkpoint directory into coded
 * weights, the KV cache, and the forward pass, which reads top to bottom:
 *
 *   embed → per layer: RMSNorm → qkv_proj → RoPE (rotate_half, LongRoPE) → causal attention with grouped
 *   KV heads → o_proj → residual → RMSNorm → gate_up_proj → silu(gate)·up → down_proj → residual
 *   → final RMSNorm → lm_head
 *
 * Every weight product goes through codec_matmul, so the forward pass never knows which codec it runs. */
#include "model.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attention.h"
#include "checkpoint.h"

/* ---------------------------------------------------------------------------------------------------- */
/* KV modes */

static const char *kv_names[KV_MODE_COUNT] = {"f32", "f16", "qins-v"};

const char *kv_mode_name(kv_mode m) { return (m >= 0 && m < KV_MODE_COUNT) ? kv_names[m] : "?"; }

qb_status kv_mode_parse(const char *s, kv_mode *out) {
    for (int i = 0; i < KV_MODE_COUNT; i++)
        if (!strcmp(s, kv_names[i])) {
            *out = (kv_mode)i;
            return QB_OK;
        }
    return qb_errorf(QB_ERR_INPUT, "kv mode \"%s\" is not one of f32, f16, qins-v", s);
}

/* ---------------------------------------------------------------------------------------------------- */
/* Loading */

/* Rows converted per chunk: bounded so a chunk of f32 scratch stays a few MB whatever the tensor. */
#define LOAD_CHUNK_BYTES (8u << 20)

static qb_status find_tensor(const Checkpoint *ck, const char *name, int64_t rows, int64_t cols,
                             const st_tensor **out, const st_file **file) {
    const st_tensor *t = ckpt_find(ck, name, file);
    if (!t) return qb_errorf(QB_ERR_INPUT, "%s: missing tensor %s", ck->dir, name);
    if (t->dtype != ST_F32 && t->dtype != ST_F16 && t->dtype != ST_BF16)
        return qb_errorf(QB_ERR_UNSUPPORTED, "%s: tensor %s has dtype %s (F32, F16 or BF16 only)", (*file)->path,
                         name, st_dtype_name(t->dtype));
    int ok = cols > 0 ? (t->ndim == 2 && t->shape[0] == rows && t->shape[1] == cols)
                      : (t->ndim == 1 && t->shape[0] == rows);
    if (!ok) {
        char got[128] = "";
        size_t k = 0;
        for (int i = 0; i < t->ndim && k < sizeof got - 24; i++)
            k += (size_t)snprintf(got + k, sizeof got - k, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
        if (cols > 0)
            return qb_errorf(QB_ERR_INPUT, "%s: tensor %s has shape [%s], config.json implies [%lld, %lld]",
                             (*file)->path, name, got, (long long)rows, (long long)cols);
        return qb_errorf(QB_ERR_INPUT, "%s: tensor %s has shape [%s], config.json implies [%lld]", (*file)->path,
                         name, got, (long long)rows);
    }
    *out = t;
    return QB_OK;
}

/* Converts a checkpoint tensor into coded storage chunk by chunk, so neither a second full copy of the
 * tensor nor the mapped source stays resident. */
static qb_status load_matrix(const Checkpoint *ck, const char *name, int64_t rows, int64_t cols, codec_id id,
                             const CodecParams *params, CodedTensor *out) {
    const st_tensor *t;
    const st_file *f;
    qb_status st = find_tensor(ck, name, rows, cols, &t, &f);
    if (st) return st;
    /* the spec's options (scale=, round=) belong to its codec; tensors left in another codec ignore them */
    const int scale_per_tensor = codec_params_need_absmax(params);
    int64_t chunk_rows = (int64_t)(LOAD_CHUNK_BYTES / ((uint64_t)cols * sizeof(float)));
    if (chunk_rows < 1) chunk_rows = 1;
    if (chunk_rows > rows) chunk_rows = rows;
    float *buf = qb_malloc((size_t)chunk_rows * (size_t)cols * sizeof(float), name);
    if (!buf) return QB_ERR_NOMEM;
    float absmax = 0.0f;
    if (scale_per_tensor) { /* a first pass for the tensor-wide scale */
        for (int64_t r = 0; r < rows; r += chunk_rows) {
            int64_t nr = rows - r < chunk_rows ? rows - r : chunk_rows;
            if ((st = st_to_f32(t, (uint64_t)(r * cols), (uint64_t)(nr * cols), buf))) goto fail;
            for (int64_t i = 0; i < nr * cols; i++) absmax = fmaxf(absmax, fabsf(buf[i]));
        }
    }
    if ((st = codec_tensor_init(out, id, params, rows, cols, absmax))) goto fail;
    for (int64_t r = 0; r < rows; r += chunk_rows) {
        int64_t nr = rows - r < chunk_rows ? rows - r : chunk_rows;
        if ((st = st_to_f32(t, (uint64_t)(r * cols), (uint64_t)(nr * cols), buf))) goto fail;
        if ((st = codec_encode_rows(out, r, nr, buf))) {
            qb_error_prefix(name);
            qb_error_prefix(f->path);
            codec_tensor_free(out);
            goto fail;
        }
    }
    free(buf);
    st_release(f, t);
    return QB_OK;
fail:
    free(buf);
    return st;
}

static qb_status load_vector(const Checkpoint *ck, const char *name, int64_t n, float **out) {
    const st_tensor *t;
    const st_file *f;
    qb_status st = find_tensor(ck, name, n, 0, &t, &f);
    if (st) return st;
    float *v = qb_malloc((size_t)n * sizeof(float), name);
    if (!v) return QB_ERR_NOMEM;
    if ((st = st_to_f32(t, 0, (uint64_t)n, v))) {
        free(v);
        return st;
    }
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(v[i])) {
            free(v);
            return qb_errorf(QB_ERR_INPUT, "%s: tensor %s holds a NaN or Inf at index %lld", f->path, name,
                             (long long)i);
        }
    *out = v;
    return QB_OK;
}

int codec_has_tensor_scale(codec_id id) {
    return (codec_table[id].options & CODEC_OPT_SCALE) != 0;
}

/* Bytes at rest of a [rows, cols] tensor under a codec, as codec_tensor_init lays it out: whole blocks per
 * row (the last one zero-padded) and an f32 scale per row where the codec has one. */
static uint64_t shape_bytes(codec_id id, int64_t rows, int64_t cols) {
    const codec_traits *tr = &codec_table[id];
    uint64_t blocks = (uint64_t)((cols + tr->block_size - 1) / tr->block_size);
    return (uint64_t)rows * (blocks * tr->block_bytes + (tr->has_row_scale ? sizeof(float) : 0));
}

void model_bytes_for_config(const Config *c, const CodecSpec *spec, WeightBytes *b) {
    memset(b, 0, sizeof *b);
    const int64_t H = c->hidden, NI = c->intermediate, hd = c->head_dim, L = c->n_layers, V = c->vocab;
    const int64_t qkv_rows = (int64_t)(c->n_heads + 2 * c->n_kv_heads) * hd;
    codec_id attn = codec_for_group(spec, CODEC_GROUP_ATTN), mlp = codec_for_group(spec, CODEC_GROUP_MLP);
    codec_id emb = codec_for_group(spec, CODEC_GROUP_EMBED), head = codec_for_group(spec, CODEC_GROUP_LM_HEAD);
    b->attn = (uint64_t)L * (shape_bytes(attn, qkv_rows, H) + shape_bytes(attn, H, (int64_t)c->n_heads * hd));
    b->n_params_attn = (uint64_t)L * (uint64_t)(qkv_rows * H + H * c->n_heads * hd);
    b->mlp = (uint64_t)L * (shape_bytes(mlp, 2 * NI, H) + shape_bytes(mlp, H, NI));
    b->n_params_mlp = (uint64_t)L * (uint64_t)(3 * NI * H);
    b->norms = (uint64_t)(2 * L + 1) * (uint64_t)H * sizeof(float);
    b->n_params_norms = (uint64_t)(2 * L + 1) * (uint64_t)H;
    b->embed = shape_bytes(emb, V, H);
    b->n_params_embed = (uint64_t)(V * H);
    int aliased = c->tie_embeddings && head == emb;
    b->lm_head = aliased ? 0 : shape_bytes(head, V, H);
    b->n_params_lm_head = aliased ? 0 : (uint64_t)(V * H);
}

static void count_bytes(Model *m) {
    WeightBytes *b = &m->bytes;
    memset(b, 0, sizeof *b);
    const Config *c = &m->config;
    for (int l = 0; l < c->n_layers; l++) {
        const LayerWeights *L = &m->w.layers[l];
        b->attn += codec_tensor_bytes(&L->qkv) + codec_tensor_bytes(&L->o);
        b->n_params_attn += (uint64_t)(L->qkv.rows * L->qkv.cols + L->o.rows * L->o.cols);
        b->mlp += codec_tensor_bytes(&L->gate_up) + codec_tensor_bytes(&L->down);
        b->n_params_mlp += (uint64_t)(L->gate_up.rows * L->gate_up.cols + L->down.rows * L->down.cols);
        b->norms += 2u * (uint64_t)c->hidden * sizeof(float);
        b->n_params_norms += 2u * (uint64_t)c->hidden;
    }
    b->norms += (uint64_t)c->hidden * sizeof(float);
    b->n_params_norms += (uint64_t)c->hidden;
    b->embed = codec_tensor_bytes(&m->w.embed);
    b->n_params_embed = (uint64_t)c->vocab * (uint64_t)c->hidden;
    /* A tied lm_head that shares the embedding's codes costs nothing extra (and has no parameters of its
     * own, as transformers counts them). */
    b->lm_head = m->w.lm_head_aliases_embed ? 0 : codec_tensor_bytes(&m->w.lm_head);
    b->n_params_lm_head = m->w.lm_head_aliases_embed ? 0 : (uint64_t)c->vocab * (uint64_t)c->hidden;
}

qb_status model_load(const char *dir, const ModelOptions *opt, Model *m) {
    memset(m, 0, sizeof *m);
    qb_status st;
    const char *codec_text = opt && opt->codec ? opt->codec : "fp32";
    const char *kv_text = opt && opt->kv ? opt->kv : "f32";
    if ((st = codec_spec_parse(codec_text, &m->codec))) return st;
    if ((st = kv_mode_parse(kv_text, &m->kv))) return st;
    if ((st = config_load(dir, &m->config))) return st;
    const Config *c = &m->config;
    m->dir = strdup(dir);
    m->threads = opt && opt->threads > 0 ? opt->threads : omp_get_num_procs();
    m->rope_recompute = opt ? opt->rope_recompute : 0;
    m->ctx = opt && opt->ctx > 0 ? opt->ctx : (c->max_pos < 4096 ? c->max_pos : 4096);
    if (m->ctx > c->max_pos) {
        config_free(&m->config);
        free(m->dir);
        return qb_errorf(QB_ERR_INPUT, "context %d exceeds max_position_embeddings %d of %s", m->ctx, c->max_pos, dir);
    }
    openblas_set_num_threads(m->threads);

    Checkpoint ck;
    if ((st = ckpt_open(dir, &ck))) {
        config_free(&m->config);
        free(m->dir);
        return st;
    }
    if ((st = ckpt_check_unused(&ck, c))) goto fail; /* parsers helper (issue 13): tensors the config ignores */
    const int64_t H = c->hidden, NI = c->intermediate, hd = c->head_dim;
    const int64_t qkv_rows = (int64_t)(c->n_heads + 2 * c->n_kv_heads) * hd;
    const CodecSpec *cs = &m->codec;
    char name[160];
    m->w.layers = qb_calloc((size_t)c->n_layers, sizeof(LayerWeights), "layers");
    if (!m->w.layers) {
        st = QB_ERR_NOMEM;
        goto fail;
    }
    if ((st = load_matrix(&ck, "model.embed_tokens.weight", c->vocab, H, codec_for_group(cs, CODEC_GROUP_EMBED),
                          codec_params_for(cs, codec_for_group(cs, CODEC_GROUP_EMBED)), &m->w.embed)))
        goto fail;
    for (int l = 0; l < c->n_layers; l++) {
        LayerWeights *L = &m->w.layers[l];
        codec_id attn = codec_for_group(cs, CODEC_GROUP_ATTN), mlp = codec_for_group(cs, CODEC_GROUP_MLP);
#define LAYER_NAME(suffix) (snprintf(name, sizeof name, "model.layers.%d.%s", l, suffix), name)
        if ((st = load_vector(&ck, LAYER_NAME("input_layernorm.weight"), H, &L->ln1)) ||
            (st = load_matrix(&ck, LAYER_NAME("self_attn.qkv_proj.weight"), qkv_rows, H, attn, codec_params_for(cs, attn), &L->qkv)) ||
            (st = load_matrix(&ck, LAYER_NAME("self_attn.o_proj.weight"), H, (int64_t)c->n_heads * hd, attn, codec_params_for(cs, attn),
                              &L->o)) ||
            (st = load_vector(&ck, LAYER_NAME("post_attention_layernorm.weight"), H, &L->ln2)) ||
            (st = load_matrix(&ck, LAYER_NAME("mlp.gate_up_proj.weight"), 2 * NI, H, mlp, codec_params_for(cs, mlp), &L->gate_up)) ||
            (st = load_matrix(&ck, LAYER_NAME("mlp.down_proj.weight"), H, NI, mlp, codec_params_for(cs, mlp), &L->down)))
            goto fail;
#undef LAYER_NAME
    }
    if ((st = load_vector(&ck, "model.norm.weight", H, &m->w.norm))) goto fail;
    codec_id head_codec = codec_for_group(cs, CODEC_GROUP_LM_HEAD);
    if (c->tie_embeddings) {
        /* transformers ties lm_head to the embedding (whatever lm_head.weight a file may also hold). Share
         * the codes when both groups use the same codec; otherwise code the embedding a second time. */
        if (head_codec == m->w.embed.id) {
            m->w.lm_head = m->w.embed;
            m->w.lm_head_aliases_embed = 1;
        } else if ((st = load_matrix(&ck, "model.embed_tokens.weight", c->vocab, H, head_codec, codec_params_for(cs, head_codec), &m->w.lm_head))) {
            goto fail;
        }
    } else if ((st = load_matrix(&ck, "lm_head.weight", c->vocab, H, head_codec, codec_params_for(cs, head_codec), &m->w.lm_head))) {
        goto fail;
    }
    ckpt_close(&ck);
    count_bytes(m);
    return QB_OK;
fail:
    ckpt_close(&ck);
    model_free(m);
    return st;
}

void model_free(Model *m) {
    if (m->w.layers) {
        for (int l = 0; l < m->config.n_layers; l++) {
            LayerWeights *L = &m->w.layers[l];
            codec_tensor_free(&L->qkv);
            codec_tensor_free(&L->o);
            codec_tensor_free(&L->gate_up);
            codec_tensor_free(&L->down);
            free(L->ln1);
            free(L->ln2);
        }
    }
    free(m->w.layers);
    if (!m->w.lm_head_aliases_embed) codec_tensor_free(&m->w.lm_head);
    codec_tensor_free(&m->w.embed);
    free(m->w.norm);
    config_free(&m->config);
    free(m->dir);
    memset(m, 0, sizeof *m);
}

/* ---------------------------------------------------------------------------------------------------- */
/* Run state and KV cache */

static size_t kv_elem_bytes_k(kv_mode kv) { return kv == KV_F32 ? 4 : 2; }
static size_t kv_elem_bytes_v(kv_mode kv) { return kv == KV_F32 ? 4 : 2; /* qins-v: uint8 + int8 sign */ }

/* Attention scratch per thread, in floats: ATTN_ROWS rows of scores indexed by position (ctx each), their
 * mix accumulators (hd each), and 16 positions of keys or values converted to f32 (16·hd) when the cache is
 * not f32 (see attention()). */
static uint64_t att_scratch_floats(int ctx, int hd) {
    return (uint64_t)ATTN_ROWS * ((uint64_t)ctx + (uint64_t)hd) + 16 * (uint64_t)hd;
}

/* Floats per row of each activation buffer, in BatchScratch's order. */
static void act_row_floats(const Config *c, size_t out[9]) {
    size_t hd = (size_t)c->head_dim;
    size_t v[9] = {(size_t)c->hidden, (size_t)c->hidden, (size_t)(c->n_heads + 2 * c->n_kv_heads) * hd,
                   (size_t)c->n_heads * hd, (size_t)c->hidden, 2 * (size_t)c->intermediate,
                   (size_t)c->intermediate, (size_t)c->rotary_dim / 2, (size_t)c->rotary_dim / 2};
    memcpy(out, v, sizeof v);
}

uint64_t batch_scratch_bytes(const Config *c, int threads, int ctx, int rows) {
    size_t per[9];
    act_row_floats(c, per);
    uint64_t row = 2 * sizeof(int);
    for (int i = 0; i < 9; i++) row += per[i] * sizeof(float);
    uint64_t att = (uint64_t)threads * att_scratch_floats(ctx, c->head_dim) * sizeof(float);
    return (uint64_t)rows * row + att;
}

/* Grows the activations to n rows, and the attention scratch to the model's thread count and context. */
static qb_status ensure_cap(BatchScratch *a, const Model *m, int n) {
    const Config *c = &m->config;
    if (m->threads > a->att_threads || m->ctx > a->att_ctx) {
        free(a->att);
        a->att_threads = a->att_ctx = 0;
        a->att = qb_calloc((size_t)m->threads, (size_t)att_scratch_floats(m->ctx, c->head_dim) * sizeof(float),
                           "attention scratch");
        if (!a->att) return QB_ERR_NOMEM;
        a->att_threads = m->threads;
        a->att_ctx = m->ctx;
    }
    if (n <= a->cap) return QB_OK;
    size_t N = (size_t)n, per[9];
    act_row_floats(c, per);
    float **bufs[9] = {&a->x, &a->xb, &a->qkv, &a->att_out, &a->xb2, &a->hb, &a->hb2, &a->cos, &a->sin};
    free(a->row_seq);
    free(a->row_pos);
    a->row_seq = qb_malloc(N * sizeof(int), "row map");
    a->row_pos = qb_malloc(N * sizeof(int), "row map");
    if (!a->row_seq || !a->row_pos) {
        a->cap = 0;
        return QB_ERR_NOMEM;
    }
    for (size_t i = 0; i < 9; i++) {
        size_t bytes;
        free(*bufs[i]);
        *bufs[i] = NULL;
        if (qb_mul_overflow(N, per[i] * sizeof(float), &bytes)) {
            a->cap = 0;
            return qb_errorf(QB_ERR_INPUT, "a forward of %d tokens is too large", n);
        }
        *bufs[i] = qb_aligned_alloc(bytes, "activations");
        if (!*bufs[i]) {
            a->cap = 0;
            return QB_ERR_NOMEM;
        }
    }
    a->cap = n;
    return QB_OK;
}

qb_status batch_scratch_build(BatchScratch *a, const Model *m, int rows) {
    memset(a, 0, sizeof *a);
    qb_status st = ensure_cap(a, m, rows > 0 ? rows : 1);
    if (st) batch_scratch_free(a);
    return st;
}

void batch_scratch_free(BatchScratch *a) {
    float **bufs[] = {&a->x, &a->xb, &a->qkv, &a->att_out, &a->xb2, &a->hb, &a->hb2, &a->cos, &a->sin, &a->att};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(*bufs[i]);
    free(a->row_seq);
    free(a->row_pos);
    memset(a, 0, sizeof *a);
}

uint64_t runstate_kv_bytes(const Config *c, kv_mode kv, int ctx) {
    size_t kvd = (size_t)c->n_kv_heads * (size_t)c->head_dim, slots, bytes;
    if (ctx < 0 || qb_mul_overflow((size_t)c->n_layers * (size_t)ctx, kvd, &slots) ||
        qb_mul_overflow(slots, kv_elem_bytes_k(kv) + kv_elem_bytes_v(kv), &bytes))
        return 0;
    if (kv == KV_QINS_V) bytes += (size_t)c->n_layers * (size_t)ctx * (size_t)c->n_kv_heads * sizeof(float);
    return bytes;
}

qb_status runstate_build_ctx(RunState *s, const Model *m, int ctx) {
    memset(s, 0, sizeof *s);
    const Config *c = &m->config;
    if (ctx < 1 || ctx > m->ctx)
        return qb_errorf(QB_ERR_INPUT, "a run state of %d tokens: outside 1..%d (the model's context)", ctx, m->ctx);
    size_t kvd = (size_t)c->n_kv_heads * (size_t)c->head_dim, slots;
    uint64_t kv_bytes = runstate_kv_bytes(c, m->kv, ctx);
    if (!kv_bytes || qb_mul_overflow((size_t)c->n_layers * (size_t)ctx, kvd, &slots))
        return qb_errorf(QB_ERR_INPUT, "a context of %d tokens: the KV cache size overflows", ctx);
    /* A context the machine cannot hold is the caller's choice to correct, not an internal failure. */
    uint64_t phys = (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE);
    if (phys > 0 && kv_bytes > phys)
        return qb_errorf(QB_ERR_INPUT, "a context of %d tokens needs %llu bytes of KV cache, more than this machine's "
                         "%llu bytes of memory (--ctx)", ctx, (unsigned long long)kv_bytes, (unsigned long long)phys);
    s->ctx = ctx;
    s->key_cache = qb_calloc(slots, kv_elem_bytes_k(m->kv), "key cache");
    s->value_cache = qb_calloc(slots, kv_elem_bytes_v(m->kv), "value cache");
    s->kv_bytes = kv_bytes;
    if (m->kv == KV_QINS_V) {
        s->value_scale = qb_calloc((size_t)c->n_layers * (size_t)ctx * (size_t)c->n_kv_heads, sizeof(float), "value scales");
        if (!s->value_scale) goto fail;
    }
    if (!s->key_cache || !s->value_cache) goto fail;
    if (ensure_cap(&s->act, m, 1)) goto fail;
    return QB_OK;
fail:
    runstate_free(s);
    return QB_ERR_NOMEM;
}

qb_status runstate_build(RunState *s, const Model *m) { return runstate_build_ctx(s, m, m->ctx); }

void runstate_free(RunState *s) {
    batch_scratch_free(&s->act);
    free(s->key_cache);
    free(s->value_cache);
    free(s->value_scale);
    memset(s, 0, sizeof *s);
}

void runstate_reset(RunState *s) { s->pos = 0; }

qb_status runstate_truncate(RunState *s, int pos) {
    if (pos < 0 || pos > s->pos)
        return qb_errorf(QB_ERR_INPUT, "truncate: position %d outside the %d tokens in the cache", pos, s->pos);
    s->pos = pos;
    return QB_OK;
}

qb_status runstate_skip_for_timing(RunState *s, const Model *m, int pos) {
    if (pos < s->pos || pos > s->ctx)
        return qb_errorf(QB_ERR_INPUT, "skip: position %d outside %d..%d (the cache's tokens to its context)", pos,
                         s->pos, s->ctx);
    const Config *c = &m->config;
    const size_t kvd = (size_t)c->n_kv_heads * (size_t)c->head_dim, n = (size_t)(pos - s->pos);
    /* writing the entries also touches their pages, as real tokens would: a step that read never-written
     * pages would read the kernel's shared zero page, from cache */
    for (int l = 0; l < c->n_layers; l++) {
        size_t first = (size_t)l * (size_t)s->ctx + (size_t)s->pos;
        memset((char *)s->key_cache + first * kvd * kv_elem_bytes_k(m->kv), 0, n * kvd * kv_elem_bytes_k(m->kv));
        memset((char *)s->value_cache + first * kvd * kv_elem_bytes_v(m->kv), 0, n * kvd * kv_elem_bytes_v(m->kv));
        if (s->value_scale)
            memset(s->value_scale + first * (size_t)c->n_kv_heads, 0, n * (size_t)c->n_kv_heads * sizeof(float));
    }
    s->pos = pos;
    return QB_OK;
}

/* Writes one token's keys and values (kvd floats each) for one layer into the cache at position `pos`. */
static void kv_store(const Model *m, RunState *s, int layer, int pos, const float *k, const float *v) {
    const Config *c = &m->config;
    const int hd = c->head_dim;
    const size_t kvd = (size_t)c->n_kv_heads * (size_t)hd;
    size_t off = ((size_t)layer * (size_t)s->ctx + (size_t)pos) * kvd;
    switch (m->kv) {
    case KV_F32:
        memcpy((float *)s->key_cache + off, k, kvd * sizeof(float));
        memcpy((float *)s->value_cache + off, v, kvd * sizeof(float));
        break;
    case KV_F16:
    case KV_QINS_V: {
        uint16_t *kc = (uint16_t *)s->key_cache + off;
        for (size_t i = 0; i < kvd; i++) kc[i] = qb_f32_to_f16(k[i]);
        if (m->kv == KV_F16) {
            uint16_t *vc = (uint16_t *)s->value_cache + off;
            for (size_t i = 0; i < kvd; i++) vc[i] = qb_f32_to_f16(v[i]);
            break;
        }
        /* qins-v: per token and KV head, scale = max|v|; each value stored as (QINS code, sign). */
        uint8_t *vc = (uint8_t *)s->value_cache + 2 * off;
        float *scales = s->value_scale + ((size_t)layer * (size_t)s->ctx + (size_t)pos) * (size_t)c->n_kv_heads;
        for (int h = 0; h < c->n_kv_heads; h++) {
            const float *vh = v + h * hd;
            float scale = 0.0f;
            for (int i = 0; i < hd; i++) scale = fmaxf(scale, fabsf(vh[i]));
            scales[h] = scale;
            for (int i = 0; i < hd; i++) {
                vc[2 * (h * hd + i)] = codec_qins_code(fabsf(vh[i]), scale, 255);
                vc[2 * (h * hd + i) + 1] = (uint8_t)(int8_t)(vh[i] < 0 ? -1 : 1);
            }
        }
        break;
    }
    default: break;
    }
}

/* Converts one head's key or value vector at (layer, pos, kv head) of an f16 or qins-v cache to f32 in out
 * (an f32 cache is read in place by attention()). */
static void kv_key_to_f32(float *out, const Model *m, const RunState *s, int layer, int pos, int kvh) {
    const Config *c = &m->config;
    const int hd = c->head_dim;
    size_t off = ((size_t)layer * (size_t)s->ctx + (size_t)pos) * ((size_t)c->n_kv_heads * hd) + (size_t)kvh * hd;
    const uint16_t *kc = (const uint16_t *)s->key_cache + off; /* f16 in both modes */
    for (int i = 0; i < hd; i++) out[i] = qb_f16_to_f32(kc[i]);
}

static void kv_value_to_f32(float *out, const Model *m, const RunState *s, int layer, int pos, int kvh) {
    const Config *c = &m->config;
    const int hd = c->head_dim;
    size_t tok = (size_t)layer * (size_t)s->ctx + (size_t)pos;
    size_t off = tok * ((size_t)c->n_kv_heads * hd) + (size_t)kvh * hd;
    if (m->kv == KV_F16) {
        const uint16_t *vc = (const uint16_t *)s->value_cache + off;
        for (int i = 0; i < hd; i++) out[i] = qb_f16_to_f32(vc[i]);
        return;
    }
    const uint8_t *vc = (const uint8_t *)s->value_cache + 2 * off;
    float scale = s->value_scale[tok * (size_t)c->n_kv_heads + (size_t)kvh];
    for (int i = 0; i < hd; i++) {
        /* decode exactly as the weight codec does: sign · scale / stored */
        float mag = scale / (float)vc[2 * i];
        out[i] = (int8_t)vc[2 * i + 1] < 0 ? -mag : mag;
    }
}

/* ---------------------------------------------------------------------------------------------------- */
/* Layer functions (out, in…, sizes) */

/* Phi3RMSNorm: x / sqrt(mean(x²) + eps) · weight, in f32 (sum of squares accumulated in f64). */
static void rmsnorm(float *out, const float *x, const float *weight, int n, float eps) {
    double ss = 0.0;
    for (int i = 0; i < n; i++) ss += (double)x[i] * (double)x[i];
    float inv = 1.0f / sqrtf((float)(ss / n) + eps);
    for (int i = 0; i < n; i++) out[i] = weight[i] * (x[i] * inv);
}

/* cos/sin tables for positions pos0 … pos0+n−1. LongRoPE picks short or long factors by the largest
 * position in this forward (transformers: seq_len = max(position_ids) + 1 > original_max → long), and both
 * are scaled by the attention factor. inv_freq is computed in f32 as transformers does. */
static void rope_tables(float *cos_out, float *sin_out, const Config *c, int pos0, int n) {
    const int half = c->rotary_dim / 2;
    const float *ext = NULL;
    if (c->longrope) ext = (pos0 + n > c->orig_max_pos) ? c->long_factor : c->short_factor;
    float af = (float)c->attention_factor;
    for (int i = 0; i < half; i++) {
        float expo = (float)(2 * i) / (float)c->rotary_dim;
        float base_pow = (float)pow(c->rope_theta, (double)expo);
        float inv_freq = 1.0f / (ext ? ext[i] * base_pow : base_pow);
        for (int t = 0; t < n; t++) {
            float freq = (float)(pos0 + t) * inv_freq;
            cos_out[(size_t)t * half + i] = (float)cos((double)freq) * af;
            sin_out[(size_t)t * half + i] = (float)sin((double)freq) * af;
        }
    }
}

/* rotate_half convention on the first rotary_dim dims of one head vector. */
static void rope_apply(float *v, const float *cos_t, const float *sin_t, int rotary_dim) {
    const int half = rotary_dim / 2;
    for (int i = 0; i < half; i++) {
        float x1 = v[i], x2 = v[i + half];
        v[i] = x1 * cos_t[i] - x2 * sin_t[i];
        v[i + half] = x2 * cos_t[i] + x1 * sin_t[i];
    }
}

/* out[T, NI] = silu(gate) · up, where gate_up[T, 2I] holds gate then up. */
static void swiglu(float *out, const float *gate_up, int T, int NI) {
    for (int t = 0; t < T; t++) {
        const float *g = gate_up + (size_t)t * 2 * NI, *u = g + NI;
        float *o = out + (size_t)t * NI;
        for (int i = 0; i < NI; i++) o[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
    }
}

/* What the attention of one forward shares: the cache layer and head size, and the kernels. */
typedef struct {
    const Model *m;
    int layer, hd;
    size_t kvd; /* floats per position of a cache layer: n_kv_heads · hd */
    float scale;
    attn_scores_fn scores;
    attn_mix_fn mix;
    float *tmp; /* 16 · hd floats: converted positions of an f16 or qins-v cache */
} AttnCtx;

/* Scores of R rows' queries (q, stride qs) against positions ja…jb of KV head kvh of sequence s, into
 * sc[r·ss + j] (indexed by position). An f32 cache is read in place, others 16 converted positions at a
 * time (the same bits: attention.h). */
static void scores_range(const AttnCtx *x, const RunState *s, int kvh, const float *q, size_t qs, int R, int ja,
                         int jb, float *sc, size_t ss) {
    if (ja > jb) return;
    const int hd = x->hd;
    if (x->m->kv == KV_F32) {
        const float *k = (const float *)s->key_cache + ((size_t)x->layer * (size_t)s->ctx + (size_t)ja) * x->kvd;
        x->scores(sc + ja, ss, q, qs, R, k + (size_t)kvh * hd, x->kvd, jb - ja + 1, hd, x->scale);
        return;
    }
    for (int j0 = ja; j0 <= jb; j0 += 16) {
        int nj = jb - j0 + 1 < 16 ? jb - j0 + 1 : 16;
        for (int j = 0; j < nj; j++) kv_key_to_f32(x->tmp + (size_t)j * hd, x->m, s, x->layer, j0 + j, kvh);
        x->scores(sc + j0, ss, q, qs, R, x->tmp, (size_t)hd, nj, hd, x->scale);
    }
}

/* acc_r += Σ_j p_r[j] · v_j over positions ja…jb in order (p indexed by position, like scores_range). */
static void mix_range(const AttnCtx *x, const RunState *s, int kvh, const float *p, size_t ps, int R, int ja, int jb,
                      float *acc) {
    if (ja > jb) return;
    const int hd = x->hd;
    if (x->m->kv == KV_F32) {
        const float *v = (const float *)s->value_cache + ((size_t)x->layer * (size_t)s->ctx + (size_t)ja) * x->kvd;
        x->mix(acc, (size_t)hd, p + ja, ps, R, v + (size_t)kvh * hd, x->kvd, jb - ja + 1, hd);
        return;
    }
    for (int j0 = ja; j0 <= jb; j0 += 16) {
        int nj = jb - j0 + 1 < 16 ? jb - j0 + 1 : 16;
        for (int j = 0; j < nj; j++) kv_value_to_f32(x->tmp + (size_t)j * hd, x->m, s, x->layer, j0 + j, kvh);
        x->mix(acc, (size_t)hd, p + j0, ps, R, x->tmp, (size_t)hd, nj, hd);
    }
}

/* Head h of R ≤ ATTN_ROWS rows t0… of one sequence at consecutive positions pos0…: out[r] = softmax(scores)·V.
 * Row r attends to positions lo_r…pos0 + r; the positions all rows attend to (lo_{R−1}…pos0) are computed
 * for the R rows together, each row's others on its own, its mix in increasing position order throughout. */
static void attend_rows(const AttnCtx *x, BatchScratch *a, const RunState *s, int t0, int R, int h, float *scores,
                        float *acc) {
    const Config *c = &x->m->config;
    const int hd = x->hd, H = c->n_heads, kvh = h / (H / c->n_kv_heads), window = c->sliding_window;
    const int qkv_dim = (H + 2 * c->n_kv_heads) * hd, pos0 = a->row_pos[t0];
    const size_t ss = (size_t)a->att_ctx;
    const float *q = a->qkv + (size_t)t0 * qkv_dim + (size_t)h * hd;
    int lo[ATTN_ROWS];
    for (int r = 0; r < R; r++) /* transformers' sliding-window mask keeps keys j with pos − j < window */
        lo[r] = (window > 0 && pos0 + r - window + 1 > 0) ? pos0 + r - window + 1 : 0;
    /* the shared positions ca…cb; with a window shorter than the run there are none (ca = cb + 1) */
    const int cb = pos0, ca = lo[R - 1] <= cb ? lo[R - 1] : cb + 1;
    /* row r's own positions: lo_r … ca − 1 before the shared ones (ca ≤ cb + 1 ≤ its last position + 1),
     * after[r] … pos0 + r after them */
    int after[ATTN_ROWS];
    for (int r = 0; r < R; r++) after[r] = cb + 1 > lo[r] ? cb + 1 : lo[r];
    scores_range(x, s, kvh, q, (size_t)qkv_dim, R, ca, cb, scores, ss);
    for (int r = 0; r < R; r++) {
        float *sr = scores + (size_t)r * ss;
        const float *qr = q + (size_t)r * qkv_dim;
        int hi = pos0 + r;
        scores_range(x, s, kvh, qr, 0, 1, lo[r], ca - 1, sr, ss);
        scores_range(x, s, kvh, qr, 0, 1, after[r], hi, sr, ss);
        float maxv = -INFINITY;
        for (int j = lo[r]; j <= hi; j++) maxv = sr[j] > maxv ? sr[j] : maxv;
        float sum = 0.0f;
        for (int j = lo[r]; j <= hi; j++) {
            sr[j] = expf(sr[j] - maxv);
            sum += sr[j];
        }
        float inv = 1.0f / sum;
        for (int j = lo[r]; j <= hi; j++) sr[j] *= inv;
        for (int i = 0; i < hd; i++) acc[(size_t)r * hd + (size_t)i] = 0.0f;
        /* the positions before the shared ones */
        mix_range(x, s, kvh, sr, ss, 1, lo[r], ca - 1, acc + (size_t)r * hd);
    }
    mix_range(x, s, kvh, scores, ss, R, ca, cb, acc);
    for (int r = 0; r < R; r++) {
        mix_range(x, s, kvh, scores + (size_t)r * ss, ss, 1, after[r], pos0 + r, acc + (size_t)r * hd);
        memcpy(a->att_out + (size_t)(t0 + r) * H * hd + (size_t)h * hd, acc + (size_t)r * hd, (size_t)hd * sizeof(float));
    }
}

/* Causal attention for every row of the forward (row t: sequence row_seq[t] at position row_pos[t]),
 * reading keys and values from that sequence's cache. Work items are (head, window of ATTN_ROWS rows);
 * within a window, each run of rows of one sequence at consecutive positions (a prefill) goes to the kernels
 * together. Every (row, head) result depends only on that row (attention.h), never on the schedule or the
 * other rows. */
static void attention(const Model *m, RunState *const *seqs, BatchScratch *a, int layer, int rows) {
    const Config *c = &m->config;
    const int hd = c->head_dim, H = c->n_heads;
    const int windows = (rows + ATTN_ROWS - 1) / ATTN_ROWS;
    AttnCtx base = {.m = m, .layer = layer, .hd = hd, .kvd = (size_t)c->n_kv_heads * (size_t)hd,
                    .scale = 1.0f / sqrtf((float)hd), .scores = attn_scores_for(hd), .mix = attn_mix_for(hd)};
#pragma omp parallel num_threads(m->threads)
    {
        float *scores = a->att + (size_t)omp_get_thread_num() * att_scratch_floats(a->att_ctx, hd);
        float *acc = scores + (size_t)ATTN_ROWS * (size_t)a->att_ctx;
        AttnCtx x = base;
        x.tmp = acc + (size_t)ATTN_ROWS * (size_t)hd;
        /* Head by head, so that the rows of a prefill reuse one head's keys and values from L2 (at 512
         * positions of Phi-3.5-mini, 192 KB each) instead of sweeping the whole cache once per row. Windows
         * round-robin within a head, not in contiguous chunks: row t of a causal prefill reads t + 1 keys, so
         * contiguous halves gave the second thread ~3/4 of the work. */
#pragma omp for schedule(static, 1)
        for (int64_t item = 0; item < (int64_t)windows * H; item++) {
            int h = (int)(item / windows), w = (int)(item % windows);
            int end = (w + 1) * ATTN_ROWS < rows ? (w + 1) * ATTN_ROWS : rows;
            for (int t0 = w * ATTN_ROWS, R; t0 < end; t0 += R) {
                for (R = 1; t0 + R < end && a->row_seq[t0 + R] == a->row_seq[t0] &&
                            a->row_pos[t0 + R] == a->row_pos[t0] + R;
                     R++) {
                }
                attend_rows(&x, a, seqs[a->row_seq[t0]], t0, R, h, scores, acc);
            }
        }
    }
}

/* ---------------------------------------------------------------------------------------------------- */
/* The forward pass */

/* Checks a forward of P sequences before anything changes: sizes, contexts, token ids, distinct states.
 * *rows receives the total token count. */
static qb_status forward_check(const Model *m, RunState *const *seqs, const int *tokens, const int *n_tokens, int P,
                               int *rows) {
    const Config *c = &m->config;
    if (P <= 0) return qb_errorf(QB_ERR_INPUT, "forward: no sequences");
    int64_t total = 0;
    for (int p = 0; p < P; p++) {
        int n = n_tokens ? n_tokens[p] : 1;
        if (n <= 0) return qb_errorf(QB_ERR_INPUT, "forward: no tokens");
        if (seqs[p]->pos + (int64_t)n > seqs[p]->ctx)
            return qb_errorf(QB_ERR_INPUT, "sequence of %lld tokens exceeds the context of %d tokens (--ctx)",
                             (long long)seqs[p]->pos + n, seqs[p]->ctx);
        for (int q = 0; q < p; q++)
            if (seqs[q] == seqs[p]) return qb_errorf(QB_ERR_INPUT, "forward: sequence %d appears twice in a batch", p);
        total += n;
        if (total > INT32_MAX) return qb_errorf(QB_ERR_INPUT, "forward: too many tokens");
    }
    for (int64_t t = 0; t < total; t++)
        if (tokens[t] < 0 || tokens[t] >= c->vocab)
            return qb_errorf(QB_ERR_INPUT, "token id %d is outside the vocabulary (0..%d)", tokens[t], c->vocab - 1);
    *rows = (int)total;
    return QB_OK;
}

/* The forward of P sequences (see model_forward_batch); logits: NULL, or [rows, vocab] when all_logits,
 * or [P, vocab] (each sequence's last row); hidden: NULL or [(n_layers+1), rows, hidden]. */
static qb_status forward(const Model *m, RunState *const *seqs, const int *tokens, const int *n_tokens, int P,
                         BatchScratch *a, float *logits, int all_logits, float *hidden) {
    const Config *c = &m->config;
    int n = 0;
    qb_status st = forward_check(m, seqs, tokens, n_tokens, P, &n);
    if (st || (st = ensure_cap(a, m, n))) return st;

    const int D = c->hidden, hd = c->head_dim, H = c->n_heads, KV = c->n_kv_heads, NI = c->intermediate;
    const int qkv_dim = (H + 2 * KV) * hd, half = c->rotary_dim / 2, nt = m->threads;
    const size_t hidden_stride = (size_t)n * D;
    /* Lockstep decoding (one row per sequence) takes the product whose rows are independent of each other
     * (codec_matmul_rows): a sequence's logits then do not depend on how many sequences share the step,
     * which the runner's teacher-forced pass relies on when it resumes sequences from their greedy state.
     * Prefill keeps the fastest product per row count. */
    void (*matmul)(float *, const CodedTensor *, const float *, int, int) = n_tokens ? codec_matmul : codec_matmul_rows;

    /* rows: sequence p's tokens, at positions pos … pos+n_p−1; the RoPE tables per sequence (its LongRoPE
     * factors chosen by its own largest position in this forward) */
    for (int p = 0, t = 0; p < P; p++) {
        int np = n_tokens ? n_tokens[p] : 1;
        rope_tables(a->cos + (size_t)t * half, a->sin + (size_t)t * half, c, seqs[p]->pos, np);
        for (int i = 0; i < np; i++, t++) {
            a->row_seq[t] = p;
            a->row_pos[t] = seqs[p]->pos + i;
        }
    }
    /* embed: x[n, D] */
    for (int t = 0; t < n; t++) codec_decode_row(&m->w.embed, tokens[t], a->x + (size_t)t * D);
    if (hidden) memcpy(hidden, a->x, hidden_stride * sizeof(float));

    for (int l = 0; l < c->n_layers; l++) {
        const LayerWeights *L = &m->w.layers[l];
        /* attention block */
        for (int t = 0; t < n; t++) rmsnorm(a->xb + (size_t)t * D, a->x + (size_t)t * D, L->ln1, D, c->rms_eps);
        matmul(a->qkv, &L->qkv, a->xb, n, nt); /* [n, (H+2KV)·hd] */
        for (int t = 0; t < n; t++) {
            float *q = a->qkv + (size_t)t * qkv_dim, *k = q + H * hd, *v = k + KV * hd;
            const float *ct = a->cos + (size_t)t * half, *st_ = a->sin + (size_t)t * half;
            for (int h = 0; h < H; h++) rope_apply(q + h * hd, ct, st_, c->rotary_dim);
            for (int h = 0; h < KV; h++) rope_apply(k + h * hd, ct, st_, c->rotary_dim);
            kv_store(m, seqs[a->row_seq[t]], l, a->row_pos[t], k, v);
        }
        attention(m, seqs, a, l, n);                     /* att_out[n, H·hd] */
        matmul(a->xb2, &L->o, a->att_out, n, nt); /* [n, D] */
        for (size_t i = 0; i < hidden_stride; i++) a->x[i] += a->xb2[i];
        /* MLP block */
        for (int t = 0; t < n; t++) rmsnorm(a->xb + (size_t)t * D, a->x + (size_t)t * D, L->ln2, D, c->rms_eps);
        matmul(a->hb, &L->gate_up, a->xb, n, nt); /* [n, 2·I] */
        swiglu(a->hb2, a->hb, n, NI);                    /* [n, I] */
        matmul(a->xb2, &L->down, a->hb2, n, nt);  /* [n, D] */
        for (size_t i = 0; i < hidden_stride; i++) a->x[i] += a->xb2[i];
        /* transformers' hidden_states[l+1] is the output of layer l, except the last entry (below) */
        if (hidden && l + 1 < c->n_layers) memcpy(hidden + (size_t)(l + 1) * hidden_stride, a->x, hidden_stride * sizeof(float));
    }

    /* final norm (transformers records the normed state as the last hidden state) */
    for (int t = 0; t < n; t++) rmsnorm(a->xb + (size_t)t * D, a->x + (size_t)t * D, m->w.norm, D, c->rms_eps);
    if (hidden) memcpy(hidden + (size_t)c->n_layers * hidden_stride, a->xb, hidden_stride * sizeof(float));
    if (logits) {
        /* lm_head over every row, or over each sequence's last row ([P, D], gathered when rows > P) */
        const float *head_in = a->xb;
        if (!all_logits && n > P) {
            if (P == 1) head_in = a->xb + (size_t)(n - 1) * D;
            else {
                for (int p = 0, t = -1; p < P; p++) {
                    t += n_tokens ? n_tokens[p] : 1;
                    memcpy(a->xb2 + (size_t)p * D, a->xb + (size_t)t * D, (size_t)D * sizeof(float));
                }
                head_in = a->xb2;
            }
        }
        matmul(logits, &m->w.lm_head, head_in, all_logits ? n : P, nt);
    }
    for (int p = 0; p < P; p++) seqs[p]->pos += n_tokens ? n_tokens[p] : 1;
    return QB_OK;
}

qb_status model_forward(const Model *m, RunState *s, const int *tokens, int n, float *logits, int all_logits,
                        float *hidden) {
    return forward(m, &s, tokens, &n, 1, &s->act, logits, all_logits, hidden);
}

qb_status model_forward_batch(const Model *m, RunState *const *seqs, const int *tokens, const int *n_tokens, int P,
                              float *logits, BatchScratch *scratch) {
    return forward(m, seqs, tokens, n_tokens, P, scratch, logits, 0, NULL);
}

int logits_argmax(const float *logits, int n, float *margin) {
    int best = 0;
    float b1 = logits[0], b2 = -INFINITY;
    for (int i = 1; i < n; i++) {
        if (logits[i] > b1) {
            b2 = b1;
            b1 = logits[i];
            best = i;
        } else if (logits[i] > b2) {
            b2 = logits[i];
        }
    }
    if (margin) *margin = n > 1 ? b1 - b2 : INFINITY;
    return best;
}

qb_status model_generate_greedy(const Model *m, RunState *s, const int *prompt, int n_prompt, int max_new,
                                int ignore_eos, int *out_tokens, float *margins, int *n_out, model_token_cb on_token,
                                void *cb_ctx) {
    const Config *c = &m->config;
    *n_out = 0;
    if (n_prompt <= 0) return qb_errorf(QB_ERR_INPUT, "generate: empty prompt");
    if (n_prompt + max_new - 1 > m->ctx)
        return qb_errorf(QB_ERR_INPUT, "prompt (%d) + new tokens (%d) exceed the context of %d tokens (--ctx)",
                         n_prompt, max_new, m->ctx);
    float *logits = qb_malloc((size_t)c->vocab * sizeof(float), "logits");
    int *seq = qb_malloc((size_t)(n_prompt + max_new) * sizeof(int), "sequence");
    qb_status st = QB_OK;
    if (!logits || !seq) {
        st = QB_ERR_NOMEM;
        goto done;
    }
    memcpy(seq, prompt, (size_t)n_prompt * sizeof(int));
    int len = n_prompt;
    if ((st = model_forward(m, s, prompt, n_prompt, logits, 0, NULL))) goto done;
    for (int step = 0; step < max_new; step++) {
        float margin;
        int tok = logits_argmax(logits, c->vocab, &margin);
        out_tokens[step] = tok;
        if (margins) margins[step] = margin;
        seq[len++] = tok;
        *n_out = step + 1;
        if (on_token && on_token(cb_ctx, tok)) break;
        if (!ignore_eos && config_is_eos(c, tok)) break;
        if (step + 1 == max_new) break;
        /* transformers' generate() re-runs the whole sequence when it first crosses original_max, so every
         * key is rotated with the long factors; the default keeps cached keys as they were made. */
        if (m->rope_recompute && c->longrope && s->pos + 1 > c->orig_max_pos && s->pos <= c->orig_max_pos) {
            runstate_reset(s);
            st = model_forward(m, s, seq, len, logits, 0, NULL);
        } else {
            st = model_forward(m, s, &tok, 1, logits, 0, NULL);
        }
        if (st) goto done;
    }
done:
    free(logits);
    free(seq);
    return st;
}

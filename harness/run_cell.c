/* run_cell.c — the measurements of an experiment (see run_cell.h): workload building, the reference pass
 * and one codec cell. Greedy decoding, teacher forcing and the sliding-window perplexity share one forward
 * loop so the reference and every codec run exactly the same code. */
#include "run_cell.h"
#include "progress.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cell_stats.h"
#include "codec.h"
#include "config.h"
#include "model.h"
#include "stats.h"
#include "tokenizer.h"

/* ---------------------------------------------------------------- workload */

qb_status work_windows(int n, int W, int S, int64_t **out, int *n_windows, int64_t *n_tokens) {
    if (n < 2) return qb_errorf(QB_ERR_INPUT, "perplexity: the corpus has %d tokens (need at least 2)", n);
    int cap = (n + S - 1) / S + 1;
    int64_t *win = qb_calloc((size_t)cap * 3, sizeof *win, "perplexity windows");
    if (!win) return QB_ERR_NOMEM;
    int k = 0;
    int64_t prev_end = 0, tot = 0;
    for (int64_t begin = 0;; begin += S) {
        int64_t end = begin + W < n ? begin + W : n;
        int64_t first = prev_end > begin + 1 ? prev_end : begin + 1;
        if (end > first) { /* a window whose only new token is its first scores nothing: dropped */
            win[3 * k] = begin;
            win[3 * k + 1] = end;
            win[3 * k + 2] = first;
            tot += end - first;
            k++;
        }
        prev_end = end;
        if (end == n) break;
    }
    *out = win;
    *n_windows = k;
    *n_tokens = tot;
    return QB_OK;
}

static qb_status check_ids(const int *ids, int n, int vocab, const char *what) {
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= vocab)
            return qb_errorf(QB_ERR_INPUT, "%s: token id %d is outside the vocabulary (%d)", what, ids[i], vocab);
    return QB_OK;
}

/* Encodes the corpus text, only as much as max_tokens needs (a prefix cut at a line end, grown until it
 * yields enough tokens), so a short run does not tokenize a whole book. */
static qb_status encode_corpus(const Tokenizer *tok, const char *text, size_t len, long max_tokens, int **ids,
                               int *n) {
    size_t take = max_tokens > 0 ? (size_t)max_tokens * 8 : len;
    for (;;) {
        if (take >= len) take = len;
        else {
            while (take < len && text[take - 1] != '\n') take++;
        }
        qb_status st = tok_encode(tok, text, take, -1, ids, n);
        if (st) return st;
        if (take == len || max_tokens <= 0 || *n >= max_tokens) break;
        free(*ids);
        take *= 2;
    }
    if (max_tokens > 0 && *n > max_tokens) *n = (int)max_tokens;
    return QB_OK;
}

/* Encodes each non-empty line as one document, BOS + line + EOS, concatenated, until max_tokens. */
static qb_status encode_corpus_lines(const Tokenizer *tok, const char *text, size_t len, long max_tokens, int **ids,
                                     int *n) {
    size_t cap = 1 << 16;
    int *all = qb_malloc(cap * sizeof(int), "corpus ids"), count = 0;
    if (!all) return QB_ERR_NOMEM;
    int eos = tok_eos_id(tok);
    for (size_t a = 0; a < len && (max_tokens <= 0 || count < max_tokens);) {
        size_t b = a;
        while (b < len && text[b] != '\n') b++;
        size_t e = b;
        while (e > a && (text[e - 1] == '\r' || text[e - 1] == ' ')) e--;
        if (e > a) {
            int *line = NULL, nl = 0;
            qb_status st = tok_encode(tok, text + a, e - a, 1, &line, &nl);
            if (st) {
                free(all);
                return st;
            }
            if ((size_t)count + (size_t)nl + 1 > cap) {
                while ((size_t)count + (size_t)nl + 1 > cap) cap *= 2;
                int *grown = realloc(all, cap * sizeof(int));
                if (!grown) {
                    free(line);
                    free(all);
                    return qb_errorf(QB_ERR_NOMEM, "out of memory encoding the corpus");
                }
                all = grown;
            }
            memcpy(all + count, line, (size_t)nl * sizeof(int));
            count += nl;
            if (eos >= 0) all[count++] = eos;
            free(line);
        }
        a = b + 1;
    }
    if (max_tokens > 0 && count > max_tokens) count = (int)max_tokens;
    *ids = all;
    *n = count;
    return QB_OK;
}

/* The greedy prompts as ids (tokenized with tok when text and the model has one), concatenated into
 * w->prompt_ids with offsets w->prompt_off [P + 1]; *need_ctx grows to the longest prompt + steps. */
static qb_status build_prompts(Workload *w, const ExpConfig *cfg, const Tokenizer *tok, int *need_ctx) {
    qb_status st = QB_OK;
    w->n_prompts = cfg->n_prompts;
    w->steps = cfg->steps;
    if (!(w->prompt_off = qb_calloc((size_t)w->n_prompts + 1, sizeof *w->prompt_off, "prompt offsets")))
        return QB_ERR_NOMEM;
    size_t cap = 0;
    for (int p = 0; p < w->n_prompts; p++) {
        const ExpPrompt *pr = &cfg->prompts[p];
        int *ids = NULL, n = 0, own = 1;
        char what[64];
        snprintf(what, sizeof what, "%s: greedy prompt %d", w->model->label, p);
        if (pr->ids) {
            ids = pr->ids;
            n = pr->n_ids;
            own = 0;
        } else if (tok) {
            if ((st = tok_encode(tok, pr->text, strlen(pr->text), -1, &ids, &n))) return st;
        } else if (exp_parse_ids(pr->text, w->vocab - 1, &ids, &n) || n == 0)
            return qb_errorf(QB_ERR_INPUT, "%s: the model has no tokenizer.json, so it must be token ids", what);
        if (!st && n == 0) st = qb_errorf(QB_ERR_INPUT, "%s: empty after tokenizing", what);
        if (!st) st = check_ids(ids, n, w->vocab, what);
        if (!st && (size_t)w->prompt_off[p] + (size_t)n > cap) {
            size_t nc = (cap + (size_t)n) * 2;
            int *b = realloc(w->prompt_ids, nc * sizeof *b);
            if (!b) st = qb_errorf(QB_ERR_NOMEM, "out of memory for prompt ids");
            else {
                w->prompt_ids = b;
                cap = nc;
            }
        }
        if (!st) memcpy(w->prompt_ids + w->prompt_off[p], ids, (size_t)n * sizeof *ids);
        if (own) free(ids);
        if (st) return st;
        w->prompt_off[p + 1] = w->prompt_off[p] + n;
        if (n + w->steps > *need_ctx) *need_ctx = n + w->steps;
    }
    return QB_OK;
}

/* The perplexity corpus as ids (text through tok, or an ids file), cut at max_tokens, and its windows. */
static qb_status build_corpus(Workload *w, const ExpConfig *cfg, const Tokenizer *tok) {
    qb_status st;
    if (cfg->corpus) {
        char *text;
        size_t len;
        if ((st = qb_read_file(cfg->corpus, &text, &len, (size_t)1 << 31))) return st;
        st = cfg->corpus_lines ? encode_corpus_lines(tok, text, len, cfg->max_tokens, &w->corpus, &w->n_corpus)
                               : encode_corpus(tok, text, len, cfg->max_tokens, &w->corpus, &w->n_corpus);
        free(text);
        if (st) return st;
    } else {
        char *text;
        size_t len;
        if ((st = qb_read_file(cfg->corpus_ids, &text, &len, (size_t)1 << 31))) return st;
        int bad = exp_parse_ids(text, w->vocab - 1, &w->corpus, &w->n_corpus);
        free(text);
        if (bad)
            return qb_errorf(QB_ERR_INPUT, "%s: not whitespace-separated token ids below %d", cfg->corpus_ids, w->vocab);
        if (cfg->max_tokens > 0 && w->n_corpus > cfg->max_tokens) w->n_corpus = (int)cfg->max_tokens;
    }
    if ((st = check_ids(w->corpus, w->n_corpus, w->vocab, "perplexity corpus"))) return st;
    if ((st = work_windows(w->n_corpus, cfg->window, cfg->stride, &w->windows, &w->n_windows, &w->n_tokens)))
        qb_error_prefix(w->model->label);
    return st;
}

qb_status work_build(const ExpConfig *cfg, const ExpModel *model, int threads, Workload *w) {
    memset(w, 0, sizeof *w);
    w->cfg = cfg;
    w->model = model;
    w->threads = threads;
    w->batch = 1;
    Config mc;
    qb_status st = config_load(model->path, &mc);
    if (st) {
        qb_error_prefix(model->label);
        return st;
    }
    w->vocab = mc.vocab;
    int max_pos = mc.max_pos;
    config_free(&mc);

    Tokenizer *tok = NULL;
    char *tokpath = qb_path_join(model->path, "tokenizer.json");
    if (!tokpath) return QB_ERR_NOMEM;
    int have_tok = qb_file_exists(tokpath);
    free(tokpath);
    int need_tok = cfg->has_ppl && cfg->corpus;
    for (int i = 0; cfg->has_greedy && i < cfg->n_prompts; i++)
        if (cfg->prompts[i].text && have_tok) need_tok = 1;
    if (need_tok) {
        if (!have_tok)
            return qb_errorf(QB_ERR_INPUT, "%s: %s has no tokenizer.json; use corpus_ids", model->label, model->path);
        if ((st = tok_load_dir(model->path, &tok))) return st;
    }

    int need_ctx = 1;
    if (cfg->has_greedy && (st = build_prompts(w, cfg, tok, &need_ctx))) goto done;
    if (cfg->has_ppl) {
        if ((st = build_corpus(w, cfg, tok))) goto done;
        if (cfg->window > need_ctx) need_ctx = cfg->window;
    }
    if (cfg->has_speed) {
        if (!(w->speed_ids = qb_malloc((size_t)cfg->speed_prompt_tokens * sizeof(int), "speed ids"))) {
            st = QB_ERR_NOMEM;
            goto done;
        }
        stats_rng r;
        stats_rng_seed(&r, cfg->seed ^ 0x5eedULL);
        for (int i = 0; i < cfg->speed_prompt_tokens; i++) w->speed_ids[i] = (int)stats_rng_below(&r, (uint64_t)w->vocab);
        int n = cfg->speed_prompt_tokens + cfg->speed_decode_tokens;
        if (n > need_ctx) need_ctx = n;
    }
    w->ctx = need_ctx;
    if (cfg->ctx) {
        if (cfg->ctx < need_ctx) {
            st = qb_errorf(QB_ERR_INPUT, "ctx %d is smaller than the workloads need (%d)", cfg->ctx, need_ctx);
            goto done;
        }
        w->ctx = cfg->ctx;
    }
    if (max_pos > 0 && w->ctx > max_pos) {
        st = qb_errorf(QB_ERR_INPUT, "%s: the workloads need %d positions, the model has %d", model->label, w->ctx, max_pos);
        goto done;
    }
done:
    if (tok) tok_free(tok);
    if (st) work_free(w);
    return st;
}

void work_free(Workload *w) {
    free(w->prompt_ids);
    free(w->prompt_off);
    free(w->corpus);
    free(w->windows);
    free(w->speed_ids);
    memset(w, 0, sizeof *w);
}

/* The longest greedy prompt of the workload. */
static int max_prompt_len(const Workload *w) {
    int mx = 0;
    for (int p = 0; p < w->n_prompts; p++)
        if (w->prompt_off[p + 1] - w->prompt_off[p] > mx) mx = (int)(w->prompt_off[p + 1] - w->prompt_off[p]);
    return mx;
}

/* MemAvailable of /proc/meminfo in bytes, 0 when unknown. */
static uint64_t mem_available(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return 0;
    char line[256];
    unsigned long long kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) break;
    fclose(f);
    return (uint64_t)kb * 1024;
}

qb_status work_batch(Workload *w, const char *spec, uint64_t mem_budget, uint64_t *per_seq) {
    w->batch = 1;
    if (per_seq) *per_seq = 0;
    if (spec && strcmp(spec, "auto")) {
        char *end;
        long v = strtol(spec, &end, 10);
        if (*end || end == spec || v < 1 || v > 4096)
            return qb_errorf(QB_ERR_INPUT, "--batch: \"%s\" is not auto or a number from 1 to 4096", spec);
        w->batch = w->n_prompts && v > w->n_prompts ? w->n_prompts : (int)v;
        return QB_OK;
    }
    if (!w->n_prompts) return QB_OK;
    Config c;
    qb_status st = config_load(w->model->path, &c);
    if (st) return st;
    if (!mem_budget) { /* what the machine has left once the largest weights of the config are loaded */
        uint64_t weights = 0;
        for (int i = -1; i < w->cfg->n_codecs; i++) {
            WeightBytes b;
            model_bytes_for_config(&c, i < 0 ? &w->cfg->reference_spec : &w->cfg->codec_specs[i], &b);
            uint64_t tot = b.attn + b.mlp + b.lm_head + b.embed + b.norms;
            if (tot > weights) weights = tot;
        }
        uint64_t avail = mem_available();
        mem_budget = avail > weights ? avail - weights : 0;
    }
    int seq_ctx = max_prompt_len(w) + w->steps;
    /* one sequence: its f32 KV cache, its own one-row activations, a row of logits */
    uint64_t one = runstate_kv_bytes(&c, KV_F32, seq_ctx) + batch_scratch_bytes(&c, w->threads, w->ctx, 1) +
                   (uint64_t)w->vocab * sizeof(float);
    int cap = w->n_prompts < WORK_BATCH_MAX ? w->n_prompts : WORK_BATCH_MAX, b = cap;
    for (; b > 1; b--) { /* the shared scratch holds the longest prefill or the batch's rows */
        int rows = b > max_prompt_len(w) ? b : max_prompt_len(w);
        if ((uint64_t)b * one + batch_scratch_bytes(&c, w->threads, w->ctx, rows) <= mem_budget) break;
    }
    config_free(&c);
    w->batch = b;
    if (per_seq) *per_seq = one;
    return QB_OK;
}

/* ---------------------------------------------------------------- shared passes */

typedef struct {
    Model m;
    RunState s;
    float *logits;   /* [max(window, 1), vocab] */
    int loaded, built;
    /* the batched greedy and teacher-forced passes (engine_batch) */
    RunState *seq;   /* [n_seq], KV for the longest prompt + steps each */
    RunState **seqp; /* [n_seq] pointers to seq[] */
    int n_seq;
    BatchScratch act;/* shared activations: the longest prompt's rows, or n_seq */
    float *blogits;  /* [n_seq, vocab] */
    int *next;       /* [n_seq] each sequence's next input token */
} Engine;

/* Loads the model with a parsed codec spec and KV mode. The engine takes spec text, so the spec goes in
 * canonical form (codec_spec_format) and must come back as itself. */
static qb_status engine_open(const Workload *w, const CodecSpec *codec, kv_mode kv, Engine *e) {
    memset(e, 0, sizeof *e);
    char spec[256], loaded[256];
    codec_spec_format(codec, spec, sizeof spec);
    ModelOptions o = {.codec = spec, .kv = kv_mode_name(kv), .ctx = w->ctx, .threads = w->threads};
    qb_status st = model_load(w->model->path, &o, &e->m);
    if (st) return st;
    e->loaded = 1;
    codec_spec_format(&e->m.codec, loaded, sizeof loaded);
    if (strcmp(spec, loaded) || e->m.kv != kv)
        return qb_errorf(QB_ERR_INTERNAL, "%s: codec %s loaded as %s", w->model->label, spec, loaded);
    if ((st = runstate_build(&e->s, &e->m))) return st;
    e->built = 1;
    if (e->m.config.vocab != w->vocab)
        return qb_errorf(QB_ERR_INTERNAL, "%s: vocab %d, expected %d", w->model->label, e->m.config.vocab, w->vocab);
    size_t rows = w->cfg->has_ppl ? (size_t)w->cfg->window : 1;
    if (!(e->logits = qb_malloc(rows * (size_t)w->vocab * sizeof(float), "logits"))) return QB_ERR_NOMEM;
    return QB_OK;
}

static void engine_close(Engine *e) {
    for (int i = 0; i < e->n_seq; i++) runstate_free(&e->seq[i]);
    free(e->seq);
    free(e->seqp);
    batch_scratch_free(&e->act);
    free(e->blogits);
    free(e->next);
    free(e->logits);
    if (e->built) runstate_free(&e->s);
    if (e->loaded) model_free(&e->m);
    memset(e, 0, sizeof *e);
}

/* The run states of a batch of B prompts (built once, at the first batched pass). */
static qb_status engine_batch(Engine *e, const Workload *w, int B) {
    if (e->n_seq >= B) return QB_OK;
    if (e->n_seq) return qb_errorf(QB_ERR_INTERNAL, "batch grew from %d to %d", e->n_seq, B);
    int ctx = max_prompt_len(w) + w->steps;
    qb_status st;
    if (!(e->seq = qb_calloc((size_t)B, sizeof *e->seq, "run states")) ||
        !(e->seqp = qb_calloc((size_t)B, sizeof *e->seqp, "run states")) ||
        !(e->blogits = qb_malloc((size_t)B * (size_t)w->vocab * sizeof(float), "batch logits")) ||
        !(e->next = qb_calloc((size_t)B, sizeof *e->next, "batch tokens")))
        return QB_ERR_NOMEM;
    if ((st = batch_scratch_build(&e->act, &e->m, B > max_prompt_len(w) ? B : max_prompt_len(w)))) return st;
    for (; e->n_seq < B; e->n_seq++) {
        if ((st = runstate_build_ctx(&e->seq[e->n_seq], &e->m, ctx))) return st;
        e->seqp[e->n_seq] = &e->seq[e->n_seq];
    }
    return QB_OK;
}

/* Prompts p0 … p0+B−1 of the workload, each prefilled alone, then `steps` positions decoded greedily
 * together (model_forward_batch: every linear layer one [B × in] product; EOS ignored): out receives each
 * step's argmax and feeds it back, margins (may be NULL) its top-1 − top-2 logit. out and margins are
 * [P, steps] arrays of the whole workload. The B states stay in e->seqp for pass_forced. */
static qb_status pass_batch(Engine *e, const Workload *w, int p0, int B, int *out, float *margins) {
    const int T = w->steps, V = w->vocab;
    qb_status st = engine_batch(e, w, B);
    for (int i = 0; i < B && !st; i++) {
        int n = (int)(w->prompt_off[p0 + i + 1] - w->prompt_off[p0 + i]);
        runstate_reset(e->seqp[i]);
        st = model_forward_batch(&e->m, &e->seqp[i], w->prompt_ids + w->prompt_off[p0 + i], &n, 1,
                                 e->blogits + (size_t)i * V, &e->act);
    }
    for (int t = 0; !st && t < T; t++) {
        for (int i = 0; i < B; i++) {
            size_t k = (size_t)(p0 + i) * T + t;
            float mg;
            out[k] = logits_argmax(e->blogits + (size_t)i * V, V, &mg);
            if (margins) margins[k] = mg;
            e->next[i] = out[k];
        }
        if (t + 1 < T) st = model_forward_batch(&e->m, e->seqp, e->next, NULL, B, e->blogits, &e->act);
    }
    return st;
}

/* Teacher forcing without computing again what the greedy pass computed. Up to a sequence's first
 * divergence d (the first step whose greedy token is not the reference's) both passes fed the same tokens,
 * so their logits are the same and the teacher-forced argmax is the greedy token, at d too. After it, the
 * sequence is truncated to its prompt and first d tokens (keys and values are append-only) and fed the
 * reference's tokens from step d on. Those steps go in lockstep over the sequences that have diverged by
 * then, so the number of rows changes from step to step; lockstep products are codec_matmul_rows, whose
 * rows do not depend on each other, so this gives the bits of a teacher-forced pass from the prompt
 * (tests/test_batch.c test_forced_resume). A codec that never diverges costs no teacher-forced step. */
qb_status forced_resume(const Model *m, RunState *const *seqs, const int *n_prompt, int B, int T, const int *ref,
                        const int *tok, int *out, float *logits, BatchScratch *act, float *step_logits) {
    const int V = m->config.vocab;
    int *div = qb_calloc((size_t)B, sizeof *div, "divergence"), *idx = qb_calloc((size_t)B, sizeof *idx, "rows"),
        *next = qb_calloc((size_t)B, sizeof *next, "rows");
    RunState **sub = qb_calloc((size_t)B, sizeof *sub, "rows");
    qb_status st = div && idx && next && sub ? QB_OK : QB_ERR_NOMEM;
    for (int i = 0; i < B && !st; i++) {
        const size_t k0 = (size_t)i * T;
        int d = 0;
        while (d < T && tok[k0 + d] == ref[k0 + d]) d++;
        div[i] = d;
        for (int t = 0; t <= d && t < T; t++) out[k0 + t] = tok[k0 + t];
        if (d + 1 < T) st = runstate_truncate(seqs[i], n_prompt[i] + d);
    }
    for (int t = 1; t < T && !st; t++) { /* step t: the sequences diverged before t are fed ref[t − 1] */
        int na = 0;
        for (int i = 0; i < B; i++)
            if (div[i] < t) {
                idx[na] = i;
                sub[na] = seqs[i];
                next[na++] = ref[(size_t)i * T + t - 1];
            }
        if (!na) continue;
        st = model_forward_batch(m, sub, next, NULL, na, step_logits, act);
        for (int j = 0; j < na && !st; j++) {
            const float *lg = step_logits + (size_t)j * V;
            const size_t k = (size_t)idx[j] * T + t;
            out[k] = logits_argmax(lg, V, NULL);
            if (logits) memcpy(logits + k * V, lg, (size_t)V * sizeof(float));
        }
    }
    free(div);
    free(idx);
    free(next);
    free(sub);
    return st;
}

/* The teacher-forced pass of the batch pass_batch has just decoded greedily (prompts p0 … p0+B−1, tok
 * their greedy tokens): out receives the argmax at each step when the reference's tokens ref are fed
 * (forced_resume). tok, ref and out are [P, steps] arrays of the whole workload. */
static qb_status pass_forced(Engine *e, const Workload *w, int p0, int B, const int *ref, const int *tok, int *out) {
    const int T = w->steps;
    int *n_prompt = qb_calloc((size_t)B, sizeof *n_prompt, "prompt lengths");
    if (!n_prompt) return QB_ERR_NOMEM;
    for (int i = 0; i < B; i++) n_prompt[i] = (int)(w->prompt_off[p0 + i + 1] - w->prompt_off[p0 + i]);
    const size_t k0 = (size_t)p0 * T;
    qb_status st = forced_resume(&e->m, e->seqp, n_prompt, B, T, ref + k0, tok + k0, out + k0, NULL, &e->act, e->blogits);
    free(n_prompt);
    return st;
}

/* Every greedy prompt in batches of `batch` (the last one smaller): greedy into tok (margins may be NULL);
 * when ref is given, each batch is then teacher-forced on it into forced (pass_forced). */
static qb_status pass_prompts(Engine *e, const Workload *w, int batch, const int *ref, int *tok, float *margins,
                              int *forced) {
    qb_status st = QB_OK;
    for (int p0 = 0; p0 < w->n_prompts && !st; p0 += batch) {
        int B = w->n_prompts - p0 < batch ? w->n_prompts - p0 : batch;
        st = pass_batch(e, w, p0, B, tok, margins);
        progress_add(QB_PROG_PROMPT, B);
        if (!st && ref) {
            st = pass_forced(e, w, p0, B, ref, tok, forced);
            progress_add(QB_PROG_FORCED, B);
        }
    }
    return st;
}

/* One perplexity window: all logits of corpus[begin, end) from an empty cache. */
static qb_status pass_window(Engine *e, const Workload *w, int k) {
    runstate_reset(&e->s);
    int64_t b = w->windows[3 * k], en = w->windows[3 * k + 1];
    return model_forward(&e->m, &e->s, w->corpus + b, (int)(en - b), e->logits, 1, NULL);
}

qb_status work_estimate(const Workload *w, int n_cells, double *seconds) {
    Engine e;
    double t0 = qb_now(), greedy = 0, ppl = 0, speed = 0;
    qb_status st = engine_open(w, &w->cfg->reference_spec, KV_F32, &e);
    double load = qb_now() - t0;
    if (!st && w->n_prompts) { /* one batch: its prefills alone, then with two decode steps */
        int B = w->batch < w->n_prompts ? w->batch : w->n_prompts, P = w->n_prompts, T = w->steps;
        Workload pw = *w;
        pw.steps = 3;
        int *out = qb_calloc((size_t)P * 3, sizeof *out, "probe tokens");
        if (!out) st = QB_ERR_NOMEM;
        if (!st) st = engine_batch(&e, w, B); /* states that hold the whole pass, as the run's */
        /* a warm-up pass first: a batch's first forwards touch its KV caches and scratch for the first time
         * (page faults, huge-page zeroing and compaction), which the difference below would count as decode
         * steps. Measured at full Phi-3.5-mini shapes (23 sequences, two threads): without it the probe
         * estimated 8.7 s per step against ~1.3 s in the run itself, and the claim protocol at 55 h. */
        if (!st) st = pass_batch(&e, &pw, 0, B, out, NULL);
        double t1 = qb_now();
        if (!st) st = pass_batch(&e, &pw, 0, B, out, NULL);
        double t2 = qb_now();
        pw.steps = 1;
        if (!st) st = pass_batch(&e, &pw, 0, B, out, NULL);
        double t3 = qb_now(), step = ((t2 - t1) - (t3 - t2)) / 2;
        /* Those steps ran at the prompts' length, but a step's attention reads every position before it, so
         * steps get slower along the pass. Attention's time is linear in the position, so the mean step is
         * the step at the middle of the pass: every sequence is moved there (runstate_skip_for_timing) and
         * two steps are timed. Measured at full Phi-3.5-mini shapes (23 sequences, two threads): see the
         * commit that added this. */
        if (!st && T >= 4) {
            for (int i = 0; i < B && !st; i++)
                st = runstate_skip_for_timing(e.seqp[i], &e.m, e.seqp[i]->pos + (T - 1) / 2);
            double t4 = qb_now();
            for (int k = 0; k < 2 && !st; k++) st = model_forward_batch(&e.m, e.seqp, e.next, NULL, B, e.blogits, &e.act);
            step = (qb_now() - t4) / 2;
        }
        free(out);
        greedy = (double)((P + B - 1) / B) * ((t3 - t2) + (T - 1) * (step > 0 ? step : 0));
    }
    if (!st && w->n_windows) { /* the second of two runs: the first touches the window's KV and scratch */
        st = pass_window(&e, w, 0);
        double a = qb_now();
        if (!st) st = pass_window(&e, w, 0);
        ppl = (qb_now() - a) * w->n_windows;
    }
    if (!st && w->cfg->has_speed) {
        double a = qb_now();
        runstate_reset(&e.s);
        st = model_forward(&e.m, &e.s, w->speed_ids, w->cfg->speed_prompt_tokens, e.logits, 0, NULL);
        double b = qb_now();
        int x = 0;
        if (!st) st = model_forward(&e.m, &e.s, &x, 1, e.logits, 0, NULL);
        speed = w->cfg->speed_repeats * ((b - a) + (qb_now() - b) * w->cfg->speed_decode_tokens);
    }
    engine_close(&e);
    /* the reference: greedy once and the windows; each cell: greedy and teacher forcing, windows, speed,
     * all at the reference's speed. Teacher forcing is counted as a whole greedy pass, its cost when every
     * prompt diverges at once: pass_forced skips the steps before each prompt's first divergence, which
     * the probe cannot know. What a cell costs beyond the reference (a slower codec, conversion at load,
     * statistics, writing) is not counted: on the toy (configs/austen.json) 69 s estimated, 134 s run. */
    *seconds = (load + greedy + ppl) + n_cells * (load + 2 * greedy + ppl + speed);
    return st;
}

static qb_status write_all(int fd, const void *buf, size_t n, const char *path) {
    const char *p = buf;
    while (n) {
        ssize_t r = write(fd, p, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return qb_errorf(QB_ERR_IO, "%s: write: %s", path, strerror(errno));
        p += r;
        n -= (size_t)r;
    }
    return QB_OK;
}

static qb_status read_at(int fd, void *buf, size_t n, off_t off, const char *path) {
    char *p = buf;
    while (n) {
        ssize_t r = pread(fd, p, n, off);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return qb_errorf(QB_ERR_IO, "%s: read at %lld: %s", path, (long long)off, r ? strerror(errno) : "short file");
        p += r;
        n -= (size_t)r;
        off += r;
    }
    return QB_OK;
}

static char *tmp_of(const char *path) {
    size_t n = strlen(path) + 5;
    char *t = qb_malloc(n, "file name");
    if (t) snprintf(t, n, "%s.tmp", path);
    return t;
}

/* Creates an HDF5 file holding one group; *f and *g to be closed by the caller. */
static qb_status h5_new(const char *path, const char *group, hid_t *f, hid_t *g) {
    *g = -1;
    *f = h5r_fcreate(); /* in memory; h5_finish writes it with h5r_fclose (a full disk fails cleanly) */
    if (*f < 0) return qb_errorf(QB_ERR_IO, "%s: cannot create HDF5 file", path);
    return h5r_group(*f, group, g);
}

static qb_status h5_finish(const char *tmp, const char *path, hid_t f, hid_t g, qb_status st) {
    if (g >= 0 && H5Gclose(g) < 0 && !st) st = qb_errorf(QB_ERR_IO, "%s: cannot close group", tmp);
    if (f >= 0) st = st ? (H5Fclose(f), st) : h5r_fclose(f, tmp);
    if (!st && rename(tmp, path)) st = qb_errorf(QB_ERR_IO, "%s: rename: %s", tmp, strerror(errno));
    if (st) unlink(tmp);
    return st;
}

/* ---------------------------------------------------------------- reference */

/* The reference's group: the model's attributes, and its outputs on the workload: prompts and greedy tokens
 * and margins [P, T] when P > 0, windows [W, 3] and nll [N] when W > 0. */
static qb_status ref_write(hid_t g, const Workload *w, const char *canonical, const char *torch_dtype, const int *tokens,
                           const float *margins, const double *nll) {
    const int P = w->n_prompts, T = w->steps;
    qb_status st;
    if ((st = h5r_attr_str(g, rs_name(RS_MODEL_PATH), w->model->path)) ||
        (st = h5r_attr_str(g, rs_name(RS_MODEL_LABEL), w->model->label)) ||
        (st = h5r_attr_str(g, rs_name(RS_MODEL_REFERENCE), w->cfg->reference)) ||
        (st = h5r_attr_str(g, rs_name(RS_MODEL_REFERENCE_CANONICAL), canonical)) ||
        (st = h5r_attr_str(g, rs_name(RS_MODEL_TORCH_DTYPE), torch_dtype)) ||
        (st = h5r_attr_i64(g, rs_name(RS_MODEL_VOCAB), w->vocab)) || (st = h5r_attr_i64(g, rs_name(RS_MODEL_CTX), w->ctx)) ||
        (st = h5r_attr_i64(g, rs_name(RS_MODEL_BATCH), w->batch)) ||
        (st = h5r_attr_str(g, rs_name(RS_DESCRIPTION), "the reference codec's outputs on this model's workload (KV f32)")))
        return st;
    if (P) {
        hsize_t d1[1] = {(hsize_t)w->prompt_off[P]}, d2[1] = {(hsize_t)P + 1}, d3[2] = {(hsize_t)P, (hsize_t)T};
        if ((st = h5r_write_rs(g, RS_MODEL_PROMPT_IDS, H5T_NATIVE_INT32, 1, d1, w->prompt_ids)) ||
            (st = h5r_write_rs(g, RS_MODEL_PROMPT_OFFSETS, H5T_NATIVE_INT64, 1, d2, w->prompt_off)) ||
            (st = h5r_write_rs(g, RS_MODEL_GREEDY_TOKENS, H5T_NATIVE_INT32, 2, d3, tokens)) ||
            (st = h5r_write_rs(g, RS_MODEL_GREEDY_MARGINS, H5T_NATIVE_FLOAT, 2, d3, margins)))
            return st;
    }
    if (w->n_windows) {
        hsize_t dw[2] = {(hsize_t)w->n_windows, 3}, dn[1] = {(hsize_t)w->n_tokens};
        if ((st = h5r_write_rs(g, RS_MODEL_WINDOWS, H5T_NATIVE_INT64, 2, dw, w->windows)) ||
            (st = h5r_write_rs(g, RS_MODEL_NLL, H5T_NATIVE_DOUBLE, 1, dn, nll)))
            return st;
    }
    return QB_OK;
}

qb_status run_reference(const Workload *w, const char *ref_h5, const char *ref_logits) {
    const ExpConfig *cfg = w->cfg;
    Engine e;
    qb_status st = engine_open(w, &cfg->reference_spec, KV_F32, &e);
    int P = w->n_prompts, T = w->steps, V = w->vocab;
    int *tokens = NULL;
    float *margins = NULL;
    double *nll = NULL;
    char *ltmp = NULL, *htmp = NULL;
    int fd = -1;
    hid_t f = -1, g = -1;
    if (st) goto out;
    if (P && (!(tokens = qb_calloc((size_t)P * T, sizeof *tokens, "reference tokens")) ||
              !(margins = qb_calloc((size_t)P * T, sizeof *margins, "reference margins")))) {
        st = QB_ERR_NOMEM;
        goto out;
    }
    if (P && (st = pass_prompts(&e, w, w->batch, NULL, tokens, margins, NULL))) goto out;
    if (!(ltmp = tmp_of(ref_logits)) || !(htmp = tmp_of(ref_h5))) {
        st = QB_ERR_NOMEM;
        goto out;
    }
    if ((fd = open(ltmp, O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0) {
        st = qb_errorf(QB_ERR_IO, "%s: %s", ltmp, strerror(errno));
        goto out;
    }
    if (w->n_tokens && !(nll = qb_malloc((size_t)w->n_tokens * sizeof *nll, "reference nll"))) {
        st = QB_ERR_NOMEM;
        goto out;
    }
    int64_t j = 0;
    for (int k = 0; k < w->n_windows && !st; k++) {
        if ((st = pass_window(&e, w, k))) break;
        int64_t b = w->windows[3 * k], en = w->windows[3 * k + 1], first = w->windows[3 * k + 2];
        for (int64_t t = first; t < en; t++, j++)
            nll[j] = stats_nll(e.logits + (size_t)(t - 1 - b) * V, V, w->corpus[t]);
        st = write_all(fd, e.logits + (size_t)(first - 1 - b) * V, (size_t)(en - first) * V * sizeof(float), ltmp);
        progress_tick(QB_PROG_WINDOW);
    }
    if (!st && fsync(fd)) st = qb_errorf(QB_ERR_IO, "%s: fsync: %s", ltmp, strerror(errno));
    if (close(fd) && !st) st = qb_errorf(QB_ERR_IO, "%s: close: %s", ltmp, strerror(errno));
    fd = -1;
    if (!st && rename(ltmp, ref_logits)) st = qb_errorf(QB_ERR_IO, "%s: rename: %s", ltmp, strerror(errno));
    if (st) goto out;

    if (!(st = h5_new(htmp, rs_name(RS_CACHE_REF), &f, &g))) {
        char spec[256];
        codec_spec_format(&e.m.codec, spec, sizeof spec);
        st = ref_write(g, w, spec, e.m.config.torch_dtype, tokens, margins, nll);
    }
    st = h5_finish(htmp, ref_h5, f, g, st);
out:
    if (fd >= 0) close(fd);
    free(ltmp);
    free(htmp);
    free(tokens);
    free(margins);
    free(nll);
    engine_close(&e);
    return st;
}

/* ---------------------------------------------------------------- cell */

/* "ref/<name>": an object of the reference cache's group. */
static const char *ref_obj(rs_id id, char *buf, size_t n) {
    snprintf(buf, n, "%s/%s", rs_name(RS_CACHE_REF), rs_name(id));
    return buf;
}

/* The batch the reference decoded with (its group's "batch" attribute), else `fallback`. */
static int ref_batch(hid_t rf, int fallback) {
    int64_t v = 0;
    const char *batch = rs_name(RS_MODEL_BATCH);
    if (H5Aexists_by_name(rf, rs_name(RS_CACHE_REF), batch, H5P_DEFAULT) <= 0) return fallback;
    hid_t a = H5Aopen_by_name(rf, rs_name(RS_CACHE_REF), batch, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0) return fallback;
    herr_t r = H5Aread(a, H5T_NATIVE_INT64, &v);
    H5Aclose(a);
    return r >= 0 && v >= 1 && v <= 4096 ? (int)v : fallback;
}

/* The loaded model's weight bytes and parameters by tensor group, and its KV cache bytes. */
static void measure_memory(CellMemory *out, const Engine *e) {
    const WeightBytes *wb = &e->m.bytes;
    const uint64_t bytes[H5R_MEM_GROUPS] = {wb->attn, wb->mlp, wb->lm_head, wb->embed, wb->norms};
    const uint64_t params[H5R_MEM_GROUPS] = {wb->n_params_attn, wb->n_params_mlp, wb->n_params_lm_head,
                                             wb->n_params_embed, wb->n_params_norms};
    for (int i = 0; i < H5R_MEM_GROUPS; i++) {
        out->bytes[i] = (int64_t)bytes[i];
        out->params[i] = (int64_t)params[i];
    }
    out->kv_bytes = (int64_t)e->s.kv_bytes;
}

/* The summary's memory fields from measure_memory's result. */
static void memory_row(SummaryRow *row, const CellMemory *m) {
    int64_t tb = 0, tp = 0;
    for (int i = 0; i < H5R_MEM_GROUPS; i++) {
        tb += m->bytes[i];
        tp += m->params[i];
    }
    int64_t lin_b = m->bytes[0] + m->bytes[1], lin_p = m->params[0] + m->params[1]; /* attn + mlp */
    row->weight_bytes = tb;
    row->bits_per_weight = tp ? 8.0 * (double)tb / (double)tp : NAN;
    row->bits_per_weight_linear = lin_p ? 8.0 * (double)lin_b / (double)lin_p : NAN;
    row->kv_bytes = m->kv_bytes;
}

/* Compares free-running tokens and teacher-forced argmaxes ([P, T] in out) with the reference's tokens and
 * margins ([P, T]): per-prompt match, agreement and first divergence, survival [T], and the flips. */
static void greedy_compare(CellGreedyResult *out, const int *ref_tok, const float *ref_mg) {
    const int P = out->n_prompts, T = out->steps;
    for (int p = 0; p < P; p++) {
        const int *ref = ref_tok + (size_t)p * T, *tok = out->tokens + (size_t)p * T, *am = out->argmax + (size_t)p * T;
        int m = 0, a = 0, fd0 = T;
        for (int t = 0; t < T; t++) {
            if (tok[t] == ref[t]) m++;
            else if (fd0 == T) fd0 = t;
            if (am[t] == ref[t]) a++;
            else {
                out->flip_prompt[out->n_flips] = p;
                out->flip_step[out->n_flips] = t;
                out->flip_margin[out->n_flips++] = ref_mg[(size_t)p * T + t];
            }
        }
        out->match[p] = (double)m / T;
        out->agree[p] = (double)a / T;
        out->first_div[p] = fd0;
        for (int t = 0; t < fd0; t++) out->survival[t] += 1.0;
    }
    for (int t = 0; t < T; t++) out->survival[t] /= P;
}

/* Greedy and teacher-forced passes of every prompt against the reference cache rf (greedy_tokens and
 * greedy_margins [P, T], its batch). out's arrays are heap (cell_results_free). */
static qb_status measure_greedy(CellGreedyResult *out, Engine *e, const Workload *w, hid_t rf, const char *ref_h5) {
    const int P = w->n_prompts, T = w->steps;
    const size_t PT = (size_t)P * T;
    int *ref_tok = NULL;
    float *ref_mg = NULL;
    size_t n_ref = 0, n_mg = 0;
    char obj[64];
    memset(out, 0, sizeof *out);
    out->n_prompts = P;
    out->steps = T;
    qb_status st = h5r_read(rf, ref_obj(RS_MODEL_GREEDY_TOKENS, obj, sizeof obj), H5T_NATIVE_INT32, (void **)&ref_tok, &n_ref);
    if (!st && n_ref != PT)
        st = qb_errorf(QB_ERR_INPUT, "%s: %s has %zu entries, expected %zu", ref_h5, rs_name(RS_MODEL_GREEDY_TOKENS), n_ref, PT);
    if (!st) st = h5r_read(rf, ref_obj(RS_MODEL_GREEDY_MARGINS, obj, sizeof obj), H5T_NATIVE_FLOAT, (void **)&ref_mg, &n_mg);
    if (!st && (!(out->tokens = qb_calloc(PT, sizeof *out->tokens, "tokens")) ||
                !(out->argmax = qb_calloc(PT, sizeof *out->argmax, "argmax")) ||
                !(out->first_div = qb_calloc((size_t)P, sizeof *out->first_div, "divergence")) ||
                !(out->match = qb_calloc((size_t)P, sizeof *out->match, "match")) ||
                !(out->agree = qb_calloc((size_t)P, sizeof *out->agree, "agree")) ||
                !(out->survival = qb_calloc((size_t)T, sizeof *out->survival, "survival")) ||
                !(out->flip_prompt = qb_calloc(PT, sizeof *out->flip_prompt, "flips")) ||
                !(out->flip_step = qb_calloc(PT, sizeof *out->flip_step, "flips")) ||
                !(out->flip_margin = qb_calloc(PT, sizeof *out->flip_margin, "flips"))))
        st = QB_ERR_NOMEM;
    /* the reference's batch, so both sides decode the same batch compositions */
    out->batch = ref_batch(rf, w->batch);
    if (!st) st = pass_prompts(e, w, out->batch, ref_tok, out->tokens, NULL, out->argmax);
    if (!st) greedy_compare(out, ref_tok, ref_mg);
    free(ref_tok);
    free(ref_mg);
    return st;
}

/* Allocates measure_ppl's arrays: N tokens, W windows, and reflog [window, V] (the caller frees it). */
static qb_status ppl_alloc(CellPplResult *o, int64_t N, int W, size_t reflog_n, float **reflog) {
    size_t n = (size_t)N, nw = (size_t)W;
    if (!(o->nll = qb_malloc(n * sizeof *o->nll, "nll")) || !(o->kl = qb_malloc(n * sizeof *o->kl, "kl")) ||
        !(o->dp = qb_malloc(n * sizeof *o->dp, "dp")) || !(o->same = qb_malloc(n, "same-top flags")) ||
        !(o->wnll = qb_calloc(nw, sizeof *o->wnll, "w")) || !(o->wref = qb_calloc(nw, sizeof *o->wref, "w")) ||
        !(o->wkl = qb_calloc(nw, sizeof *o->wkl, "w")) || !(o->wcnt = qb_calloc(nw, sizeof *o->wcnt, "w")) ||
        !(o->wcnt64 = qb_calloc(nw, sizeof *o->wcnt64, "w")) ||
        !(*reflog = qb_malloc(reflog_n * sizeof **reflog, "reference logits")))
        return QB_ERR_NOMEM;
    return QB_OK;
}

/* Every perplexity window against the reference cache: its nll (rf, [N]) and its logits (file ref_logits,
 * float32 [N, V] in window order), token by token. out's arrays are heap (cell_results_free). */
static qb_status measure_ppl(CellPplResult *out, Engine *e, const Workload *w, hid_t rf, const char *ref_h5,
                             const char *ref_logits) {
    const int V = w->vocab, NW = w->n_windows;
    const int64_t N = w->n_tokens;
    double *ref_nll = NULL;
    float *reflog = NULL;
    size_t n_ref = 0;
    int fd = -1;
    char obj[64];
    memset(out, 0, sizeof *out);
    out->n_windows = NW;
    out->n_tokens = N;
    qb_status st = h5r_read(rf, ref_obj(RS_MODEL_NLL, obj, sizeof obj), H5T_NATIVE_DOUBLE, (void **)&ref_nll, &n_ref);
    if (!st && (int64_t)n_ref != N)
        st = qb_errorf(QB_ERR_INPUT, "%s: %s has %zu entries, expected %lld", ref_h5, rs_name(RS_MODEL_NLL), n_ref, (long long)N);
    if (!st && (fd = open(ref_logits, O_RDONLY)) < 0) st = qb_errorf(QB_ERR_IO, "%s: %s", ref_logits, strerror(errno));
    if (!st) st = ppl_alloc(out, N, NW, (size_t)w->cfg->window * V, &reflog);
    int64_t j = 0;
    for (int k = 0; k < NW && !st; k++) {
        if ((st = pass_window(e, w, k))) break;
        progress_tick(QB_PROG_WINDOW);
        int64_t b = w->windows[3 * k], en = w->windows[3 * k + 1], first = w->windows[3 * k + 2];
        if ((st = read_at(fd, reflog, (size_t)(en - first) * V * sizeof(float), (off_t)j * V * (off_t)sizeof(float),
                          ref_logits)))
            break;
        for (int64_t t = first; t < en; t++, j++) {
            stats_token s;
            stats_compare_logits(reflog + (size_t)(t - first) * V, e->logits + (size_t)(t - 1 - b) * V, V,
                                 w->corpus[t], &s);
            out->nll[j] = s.nll_codec;
            out->kl[j] = s.kl;
            out->dp[j] = s.dp_top;
            out->same[j] = s.top_ref == s.top_codec;
            out->wnll[k] += s.nll_codec;
            out->wref[k] += ref_nll[j];
            out->wkl[k] += s.kl;
            out->wcnt[k] += 1;
        }
        out->wcnt64[k] = (int64_t)out->wcnt[k];
    }
    if (fd >= 0) close(fd);
    free(ref_nll);
    free(reflog);
    return st;
}

/* R timed repeats: a prefill of the workload's random speed ids, then greedy single-token decode steps. */
static qb_status measure_speed(CellSpeedResult *out, Engine *e, const Workload *w) {
    const ExpConfig *cfg = w->cfg;
    const int R = cfg->speed_repeats, PN = cfg->speed_prompt_tokens, D = cfg->speed_decode_tokens;
    *out = (CellSpeedResult){.repeats = R, .prompt_tokens = PN, .decode_tokens = D, .threads = w->threads};
    if (!(out->prefill_s = qb_calloc((size_t)R, sizeof *out->prefill_s, "speed")) ||
        !(out->decode_s = qb_calloc((size_t)R, sizeof *out->decode_s, "speed")))
        return QB_ERR_NOMEM;
    qb_status st = QB_OK;
    for (int r = 0; r < R && !st; r++) {
        runstate_reset(&e->s);
        double t0 = qb_now();
        st = model_forward(&e->m, &e->s, w->speed_ids, PN, e->logits, 0, NULL);
        double t1 = qb_now();
        for (int t = 0; t < D && !st; t++) {
            int x = logits_argmax(e->logits, w->vocab, NULL);
            st = model_forward(&e->m, &e->s, &x, 1, e->logits, 0, NULL);
        }
        out->prefill_s[r] = t1 - t0;
        out->decode_s[r] = qb_now() - t1;
        progress_tick(QB_PROG_REPEAT);
    }
    return st;
}

/* The summary's speed fields: median, slowest and fastest tokens/s over the repeats. */
static void speed_row(SummaryRow *row, const CellSpeedResult *s) {
    const int R = s->repeats;
    double tps_p[1024], tps_d[1024]; /* repeats ≤ 1000 (expconfig) */
    for (int r = 0; r < R; r++) {
        tps_p[r] = s->prompt_tokens / (s->prefill_s[r] > 0 ? s->prefill_s[r] : 1e-9);
        tps_d[r] = s->decode_tokens / (s->decode_s[r] > 0 ? s->decode_s[r] : 1e-9);
    }
    stats_sort(tps_p, (size_t)R);
    stats_sort(tps_d, (size_t)R);
    row->speed_repeats = R;
    row->prefill_tps = stats_quantile_sorted(tps_p, (size_t)R, 0.5);
    row->prefill_tps_min = tps_p[0];
    row->prefill_tps_max = tps_p[R - 1];
    row->decode_tps = stats_quantile_sorted(tps_d, (size_t)R, 0.5);
    row->decode_tps_min = tps_d[0];
    row->decode_tps_max = tps_d[R - 1];
}

/* Every measurement of one cell into res, and the summary statistics into row. */
static qb_status measure_cell(CellResults *res, SummaryRow *row, Engine *e, const Workload *w, const char *ref_h5,
                              const char *ref_logits) {
    const ExpConfig *cfg = w->cfg;
    hid_t rf = -1;
    qb_status st = QB_OK;
    if ((w->n_prompts || w->n_windows) && (rf = H5Fopen(ref_h5, H5F_ACC_RDONLY, H5P_DEFAULT)) < 0)
        return qb_errorf(QB_ERR_IO, "%s: cannot open the reference cache", ref_h5);
    measure_memory(&res->memory, e);
    memory_row(row, &res->memory);
    row->ctx = w->ctx;
    row->threads = w->threads;
    if (w->n_prompts) {
        CellGreedyResult *g = &res->greedy;
        res->has_greedy = 1;
        st = measure_greedy(g, e, w, rf, ref_h5);
        CellGreedy cg = {g->n_prompts, g->steps, g->match, g->agree, g->first_div, g->flip_margin, g->n_flips};
        if (!st) st = cell_greedy_stats(&cg, cfg->bootstrap, cfg->seed, row);
    }
    if (!st && w->n_windows) {
        CellPplResult *p = &res->ppl;
        res->has_ppl = 1;
        st = measure_ppl(p, e, w, rf, ref_h5, ref_logits);
        CellPpl cp = {p->n_windows, p->n_tokens, p->wnll, p->wref, p->wkl, p->wcnt, p->kl, p->dp, p->same,
                      cfg->corpus_ids != NULL};
        if (!st) st = cell_ppl_stats(&cp, cfg->bootstrap, cfg->seed + 1, row);
    }
    if (!st && cfg->has_speed) {
        res->has_speed = 1;
        if (!(st = measure_speed(&res->speed, e, w))) speed_row(row, &res->speed);
    }
    if (rf >= 0) H5Fclose(rf);
    return st;
}

qb_status run_cell(const Workload *w, int codec_i, int kv_i, const char *ref_h5, const char *ref_logits,
                   const char *cell_h5, SummaryRow *row) {
    const ExpConfig *cfg = w->cfg;
    double t_start = qb_now();
    Engine e;
    memset(&e, 0, sizeof e);
    CellResults res = {.model = w->model->label, .codec = cfg->codecs[codec_i], .kv = cfg->kv[kv_i],
                       .cell_index = row->cell_index};
    char canonical[256], *htmp = tmp_of(cell_h5);
    hid_t f = -1;
    qb_status st = htmp ? engine_open(w, &cfg->codec_specs[codec_i], cfg->kv_modes[kv_i], &e) : QB_ERR_NOMEM;
    if (!st) st = measure_cell(&res, row, &e, w, ref_h5, ref_logits);
    if (!st) {
        codec_spec_format(&e.m.codec, canonical, sizeof canonical);
        res.codec_canonical = canonical;
        if ((f = h5r_fcreate()) < 0) st = qb_errorf(QB_ERR_IO, "%s: cannot create HDF5 file", htmp);
    }
    if (!st) st = h5r_write_cell(f, rs_name(RS_CACHE_CELL), &res);
    if (!st) {
        row->seconds = qb_now() - t_start;
        snprintf(row->status, sizeof row->status, "ok");
    }
    if (f >= 0) st = h5_finish(htmp, cell_h5, f, -1, st);
    engine_close(&e);
    cell_results_free(&res);
    free(htmp);
    return st;
}

qb_status run_model_info(const Workload *w, const char *ref_h5) {
    char *htmp = tmp_of(ref_h5);
    if (!htmp) return QB_ERR_NOMEM;
    hid_t f = -1, g = -1;
    qb_status st = h5_new(htmp, rs_name(RS_CACHE_REF), &f, &g);
    if (!st) st = h5r_attr_str(g, rs_name(RS_MODEL_PATH), w->model->path);
    if (!st) st = h5r_attr_str(g, rs_name(RS_MODEL_LABEL), w->model->label);
    if (!st) st = h5r_attr_str(g, rs_name(RS_MODEL_REFERENCE), w->cfg->reference);
    if (!st) st = h5r_attr_i64(g, rs_name(RS_MODEL_VOCAB), w->vocab);
    if (!st) st = h5r_attr_i64(g, rs_name(RS_MODEL_CTX), w->ctx);
    if (!st)
        st = h5r_attr_str(g, rs_name(RS_DESCRIPTION), "the model (no greedy or perplexity workload: no reference outputs)");
    st = h5_finish(htmp, ref_h5, f, g, st);
    free(htmp);
    return st;
}

/* gate.c — the regression gate (see gate.h). A thresholds file lists cells; each cell gets a fixed set of
 * checks, every one printed as a line so a CI log shows the value and the threshold that decided it.
 * Thresholds come from measured results with a stated margin (gate_suggest writes them), never loosened
 * to go green: a cell that is not ok, a metric that was not measured (NaN) or a results cell without
 * thresholds is a failure, not a skip. */
#include "gate.h"

#include "qb_json.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "config.h"

/* ---- thresholds file ---- */

/* An optional finite number (absent → NaN: "no threshold"). */
static qb_status num_key(const char *file, const cJSON *o, const char *key, const char *where, double *out) {
    *out = NAN;
    return qb_json_num(file, where, o, key, 0, -HUGE_VAL, HUGE_VAL, out, NULL);
}

static qb_status str_key(const char *file, const cJSON *o, const char *key, const char *where, const char *dflt,
                         char **out) {
    const char *s = dflt;
    int present = 0;
    char p[256];
    qb_status st = qb_json_str(file, where, o, key, dflt == NULL, &s, &present);
    if (st) return st;
    if (present && !s[0]) return qb_errorf(QB_ERR_INPUT, "%s: %s: expected a non-empty string", file,
                                           qb_json_path(p, sizeof p, where, key));
    *out = strdup(s);
    return *out ? QB_OK : qb_errorf(QB_ERR_NOMEM, "%s: out of memory", file);
}

static qb_status parse_cell(const char *file, const cJSON *o, const char *where, GateCell *c) {
    static const char *const known[] = {"model", "codec", "kv", "exact", "min_match_rate", "min_tf_agreement",
                                        "max_kl_mean", "max_delta_ppl", "_comment", "_measured", NULL};
    if (!cJSON_IsObject(o)) return qb_errorf(QB_ERR_INPUT, "%s: %s: expected an object", file, where);
    qb_status st = qb_json_check_keys(file, where, o, known);
    if (st) return st;
    if ((st = str_key(file, o, "model", where, NULL, &c->model)) ||
        (st = str_key(file, o, "codec", where, NULL, &c->codec)) ||
        (st = str_key(file, o, "kv", where, "f32", &c->kv)))
        return st;
    c->exact = 0;
    if ((st = qb_json_bool(file, where, o, "exact", 0, &c->exact, NULL))) return st;
    if ((st = num_key(file, o, "min_match_rate", where, &c->min_match_rate)) ||
        (st = num_key(file, o, "min_tf_agreement", where, &c->min_tf_agreement)) ||
        (st = num_key(file, o, "max_kl_mean", where, &c->max_kl_mean)) ||
        (st = num_key(file, o, "max_delta_ppl", where, &c->max_delta_ppl)))
        return st;
    return QB_OK;
}

static int cmp_cell(const void *pa, const void *pb) {
    const GateCell *a = *(const GateCell *const *)pa, *b = *(const GateCell *const *)pb;
    int r = strcmp(a->model, b->model);
    if (!r) r = strcmp(a->codec, b->codec);
    if (!r) r = strcmp(a->kv, b->kv);
    return r ? r : (a > b) - (a < b); /* ties in file order, so the message names the later one */
}

/* A cell listed twice: sorted neighbours compared (O(n log n), the file may hold many cells). */
static qb_status check_repeats(const char *path, const GateSpec *g) {
    const GateCell **s = malloc((size_t)g->n * sizeof *s);
    if (!s) return qb_errorf(QB_ERR_NOMEM, "%s: out of memory", path);
    for (int i = 0; i < g->n; i++) s[i] = &g->cells[i];
    qsort(s, (size_t)g->n, sizeof *s, cmp_cell);
    qb_status st = QB_OK;
    for (int i = 1; i < g->n && !st; i++)
        if (!strcmp(s[i]->model, s[i - 1]->model) && !strcmp(s[i]->codec, s[i - 1]->codec) &&
            !strcmp(s[i]->kv, s[i - 1]->kv))
            st = qb_errorf(QB_ERR_INPUT, "%s: cells[%d]: %s / %s / %s listed twice (first as cells[%d])", path,
                           (int)(s[i] - g->cells), s[i]->model, s[i]->codec, s[i]->kv, (int)(s[i - 1] - g->cells));
    free(s);
    return st;
}

qb_status gate_load(const char *path, GateSpec *g) {
    memset(g, 0, sizeof *g);
    char *text;
    size_t len;
    qb_status st = qb_read_file(path, &text, &len, 16u << 20);
    if (st) return st;
    cJSON *root = NULL;
    st = qb_json_parse(path, text, len, &root);
    free(text);
    if (st) return st;
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return qb_errorf(QB_ERR_INPUT, "%s: expected a JSON object", path);
    }
    const cJSON *cells = cJSON_GetObjectItemCaseSensitive(root, "cells");
    for (const cJSON *k = root->child; k && !st; k = k->next)
        if (strcmp(k->string, "cells") && k->string[0] != '_')
            st = qb_errorf(QB_ERR_INPUT, "%s: %s: unknown key (only \"cells\" and \"_…\" comments)", path, k->string);
    if (!st && (!cJSON_IsArray(cells) || cJSON_GetArraySize(cells) == 0))
        st = qb_errorf(QB_ERR_INPUT, "%s: cells: expected a non-empty array", path);
    if (!st) {
        int n = cJSON_GetArraySize(cells);
        g->cells = calloc((size_t)n, sizeof *g->cells);
        if (!g->cells) st = qb_errorf(QB_ERR_NOMEM, "%s: out of memory", path);
        int i = 0;
        for (const cJSON *c = cells ? cells->child : NULL; c && !st; c = c->next, i++) {
            char where[32];
            snprintf(where, sizeof where, "cells[%d]", i);
            g->n = i + 1;
            st = parse_cell(path, c, where, &g->cells[i]);
        }
        if (!st) st = check_repeats(path, g);
    }
    cJSON_Delete(root);
    if (st) gate_free(g);
    return st;
}

void gate_free(GateSpec *g) {
    for (int i = 0; i < g->n; i++) {
        free(g->cells[i].model);
        free(g->cells[i].codec);
        free(g->cells[i].kv);
    }
    free(g->cells);
    memset(g, 0, sizeof *g);
}

/* ---- bits per weight from the definitions ---- */

/* What each codec stores, from its row of the codec table: bits per weight code, f32 scale per row or
 * not, block size the row is padded to. The gate checks the bytes a loaded model reports against these. */
typedef struct {
    double bits;     /* per weight, block codecs: 8 · block_bytes / block */
    int row_scale;   /* 1: + 32 bits per row */
    int block;       /* weights per block (rows padded to a whole block) */
} CodecDef;

static const CodecDef *def_for(codec_id id, CodecDef *d) {
    if ((unsigned)id >= CODEC_COUNT) return NULL;
    const codec_traits *tr = &codec_table[id];
    *d = (CodecDef){8.0 * (double)tr->block_bytes / tr->block_size, tr->has_row_scale, tr->block_size};
    return d;
}

/* Bits of one [rows, cols] tensor under a definition. */
static double tensor_bits(const CodecDef *d, double rows, double cols) {
    double padded = ceil(cols / d->block) * d->block;
    return rows * (padded * d->bits + (d->row_scale ? 32.0 : 0.0));
}

qb_status gate_expected_bits_linear(const char *model_dir, const char *codec_spec, double *bits) {
    CodecSpec spec;
    qb_status st = codec_spec_parse(codec_spec, &spec);
    if (st) return st;
    CodecDef bufa, bufm;
    const CodecDef *da = def_for(codec_for_group(&spec, CODEC_GROUP_ATTN), &bufa);
    const CodecDef *dm = def_for(codec_for_group(&spec, CODEC_GROUP_MLP), &bufm);
    if (!da || !dm) return qb_errorf(QB_ERR_UNSUPPORTED, "%s: the gate has no definition of this codec", codec_spec);
    Config c;
    if ((st = config_load(model_dir, &c))) return st;
    double H = c.n_heads, KV = c.n_kv_heads, hd = c.head_dim, D = c.hidden, I = c.intermediate;
    double b = tensor_bits(da, (H + 2 * KV) * hd, D) + tensor_bits(da, D, H * hd) + tensor_bits(dm, 2 * I, D) +
               tensor_bits(dm, D, I);
    double params = (H + 2 * KV) * hd * D + D * H * hd + 2 * I * D + D * I;
    *bits = b / params; /* per layer: every layer has the same shapes */
    config_free(&c);
    return QB_OK;
}

/* ---- checks ---- */

typedef struct {
    FILE *out;
    int n, fail;
    char cell[256];
} Log;

/* op: ">=", "<=", "==". A NaN value fails: the gate never passes what was not measured. */
/* Number styles of the printed values: rates with 6 decimals, the rest in %g. */
enum { FMT_RATE, FMT_G4, FMT_G3 };
static void fmt_num(char *buf, size_t n, int style, double v) {
    if (style == FMT_RATE) snprintf(buf, n, "%.6f", v);
    else if (style == FMT_G4) snprintf(buf, n, "%.4g", v);
    else snprintf(buf, n, "%.3g", v);
}

static void check(Log *l, const char *what, double v, const char *op, double thr, int style) {
    int pass;
    if (!strcmp(op, ">=")) pass = v >= thr;
    else if (!strcmp(op, "<=")) pass = v <= thr;
    else pass = v == thr;
    l->n++;
    l->fail += !pass;
    char vs[64], ts[64];
    fmt_num(vs, sizeof vs, style, v);
    fmt_num(ts, sizeof ts, style, thr);
    fprintf(l->out, "%s  %-44s %-18s %14s %s %-14s\n", pass ? "PASS" : "FAIL", l->cell, what, vs, op, ts);
}

static void fail_line(Log *l, const char *what, const char *why) {
    l->n++;
    l->fail++;
    fprintf(l->out, "FAIL  %-44s %-18s %s\n", l->cell, what, why);
}

static void check_cell(const RdFile *f, const GateCell *c, Log *l) {
    snprintf(l->cell, sizeof l->cell, "%s / %s / %s", c->model, c->codec, c->kv);
    const SummaryRow *r = rd_find(f, c->model, c->codec, c->kv);
    if (!r) {
        fail_line(l, "present", "no such cell in the results file");
        return;
    }
    if (!rd_ok(r)) {
        fail_line(l, RS_FIELD(status), r->status);
        return;
    }
    /* On a random-id corpus a trained model's perplexity measures nothing (a codec's noise "improves" it), so
     * the run does not compute it; KL and same-top are the perplexity workload's numbers there. */
    int random_ids = !strcmp(r->ppl_kind, "random_ids");
    if (c->exact) {
        check(l, RS_FIELD(match_rate), r->match_rate, "==", 1.0, FMT_RATE);
        check(l, RS_FIELD(tf_agreement), r->tf_agreement, "==", 1.0, FMT_RATE);
        check(l, RS_FIELD(kl_mean), r->kl_mean, "==", 0.0, FMT_G3);
        if (random_ids) check(l, RS_FIELD(same_top), r->same_top, "==", 1.0, FMT_RATE);
        else check(l, RS_FIELD(delta_ppl), r->delta_ppl, "==", 0.0, FMT_G3);
    }
    if (!isnan(c->min_match_rate)) check(l, RS_FIELD(match_rate), r->match_rate, ">=", c->min_match_rate, FMT_RATE);
    if (!isnan(c->min_tf_agreement)) check(l, RS_FIELD(tf_agreement), r->tf_agreement, ">=", c->min_tf_agreement, FMT_RATE);
    if (!isnan(c->max_kl_mean)) check(l, RS_FIELD(kl_mean), r->kl_mean, "<=", c->max_kl_mean, FMT_G4);
    if (!isnan(c->max_delta_ppl)) {
        if (random_ids) fail_line(l, RS_FIELD(delta_ppl), "a threshold on perplexity, which a random-id corpus does not measure");
        else check(l, RS_FIELD(delta_ppl), r->delta_ppl, "<=", c->max_delta_ppl, FMT_G4);
    }
    char *dir = rd_model_attr(f, c->model, rs_name(RS_MODEL_PATH));
    double want;
    if (!dir || !dir[0]) fail_line(l, RS_FIELD(bits_per_weight), "the results file has no /models/<model> path attribute");
    else if (gate_expected_bits_linear(dir, c->codec, &want)) fail_line(l, RS_FIELD(bits_per_weight), qb_last_error());
    else {
        /* Exact up to the rounding of one division: the runner and the gate divide the same integers. */
        double v = r->bits_per_weight_linear;
        int same = fabs(v - want) <= 1e-12 * want;
        l->n++;
        l->fail += !same;
        fprintf(l->out, "%s  %-44s %-18s %14.9f == %-14.9f (definition)\n", same ? "PASS" : "FAIL", l->cell,
                RS_FIELD(bits_per_weight), v, want);
    }
    free(dir);
}

qb_status gate_check(const RdFile *f, const GateSpec *g, FILE *out, int *n_checks, int *n_fail) {
    Log l = {.out = out};
    for (int i = 0; i < g->n; i++) check_cell(f, &g->cells[i], &l);
    /* Every cell of the run needs thresholds: a codec added to the gate config without them must not pass
     * silently. */
    for (size_t i = 0; i < f->n; i++) {
        const SummaryRow *r = &f->rows[i];
        int found = 0;
        for (int j = 0; j < g->n && !found; j++)
            found = !strcmp(g->cells[j].model, r->model) && !strcmp(g->cells[j].codec, r->codec) &&
                    !strcmp(g->cells[j].kv, r->kv);
        if (!found) {
            snprintf(l.cell, sizeof l.cell, "%s / %s / %s", r->model, r->codec, r->kv);
            fail_line(&l, "thresholds", "no thresholds for this cell");
        }
    }
    *n_checks = l.n;
    *n_fail = l.fail;
    return QB_OK;
}

/* ---- thresholds from measured results ---- */

#define RATE_MARGIN 0.05 /* absolute, or twice the lower CI half-width when that is larger */
#define KL_FACTOR 2.0
#define LOSSLESS_KL 1e-9

static const char *dtype_codec(const char *torch_dtype) {
    if (!strcmp(torch_dtype, "bfloat16")) return "bf16";
    if (!strcmp(torch_dtype, "float16")) return "f16";
    if (!strcmp(torch_dtype, "float32")) return "fp32";
    return "";
}

static double floor_to(double v, double q) { return floor(v / q) * q; }
static double ceil_to(double v, double q) { return ceil(v / q) * q; }

qb_status gate_suggest(const RdFile *f, FILE *out) {
    fprintf(out, "{\n  \"_comment\": [\n"
                 "    \"Regression thresholds for `make gate` (configs/gate.json), written by `qinsbench gate %s --suggest`\",\n"
                 "    \"from measured results (git %s, %s, %s). Margins: min match rate and teacher-forced agreement =\",\n"
                 "    \"measured - max(%.2f, 2 x (measured - CI low)), floored to 0.001; max KL mean = %.0f x measured + 1e-6;\",\n"
                 "    \"max dPPL = measured + max(|measured|, 0.001 x reference PPL), only on text corpora (random-id corpora: no\",\n"
                 "    \"perplexity, exact cells check same-top instead). fp32 vs the fp32 reference: exact.\",\n"
                 "    \"bf16/f16 on a checkpoint stored in that dtype: KL mean < %.0e (lossless). Bits/weight are checked\",\n"
                 "    \"exactly against the codec definitions (no threshold). Every cell of the run must be listed.\"\n  ],\n",
            f->path, f->git_commit, f->cpu_model, f->start_time, RATE_MARGIN, KL_FACTOR, LOSSLESS_KL);
    fprintf(out, "  \"cells\": [\n");
    for (size_t i = 0; i < f->n; i++) {
        const SummaryRow *r = &f->rows[i];
        if (!rd_ok(r)) return qb_errorf(QB_ERR_INPUT, "%s: cell %s / %s / %s is not ok (%s): no thresholds from it",
                                        f->path, r->model, r->codec, r->kv, r->status);
        char *dir = rd_model_attr(f, r->model, rs_name(RS_MODEL_PATH));
        Config c;
        const char *native = "";
        if (dir[0] && config_load(dir, &c) == QB_OK) {
            native = dtype_codec(c.torch_dtype);
            config_free(&c);
        }
        free(dir);
        qb_error_clear();
        fprintf(out, "    {\"model\": \"%s\", \"codec\": \"%s\", \"kv\": \"%s\", ", r->model, r->codec, r->kv);
        if (!strcmp(r->codec, "fp32") && !strcmp(r->kv, "f32")) {
            fprintf(out, "\"exact\": true}%s\n", i + 1 < f->n ? "," : "");
            continue;
        }
        double mm = RATE_MARGIN, tm = RATE_MARGIN;
        if (isfinite(r->match_rate_lo) && 2 * (r->match_rate - r->match_rate_lo) > mm) mm = 2 * (r->match_rate - r->match_rate_lo);
        if (isfinite(r->tf_agreement_lo) && 2 * (r->tf_agreement - r->tf_agreement_lo) > tm) tm = 2 * (r->tf_agreement - r->tf_agreement_lo);
        /* fmax ignores a NaN operand: keep "not measured" NaN explicitly. */
        double min_m = isfinite(r->match_rate) ? fmax(0, floor_to(r->match_rate - mm, 0.001)) : NAN;
        double min_t = isfinite(r->tf_agreement) ? fmax(0, floor_to(r->tf_agreement - tm, 0.001)) : NAN;
        double max_kl = KL_FACTOR * r->kl_mean + 1e-6;
        int lossless = !strcmp(r->codec, native) && !strcmp(r->kv, "f32");
        if (lossless) max_kl = LOSSLESS_KL;
        double dp = isfinite(r->delta_ppl) ? fmax(fabs(r->delta_ppl), 0.001 * r->ref_ppl) : NAN;
        double max_dp = ceil_to(r->delta_ppl + dp, 1e-4);
        /* A metric the run did not measure gets no key: the exact checks and the bits check still apply. */
        if (isfinite(min_m)) fprintf(out, "\"min_match_rate\": %.3f, ", min_m);
        if (isfinite(min_t)) fprintf(out, "\"min_tf_agreement\": %.3f, ", min_t);
        if (isfinite(max_kl)) fprintf(out, "\"max_kl_mean\": %.3g, ", max_kl);
        if (isfinite(max_dp)) fprintf(out, "\"max_delta_ppl\": %.4f, ", max_dp);
        char dppl[64];
        if (isfinite(r->delta_ppl_rel)) snprintf(dppl, sizeof dppl, "dPPL %+.2f%%", 100 * r->delta_ppl_rel);
        else snprintf(dppl, sizeof dppl, "no PPL (%s)", r->ppl_kind[0] ? r->ppl_kind : "no corpus");
        fprintf(out, "\n     \"_measured\": \"match %.4f [%.4f, %.4f], tf %.4f, KL %.3g, same top %.4f, %s%s\"}%s\n",
                r->match_rate, r->match_rate_lo, r->match_rate_hi, r->tf_agreement, r->kl_mean, r->same_top, dppl,
                lossless ? ", lossless: checkpoint dtype" : "", i + 1 < f->n ? "," : "");
    }
    fprintf(out, "  ]\n}\n");
    return QB_OK;
}

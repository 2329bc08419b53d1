/* claims.c — see claims.h. One function per claim; each judges from the numbers it prints. */
#include "claims.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec.h"
#include "codec_stats.h"
#include "config.h"
#include "model.h"
#include "synth.h"

/* ---- the claim, quoted ---- */

const char claims_headline[] = "QINS Pattern A (codec-at-rest) keeps 100% greedy match vs FP32 at 2x less memory";
const char claims_forward[] = "w = sign · lut[stored]; F.linear(x, w)";


/* ---- formatting (the claims table's own) ---- */

static const char *run_cmd(const RdFile *f, char *b, size_t n) {
    snprintf(b, n, "`qinsbench run %s --out %s`", f->config_path[0] ? f->config_path : "CONFIG", f->path);
    return b;
}

/* ---- finding rows across files ---- */

typedef struct {
    const RdFile *f;
    const SummaryRow *r;
} Hit;

/* The ok row of (codec, kv f32) with the most greedy steps × prompts, preferring model `prefer`. */
static Hit find_best(const ReportInput *in, const char *codec, const char *prefer, int need_ppl) {
    Hit best = {0};
    double best_score = -1;
    for (int i = 0; i < in->n_files; i++) {
        const RdFile *f = &in->files[i];
        for (size_t j = 0; j < f->n; j++) {
            const SummaryRow *r = &f->rows[j];
            if (!rd_ok(r) || strcmp(r->codec, codec) || strcmp(r->kv, "f32")) continue;
            if (need_ppl && !isfinite(r->delta_ppl_rel)) continue;
            if (!need_ppl && !isfinite(r->match_rate)) continue;
            double score = need_ppl ? (double)r->n_tokens : (double)r->steps * 1e6 + (double)r->n_prompts;
            if (prefer && !strcmp(r->model, prefer)) score += 1e15;
            if (score > best_score) {
                best_score = score;
                best = (Hit){f, r};
            }
        }
    }
    return best;
}

static const SummaryRow *find_in(const RdFile *f, const char *model, const char *codec, const char *kv) {
    const SummaryRow *r = rd_find(f, model, codec, kv);
    return r && rd_ok(r) ? r : NULL;
}

/* ---- Phi-3.5-mini bytes ---- */

/* A synth preset's config (shapes only: synth --config-only into a temporary directory, removed again). */
static qb_status preset_config(const char *preset, Config *c) {
    char dir[] = "/tmp/qinsbench-preset-XXXXXX";
    if (!mkdtemp(dir)) return qb_errorf(QB_ERR_IO, "/tmp: cannot make a temporary directory");
    synth_options o = {.preset = preset, .out_dir = dir, .dtype = ST_BF16, .quiet = 1, .config_only = 1, .force = 1};
    synth_result res;
    qb_status st = synth_write(&o, &res);
    if (!st) st = config_load(dir, c);
    /* No temporary files left behind: synth --config-only writes exactly these two. */
    char p[128];
    snprintf(p, sizeof p, "%s/config.json", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/generation_config.json", dir);
    unlink(p);
    rmdir(dir);
    return st;
}

/* Exact bytes at rest by group of a preset's shapes under a codec spec. */
static qb_status preset_bytes(const char *preset, const char *codec_spec, WeightBytes *wb) {
    Config c;
    qb_status st = preset_config(preset, &c);
    if (st) return st;
    CodecSpec spec;
    if (!(st = codec_spec_parse(codec_spec, &spec))) model_bytes_for_config(&c, &spec, wb);
    config_free(&c);
    return st;
}

static double wb_total(const WeightBytes *wb) {
    return (double)(wb->attn + wb->mlp + wb->lm_head + wb->embed + wb->norms);
}
static double wb_params(const WeightBytes *wb) {
    return (double)(wb->n_params_attn + wb->n_params_mlp + wb->n_params_lm_head + wb->n_params_embed + wb->n_params_norms);
}

qb_status report_phi35_bytes(const char *codec_spec, double *bytes, double *params) {
    WeightBytes wb;
    qb_status st = preset_bytes("phi3.5-mini", codec_spec, &wb);
    if (st) return st;
    *bytes = wb_total(&wb);
    *params = wb_params(&wb);
    return QB_OK;
}

static qb_status weight_regimes(const char *dir, double frac[3], double *n_weights);

/* ---- the claims ---- */

typedef struct {
    FILE *o;
    const ReportInput *in;
} Claims;

static void claim_row(Claims *c, const char *claim, const char *measured, const char *verdict, const char *why,
                      const char *cmd) {
    fputs("| ", c->o);
    rd_md_cell(c->o, claim);
    fputs(" | ", c->o);
    rd_md_cell(c->o, measured);
    fprintf(c->o, " | **%s** — ", verdict);
    rd_md_cell(c->o, why);
    fputs(" | ", c->o);
    rd_md_cell(c->o, cmd);
    fputs(" |\n", c->o);
}

static void claim_pattern_a(Claims *c) {
    char rcbuf[256];
    Hit h = find_best(c->in, "qins", NULL, 0);
    char m[1024], why[1024], cmd[512];
    if (!h.r) {
        claim_row(c, "Pattern A (qins) keeps 100% greedy match vs FP32 over 500 steps", "not measured",
                  "inconclusive", "no results file has a qins cell with a greedy workload", "`make report`");
        return;
    }
    /* The headline is the claim's own quantity: the fraction of prompts identical to FP32 through every step
     * (survival at the horizon, Wilson CI over prompts), then how far a prompt gets before its first
     * divergence (bootstrap CI over prompts); the position-wise match rate comes last (it also counts
     * positions after a divergence). */
    char rate[96], surv[96];
    rd_fmt_rate(rate, sizeof rate, h.r->match_rate, h.r->match_rate_lo, h.r->match_rate_hi);
    rd_fmt_rate(surv, sizeof surv, h.r->survival_full, h.r->survival_full_lo, h.r->survival_full_hi);
    snprintf(m, sizeof m,
             "%s: %s of prompts identical to FP32 through all %lld steps (%lld prompts); first divergence after "
             "%.1f [%.1f, %.1f] steps on average; %s of positions match",
             h.r->model, surv, (long long)h.r->steps, (long long)h.r->n_prompts, h.r->prefix_len_mean,
             h.r->prefix_len_mean_lo, h.r->prefix_len_mean_hi, rate);
    const char *verdict;
    if (h.r->match_rate >= 1.0) {
        verdict = "holds";
        snprintf(why, sizeof why, "every step of every prompt equal to FP32 on %s", h.r->model);
    } else {
        verdict = "refuted";
        snprintf(why, sizeof why,
                 "the claim is that every prompt stays identical for 500 steps; the 95%% CI of the fraction that does "
                 "reaches only %.2f%%, and a prompt diverges after %.1f steps on average%s. "
                 "The claim's own forward, `%s`, is exactly this codec's arithmetic: decode to f32, then an f32 product.",
                 100 * h.r->survival_full_hi, h.r->prefix_len_mean,
                 h.r->steps < 500 ? "; the run has fewer than 500 steps, which can only make matching easier" : "",
                 claims_forward);
    }
    snprintf(cmd, sizeof cmd, "%s; `qinsbench show %s`", run_cmd(h.f, rcbuf, sizeof rcbuf), h.f->path);
    claim_row(c, "Pattern A (codec-at-rest, `qins`) keeps 100% greedy match vs FP32 over 500 steps", m, verdict, why, cmd);
    /* Every model, not just the best: a claim of 100% must hold on all of them. */
    for (int i = 0; i < c->in->n_files; i++) {
        const RdFile *f = &c->in->files[i];
        for (size_t j = 0; j < f->n; j++) {
            const SummaryRow *r = &f->rows[j];
            if (r == h.r || !rd_ok(r) || strcmp(r->codec, "qins") || strcmp(r->kv, "f32") || !isfinite(r->match_rate))
                continue;
            rd_fmt_rate(rate, sizeof rate, r->match_rate, r->match_rate_lo, r->match_rate_hi);
            snprintf(m, sizeof m, "%s on %s (%lld prompts × %lld steps)", rate, r->model, (long long)r->n_prompts,
                     (long long)r->steps);
            snprintf(why, sizeof why, "%s", r->match_rate >= 1 ? "all steps equal" : "divergences observed");
            snprintf(cmd, sizeof cmd, "`qinsbench show %s`", f->path);
            claim_row(c, "(same claim, another model)", m, r->match_rate >= 1 ? "holds" : "refuted", why, cmd);
        }
    }
}

static void claim_compute(Claims *c) {
    char rcbuf[256];
    Hit h = find_best(c->in, "qins-compute", NULL, 0);
    char m[512], why[1024], cmd[512];
    if (!h.r) {
        claim_row(c, "compute-in-QINS: 6.4% greedy match", "not measured", "inconclusive",
                  "no qins-compute cell in the results", "`make report`");
        return;
    }
    char rate[96];
    rd_fmt_rate(rate, sizeof rate, h.r->match_rate, h.r->match_rate_lo, h.r->match_rate_hi);
    snprintf(m, sizeof m, "%s greedy match (our definition, below), %s: %lld prompts × %lld steps", rate, h.r->model,
             (long long)h.r->n_prompts, (long long)h.r->steps);
    int inside = 0.064 >= h.r->match_rate_lo && 0.064 <= h.r->match_rate_hi;
    snprintf(why, sizeof why,
             "%s. The claim gives no definition of compute-in-QINS, so its 6.4%% can only be compared with ours, "
             "not reproduced: a different number does not refute it",
             inside ? "6.4% lies inside our 95% CI" : "6.4% lies outside our 95% CI");
    snprintf(cmd, sizeof cmd, "%s", run_cmd(h.f, rcbuf, sizeof rcbuf));
    claim_row(c, "compute-in-QINS: 6.4% greedy match", m, inside ? "holds (under our definition)" : "inconclusive", why, cmd);
}

static void claim_calibrated(Claims *c) {
    claim_row(c, "calibrated QINS: 0.0% greedy match", "not measured", "inconclusive",
              "the claim does not say what is calibrated, on what data, or how; there is nothing defined to run",
              "—");
}

static void claim_bytes(Claims *c) {
    const char *specs[] = {"fp32", "bf16:apply=attn+mlp+lm_head+embed", "qins", "qins8", "qins:apply=attn+mlp+lm_head+embed",
                           "qins8:apply=attn+mlp+lm_head+embed"};
    double b[6], p = 0;
    for (int i = 0; i < 6; i++)
        if (report_phi35_bytes(specs[i], &b[i], &p)) {
            claim_row(c, "weights \"FP32 7.6 GB → QINS 1.9 GB\" (2× / 4×)", qb_last_error(), "inconclusive",
                      "could not compute Phi-3.5-mini's byte counts", "—");
            return;
        }
    char m[1024], why[1024];
    snprintf(m, sizeof m,
             "Phi-3.5-mini (%.3f G parameters), exact bytes at rest (norms stay f32): FP32 %.2f GB; bf16, every matrix %.2f GB; qins as stored "
             "(uint8 + int8 sign, attention+MLP) %.2f GB, every matrix coded %.2f GB; packed qins8 %.2f GB, every "
             "matrix %.2f GB",
             p / 1e9, b[0] / 1e9, b[1] / 1e9, b[2] / 1e9, b[4] / 1e9, b[3] / 1e9, b[5] / 1e9);
    snprintf(why, sizeof why,
             "FP32 is %.1f GB, not 7.6 GB (7.6 GB is the bf16 size). QINS as stored is %.2f× smaller than FP32 and "
             "%.3f× the size of bf16 (no saving against the bf16 checkpoint as distributed); packed into one byte it is "
             "%.2f× smaller than FP32, %.2f× than bf16. 1.9 GB would need %.1f bits/weight — no QINS layout here "
             "comes close. \"2×\" holds only against FP32; \"4×\" only for the packed form against FP32",
             b[0] / 1e9, b[0] / b[4], b[4] / b[1], b[0] / b[5], b[1] / b[5], 1.9e9 * 8 / p);
    claim_row(c, "weights \"FP32 7.6 GB → QINS 1.9 GB\", called both 2× and 4×", m, "refuted", why,
              "`qinsbench report` (model_bytes_for_config on `qinsbench synth --preset phi3.5-mini --config-only` shapes)");
}

static void claim_speed(Claims *c) {
    char rcbuf[256];
    char m[1024], why[1024], cmd[512];
    if (c->in->bench) {
        const BenchRow *q = NULL, *f = NULL;
        for (int i = 0; i < c->in->bench->n; i++) {
            const BenchRow *r = &c->in->bench->rows[i];
            if (strcmp(r->test, "tg")) continue;
            if (!strcmp(r->codec, "qins") && !q) q = r;
            if (!strcmp(r->codec, "fp32") && !f) f = r;
        }
        if (q && f && f->avg_ts > 0) {
            double ratio = q->avg_ts / f->avg_ts;
            snprintf(m, sizeof m, "decode (tg): qins %.2f tok/s vs FP32 %.2f tok/s = %.3f× (%s; model %s)", q->avg_ts,
                     f->avg_ts, ratio, c->in->bench_path, q->model);
            int holds = ratio >= 0.95 && ratio <= 1.05;
            snprintf(why, sizeof why,
                     "%s the claimed 0.95–1.05× range%s. What was measured: this engine's fused decode-and-dot kernels on "
                     "the CPU above, at Phi-3.5-mini's shapes with synthetic weights (the bench's layer count), median of "
                     "repeats — not the claim's PyTorch-on-M4 setting, which this neither reproduces nor refutes",
                     holds ? "inside" : "outside",
                     ratio > 1.05 ? " (faster: the coded weights are half the bytes to read)" : "");
            snprintf(cmd, sizeof cmd, "`make bench-phi35` → %s", c->in->bench_path);
            claim_row(c, "speed ~0.95–1.05× FP32 (\"~5% slower\")", m, holds ? "holds here" : "not reproduced here", why, cmd);
            return;
        }
    }
    Hit q = {0}, f = {0};
    for (int i = 0; i < c->in->n_files && !(q.r && f.r); i++) {
        const RdFile *rf = &c->in->files[i];
        for (size_t j = 0; j < rf->n; j++) {
            const SummaryRow *r = &rf->rows[j];
            if (!rd_ok(r) || strcmp(r->kv, "f32") || !isfinite(r->decode_tps)) continue;
            if (!strcmp(r->codec, "qins") && !q.r) q = (Hit){rf, r};
        }
        if (q.r) {
            const SummaryRow *fr = find_in(rf, q.r->model, "fp32", "f32");
            if (fr && isfinite(fr->decode_tps)) f = (Hit){rf, fr};
            else q.r = NULL;
        }
    }
    if (!q.r || !f.r) {
        claim_row(c, "speed ~0.95–1.05× FP32", "not measured", "inconclusive",
                  "no speed workload in the results and no bench CSV (`qinsbench report --bench`)", "`make bench-phi35`");
        return;
    }
    snprintf(m, sizeof m, "decode on %s: qins %.0f tok/s [%.0f–%.0f] vs FP32 %.0f tok/s [%.0f–%.0f] = %.2f×", q.r->model,
             q.r->decode_tps, q.r->decode_tps_min, q.r->decode_tps_max, f.r->decode_tps, f.r->decode_tps_min,
             f.r->decode_tps_max, q.r->decode_tps / f.r->decode_tps);
    snprintf(why, sizeof why,
             "the toy shape's weights fit in the CPU caches, so decode is not memory-bound and says nothing about the "
             "claim's setting (a memory-bound 3.8 B model); the Phi-3.5 bench (`make bench-phi35` → "
             "results/bench-phi35.csv, then `qinsbench report --bench`) decides it");
    snprintf(cmd, sizeof cmd, "%s", run_cmd(q.f, rcbuf, sizeof rcbuf));
    claim_row(c, "speed ~0.95–1.05× FP32 (\"~5% slower\")", m, "not reproduced here", why, cmd);
}

static void claim_ppl(Claims *c) {
    char rcbuf[256];
    Hit h = find_best(c->in, "qins", "austen-toy", 1);
    char m[512], why[1024], cmd[512];
    if (!h.r || !(h.r->ref_ppl > 0)) {
        claim_row(c, "perplexity +<0.5%", "not measured", "inconclusive", "no qins cell with a perplexity workload",
                  "`make report`");
        return;
    }
    /* the relative change bootstrapped as itself (delta_ppl_rel: paired over windows, bounds > −100%) */
    double rel = 100 * h.r->delta_ppl_rel, lo = 100 * h.r->delta_ppl_rel_lo, hi = 100 * h.r->delta_ppl_rel_hi;
    snprintf(m, sizeof m, "qins on %s: PPL %.3f vs FP32 %.3f: %+.2f%% [%+.2f%%, %+.2f%%] over %lld tokens; KL mean %.3g nat",
             h.r->model, h.r->ppl, h.r->ref_ppl, rel, lo, hi, (long long)h.r->n_tokens, h.r->kl_mean);
    const char *verdict = hi < 0.5 ? "holds" : lo > 0.5 ? "refuted" : "inconclusive";
    snprintf(why, sizeof why, "%s", hi < 0.5   ? "the whole 95% CI is below +0.5%"
                                   : lo > 0.5 ? "the whole 95% CI is above +0.5%"
                                              : "the 95% CI contains +0.5%");
    snprintf(cmd, sizeof cmd, "%s", run_cmd(h.f, rcbuf, sizeof rcbuf));
    claim_row(c, "perplexity +<0.5% vs FP32 (Pattern A)", m, verdict, why, cmd);
}

static void claim_kv(Claims *c) {
    char rcbuf[256];
    /* Measured: the same model and codec under kv f32, f16 and qins-v; the trained model first (its quality
     * numbers mean something), then any. */
    for (int pass = 0; pass < 2; pass++)
    for (int i = 0; i < c->in->n_files; i++) {
        const RdFile *f = &c->in->files[i];
        for (size_t j = 0; j < f->n; j++) {
            const SummaryRow *q = &f->rows[j];
            if (pass == 0 && strcmp(q->model, "austen-toy")) continue;
            if (!rd_ok(q) || strcmp(q->kv, "qins-v") || q->kv_bytes <= 0) continue;
            const SummaryRow *a = find_in(f, q->model, q->codec, "f32"), *h = find_in(f, q->model, q->codec, "f16");
            if (!a || a->kv_bytes <= 0) continue;
            char m[1024], why[1024], cmd[512];
            double sa = 100 * (1 - (double)q->kv_bytes / (double)a->kv_bytes);
            double sh = h && h->kv_bytes > 0 ? 100 * (1 - (double)q->kv_bytes / (double)h->kv_bytes) : NAN;
            /* Phi-3.5-mini per token and layer: 32 KV heads × 96: K f16 + V codes (2 bytes) + one f32 scale per head. */
            double kvd = 32.0 * 96, p_f32 = kvd * 8, p_f16 = kvd * 4, p_q = kvd * 4 + 32 * 4;
            snprintf(m, sizeof m,
                     "%s (%s weights, ctx %lld): KV bytes f32 %lld, f16 %lld, qins-v %lld → qins-v saves %.1f%% vs an "
                     "f32 cache, %.1f%% vs f16. Same layout at Phi-3.5-mini's shapes: %.1f%% vs f32, %.1f%% vs f16. "
                     "Quality with qins-v: match %.1f%%, KL %.3g (f32 cache: %.1f%%, %.3g)",
                     q->model, q->codec, (long long)q->ctx, (long long)a->kv_bytes, h ? (long long)h->kv_bytes : -1LL,
                     (long long)q->kv_bytes, sa, sh, 100 * (1 - p_q / p_f32), 100 * (1 - p_q / p_f16),
                     100 * q->match_rate, q->kl_mean, 100 * a->match_rate, a->kl_mean);
            snprintf(why, sizeof why,
                     "the saving is ~50%% against an f32 cache (K goes to f16 as well) and slightly negative against "
                     "the f16 cache inference engines use (V codes are 2 bytes, like f16, plus a scale); 30–40%% "
                     "matches neither baseline");
            snprintf(cmd, sizeof cmd, "%s", run_cmd(f, rcbuf, sizeof rcbuf));
            claim_row(c, "V-cache in QINS saves 30–40% of KV memory", m, "refuted", why, cmd);
            return;
        }
    }
    claim_row(c, "V-cache in QINS saves 30–40% of KV memory", "not measured (no kv qins-v cells)", "inconclusive",
              "run a config with \"kv\": [\"f32\", \"f16\", \"qins-v\"] (configs/gate.json has them)", "`make gate`");
}

static void claim_precision(Claims *c) {
    char m[1024], why[1024], tail[512] = "";
    /* What reaches the output: KL of qins vs int8 on the model with the most perplexity tokens. */
    Hit q = find_best(c->in, "qins", "austen-toy", 1);
    const SummaryRow *i8 = q.r ? find_in(q.f, q.r->model, "int8", "f32") : NULL;
    if (q.r && i8)
        snprintf(tail, sizeof tail,
                 " What reaches the output: on %s, qins (%.1f bits/weight) has KL mean %.3g nat and %.1f%% greedy match; "
                 "int8 (%.1f bits/weight) %.3g nat and %.1f%% (`qinsbench show %s`)",
                 q.r->model, q.r->bits_per_weight_linear, q.r->kl_mean, 100 * q.r->match_rate, i8->bits_per_weight_linear,
                 i8->kl_mean, 100 * i8->match_rate, q.f->path);
    snprintf(m, sizeof m, "resolution table below: QINS's relative step is finer than int8's only for "
                          "scale/255 < |w| < ~0.09·scale; coarser above (50%% at |w| = scale), saturated below.%s", tail);
    double fr[3], nw;
    char share[256] = "";
    if (weight_regimes("models/austen-toy", fr, &nw) == QB_OK)
        snprintf(share, sizeof share, "; in the trained austen-toy, %.1f%% of projection weights are large enough that int8 is "
                                      "finer, %.1f%% in the QINS band, %.1f%% saturated", 100 * fr[0], 100 * fr[1], 100 * fr[2]);
    else
        qb_error_clear();
    snprintf(why, sizeof why, "true against per-row int8 only in a band of small magnitudes; false for large weights and "
                              "for the smallest (every |w| below about scale/255 decodes to ±scale/255, so the magnitude is lost)%s",
             share);
    claim_row(c, "\"more precision for small weights\"", m, "partly holds", why, "`qinsbench report` (codec_qins_code)");
}


/* Where a trained model's projection weights fall on the table above: the fraction of weights with
 * |w| / (row max) above the crossover (int8 finer), in the band where QINS is finer, and below scale/255
 * (QINS saturated). Loads the checkpoint in fp32 (the row max is the qins scale). */
static qb_status weight_regimes(const char *dir, double frac[3], double *n_weights) {
    ModelOptions mo = {.codec = "fp32", .kv = "f32", .ctx = 16, .threads = 1};
    Model m;
    qb_status st = model_load(dir, &mo, &m);
    if (st) return st;
    double cnt[3] = {0, 0, 0}, total = 0;
    float *row = NULL;
    size_t cap = 0;
    for (int l = 0; l < m.config.n_layers && !st; l++) {
        const CodedTensor *ts[4] = {&m.w.layers[l].qkv, &m.w.layers[l].o, &m.w.layers[l].gate_up, &m.w.layers[l].down};
        for (int t = 0; t < 4 && !st; t++) {
            const CodedTensor *T = ts[t];
            if ((size_t)T->cols > cap) {
                free(row);
                cap = (size_t)T->cols;
                if (!(row = qb_malloc(cap * sizeof *row, "row"))) st = QB_ERR_NOMEM;
            }
            for (int64_t r = 0; r < T->rows && !st; r++) {
                codec_decode_row(T, r, row);
                float mx = 0;
                for (int64_t i = 0; i < T->cols; i++) mx = fabsf(row[i]) > mx ? fabsf(row[i]) : mx;
                if (mx == 0) continue;
                for (int64_t i = 0; i < T->cols; i++) {
                    double q = fabsf(row[i]) / mx;
                    cnt[q > 0.0887 ? 0 : q >= 1.0 / 255 ? 1 : 2] += 1;
                }
                total += (double)T->cols;
            }
        }
    }
    free(row);
    model_free(&m);
    if (st) return st;
    for (int i = 0; i < 3; i++) frac[i] = total > 0 ? cnt[i] / total : NAN;
    *n_weights = total;
    return QB_OK;
}

/* Relative step of the code around |w|/scale = r: QINS code c decodes to 1/c; its neighbours are 1/(c±1). */
static void precision_table(FILE *o) {
    fputs("| \\|w\\| / scale | QINS code | QINS decodes to | QINS rel. error | QINS rel. step | int8 code | int8 rel. error | int8 rel. step | finer step |\n"
          "|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
          o);
    const double rs[] = {0.9, 0.6, 0.3, 0.15, 0.089, 0.06, 0.03, 0.015, 0.007, 0.003, 0.001};
    for (size_t i = 0; i < sizeof rs / sizeof *rs; i++) {
        double r = rs[i];
        int cq = codec_qins_code((float)r, 1.0f, 255);
        double dq = 1.0 / cq;
        /* step: distance to the next representable magnitude towards zero (1/(c+1)), saturated: the whole
         * interval [0, 1/255] maps to one value */
        double stepq = cq < 255 ? (1.0 / cq - 1.0 / (cq + 1)) / r : (1.0 / 255) / r;
        double qi = round(r * 127);
        double di = qi / 127, stepi = (1.0 / 127) / r;
        fprintf(o, "| %.4g | %d | %.5g | %.1f%% | %.2f%% | %.0f | %.1f%% | %.2f%% | %s |\n", r, cq, dq,
                100 * fabs(dq - r) / r, 100 * stepq, qi, 100 * fabs(di - r) / r, 100 * stepi,
                cq == 255 && r < 1.0 / 255 ? (qi == 0 ? "neither: QINS saturates at scale/255, int8 rounds to 0" : "neither: QINS saturates at scale/255")
                : stepq < stepi ? "QINS" : "int8");
    }
    double fr[3], nw;
    if (weight_regimes("models/austen-toy", fr, &nw) == QB_OK)
        fprintf(o, "\nWhere a trained model's weights fall: of austen-toy's %.0f projection weights (attention + MLP), "
                   "%.1f%% have |w| > 0.089 · row max (int8 finer), %.1f%% lie in the band where QINS is finer, and %.1f%% are below "
                   "row max / 255 (QINS saturated) — computed by `qinsbench report` from models/austen-toy.\n",
                nw, 100 * fr[0], 100 * fr[1], 100 * fr[2]);
    else
        qb_error_clear();
    fputs("\nQINS code = `codec_qins_code(|w|, scale, 255)` (engine/codec.c), decoded as scale/code. Relative step = "
          "gap to the neighbouring representable magnitude divided by |w| (for QINS at code 255 the whole "
          "interval [0, scale/255] collapses to one value). int8 = per-row absmax: step scale/127 everywhere. The "
          "crossover is |w|/scale ≈ √(1/127) ≈ 0.089.\n",
          o);
}


/* ---- the literal readings of the formula, and what would work ---- */

/* Every qins reading present in the results (round=floor, scale=tensor, scale=N), each on its own row:
 * the claim judged under every reading of its own formula, not only the one most favourable to it. */
static void claim_readings(Claims *c) {
    char rate[96], m[768], why[512], cmd[512];
    for (int i = 0; i < c->in->n_files; i++) {
        const RdFile *f = &c->in->files[i];
        for (size_t j = 0; j < f->n; j++) {
            const SummaryRow *r = &f->rows[j];
            CodecSpec s;
            if (!rd_ok(r) || strcmp(r->kv, "f32") || !isfinite(r->match_rate) || !strcmp(r->codec, "qins")) continue;
            if (codec_spec_parse(r->codec, &s) != QB_OK) {
                qb_error_clear();
                continue;
            }
            if (s.id != CODEC_QINS) continue;
            rd_fmt_rate(rate, sizeof rate, r->match_rate, r->match_rate_lo, r->match_rate_hi);
            snprintf(m, sizeof m, "`%s` on %s: %s greedy match (%lld prompts × %lld steps), KL mean %.3g nat", r->codec,
                     r->model, rate, (long long)r->n_prompts, (long long)r->steps, r->kl_mean);
            snprintf(why, sizeof why, "%s",
                     r->match_rate >= 1 ? "all steps equal under this reading"
                     : s.params.scale == CODEC_SCALE_CONST
                         ? "divergences observed; with one constant scale every |w| below scale/255 decodes to the same "
                           "±scale/255 (with 256: ±1.004), far above the weights of a trained model"
                         : "divergences observed under this reading too");
            snprintf(cmd, sizeof cmd, "`qinsbench show %s`", f->path);
            claim_row(c, "(same claim, another reading of `clip(scale/|w|, 1, 255)` # uint8)", m,
                      r->match_rate >= 1 ? "holds" : "refuted", why, cmd);
        }
    }
}

/* log8 beside qins on the same model: the harmonic levels are the fault, not 8 bits. */
typedef struct WeightMeasure WeightMeasure;
static double wm_rms_ratio(const WeightMeasure *wm, int n, const char **label);
static void claim_log8(Claims *c, const WeightMeasure *wm, int nwm) {
    char ra[96], rb[96], m[768], why[512], cmd[512];
    const char *lab = "no model";
    const double rms_ratio = wm_rms_ratio(wm, nwm, &lab);
    for (int i = 0; i < c->in->n_files; i++) {
        const RdFile *f = &c->in->files[i];
        for (size_t j = 0; j < f->n; j++) {
            const SummaryRow *l = &f->rows[j];
            if (!rd_ok(l) || strcmp(l->codec, "log8") || strcmp(l->kv, "f32") || !isfinite(l->match_rate)) continue;
            const SummaryRow *q = find_in(f, l->model, "qins", "f32");
            if (!q || !isfinite(q->match_rate)) continue;
            rd_fmt_rate(ra, sizeof ra, l->match_rate, l->match_rate_lo, l->match_rate_hi);
            rd_fmt_rate(rb, sizeof rb, q->match_rate, q->match_rate_lo, q->match_rate_hi);
            snprintf(m, sizeof m, "%s: log8 (%.2f bits/weight) %s greedy match, KL mean %.3g nat; qins (%.2f bits/weight) %s, "
                     "KL %.3g nat", l->model, l->bits_per_weight_linear, ra, l->kl_mean, q->bits_per_weight_linear, rb,
                     q->kl_mean);
            snprintf(why, sizeof why,
                     "the same magnitude range [S/255, S] and 7 bits of magnitude, spaced evenly in log instead of "
                     "harmonically: KL %.1f× lower at half the bytes of qins as stored; relative RMS error of the weights "
                     "%.1f× lower (%s's linear layers; tests/test_codec.c measures 12.4× on Gaussian rows)",
                     l->kl_mean > 0 ? q->kl_mean / l->kl_mean : NAN, rms_ratio, lab);
            snprintf(cmd, sizeof cmd, "`qinsbench show %s`", f->path);
            claim_row(c, "what the idea would need: a log-spaced 8-bit code (`log8`, ours, not the claim's)", m,
                      "for comparison", why, cmd);
        }
    }
}

/* The no-op control: a codec whose decoded weights equal the checkpoint's. 100% greedy match is what a
 * product that never sees coded weights gives; this row shows the harness reports exactly that then. */
static void claim_control(Claims *c) {
    char rate[96], m[768], why[512], cmd[512];
    int any = 0;
    for (int i = 0; i < c->in->n_files; i++) {
        const RdFile *f = &c->in->files[i];
        for (size_t j = 0; j < f->n; j++) {
            const SummaryRow *r = &f->rows[j];
            if (!rd_ok(r) || strncmp(r->codec, "bf16", 4) || strcmp(r->kv, "f32") || !isfinite(r->match_rate)) continue;
            char *dtype = rd_model_attr(f, r->model, rs_name(RS_MODEL_TORCH_DTYPE));
            int bf16_ckpt = dtype && !strcmp(dtype, "bfloat16");
            free(dtype);
            if (!bf16_ckpt) continue; /* the checkpoint's own dtype, written by the runner on /models/<label> */
            rd_fmt_rate(rate, sizeof rate, r->match_rate, r->match_rate_lo, r->match_rate_hi);
            snprintf(m, sizeof m, "`%s` on %s (a bf16 checkpoint): %s greedy match, KL mean %.3g nat", r->codec, r->model,
                     rate, r->kl_mean);
            snprintf(why, sizeof why,
                     "bf16 re-codes bf16 weights exactly, so the product sees the checkpoint's own values: this is what "
                     "100%% greedy match looks like, and it is what a Pattern A measurement shows if the coded weights "
                     "never reach the product (see the toy-table memory row)");
            snprintf(cmd, sizeof cmd, "`qinsbench show %s`", f->path);
            claim_row(c, "control: the codec that changes nothing", m,
                      r->match_rate >= 1 ? "control behaves" : "control FAILED (investigate)", why, cmd);
            any = 1;
        }
    }
    if (!any)
        claim_row(c, "control: the codec that changes nothing", "not measured", "inconclusive",
                  "no bf16 cell on a bf16 checkpoint in the results", "`make report`");
}

/* ---- the toy table's memory column, from the toy's config ---- */

static void claim_toy_memory(Claims *c) {
    WeightBytes f32, q;
    if (preset_bytes("toy", "fp32", &f32) || preset_bytes("toy", "qins", &q)) {
        claim_row(c, "toy table: FP32 13.9 MB, QINS 7.0 MB, Pattern A \"0.4 MB\"", qb_last_error(), "inconclusive",
                  "could not compute the toy's byte counts", "—");
        qb_error_clear();
        return;
    }
    /* The claim's own numbers first (MB read as MiB: 13.9 MiB / 4 bytes = 3.64 M parameters), then the toy
     * preset's shapes (austen-toy's) as a cross-check of what Pattern A's codes occupy. */
    const double MiB = 1048576.0, Pc = 13.9 * MiB / 4, P = wb_params(&f32), lin = (double)(f32.n_params_attn + f32.n_params_mlp);
    const double codes = (double)(q.attn + q.mlp);
    char m[1024], why[1024];
    snprintf(m, sizeof m,
             "the claim's own table: 13.9 MiB in FP32 = %.2f M parameters; 7.0 MiB / %.2f M = %.2f bytes/parameter; "
             "\"0.4 MB\" / %.2f M = %.2f bits/parameter. The toy preset (`qinsbench synth --preset toy`, austen-toy's "
             "shapes): %.3f M parameters, FP32 %.2f MiB; Pattern A's codes for its linear layers alone (%.3f M weights, "
             "uint8 + int8 sign + row scales) take %.2f MiB",
             Pc / 1e6, Pc / 1e6, 7.0 * MiB / Pc, Pc / 1e6, 0.4 * MiB * 8 / Pc, P / 1e6, wb_total(&f32) / MiB, lin / 1e6,
             codes / MiB);
    snprintf(why, sizeof why,
             "13.9 MB is an FP32 size and 7.0 MB is 2 bytes per parameter (the bf16 size, and qins as stored), but 0.4 MB "
             "is %.2f bits per parameter, less than the 8-bit `stored` code alone and %.0f× less than Pattern A's own codes "
             "for our toy's linear layers: whatever was measured as \"0.4 MB\" did not hold the coded weights, so its "
             "100%% greedy match is no evidence about them (the control row shows what a codec that changes nothing "
             "gives). Our toy is larger than the claim's (%.2f M vs %.2f M parameters), so its sizes are a cross-check, "
             "not the claim's model",
             0.4 * MiB * 8 / Pc, codes / (0.4 * MiB), P / 1e6, Pc / 1e6);
    claim_row(c, "toy table: FP32 13.9 MB, standard QINS 7.0 MB, Pattern A \"0.4 MB\"", m, "refuted", why,
              "`qinsbench report` (model_bytes_for_config on the toy preset's config)");
}

/* ---- what the codecs do to real weights: conversion error, sparsity, entropy ---- */

static const char *const k_weight_specs[] = {"qins", "qins:round=floor", "qins:scale=tensor", "qins:scale=256",
                                             "qins8", "log8", "int8", "q8_0", "q4_0"};
#define N_WSPECS (sizeof k_weight_specs / sizeof k_weight_specs[0])

struct WeightMeasure {
    const char *label, *dir;
    int ok;
    CodecStats st[N_WSPECS];
};

/* Codes every linear layer (attention + MLP) of the model at dir with each spec, from its FP32 weights. */
static qb_status measure_weights(WeightMeasure *wm) {
    ModelOptions mo = {.codec = "fp32", .kv = "f32", .ctx = 16, .threads = 1};
    Model m;
    qb_status st = model_load(wm->dir, &mo, &m);
    if (st) return st;
    CodecSpec specs[N_WSPECS];
    for (size_t k = 0; k < N_WSPECS; k++) {
        codec_stats_init(&wm->st[k]);
        if ((st = codec_spec_parse(k_weight_specs[k], &specs[k]))) break;
    }
    for (int l = 0; l < m.config.n_layers && !st; l++) {
        const CodedTensor *ts[4] = {&m.w.layers[l].qkv, &m.w.layers[l].o, &m.w.layers[l].gate_up, &m.w.layers[l].down};
        for (int t = 0; t < 4 && !st; t++) {
            const float *w = (const float *)ts[t]->codes; /* fp32: the codes are the weights, rows × cols */
            float amax = 0;
            for (int64_t i = 0; i < ts[t]->rows * ts[t]->cols; i++) amax = fmaxf(amax, fabsf(w[i]));
            for (size_t k = 0; k < N_WSPECS && !st; k++) {
                CodedTensor ct;
                if ((st = codec_tensor_init(&ct, specs[k].id, &specs[k].params, ts[t]->rows, ts[t]->cols, amax))) break;
                if (!(st = codec_encode_rows(&ct, 0, ct.rows, w))) st = codec_stats_add(&wm->st[k], &ct, w);
                codec_tensor_free(&ct);
            }
        }
    }
    model_free(&m);
    wm->ok = !st;
    return st;
}

static int wspec(const char *name) {
    for (size_t k = 0; k < N_WSPECS; k++)
        if (!strcmp(k_weight_specs[k], name)) return (int)k;
    return 0;
}

/* qins / log8 relative RMS error on the first model measured (NaN when none). */
static double wm_rms_ratio(const WeightMeasure *wm, int n, const char **label) {
    for (int i = 0; i < n; i++)
        if (wm[i].ok) {
            *label = wm[i].label;
            return codec_stats_rel_rms(&wm[i].st[wspec("qins")]) / codec_stats_rel_rms(&wm[i].st[wspec("log8")]);
        }
    return NAN;
}

static void claim_conversion(Claims *c, const WeightMeasure *wm, int n) {
    char m[2048], why[512];
    size_t k = 0;
    int measured = 0, below = 1;
    for (int i = 0; i < n; i++) {
        if (!wm[i].ok) continue;
        measured++;
        k += (size_t)snprintf(m + k, sizeof m - k, "%s%s (%.2f M linear weights): mean relative error / relative RMS:",
                              k ? "; " : "", wm[i].label, (double)wm[i].st[0].n / 1e6);
        for (size_t s = 0; s < N_WSPECS && k < sizeof m; s++)
            k += (size_t)snprintf(m + k, sizeof m - k, " %s %.2f%% / %.2f%%%s", k_weight_specs[s],
                                  100 * codec_stats_mean_rel(&wm[i].st[s]), 100 * codec_stats_rel_rms(&wm[i].st[s]),
                                  s + 1 < N_WSPECS ? "," : "");
        if (!(codec_stats_mean_rel(&wm[i].st[wspec("qins")]) < 0.01)) below = 0;
    }
    if (!measured) {
        claim_row(c, "conversion: \"<1% mean relative error\"", "not measured", "inconclusive",
                  "neither models/austen-toy nor models/toy could be loaded (`make report` makes models/toy)", "`make report`");
        return;
    }
    snprintf(why, sizeof why,
             "%s. The mean is over every nonzero weight; the smallest saturate at S/255 (relative error unbounded), the "
             "largest are rounded among S/1, S/2, S/3 (up to 50%% off)",
             below ? "qins's mean relative error is below 1% on every model measured" : "qins's mean relative error is above 1%");
    claim_row(c, "conversion: \"<1% mean relative error\"", m, below ? "holds" : "refuted", why,
              "`qinsbench report`; per tensor: `qinsbench codec --codec SPEC --in MODEL/model.safetensors --out /tmp/x.safetensors`");
}

static void claim_sparsity(Claims *c, const WeightMeasure *wm, int n) {
    static const char *const which[] = {"qins", "qins:round=floor", "qins:scale=tensor", "qins:scale=256"};
    char m[1024];
    size_t k = 0;
    int measured = 0, in_range = 1;
    for (int i = 0; i < n; i++) {
        if (!wm[i].ok) continue;
        measured++;
        k += (size_t)snprintf(m + k, sizeof m - k, "%s%s: stored > %d in", k ? "; " : "", wm[i].label, CODEC_SPARSE_STORED);
        for (size_t s = 0; s < 4 && k < sizeof m; s++)
            k += (size_t)snprintf(m + k, sizeof m - k, " %s %.2f%%%s", which[s],
                                  100 * codec_stats_sparse_frac(&wm[i].st[wspec(which[s])]), s < 3 ? "," : "");
        double f = codec_stats_sparse_frac(&wm[i].st[wspec("qins")]);
        if (!(f >= 0.40 && f <= 0.60)) in_range = 0;
    }
    if (!measured) {
        claim_row(c, "sparsity: \"stored > 200\" is 40–60% of weights", "not measured", "inconclusive",
                  "no model could be loaded", "`make report`");
        return;
    }
    claim_row(c, "sparsity: \"remove near-zero weights (stored > 200), typical 40–60% sparsity\"", m,
              in_range ? "holds" : "refuted",
              "with a row (or tensor) scale, stored > 200 means |w| < max|w|/200: on Gaussian-like weights a few "
              "percent, not 40–60%. Only a constant scale far above the weights (the example's 256) puts most codes "
              "above 200 — by saturating every weight, not by finding near-zero ones",
              "`qinsbench report`; per tensor: `qinsbench codec --codec qins ...` (last column)");
}

static void claim_entropy(Claims *c, const WeightMeasure *wm, int n) {
    const WeightMeasure *w = NULL;
    for (int i = 0; i < n && !w; i++)
        if (wm[i].ok) w = &wm[i];
    double bytes_all, P;
    if (!w || report_phi35_bytes("qins:apply=attn+mlp+lm_head+embed", &bytes_all, &P)) {
        qb_error_clear();
        claim_row(c, "\"Huffman 3–5× on top\", \"19× total: 7.6 GB → 1.9 GB → ~400 MB\"", "not measured", "inconclusive",
                  "no model could be loaded or Phi-3.5-mini's shapes not computed", "`make report`");
        return;
    }
    const double hq = codec_stats_entropy_bits(&w->st[wspec("qins")]), hl = codec_stats_entropy_bits(&w->st[wspec("log8")]);
    const double h4 = codec_stats_entropy_bits(&w->st[wspec("q4_0")]);
    char m[1024], why[768];
    snprintf(m, sizeof m,
             "order-0 entropy of the stored symbols on %s's linear weights (sign and row scales included): qins %.2f "
             "bits/weight (vs 16 stored: %.2f×; vs FP32: %.1f×), log8 %.2f, q4_0 %.2f. At Phi-3.5-mini's %.3f G "
             "parameters, every matrix coded, the best any lossless stage could reach is qins %.2f GB (log8 %.2f GB); "
             "~400 MB needs %.2f bits/weight",
             w->label, hq, 16 / hq, 32 / hq, hl, h4, P / 1e9, P * hq / 8 / 1e9, P * hl / 8 / 1e9, 400e6 * 8 / P);
    snprintf(why, sizeof why,
             "no lossless coder beats the order-0 entropy of independent symbols by much on noise-like weights; "
             "\"3–5×\" over the stored form is %.2f× here, and 400 MB is %.1f× below the entropy bound. The claim's "
             "pruning step (stored > 200 → 0) is lossy and removes only a few percent (sparsity row). Assumes "
             "Phi-3.5-mini's weights are as Gaussian-like as %s's",
             16 / hq, (P * hq / 8) / 400e6, w->label);
    claim_row(c, "\"Huffman 3–5× on top\", \"10–15×\", \"19× total: 7.6 GB → 1.9 GB → ~400 MB\"", m, "refuted", why,
              "`qinsbench report`; per tensor: `qinsbench codec --codec qins ...` (entropy column)");
}

/* ---- memory at Phi-3.5-mini's shapes: weights + KV cache ---- */

static void claim_memory_totals(Claims *c) {
    Config cfg;
    if (preset_config("phi3.5-mini", &cfg)) {
        claim_row(c, "memory: \"~5–6 GB total with KV\", \"codec + KV ~1.3 GB\"", qb_last_error(), "inconclusive",
                  "could not compute Phi-3.5-mini's shapes", "—");
        qb_error_clear();
        return;
    }
    /* KV per token and layer, as runstate_build lays it out (engine/model.c): f32 K+V 4+4 bytes per element;
     * f16 2+2; qins-v K f16 + V (uint8 stored, int8 sign) + an f32 scale per KV head; "V 1 byte" is the packed
     * qins8 form of V (not an engine mode: arithmetic only). */
    const double T = 8192, L = cfg.n_layers, H = cfg.n_kv_heads, kvd = (double)cfg.n_kv_heads * cfg.head_dim;
    const double kv_f32 = T * L * kvd * 8, kv_f16 = T * L * kvd * 4, kv_qv = T * L * (kvd * 4 + H * 4),
                 kv_v1 = T * L * (kvd * 3 + H * 4), v_f16 = T * L * kvd * 2, v_q = T * L * (kvd * 2 + H * 4),
                 v_q1 = T * L * (kvd + H * 4);
    config_free(&cfg);
    static const char *const specs[] = {"fp32", "bf16:apply=attn+mlp+lm_head+embed", "qins:apply=attn+mlp+lm_head+embed",
                                        "qins8:apply=attn+mlp+lm_head+embed", "log8:apply=attn+mlp+lm_head+embed"};
    static const char *const names[] = {"FP32", "bf16", "qins", "qins8", "log8"};
    double b[5], P = 0;
    for (int i = 0; i < 5; i++)
        if (report_phi35_bytes(specs[i], &b[i], &P)) {
            qb_error_clear();
            return;
        }
    char m[1536], why[768];
    size_t k = (size_t)snprintf(m, sizeof m,
                                "Phi-3.5-mini, 8K tokens: KV f32 %.2f GB, f16 %.2f GB, qins-v %.2f GB, V in 1 byte %.2f GB "
                                "(V alone: f16 %.2f GB, qins-v %.2f GB, 1 byte %.2f GB). Weights (every matrix) + KV f16:",
                                kv_f32 / 1e9, kv_f16 / 1e9, kv_qv / 1e9, kv_v1 / 1e9, v_f16 / 1e9, v_q / 1e9, v_q1 / 1e9);
    for (int i = 0; i < 5 && k < sizeof m; i++)
        k += (size_t)snprintf(m + k, sizeof m - k, " %s %.2f + %.2f = %.2f GB%s", names[i], b[i] / 1e9, kv_f16 / 1e9,
                              (b[i] + kv_f16) / 1e9, i < 4 ? ";" : "");
    snprintf(why, sizeof why,
             "qins + an f16 KV cache at 8K is %.2f GB (qins-v %.2f GB): inside \"~5–6 GB\" only with a short context or a "
             "smaller cache; \"codec + KV ~1.3 GB\" is below even qins8's weights alone (%.2f GB). \"~200 MB → 120 MB\" "
             "for V at 8K does not match these shapes (V in f16 is %.2f GB; 200 MB is V f16 at %.0f tokens); a 2-byte "
             "qins V saves nothing against f16 and the 1-byte form %.0f%%",
             (b[2] + kv_f16) / 1e9, (b[2] + kv_qv) / 1e9, b[3] / 1e9, v_f16 / 1e9, 200e6 / (L * kvd * 2),
             100 * (1 - v_q1 / v_f16));
    claim_row(c, "memory at Phi-3.5-mini: \"~5–6 GB total with KV\", \"codec + KV ~1.3 GB\", KV 8K \"~200 MB → 120 MB (V encoded)\"",
              m, "refuted", why, "`qinsbench report` (model_bytes_for_config + the KV layout of engine/model.c)");
}

void claims_write(const ReportInput *in, FILE *o) {
    fputs("## Claims\n\nEach claim beside what we measured (95% paired bootstrap CIs), the verdict with its reason, and "
          "the command that reproduces the number.\n\n"
          "| claim | measured | verdict | reproduce |\n|---|---|---|---|\n",
          o);
    Claims c = {o, in};
    /* the weights of the models, coded with every reading (conversion error, sparsity, entropy rows) */
    WeightMeasure wm[2] = {{.label = "austen-toy", .dir = "models/austen-toy"}, {.label = "toy (random)", .dir = "models/toy"}};
    for (int i = 0; i < 2; i++)
        if (measure_weights(&wm[i])) qb_error_clear();
    claim_pattern_a(&c);
    claim_readings(&c);
    claim_control(&c);
    claim_toy_memory(&c);
    claim_log8(&c, wm, 2);
    claim_compute(&c);
    claim_calibrated(&c);
    claim_bytes(&c);
    claim_speed(&c);
    claim_ppl(&c);
    claim_kv(&c);
    claim_precision(&c);
    claim_memory_totals(&c);
    claim_conversion(&c, wm, 2);
    claim_sparsity(&c, wm, 2);
    claim_entropy(&c, wm, 2);
    fputc('\n', o);

    fputs("### \"More precision for small weights\": the code's resolution against |w|\n\n", o);
    precision_table(o);
    fputc('\n', o);

}

/* report.c — writes REPORT.md (see report.h): what was run, per-model summary tables, charts, the codec
 * definitions. The claims table is claims.c's (claims_write). */
#include "report.h"

#include "cell_stats.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "claims.h"
#include "codec.h"
#include "config.h"
#include "model.h"
#include "synth.h"

/* Our definition of compute-in-QINS, verbatim from engine/codec.c (the claim does not define it). */
static const char QC_DEFINITION[] =
    "qins-compute — \"compute in QINS\", as implemented here (the claim does not define it):\n"
    "  weights are coded exactly as qins (stored s_w, sign, per-row scale S_w);\n"
    "  the activation vector entering the layer is QINS-coded per token: S_x = max|x|, s_x = code(|x_i|, S_x,\n"
    "  255), sign_x = −1 if x_i < 0 else +1 (so x_i = 0 becomes ±S_x/255, as the code defines);\n"
    "  each product is formed in the code domain: since S_w/s_w · S_x/s_x = (S_w·S_x)/(s_w·s_x), the product\n"
    "  of two codes is the code of the product under the scale P = S_w·S_x; it is held in the same 8-bit\n"
    "  code, so p = min(s_w·s_x, 255) (saturating: every product smaller than P/255 becomes P/255);\n"
    "  the products are decoded (sign_w·sign_x · P/p, f32) and summed in f32; the output is f32.\n"
    "Equivalently: Pattern A with both operands coded and the product re-coded to 8 bits before summing.";

/* ---- small formatting helpers ---- */

static const char *fmt_g(char *b, size_t n, double v, double lo, double hi) {
    if (!isfinite(v)) snprintf(b, n, "–");
    else if (isfinite(lo) && isfinite(hi)) snprintf(b, n, "%.3g [%.3g, %.3g]", v, lo, hi);
    else snprintf(b, n, "%.3g", v);
    return b;
}

static const char *run_cmd(const RdFile *f, char *b, size_t n) {
    snprintf(b, n, "`qinsbench run %s --out %s`", f->config_path[0] ? f->config_path : "CONFIG", f->path);
    return b;
}

/* ---- per-file sections ---- */

static void what_was_run(FILE *o, const RdFile *f) {
    char cmd[512];
    fprintf(o, "Reproduce: %s, then `qinsbench show %s`.\n\n", run_cmd(f, cmd, sizeof cmd), f->path);
    cJSON *cfg = cJSON_Parse(f->config_text);
    const cJSON *d = cfg ? cJSON_GetObjectItem(cfg, "description") : NULL;
    if (cJSON_IsString(d)) fprintf(o, "> %s\n\n", d->valuestring);
    const char *models[64];
    size_t nm = rd_models(f, models, 64);
    fputs("| | |\n|---|---|\n| models |", o);
    for (size_t i = 0; i < nm; i++) {
        char *p = rd_model_attr(f, models[i], rs_name(RS_MODEL_PATH));
        char *ref = rd_model_attr(f, models[i], rs_name(RS_MODEL_REFERENCE));
        fprintf(o, "%s `%s` (`%s`, reference %s)", i ? "," : "", models[i], p, ref[0] ? ref : "fp32");
        free(p);
        free(ref);
    }
    fputs(" |\n| codecs |", o);
    int k = 0;
    for (size_t i = 0; i < f->n; i++) {
        int seen = 0;
        for (size_t j = 0; j < i; j++) seen |= !strcmp(f->rows[j].codec, f->rows[i].codec);
        if (seen) continue;
        CodecSpec s;
        char canon[160] = "";
        if (codec_spec_parse(f->rows[i].codec, &s) == QB_OK) codec_spec_format(&s, canon, sizeof canon);
        else qb_error_clear();
        fprintf(o, "%s `%s` (`%s`)", k++ ? "," : "", f->rows[i].codec, canon);
    }
    fputs(" |\n", o);
    if (cfg) {
        const cJSON *g = cJSON_GetObjectItem(cfg, "greedy"), *p = cJSON_GetObjectItem(cfg, "perplexity"),
                    *s = cJSON_GetObjectItem(cfg, "speed"), *kv = cJSON_GetObjectItem(cfg, "kv");
        if (g) {
            const cJSON *pf = cJSON_GetObjectItem(g, "prompts_file");
            fprintf(o, "| prompts | %s, %lld prompts × %lld greedy steps (EOS ignored) |\n",
                    cJSON_IsString(pf) ? pf->valuestring : "token-id lists in the config", (long long)f->rows[0].n_prompts,
                    (long long)f->rows[0].steps);
        }
        if (p) {
            const cJSON *c = cJSON_GetObjectItem(p, "corpus"), *ci = cJSON_GetObjectItem(p, "corpus_ids");
            fprintf(o, "| corpus | %s: window %d, stride %d, %lld scored tokens |\n",
                    cJSON_IsString(c) ? c->valuestring : cJSON_IsString(ci) ? ci->valuestring : "?",
                    cJSON_GetObjectItem(p, "window") ? cJSON_GetObjectItem(p, "window")->valueint : 0,
                    cJSON_GetObjectItem(p, "stride") ? cJSON_GetObjectItem(p, "stride")->valueint : 0,
                    (long long)f->rows[0].n_tokens);
        }
        if (s)
            fprintf(o, "| speed | prefill %d tokens, decode %d tokens, %d repeats (median) |\n",
                    cJSON_GetObjectItem(s, "prompt_tokens") ? cJSON_GetObjectItem(s, "prompt_tokens")->valueint : 0,
                    cJSON_GetObjectItem(s, "decode_tokens") ? cJSON_GetObjectItem(s, "decode_tokens")->valueint : 0,
                    cJSON_GetObjectItem(s, "repeats") ? cJSON_GetObjectItem(s, "repeats")->valueint : 0);
        if (cJSON_IsArray(kv)) {
            fputs("| KV cache |", o);
            const cJSON *e;
            int n = 0;
            cJSON_ArrayForEach(e, kv) if (cJSON_IsString(e)) fprintf(o, "%s %s", n++ ? "," : "", e->valuestring);
            fputs(" |\n", o);
        }
    }
    fprintf(o, "| machine | %s, %lld thread%s; %s; `%s` |\n| build | %s (git %s), HDF5 %s |\n| run | %s |\n\n",
            f->cpu_model, (long long)f->rows[0].threads, f->rows[0].threads == 1 ? "" : "s", f->compiler, f->cflags, f->qinsbench_version, f->git_commit,
            f->hdf5_version, f->start_time);
    cJSON_Delete(cfg);
}

/* "v% [lo, hi]" of a fraction, ¹ when its CI rests on fewer than CELL_WEAK_N units. */
static const char *fmt_pct_weak(char *b, size_t n, double v, double lo, double hi, int weak) {
    rd_fmt_rate(b, n, v, lo, hi);
    if (weak && isfinite(v)) strncat(b, " ¹", n - strlen(b) - 1);
    return b;
}

/* One unit per quantity, as in `show` and the charts: fractions and ΔPPL in percent, bytes in MiB (2^20). */
static void summary_table(FILE *o, const RdFile *f, const char *model) {
    fputs("| codec | KV | status | bits/w (linear) | weights MiB | greedy match % [95% CI] | first divergence, steps "
          "[95% CI] | survival % [95% CI] | TF agreement % [95% CI] | same top % [95% CI] | KL mean, nat [95% CI] | "
          "ΔPPL % [95% CI] | decode tok/s | peak RSS MiB |\n"
          "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
          o);
    int any_weak = 0, any_ids = 0;
    int64_t weak_n = 0;
    for (size_t i = 0; i < f->n; i++) {
        const SummaryRow *r = &f->rows[i];
        if (strcmp(r->model, model)) continue;
        int weak = r->n_prompts > 0 && r->n_prompts < CELL_WEAK_N, ids = !strcmp(r->ppl_kind, "random_ids");
        if (weak) any_weak = 1, weak_n = r->n_prompts;
        any_ids |= ids;
        char a[96], b[96], c[96], d[96], e[32], g[32], fd[96], sv[96], st[96];
        fputs("| `", o);
        rd_md_cell(o, r->codec);
        fprintf(o, "` | %s | ", r->kv);
        rd_md_cell(o, r->status);
        if (ids) snprintf(d, sizeof d, "– ²");
        else if (isfinite(r->delta_ppl_rel))
            snprintf(d, sizeof d, "%+.2f [%+.2f, %+.2f]", 100 * r->delta_ppl_rel, 100 * r->delta_ppl_rel_lo,
                     100 * r->delta_ppl_rel_hi);
        else snprintf(d, sizeof d, "–");
        if (isfinite(r->prefix_len_mean))
            snprintf(fd, sizeof fd, "%.1f [%.1f, %.1f] of %lld%s", r->prefix_len_mean, r->prefix_len_mean_lo,
                     r->prefix_len_mean_hi, (long long)r->steps, weak ? " ¹" : "");
        else snprintf(fd, sizeof fd, "–");
        fprintf(o, " | %.3f | %.2f | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", r->bits_per_weight_linear,
                (double)r->weight_bytes / 1048576.0,
                fmt_pct_weak(a, sizeof a, r->match_rate, r->match_rate_lo, r->match_rate_hi, weak), fd,
                fmt_pct_weak(sv, sizeof sv, r->survival_full, r->survival_full_lo, r->survival_full_hi, weak),
                fmt_pct_weak(b, sizeof b, r->tf_agreement, r->tf_agreement_lo, r->tf_agreement_hi, weak),
                rd_fmt_rate(st, sizeof st, r->same_top, r->same_top_lo, r->same_top_hi),
                fmt_g(c, sizeof c, r->kl_mean, r->kl_mean_lo, r->kl_mean_hi), d,
                isfinite(r->decode_tps) ? (snprintf(e, sizeof e, "%.0f", r->decode_tps), e) : "–",
                r->peak_rss_bytes > 0 ? (snprintf(g, sizeof g, "%.1f", (double)r->peak_rss_bytes / 1048576.0), g) : "–");
    }
    fputc('\n', o);
    if (any_weak)
        fprintf(o, "¹ %lld prompts: a CI over prompts this few is weak (it can take only a handful of values); "
                   "below %d prompts read it as a rough range.\n",
                (long long)weak_n, CELL_WEAK_N);
    if (any_ids)
        fprintf(o, "%s² Random-token-id corpus: a trained model scores such text about twice as badly as a uniform "
                   "guess, so weight noise \"improves\" its perplexity; perplexity is not computed there — read KL and "
                   "same top.\n",
                any_weak ? "\n" : "");
    if (any_weak || any_ids) fputc('\n', o);
}

/* The definitions behind every number of the tables (docs/results.md has the same, field by field). */
static void method_section(FILE *o) {
    fputs("## Method: what each number is\n\n"
          "- **Greedy match**: the codec and the fp32 reference each decode greedily from the same prompt; the "
          "fraction of all prompts × steps where the codec's token equals the reference's — positions after the "
          "first divergence count too, so it is not a measure of staying on track.\n"
          "- **First divergence** (the headline): per prompt, the number of steps before the codec's first token "
          "that differs (= all steps when none); the mean over prompts, 95% percentile bootstrap CI over prompts.\n"
          "- **Survival**: the fraction of prompts identical to the reference through every step of the horizon "
          "— the quantity a claim of \"100% match over N steps\" asserts; 95% Wilson score interval over prompts "
          "(the bootstrap collapses to a point when every prompt agrees).\n"
          "- **TF agreement**: the codec fed the reference's own tokens (teacher forcing); the fraction of steps "
          "whose argmax equals the reference token; bootstrap CI over prompts.\n"
          "- **Same top**: over the perplexity corpus, the fraction of scored tokens where the codec's argmax equals "
          "the reference's; bootstrap CI over perplexity windows.\n"
          "- **KL mean**: mean per-token KL(P_ref ‖ P_codec) over the full vocabulary (FP64); CI over windows.\n"
          "- **ΔPPL %**: exp((Σ nll_codec − Σ nll_ref) / Σ tokens) − 1, the relative perplexity change, "
          "bootstrapped as itself over windows, paired (the same resampled windows for codec and reference): "
          "every resample is a ratio of two perplexities, so the interval cannot pass −100%. Not computed on "
          "random-token-id corpora (footnote ²).\n"
          "- **Resampling**: B = the config's `bootstrap` resamples (seeded), percentile 2.5–97.5%; the unit is "
          "the prompt for greedy numbers and the perplexity window for corpus numbers. Fewer than 16 units: the "
          "CI is marked weak (¹).\n"
          "- **Units**: bytes in MiB (2^20 bytes), rates and ΔPPL in percent, KL in nats, speed in tokens/s.\n\n",
          o);
}

static void chart_link(FILE *o, const ReportInput *in, const RdFile *f, const char *kind, const char *model,
                       const char *alt) {
    char name[256], path[1024];
    plot_chart_name(f, kind, model, name, sizeof name);
    snprintf(path, sizeof path, "%s/%s.png", in->charts_dir, name);
    if (access(path, R_OK) == 0) fprintf(o, "![%s](%s)\n\n", alt, path);
}

qb_status report_write(const ReportInput *in, FILE *o) {
    fputs("# QINS weight codecs on Phi-3 models: what holds\n\n", o);
    fprintf(o, "Generated by `%s` from ", in->command);
    for (int i = 0; i < in->n_files; i++) fprintf(o, "%s`%s`", i ? ", " : "", in->files[i].path);
    fputs(" — do not edit by hand; `make report` regenerates it and its charts (docs/report/) from the shipped "
          "configs.\n\n",
          o);
    fprintf(o, "The claim under test: *\"%s\"*, with the forward pass it shows: `%s`.\n\n", claims_headline, claims_forward);

    claims_write(in, o);

    fputs("## Codecs\n\n| spec | definition |\n|---|---|\n", o);
    for (int i = 0; i < CODEC_COUNT; i++) fprintf(o, "| `%s` | %s |\n", codec_table[i].name, codec_table[i].description);
    fputs("\nOur definition of compute-in-QINS (quoted from the top of its code, engine/codec.c):\n\n```\n", o);
    fputs(QC_DEFINITION, o);
    fputs("\n```\n\nKV cache modes: `f32`; `f16`; `qins-v` = V QINS-coded per token and KV head (uint8 code + int8 "
          "sign, f32 scale per token and head), K in f16.\n\n",
          o);

    method_section(o);

    for (int i = 0; i < in->n_files; i++) {
        const RdFile *f = &in->files[i];
        fprintf(o, "## Experiment `%s`\n\n", f->config_name[0] ? f->config_name : f->path);
        what_was_run(o, f);
        chart_link(o, in, f, "match", NULL, "first divergence and greedy match rate by codec with 95% CIs");
        chart_link(o, in, f, "quality-size", NULL, "KL mean and ΔPPL against bits/weight");
        chart_link(o, in, f, "speed", NULL, "decode and prefill tokens/s by codec");
        const char *models[64];
        size_t nm = rd_models(f, models, 64);
        for (size_t m = 0; m < nm; m++) {
            fprintf(o, "### %s\n\n", models[m]);
            summary_table(o, f, models[m]);
            chart_link(o, in, f, "survival", models[m], "survival: fraction of prompts identical to the reference at step t");
            chart_link(o, in, f, "memory", models[m], "memory breakdown by tensor group, KV cache and rest of peak RSS");
            chart_link(o, in, f, "flip-margins", models[m], "reference top-1/top-2 margin at flips vs all steps");
        }
    }
    if (in->bench) fprintf(o, "Speed bench: `%s` (%d rows).\n\n", in->bench_path, in->bench->n);
    else
        fputs("No Phi-3.5 speed bench was given (`make bench-phi35` writes results/bench-phi35.csv; `qinsbench report "
              "--bench` reads it).\n\n",
              o);
    return ferror(o) ? qb_errorf(QB_ERR_IO, "report: write error") : QB_OK;
}

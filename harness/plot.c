/* plot.c — `qinsbench plot`'s charts (see plot.h). All numbers come from the results file (and, for the
 * memory-bandwidth bound, from a bench CSV); they are sent to one gnuplot process as inline datablocks, and
 * every chart is drawn as PNG and SVG. Charts whose data the run did not measure (e.g. no speed workload)
 * are skipped with a line on the log, not drawn empty. */
#include "plot.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plot_gp.h"

#define MAX_MODELS 32
#define MAX_LABELS 256
#define MIB (1024.0 * 1024.0)

/* ---- bench CSV ---- */

/* Splits one CSV line into at most max fields in place (double-quoted fields may hold commas). */
static int csv_split(char *line, char **f, int max) {
    int n = 0;
    char *p = line;
    while (n < max) {
        if (*p == '"') {
            char *start = ++p, *w = p;
            while (*p && !(*p == '"' && p[1] != '"')) {
                if (*p == '"') p++; /* "" inside quotes */
                *w++ = *p++;
            }
            if (*p == '"') p++;
            f[n++] = start;
            *w = 0;
            if (*p == ',') p++;
            else break;
        } else {
            f[n++] = p;
            char *c = strchr(p, ',');
            if (!c) break;
            *c = 0;
            p = c + 1;
        }
    }
    return n;
}

qb_status bench_load(const char *path, BenchFile *b) {
    memset(b, 0, sizeof *b);
    char *text;
    size_t len;
    qb_status st = qb_read_file(path, &text, &len, 64u << 20);
    if (st) return st;
    static const char header[] = "model,codec,model_size,model_n_params,n_threads,n_prompt,n_gen,test,avg_ts,"
                                 "stddev_ts,min_ts,max_ts,bw_gbs,bytes_per_token,bound_ts,bw_ratio,peak_rss,error";
    if (strncmp(text, header, sizeof header - 1) || (text[sizeof header - 1] != '\n' && text[sizeof header - 1] != '\r')) {
        free(text);
        return qb_errorf(QB_ERR_INPUT, "%s: not a `qinsbench bench --format csv` file (header)", path);
    }
    int cap = 0, line_no = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line && !st; line = strtok_r(NULL, "\n", &save)) {
        if (line_no++ == 0) continue;
        char *f[24];
        int n = csv_split(line, f, 24);
        if (n < 18) {
            st = qb_errorf(QB_ERR_INPUT, "%s: line %d: expected 18 fields, found %d", path, line_no, n);
            break;
        }
        if (b->n == cap) {
            cap = cap ? 2 * cap : 16;
            BenchRow *r = realloc(b->rows, (size_t)cap * sizeof *r);
            if (!r) {
                st = qb_errorf(QB_ERR_NOMEM, "%s: out of memory", path);
                break;
            }
            b->rows = r;
        }
        BenchRow *r = &b->rows[b->n++];
        snprintf(r->model, sizeof r->model, "%s", f[0]);
        snprintf(r->codec, sizeof r->codec, "%s", f[1]);
        snprintf(r->test, sizeof r->test, "%.2s", f[7]);
        r->avg_ts = strtod(f[8], NULL);
        r->bound_ts = strtod(f[14], NULL);
        if (!(r->bound_ts > 0)) r->bound_ts = NAN;
    }
    free(text);
    if (st) bench_free(b);
    return st;
}

void bench_free(BenchFile *b) {
    free(b->rows);
    memset(b, 0, sizeof *b);
}

/* ---- helpers ---- */

void plot_chart_name(const RdFile *f, const char *kind, const char *model, char *buf, size_t n) {
    snprintf(buf, n, "%s-%s%s%s", f->config_name[0] ? f->config_name : "results", kind, model ? "-" : "",
             model ? model : "");
    for (char *p = buf; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' ||
              *p == '.' || *p == '-'))
            *p = '_';
}

/* The x-axis label of a row: the codec spec, with the KV mode when it is not the default. */
static void row_label(const SummaryRow *r, char *buf, size_t n) {
    char c[160];
    gp_str(r->codec, c, sizeof c);
    if (!strcmp(r->kv, "f32")) snprintf(buf, n, "%s", c);
    else snprintf(buf, n, "%s [kv %s]", c, r->kv);
}

typedef struct {
    const char *models[MAX_MODELS];
    size_t n_models;
    char labels[MAX_LABELS][192];
    int n_labels;
} Axes;

static int label_index(Axes *a, const SummaryRow *r) {
    char l[192];
    row_label(r, l, sizeof l);
    for (int i = 0; i < a->n_labels; i++)
        if (!strcmp(a->labels[i], l)) return i;
    if (a->n_labels == MAX_LABELS) return -1;
    snprintf(a->labels[a->n_labels], sizeof a->labels[0], "%s", l);
    return a->n_labels++;
}

static void axes_build(const RdFile *f, Axes *a) {
    memset(a, 0, sizeof *a);
    a->n_models = rd_models(f, a->models, MAX_MODELS);
    for (size_t i = 0; i < f->n; i++) label_index(a, &f->rows[i]);
}

/* "set xtics (…)" for the codec labels at 0, 1, … */
static void xtics(FILE *b, const Axes *a) {
    fputs("set xtics rotate by -30 left (", b);
    for (int i = 0; i < a->n_labels; i++) fprintf(b, "%s\"%s\" %d", i ? ", " : "", a->labels[i], i);
    fprintf(b, ")\nset xrange [-0.7:%d.7]\n", a->n_labels - 1);
}

static const char *palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
                                "#7f7f7f", "#bcbd22", "#17becf"};
#define COLOR(i) palette[(i) % (int)(sizeof palette / sizeof *palette)]

/* Wide enough that every bar of a grouped chart (labels × models) stays readable. */
static int chart_width(const Axes *a, int min, int panels) {
    int w = 300 * panels + a->n_labels * (int)(a->n_models ? a->n_models : 1) * 14 * panels;
    return w < min ? min : w > 4000 ? 4000 : w;
}

/* Grouped bars with error bars: one datablock per model named PREFIX<m> holding "x y lo hi" rows. */
static int grouped_blocks(Gp *g, const RdFile *f, const Axes *a, const char *prefix, size_t yoff, size_t looff,
                          size_t hioff, double scale) {
    int any = 0;
    double w = 0.8 / (double)(a->n_models ? a->n_models : 1);
    for (size_t m = 0; m < a->n_models; m++) {
        char name[64];
        snprintf(name, sizeof name, "%s%zu", prefix, m);
        gp_block_begin(g, name);
        for (size_t i = 0; i < f->n; i++) {
            const SummaryRow *r = &f->rows[i];
            if (strcmp(r->model, a->models[m]) || !rd_ok(r)) continue;
            double y = *(const double *)((const char *)r + yoff) * scale;
            double lo = looff ? *(const double *)((const char *)r + looff) * scale : y;
            double hi = hioff ? *(const double *)((const char *)r + hioff) * scale : y;
            if (!isfinite(y)) continue;
            if (!isfinite(lo)) lo = y;
            if (!isfinite(hi)) hi = y;
            double x = label_index((Axes *)a, r) + (m - (a->n_models - 1) / 2.0) * w;
            fprintf(g->pipe, "%.6f %.9g %.9g %.9g\n", x, y, lo, hi);
            any = 1;
        }
        fprintf(g->pipe, "NaN NaN NaN NaN\n"); /* an all-NaN block still parses when a model has no rows */
        gp_block_end(g);
    }
    return any;
}

static void grouped_plot(FILE *b, const Axes *a, const char *prefix, const char *what) {
    double w = 0.8 / (double)(a->n_models ? a->n_models : 1);
    fprintf(b, "set boxwidth %.4f absolute\nset style fill solid 0.55 border -1\nplot ", w * 0.95);
    for (size_t m = 0; m < a->n_models; m++) {
        char mm[96];
        gp_str(a->models[m], mm, sizeof mm);
        fprintf(b, "%s$%s%zu using 1:2 with boxes lc rgb '%s' title \"%s\", "
                   "$%s%zu using 1:2:3:4 with yerrorbars lc rgb 'black' pt 0 lw 1.2 title \"%s\"",
                m ? ", \\\n  " : "", prefix, m, COLOR(m), mm, prefix, m, m + 1 == a->n_models ? what : "");
    }
    fputs("\n", b);
}

/* ---- the charts ---- */

/* Greedy agreement, headline first: mean steps before the first divergence (top), then the match rate, which
 * also counts positions after a divergence (bottom). Both with bootstrap CIs over prompts. */
static void chart_match(Gp *g, const RdFile *f, const Axes *a, FILE *log) {
    if (!grouped_blocks(g, f, a, "match", offsetof(SummaryRow, match_rate), offsetof(SummaryRow, match_rate_lo),
                        offsetof(SummaryRow, match_rate_hi), 1.0)) {
        if (log) fprintf(log, "plot: no greedy workload: match chart skipped\n");
        return;
    }
    grouped_blocks(g, f, a, "fdiv", offsetof(SummaryRow, prefix_len_mean), offsetof(SummaryRow, prefix_len_mean_lo),
                   offsetof(SummaryRow, prefix_len_mean_hi), 1.0);
    char *body;
    size_t len;
    FILE *b = open_memstream(&body, &len);
    const SummaryRow *r0 = &f->rows[0];
    fprintf(b, "set multiplot layout 2,1 title \"Greedy decoding vs the fp32 reference — %lld prompts × %lld steps per model "
               "(bars: 95%% bootstrap CI over prompts%s)\"\n",
            (long long)r0->n_prompts, (long long)r0->steps, r0->n_prompts < 16 ? "; weak with fewer than 16 prompts" : "");
    fprintf(b, "set grid ytics\nset key outside right top\nset bmargin 7\n");
    xtics(b, a);
    fprintf(b, "set title \"first divergence: mean steps before the codec's first token that differs\"\n"
               "set ylabel \"steps (of %lld)\"\nset yrange [0:%g]\n",
            (long long)r0->steps, (double)r0->steps * 1.08);
    grouped_plot(b, a, "fdiv", "95% CI");
    fprintf(b, "set title \"greedy match rate: steps equal to the reference, after a divergence too\"\n"
               "set ylabel \"fraction of steps\"\nset yrange [0:1.08]\n");
    grouped_plot(b, a, "match", "95% CI");
    fputs("unset multiplot\n", b);
    fclose(b);
    char name[256];
    plot_chart_name(f, "match", NULL, name, sizeof name);
    gp_chart(g, name, chart_width(a, 1100, 1), 1000, body);
    if (log) fprintf(log, "%s/%s.png\n", g->out_dir, name);
    free(body);
}

#define SURVIVAL_LOG_STEPS 100

static void chart_survival(Gp *g, const RdFile *f, const char *model, FILE *log) {
    char *body;
    size_t len;
    FILE *b = open_memstream(&body, &len);
    int k = 0;
    int64_t steps = 0;
    /* Identical curves would hide each other: the legend says which earlier curve a line equals. */
    double *prev[64] = {0};
    size_t prev_n[64];
    char prev_label[64][192];
    /* Over a long horizon a linear axis hides where curves fall (qins diverges within ~3 of 500 steps): from
     * SURVIVAL_LOG_STEPS steps on, the step axis is logarithmic. */
    int logx = 0;
    const SummaryRow *r0 = rd_find(f, model, f->rows[0].codec, NULL);
    for (size_t i = 0; i < f->n && !r0; i++)
        if (!strcmp(f->rows[i].model, model)) r0 = &f->rows[i];
    if (r0 && r0->steps >= SURVIVAL_LOG_STEPS) logx = 1;
    fputs("plot ", b);
    for (size_t i = 0; i < f->n; i++) {
        const SummaryRow *r = &f->rows[i];
        if (strcmp(r->model, model) || !rd_ok(r)) continue;
        double *s = NULL;
        size_t n = 0;
        if (rd_cell(f, r, rs_name(RS_GREEDY_SURVIVAL), H5T_NATIVE_DOUBLE, (void **)&s, &n) || n == 0) {
            qb_error_clear();
            free(s);
            continue;
        }
        char name[32], l[192];
        snprintf(name, sizeof name, "surv%zu", i);
        gp_block_begin(g, name);
        if (!logx) fprintf(g->pipe, "0 1\n"); /* before the first step every prompt is identical (the prompt itself) */
        for (size_t t = 0; t < n; t++) fprintf(g->pipe, "%zu %.9g\n", t + 1, s[t]);
        gp_block_end(g);
        steps = (int64_t)n;
        row_label(r, l, sizeof l);
        for (int j = 0; j < k && j < 64; j++)
            if (prev[j] && prev_n[j] == n && !memcmp(prev[j], s, n * sizeof *s)) {
                size_t ll = strlen(l);
                snprintf(l + ll, sizeof l - ll, " (= %s)", prev_label[j]);
                break;
            }
        if (k < 64) {
            prev[k] = s;
            prev_n[k] = n;
            row_label(r, prev_label[k], sizeof prev_label[k]);
        } else
            free(s);
        fprintf(b, "%s$%s using 1:2 with steps lw %.1f lc rgb '%s' dt %d title \"%s\"", k ? ", \\\n  " : "", name,
                k < 7 ? 4.0 - 0.4 * k : 1.2, COLOR(k), 1 + k % 3, l);
        k++;
    }
    fputs("\n", b);
    fclose(b);
    for (int j = 0; j < k && j < 64; j++) free(prev[j]);
    if (!k) {
        if (log) fprintf(log, "plot: %s: no greedy survival data: survival chart skipped\n", model);
        free(body);
        return;
    }
    char mm[96], *full, xr[96];
    gp_str(model, mm, sizeof mm);
    if (logx) snprintf(xr, sizeof xr, "set logscale x\nset xrange [1:%lld]", (long long)steps);
    else snprintf(xr, sizeof xr, "set xrange [0:%lld]", (long long)steps);
    if (asprintf(&full,
                 "set title \"%s: greedy survival — fraction of prompts whose continuation is still identical to the fp32 reference\"\n"
                 "set xlabel \"decode step t (tokens generated%s)\"\nset ylabel \"fraction of prompts identical through step t\"\n"
                 "set yrange [0:1.05]\n%s\nset grid\nset key outside right top\n%s",
                 mm, logx ? "; log scale" : "", xr, body) < 0)
        full = NULL;
    free(body);
    if (!full) return;
    char name[256];
    plot_chart_name(f, "survival", model, name, sizeof name);
    gp_chart(g, name, 1100, 560, full);
    if (log) fprintf(log, "%s/%s.png\n", g->out_dir, name);
    free(full);
}

/* Point labels as `set label` commands, placed so they do not overprint: each label (in character units of
 * a panel about w_ch characters wide and h_ln lines high) takes the first vertical offset, alternating
 * above and below its point, whose box overlaps no label placed before it ("int8" and "q8_0" share
 * 8.1 bits/w and printed as "int8_0"). ylog: y positions compared in log10. */
typedef struct {
    double x, y;
    char text[192];
    int color;
} PLabel;

static void point_labels(FILE *b, const PLabel *p, int n, int ylog, double w_ch, double h_ln) {
    double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
    for (int i = 0; i < n; i++) {
        if (!isfinite(p[i].y)) continue;
        double y = ylog ? log10(p[i].y) : p[i].y;
        xmin = fmin(xmin, p[i].x), xmax = fmax(xmax, p[i].x), ymin = fmin(ymin, y), ymax = fmax(ymax, y);
    }
    /* gnuplot pads the autoscaled range; 20% each side is close enough to place boxes */
    double xs = w_ch / (1.4 * (xmax > xmin ? xmax - xmin : 1)), ys = h_ln / (1.4 * (ymax > ymin ? ymax - ymin : 1));
    double(*box)[4] = calloc(n ? (size_t)n : 1, sizeof *box); /* x0, x1, y0, y1 of placed labels */
    int *who = calloc(n ? (size_t)n : 1, sizeof *who), placed = 0;
    static const double tries[] = {0.4, -0.9, 1.5, -2.0, 2.6, -3.1, 3.7, -4.2};
    for (int i = 0; i < n && box && who; i++) {
        if (!isfinite(p[i].y)) continue;
        double cx = p[i].x * xs + 0.8, cy = (ylog ? log10(p[i].y) : p[i].y) * ys, len = (double)strlen(p[i].text) * 0.9;
        double off = NAN;
        int dup = 0;
        for (int j = 0; j < placed && !dup; j++) /* the same name within a line or two: one label serves both */
            dup = !strcmp(p[who[j]].text, p[i].text) && fabs(box[j][0] - cx) < 2 && fabs((box[j][2] + box[j][3]) / 2 - cy) < 2.5;
        for (size_t t = 0; t < sizeof tries / sizeof *tries && !dup; t++) {
            int clash = 0;
            for (int j = 0; j < placed && !clash; j++)
                clash = cx < box[j][1] && box[j][0] < cx + len && cy + tries[t] - 0.5 < box[j][3] && box[j][2] < cy + tries[t] + 0.5;
            if (!clash) {
                off = tries[t];
                break;
            }
        }
        if (dup || isnan(off)) continue; /* no free spot: an unreadable label is worse than none */
        box[placed][0] = cx, box[placed][1] = cx + len, box[placed][2] = cy + off - 0.5, box[placed][3] = cy + off + 0.5;
        who[placed++] = i;
        fprintf(b, "set label \"%s\" at %.9g,%.9g left offset 0.8,%.1f font ',8' tc rgb '%s' front\n", p[i].text,
                p[i].x, p[i].y, off, COLOR(p[i].color));
    }
    free(box);
    free(who);
}

/* Point shape of the i-th KV mode: circle, square, triangle, diamond, … (filled). */
#define KV_PT(i) ((int[]){7, 5, 9, 13, 11, 15, 7, 5}[(i) & 7])

static void chart_pareto(Gp *g, const RdFile *f, const Axes *a, FILE *log) {
    int any = 0, any_ppl = 0, n_ids = 0, n_kv = 0;
    const char *kvs[8];
    PLabel *lab = calloc(f->n ? f->n : 1, sizeof *lab);
    int n_kl = 0, n_pp = 0;
    PLabel *labp = calloc(f->n ? f->n : 1, sizeof *labp);
    if (!lab || !labp) {
        free(lab);
        free(labp);
        return;
    }
    for (size_t m = 0; m < a->n_models; m++) {
        char name[32];
        snprintf(name, sizeof name, "par%zu", m);
        gp_block_begin(g, name);
        for (size_t i = 0; i < f->n; i++) {
            const SummaryRow *r = &f->rows[i];
            if (strcmp(r->model, a->models[m]) || !rd_ok(r) || !isfinite(r->bits_per_weight_linear)) continue;
            n_ids += !strcmp(r->ppl_kind, "random_ids");
            if (!isfinite(r->kl_mean) && !isfinite(r->delta_ppl_rel)) continue;
            char l[192];
            gp_str(r->codec, l, sizeof l);
            int kvi = 0;
            while (kvi < n_kv && strcmp(kvs[kvi], r->kv)) kvi++;
            if (kvi == n_kv && n_kv < 8) kvs[n_kv++] = r->kv;
            /* ΔPPL in percent, the relative change bootstrapped as itself (its CI never crosses −100%). KL 0
             * (lossless) has no place on a log axis: it is left out of the left panel. */
            double kl = r->kl_mean > 0 ? r->kl_mean : NAN;
            fprintf(g->pipe, "%.6f \"%s\" %.9g %.9g %.9g %.9g %d\n", r->bits_per_weight_linear, l, kl,
                    100 * r->delta_ppl_rel, 100 * r->delta_ppl_rel_lo, 100 * r->delta_ppl_rel_hi, KV_PT(kvi));
            lab[n_kl++] = (PLabel){r->bits_per_weight_linear, kl, "", (int)m};
            snprintf(lab[n_kl - 1].text, sizeof lab[0].text, "%s", l);
            if (isfinite(r->delta_ppl_rel)) {
                labp[n_pp++] = (PLabel){r->bits_per_weight_linear, 100 * r->delta_ppl_rel, "", (int)m};
                snprintf(labp[n_pp - 1].text, sizeof labp[0].text, "%s", l);
                any_ppl = 1;
            }
            any = 1;
        }
        fprintf(g->pipe, "NaN \"\" NaN NaN NaN NaN 7\n");
        gp_block_end(g);
    }
    if (!any) {
        if (log) fprintf(log, "plot: no perplexity workload: quality-vs-size chart skipped\n");
        free(lab);
        free(labp);
        return;
    }
    char *body;
    size_t len;
    FILE *b = open_memstream(&body, &len);
    /* KV mode as the point's shape: the codec name alone labels it, so identical names do not pile up */
    char shapes[256] = "";
    static const char *glyph[] = {"●", "■", "▲", "◆", "▼", "⬟", "●", "■"};
    for (int i = 0; i < n_kv && n_kv > 1; i++) {
        size_t l = strlen(shapes);
        snprintf(shapes + l, sizeof shapes - l, "%s%s KV %s", i ? ", " : " — shape: ", glyph[i], kvs[i]);
    }
    if (any_ppl)
        fprintf(b, "set multiplot layout 1,2 title \"Quality vs size — one point per codec (lower left is better)%s\"\n", shapes);
    fprintf(b, "set xlabel \"bits/weight at rest (attention + MLP projections)\"\nset grid\nset key bottom right box opaque\n"
               "set logscale y\nset format y '%%.0e'\nset ylabel \"mean KL(P_ref || P_codec) per token, nat (log scale)\"\n"
               "set title \"KL divergence from the fp32 reference (KL = 0 not drawable)%s%s%s\"\n",
            any_ppl ? "" : shapes, any_ppl ? "" : n_ids ? "\\nΔPPL not drawn: random-token-id corpus, where perplexity measures nothing" : "",
            n_kl > 40 ? "\\nlabels only where one fits" : "");
    point_labels(b, lab, n_kl, 1, any_ppl ? 80 : 170, 32);
    fputs("plot ", b);
    for (size_t m = 0; m < a->n_models; m++) {
        char mm[96];
        gp_str(a->models[m], mm, sizeof mm);
        /* pt variable draws no symbol in the key: a NaN curve carries the model's entry */
        fprintf(b, "%s$par%zu using 1:3:7 with points pt variable ps 1.3 lc rgb '%s' notitle, NaN with points pt 7 "
                   "ps 1.3 lc rgb '%s' title \"%s\"",
                m ? ", \\\n  " : "", m, COLOR(m), COLOR(m), mm);
    }
    if (any_ppl) {
        fputs("\nunset label\nunset logscale y\nset format y '%g'\nset ylabel \"ΔPPL, % of the reference perplexity\"\n"
              "set yzeroaxis\nset title \"Perplexity change (bars: 95% paired bootstrap CI over windows)\"\n", b);
        point_labels(b, labp, n_pp, 0, 80, 32);
        fputs("plot ", b);
        for (size_t m = 0; m < a->n_models; m++) {
            char mm[96];
            gp_str(a->models[m], mm, sizeof mm);
            fprintf(b, "%s$par%zu using 1:4:5:6:7 with yerrorbars pt variable ps 1.3 lc rgb '%s' notitle, NaN with points "
                       "pt 7 ps 1.3 lc rgb '%s' title \"%s\"",
                    m ? ", \\\n  " : "", m, COLOR(m), COLOR(m), mm);
        }
        fputs("\nunset multiplot", b);
    }
    fputs("\n", b);
    fclose(b);
    char name[256];
    plot_chart_name(f, "quality-size", NULL, name, sizeof name);
    gp_chart(g, name, any_ppl ? 1400 : n_kl > 40 ? 1400 : 900, 600, body);
    if (log) fprintf(log, "%s/%s.png\n", g->out_dir, name);
    free(body);
    free(lab);
    free(labp);
}

/* The bench row of (model dir basename or label, codec, test), or NULL. */
static const BenchRow *bench_find(const BenchFile *bf, const RdFile *f, const SummaryRow *r, const char *test) {
    if (!bf) return NULL;
    char *path = rd_model_attr(f, r->model, rs_name(RS_MODEL_PATH));
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    const BenchRow *hit = NULL;
    for (int i = 0; i < bf->n && !hit; i++) {
        const BenchRow *b = &bf->rows[i];
        const char *bm = strrchr(b->model, '/') ? strrchr(b->model, '/') + 1 : b->model;
        if ((!strcmp(bm, r->model) || !strcmp(bm, base)) && !strcmp(b->codec, r->codec) && !strcmp(b->test, test))
            hit = b;
    }
    free(path);
    return hit;
}

static void chart_speed(Gp *g, const RdFile *f, const Axes *a, const BenchFile *bench, FILE *log) {
    int d = grouped_blocks(g, f, a, "dec", offsetof(SummaryRow, decode_tps), offsetof(SummaryRow, decode_tps_min),
                           offsetof(SummaryRow, decode_tps_max), 1.0);
    int p = grouped_blocks(g, f, a, "pre", offsetof(SummaryRow, prefill_tps), offsetof(SummaryRow, prefill_tps_min),
                           offsetof(SummaryRow, prefill_tps_max), 1.0);
    if (!d && !p) {
        if (log) fprintf(log, "plot: no speed workload: speed chart skipped\n");
        return;
    }
    /* Bounds from a bench CSV, where it has the same model and codec. */
    int nb[2] = {0, 0};
    const char *tests[2] = {"tg", "pp"};
    for (int t = 0; t < 2; t++) {
        char name[32];
        snprintf(name, sizeof name, "bound%d", t);
        gp_block_begin(g, name);
        for (size_t i = 0; i < f->n; i++) {
            const BenchRow *br = bench_find(bench, f, &f->rows[i], tests[t]);
            if (br && isfinite(br->bound_ts)) {
                fprintf(g->pipe, "%d %.6g\n", label_index((Axes *)a, &f->rows[i]), br->bound_ts);
                nb[t]++;
            }
        }
        fprintf(g->pipe, "NaN NaN\n");
        gp_block_end(g);
    }
    char *body;
    size_t len;
    FILE *b = open_memstream(&body, &len);
    fprintf(b, "set multiplot layout 1,2 title \"Speed by codec (%lld thread%s; bars: min–max over repeats)%s\"\n"
               "set grid ytics\nset key outside bottom center horizontal\nset bmargin 7\nset yrange [0:*]\n"
               "set offsets 0, 0, graph 0.06, 0\n",
            (long long)f->rows[0].threads, f->rows[0].threads == 1 ? "" : "s", nb[0] || nb[1] ? "" : " — memory-bandwidth bound not known for this shape");
    xtics(b, a);
    for (int t = 0; t < 2; t++) {
        fprintf(b, "set title \"%s\"\nset ylabel \"%s tokens/s\"\n",
                t == 0 ? "Decode (one token per forward)" : "Prefill (prompt in one forward)", t == 0 ? "decode" : "prefill");
        grouped_plot(b, a, t == 0 ? "dec" : "pre", "min–max");
        if (nb[t]) {
            /* replot is not allowed in multiplot: append the bound to the same plot command. */
            long pos = ftell(b);
            fseek(b, pos - 1, SEEK_SET);
            fprintf(b, ", \\\n  $bound%d using 1:2 with points pt 12 ps 2.5 lc rgb 'black' title \"memory-bandwidth bound (qinsbench bench)\"\n", t);
        }
    }
    fputs("unset multiplot\n", b);
    fclose(b);
    char name[256];
    plot_chart_name(f, "speed", NULL, name, sizeof name);
    gp_chart(g, name, chart_width(a, 1400, 2), 600, body);
    if (log) fprintf(log, "%s/%s.png\n", g->out_dir, name);
    free(body);
}

static void chart_memory(Gp *g, const RdFile *f, const char *model, FILE *log) {
    int64_t ctx = 0;
    char block[32];
    snprintf(block, sizeof block, "mem%d", g->n_charts);
    gp_block_begin(g, block);
    int k = 0;
    for (size_t i = 0; i < f->n; i++) {
        const SummaryRow *r = &f->rows[i];
        if (strcmp(r->model, model) || !rd_ok(r)) continue;
        int64_t *wb = NULL;
        size_t n = 0;
        double grp[5] = {0, 0, 0, 0, 0};
        if (rd_cell(f, r, rs_name(RS_MEM_WEIGHT_BYTES), H5T_NATIVE_INT64, (void **)&wb, &n) == QB_OK && n == H5R_MEM_GROUPS) {
            for (int j = 0; j < 5; j++) grp[j] = (double)wb[j];
        } else {
            qb_error_clear();
            grp[0] = (double)r->weight_bytes; /* groups unknown: all under the first */
        }
        free(wb);
        double w = grp[0] + grp[1] + grp[2] + grp[3] + grp[4];
        double kv = r->kv_bytes > 0 ? (double)r->kv_bytes : 0;
        double rest = r->peak_rss_bytes > 0 ? (double)r->peak_rss_bytes - w - kv : 0;
        if (rest < 0) rest = 0; /* untouched pages of mapped weights need not be resident */
        if (!ctx) ctx = r->ctx;
        char l[192];
        row_label(r, l, sizeof l);
        fprintf(g->pipe, "\"%s\" %.6f %.6f %.6f %.6f %.6f %.6f %.6f\n", l, grp[0] / MIB, grp[1] / MIB, grp[2] / MIB,
                grp[3] / MIB, grp[4] / MIB, kv / MIB, rest / MIB);
        k++;
    }
    gp_block_end(g);
    if (!k) return;
    char mm[96], *body;
    gp_str(model, mm, sizeof mm);
    const char *cols[] = {"weights: attention", "weights: MLP", "weights: lm_head", "weights: embeddings",
                          "weights: norms", "KV cache", "rest of peak RSS"};
    const char *colors[] = {"#1f77b4", "#aec7e8", "#2ca02c", "#98df8a", "#bcbd22", "#d62728", "#c7c7c7"};
    size_t len;
    FILE *b = open_memstream(&body, &len);
    fprintf(b, "set title \"%s: memory by codec — weight bytes at rest by tensor group, KV cache (ctx %lld), rest of the cell's peak RSS\"\n"
               "set ylabel \"MiB\"\nset xlabel \"codec spec\"\nset style data histograms\nset style histogram rowstacked\n"
               "set style fill solid 0.85 border -1\nset boxwidth 0.7\nset grid ytics\nset key outside right top\n"
               "set xtics rotate by -30 left\nset yrange [0:*]\nset bmargin 7\nplot ",
            mm, (long long)ctx);
    for (int j = 0; j < 7; j++)
        fprintf(b, "%s$%s using %d%s lc rgb '%s' title \"%s\"", j ? ", " : "", block, j + 2, j ? "" : ":xtic(1)",
                colors[j], cols[j]);
    fputs("\n", b);
    fclose(b);
    char name[256];
    plot_chart_name(f, "memory", model, name, sizeof name);
    gp_chart(g, name, k * 40 + 500 < 1100 ? 1100 : k * 40 + 500 > 4000 ? 4000 : k * 40 + 500, 600, body);
    if (log) fprintf(log, "%s/%s.png\n", g->out_dir, name);
    free(body);
}

#define FLIP_BINS 30
/* Fewer flips than this make a 30-bin histogram of fractions spike to 1.0 and set the scale for every other
 * line (two flips on austen-toy's int8): such cells are listed under the chart instead of drawn. */
#define MIN_FLIPS_HIST 20

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y) + (isnan(x) - isnan(y)) * 2;
}

static void histogram(const float *v, size_t n, double hi, double *frac) {
    for (int j = 0; j < FLIP_BINS; j++) frac[j] = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(v[i])) continue;
        int j = (int)(v[i] / hi * FLIP_BINS);
        if (j < 0) j = 0;
        if (j >= FLIP_BINS) j = FLIP_BINS - 1;
        frac[j] += 1.0 / (double)n;
    }
}

static void chart_flips(Gp *g, const RdFile *f, const char *model, FILE *log) {
    float *all = NULL;
    size_t n_all = 0;
    if (rd_model(f, model, rs_name(RS_MODEL_GREEDY_MARGINS), H5T_NATIVE_FLOAT, (void **)&all, &n_all) || n_all == 0) {
        qb_error_clear();
        free(all);
        if (log) fprintf(log, "plot: %s: no reference margins: flip-margin chart skipped\n", model);
        return;
    }
    /* x range: the 90th percentile of all margins (a few huge margins would squash the interesting part;
     * values beyond it count in the last bin). */
    float *sorted = malloc(n_all * sizeof *sorted);
    double hi = 0;
    if (sorted) {
        memcpy(sorted, all, n_all * sizeof *sorted);
        qsort(sorted, n_all, sizeof *sorted, cmp_float);
        hi = sorted[(size_t)(0.90 * (double)(n_all - 1))];
        free(sorted);
    }
    if (!(hi > 0)) hi = 1;
    double frac[FLIP_BINS], w = hi / FLIP_BINS;
    char blk[32];
    snprintf(blk, sizeof blk, "flipall%d", g->n_charts);
    histogram(all, n_all, hi, frac);
    gp_block_begin(g, blk);
    for (int j = 0; j < FLIP_BINS; j++) fprintf(g->pipe, "%.6g %.9g\n", (j + 0.5) * w, frac[j]);
    gp_block_end(g);
    free(all);
    char *body, mm[96];
    size_t len;
    gp_str(model, mm, sizeof mm);
    FILE *b = open_memstream(&body, &len);
    fprintf(b, "set xlabel \"reference top-1 − top-2 margin, logit (last bin: all above the 90th percentile)\"\n"
               "set ylabel \"fraction of the line's tokens in the bin\"\n"
               "set grid\nset key outside right top\nset xrange [0:%.6g]\nset yrange [0:*]\nset offsets 0, 0, graph 0.06, 0\n"
               "plot $%s using 1:2 with histeps lw 3 lc rgb 'black' title \"all steps (n = %zu)\"",
            hi, blk, n_all);
    char few[1024] = "";
    int n_few = 0;
    int k = 0;
    /* Identical histograms hide each other: the legend names the earlier one a line equals. */
    static double seen[16][FLIP_BINS];
    static char seen_label[16][192];
    for (size_t i = 0; i < f->n; i++) {
        const SummaryRow *r = &f->rows[i];
        if (strcmp(r->model, model) || !rd_ok(r) || r->n_flips <= 0) continue;
        float *fm = NULL;
        size_t n = 0;
        if (rd_cell(f, r, rs_name(RS_TF_FLIP_MARGIN), H5T_NATIVE_FLOAT, (void **)&fm, &n) || n == 0) {
            qb_error_clear();
            free(fm);
            continue;
        }
        if (n < MIN_FLIPS_HIST) {
            char l[192];
            row_label(r, l, sizeof l);
            size_t fl = strlen(few);
            if (n_few < 8) snprintf(few + fl, sizeof few - fl, "%s%s (%zu)", n_few ? ", " : "", l, n);
            else if (n_few == 8) snprintf(few + fl, sizeof few - fl, ", …");
            n_few++;
            free(fm);
            continue;
        }
        snprintf(blk, sizeof blk, "flip%d_%zu", g->n_charts, i);
        histogram(fm, n, hi, frac);
        free(fm);
        gp_block_begin(g, blk);
        for (int j = 0; j < FLIP_BINS; j++) fprintf(g->pipe, "%.6g %.9g\n", (j + 0.5) * w, frac[j]);
        gp_block_end(g);
        char l[512], same[220] = "";
        row_label(r, l, sizeof l);
        for (int j = 0; j < k && j < 16 && !same[0]; j++)
            if (!memcmp(seen[j], frac, sizeof frac)) snprintf(same, sizeof same, " (= %.150s)", seen_label[j]);
        if (k < 16) {
            memcpy(seen[k], frac, sizeof frac);
            snprintf(seen_label[k], sizeof seen_label[k], "%.150s", l);
        }
        size_t ll = strlen(l);
        snprintf(l + ll, sizeof l - ll, "%s", same);
        fprintf(b, ", \\\n  $%s using 1:2 with histeps lw 1.8 lc rgb '%s' title \"flips: %s (n = %zu)\"", blk,
                COLOR(k), l, n);
        k++;
    }
    fputs("\n", b);
    fclose(b);
    char *full;
    /* the note goes under the chart, left-aligned on the canvas: a subtitle is centred on the plot area, which
     * the outside key narrows, and got clipped */
    char sub[1200] = "";
    if (n_few)
        snprintf(sub, sizeof sub, "set bmargin 5\nset label \"not drawn, fewer than %d flips (too few for a histogram): %s\" "
                                  "at screen 0.01, screen 0.02 left font ',9'\n", MIN_FLIPS_HIST, few);
    if (asprintf(&full, "set title \"%s: reference top-1 − top-2 logit margin at teacher-forced flips vs at all steps\"\n%s%s",
                 mm, sub, body) < 0) {
        free(body);
        return;
    }
    free(body);
    body = full;
    char name[256];
    plot_chart_name(f, "flip-margins", model, name, sizeof name);
    gp_chart(g, name, 1300, 600, body);
    if (log) fprintf(log, "%s/%s.png\n", g->out_dir, name);
    free(body);
}

qb_status plot_results(const RdFile *f, const char *out_dir, const BenchFile *bench, FILE *log) {
    if (f->n == 0) return qb_errorf(QB_ERR_INPUT, "%s: the summary has no cells: nothing to plot", f->path);
    size_t ok = 0;
    for (size_t i = 0; i < f->n; i++) ok += rd_ok(&f->rows[i]);
    if (!ok) return qb_errorf(QB_ERR_INPUT, "%s: no cell finished ok: nothing to plot", f->path);
    Axes a;
    axes_build(f, &a);
    Gp g;
    qb_status st = gp_open(&g, out_dir);
    if (st) return st;
    chart_match(&g, f, &a, log);
    chart_pareto(&g, f, &a, log);
    chart_speed(&g, f, &a, bench, log);
    for (size_t m = 0; m < a.n_models; m++) {
        chart_survival(&g, f, a.models[m], log);
        chart_memory(&g, f, a.models[m], log);
        chart_flips(&g, f, a.models[m], log);
    }
    return gp_close(&g);
}

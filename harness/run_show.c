/* run_show.c — `qinsbench show RESULTS.h5` (the summary table as markdown, csv or json) and
 * `qinsbench merge A.h5 B.h5 … -o ALL.h5` (joins shard files of one config, refusing mismatched configs or
 * overlapping cells). Both read only what docs/results.md documents. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cell_stats.h"
#include "commands.h"
#include "h5_results.h"
#include "opts.h"

static const char SHOW_USAGE[] =
    "usage: qinsbench show RESULTS.h5 [--format md|csv|json]\n"
    "Prints the summary table of a results file (one row per model, codec and KV mode).\n"
    "  --format F   md (default: the headline numbers with 95% CIs), csv or json (every field)\n";

static void fmt_num(char *b, size_t n, const char *fmt, double v) {
    if (isnan(v)) snprintf(b, n, "–");
    else snprintf(b, n, fmt, v);
}

static void fmt_ci(char *b, size_t n, const char *fmt, double v, double lo, double hi) {
    char x[24], l[24], h[24];
    if (isnan(v)) {
        snprintf(b, n, "–");
        return;
    }
    if (fabs(v) > 1e12) v = v > 0 ? 1e12 : -1e12;
    snprintf(x, sizeof x, fmt, v);
    snprintf(l, sizeof l, fmt, lo);
    snprintf(h, sizeof h, fmt, hi);
    if (isnan(lo)) snprintf(b, n, "%s", x);
    else snprintf(b, n, "%s [%s, %s]", x, l, h);
}

/* Percent of a fraction, with its CI. */
static void fmt_pct(char *b, size_t n, double v, double lo, double hi, const char *mark) {
    fmt_ci(b, n, "%.2f", 100 * v, 100 * lo, 100 * hi);
    if (!isnan(v)) strncat(b, mark, n - strlen(b) - 1);
}

/* The headline table. Units are in the header, one per quantity in every command (docs/results.md): fractions
 * and ΔPPL in percent, bytes in MiB (2^20). Footnotes only for what the table uses. */
static void print_md(const SummaryRow *r, size_t n) {
    printf("| model | codec | kv | status | bits/w (linear) | weights MiB | match %% [95%% CI] | first divergence, steps "
           "[95%% CI] | survival %% [95%% CI] | TF agree %% [95%% CI] | same top %% [95%% CI] | PPL | ΔPPL %% [95%% CI] "
           "| KL mean, nat [95%% CI] | KL p99, nat | prefill tok/s | decode tok/s | peak RSS MiB |\n");
    printf("|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    int any_weak = 0, any_ids = 0;
    int64_t weak_p = 0;
    for (size_t i = 0; i < n; i++, r++) {
        char bpw[32], wmb[32], m[96], pre[96], sv[96], tf[96], st[96], ppl[32], dp[96], kl[96], p99[32], pf[32], dc[32], rss[32];
        /* a CI over fewer than CELL_WEAK_N prompts is marked: with 8 prompts it takes a handful of values */
        int weak = r->n_prompts > 0 && r->n_prompts < CELL_WEAK_N;
        const char *wm = weak ? " ¹" : "";
        if (weak) any_weak = 1, weak_p = r->n_prompts;
        int ids = !strcmp(r->ppl_kind, "random_ids");
        any_ids |= ids;
        fmt_num(bpw, sizeof bpw, "%.2f", r->bits_per_weight_linear);
        fmt_num(wmb, sizeof wmb, "%.2f", r->weight_bytes ? r->weight_bytes / 1048576.0 : NAN);
        fmt_pct(m, sizeof m, r->match_rate, r->match_rate_lo, r->match_rate_hi, wm);
        fmt_ci(pre, sizeof pre, "%.1f", r->prefix_len_mean, r->prefix_len_mean_lo, r->prefix_len_mean_hi);
        if (!isnan(r->prefix_len_mean)) {
            size_t l = strlen(pre);
            snprintf(pre + l, sizeof pre - l, " of %lld%s", (long long)r->steps, wm);
        }
        fmt_pct(sv, sizeof sv, r->survival_full, r->survival_full_lo, r->survival_full_hi, wm);
        fmt_pct(tf, sizeof tf, r->tf_agreement, r->tf_agreement_lo, r->tf_agreement_hi, wm);
        fmt_pct(st, sizeof st, r->same_top, r->same_top_lo, r->same_top_hi, "");
        fmt_num(ppl, sizeof ppl, "%.3f", r->ppl);
        fmt_ci(dp, sizeof dp, "%+.2f", 100 * r->delta_ppl_rel, 100 * r->delta_ppl_rel_lo, 100 * r->delta_ppl_rel_hi);
        if (ids) {
            snprintf(ppl, sizeof ppl, "– ²");
            snprintf(dp, sizeof dp, "– ²");
        }
        fmt_ci(kl, sizeof kl, "%.3g", r->kl_mean, r->kl_mean_lo, r->kl_mean_hi);
        fmt_num(p99, sizeof p99, "%.3g", r->kl_p99);
        fmt_num(pf, sizeof pf, "%.0f", r->prefill_tps);
        fmt_num(dc, sizeof dc, "%.1f", r->decode_tps);
        fmt_num(rss, sizeof rss, "%.1f", r->peak_rss_bytes ? r->peak_rss_bytes / 1048576.0 : NAN);
        printf("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", r->model,
               r->codec, r->kv, r->status, bpw, wmb, m, pre, sv, tf, st, ppl, dp, kl, p99, pf, dc, rss);
    }
    if (!n) return;
    if (any_weak)
        printf("\n¹ %lld prompts: greedy CIs (bootstrap over prompts; Wilson for survival) are weak below %d.\n",
               (long long)weak_p, CELL_WEAK_N);
    if (any_ids)
        printf("\n² random-token-id corpus: perplexity measures nothing there (a codec's noise \"improves\" it); see KL "
               "and same top.\n");
    printf("\nfirst divergence: mean steps before the codec's first differing token; survival: prompts identical "
           "through every step; definitions: docs/results.md\n");
}

static void csv_str(const char *s) {
    if (!strpbrk(s, ",\"\n")) {
        fputs(s, stdout);
        return;
    }
    putchar('"');
    for (; *s; s++) {
        if (*s == '"') putchar('"');
        putchar(*s);
    }
    putchar('"');
}

static void print_csv(const SummaryRow *rows, size_t n) {
    int nf;
    const H5rField *f = h5r_summary_fields(&nf);
    for (int j = 0; j < nf; j++) printf("%s%s", j ? "," : "", f[j].name);
    putchar('\n');
    for (size_t i = 0; i < n; i++) {
        const char *base = (const char *)&rows[i];
        for (int j = 0; j < nf; j++) {
            if (j) putchar(',');
            const char *p = base + f[j].offset;
            if (f[j].kind == 's') csv_str(p);
            else if (f[j].kind == 'i') printf("%lld", (long long)*(const int64_t *)p);
            else {
                double v = *(const double *)p;
                if (isnan(v)) fputs("nan", stdout);
                else printf("%.17g", v);
            }
        }
        putchar('\n');
    }
}

static int print_json(const SummaryRow *rows, size_t n) {
    int nf;
    const H5rField *f = h5r_summary_fields(&nf);
    cJSON *arr = cJSON_CreateArray();
    if (!arr) return 3;
    for (size_t i = 0; i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        if (!o) break;
        cJSON_AddItemToArray(arr, o);
        const char *base = (const char *)&rows[i];
        for (int j = 0; j < nf; j++) {
            const char *p = base + f[j].offset;
            if (f[j].kind == 's') cJSON_AddStringToObject(o, f[j].name, p);
            else if (f[j].kind == 'i') cJSON_AddNumberToObject(o, f[j].name, (double)*(const int64_t *)p);
            else if (isnan(*(const double *)p)) cJSON_AddNullToObject(o, f[j].name);
            else cJSON_AddNumberToObject(o, f[j].name, *(const double *)p);
        }
    }
    char *s = cJSON_Print(arr);
    cJSON_Delete(arr);
    if (!s) return 3;
    puts(s);
    free(s);
    return 0;
}

int cmd_show(int argc, char **argv) {
    static const struct option longopts[] = {{"format", required_argument, 0, 'f'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *format = "md";
    opts_reset();
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (c == 'f') format = optarg;
        else if (c == 'h') {
            fputs(SHOW_USAGE, stdout);
            return 0;
        } else
            return opts_bad(SHOW_USAGE);
    }
    if (optind != argc - 1) return opts_fail("show", SHOW_USAGE, "expected one RESULTS.h5 file");
    if (strcmp(format, "md") && strcmp(format, "csv") && strcmp(format, "json"))
        return opts_fail("show", SHOW_USAGE, "--format: '%s' is not md, csv or json", format);
    h5r_quiet();
    hid_t f;
    qb_status st = h5r_open(argv[optind], &f);
    if (st) return opts_lib_error("show", st);
    SummaryRow *rows = NULL;
    size_t n = 0;
    st = h5r_read_summary(f, &rows, &n);
    int state = st ? 0 : h5r_report_state(f, argv[optind], rows, n); /* damaged cells, partial or empty file */
    H5Fclose(f);
    if (st) {
        qb_error_prefix(argv[optind]);
        return opts_lib_error("show", st);
    }
    int rc = 0;
    if (!strcmp(format, "md")) print_md(rows, n);
    else if (!strcmp(format, "csv")) print_csv(rows, n);
    else rc = print_json(rows, n);
    free(rows);
    return rc ? rc : state;
}

/* ---------------------------------------------------------------- merge */

static const char MERGE_USAGE[] =
    "usage: qinsbench merge A.h5 B.h5 … -o ALL.h5\n"
    "Joins results files of one config (shards of `run --shard`, or `--only` runs): refuses files made from\n"
    "different configs and cells present twice. The summary comes out in the config's cell order.\n"
    "  -o, --out FILE   the merged file (must not be one of the inputs)\n";

static int cmp_row(const void *a, const void *b) {
    const SummaryRow *x = a, *y = b;
    return (x->cell_index > y->cell_index) - (x->cell_index < y->cell_index);
}

int cmd_merge(int argc, char **argv) {
    static const struct option longopts[] = {{"out", required_argument, 0, 'o'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *out = NULL;
    opts_reset();
    int c;
    while ((c = getopt_long(argc, argv, "o:", longopts, NULL)) != -1) {
        if (c == 'o') out = optarg;
        else if (c == 'h') {
            fputs(MERGE_USAGE, stdout);
            return 0;
        } else
            return opts_bad(MERGE_USAGE);
    }
    if (!out) return opts_fail("merge", MERGE_USAGE, "-o ALL.h5 is required");
    int nin = argc - optind;
    if (nin < 1) return opts_fail("merge", MERGE_USAGE, "expected at least one input file");
    for (int i = optind; i < argc; i++)
        if (!strcmp(argv[i], out) || qb_same_file(argv[i], out))
            return opts_fail("merge", MERGE_USAGE, "%s is both input and output", out);
    h5r_quiet();
    qb_status st = QB_OK;
    char *text0 = NULL, *name0 = NULL, *path0 = NULL;
    SummaryRow *all = NULL;
    size_t n_all = 0;
    int64_t threads = 0;
    /* pass 1: check and collect the rows */
    for (int i = optind; i < argc && !st; i++) {
        hid_t f;
        if ((st = h5r_open(argv[i], &f))) break;
        char *text = NULL;
        SummaryRow *rows = NULL;
        size_t n = 0;
        st = h5r_read_attr_str(f, "/", rs_name(RS_ROOT_CONFIG_TEXT), &text);
        if (!st && i == optind) {
            st = h5r_read_attr_str(f, "/", rs_name(RS_ROOT_CONFIG_NAME), &name0);
            if (!st) st = h5r_read_attr_str(f, "/", rs_name(RS_ROOT_CONFIG_PATH), &path0);
            if (!st) {
                hid_t a = H5Aopen_by_name(f, "/", rs_name(RS_ROOT_THREADS), H5P_DEFAULT, H5P_DEFAULT);
                if (a < 0 || H5Aread(a, H5T_NATIVE_INT64, &threads) < 0) st = qb_errorf(QB_ERR_INPUT, "no attribute 'threads'");
                if (a >= 0) H5Aclose(a);
            }
        }
        if (!st) st = h5r_read_summary(f, &rows, &n);
        H5Fclose(f);
        if (st) qb_error_prefix(argv[i]);
        if (!st && i == optind) text0 = text, text = NULL;
        else if (!st && strcmp(text, text0))
            st = qb_errorf(QB_ERR_INPUT, "%s: made from a different config than %s", argv[i], argv[optind]);
        for (size_t r = 0; !st && r < n; r++)
            for (size_t q = 0; q < n_all; q++)
                if (all[q].cell_index == rows[r].cell_index)
                    st = qb_errorf(QB_ERR_INPUT, "%s: cell %s/%s/%s is also in an earlier input", argv[i], rows[r].model,
                                   rows[r].codec, rows[r].kv);
        if (!st && n) {
            SummaryRow *g = realloc(all, (n_all + n) * sizeof *all);
            if (!g) st = qb_errorf(QB_ERR_NOMEM, "out of memory");
            else {
                all = g;
                memcpy(all + n_all, rows, n * sizeof *rows);
                n_all += n;
            }
        }
        free(text);
        free(rows);
    }
    if (!st) {
        char cmdline[2048] = "qinsbench";
        for (int i = 0; i < argc; i++) {
            size_t l = strlen(cmdline);
            snprintf(cmdline + l, sizeof cmdline - l, " %s", argv[i]);
        }
        H5Root root = {name0, text0, path0, cmdline, "", (int)threads};
        st = h5r_create(out, &root);
    }
    /* pass 2: copy each input's models and cells, the summary growing in cell order */
    size_t n_done = 0;
    for (int i = optind; i < argc && !st; i++) {
        hid_t f;
        if ((st = h5r_open(argv[i], &f))) break;
        SummaryRow *rows = NULL;
        size_t n = 0;
        st = h5r_read_summary(f, &rows, &n);
        char **src = calloc(2 * n + 2, sizeof *src), **dst = calloc(2 * n + 2, sizeof *dst);
        int k = 0;
        if (!src || !dst) st = qb_errorf(QB_ERR_NOMEM, "out of memory");
        for (size_t r = 0; !st && r < n; r++) {
            char g[512], p[600];
            h5r_cell_name(rows[r].model, rows[r].codec, rows[r].kv, g, sizeof g);
            snprintf(p, sizeof p, "%s/%s", rs_name(RS_CELLS), g);
            if (H5Lexists(f, p, H5P_DEFAULT) > 0) {
                src[k] = strdup(p);
                dst[k++] = strdup(p);
            }
            snprintf(p, sizeof p, "%s/%s", rs_name(RS_MODELS), rows[r].model);
            int dup = 0;
            for (int q = 0; q < k; q++) dup |= !strcmp(src[q], p);
            if (!dup && H5Lexists(f, rs_name(RS_MODELS), H5P_DEFAULT) > 0 && H5Lexists(f, p, H5P_DEFAULT) > 0) {
                src[k] = strdup(p);
                dst[k++] = strdup(p);
            }
        }
        H5Fclose(f);
        if (!st) {
            n_done += n;
            SummaryRow *part = malloc((n_done ? n_done : 1) * sizeof *part);
            size_t m = 0;
            if (!part) st = qb_errorf(QB_ERR_NOMEM, "out of memory");
            for (size_t q = 0; part && q < n_all && m < n_done; q++) part[m++] = all[q];
            if (part) {
                qsort(part, m, sizeof *part, cmp_row);
                st = h5r_commit(out, argv[i], (const char *const *)src, (const char *const *)dst, k, part, m);
            }
            free(part);
        }
        for (int q = 0; q < k; q++) free(src[q]), free(dst[q]);
        free(src);
        free(dst);
        free(rows);
    }
    int rc = 0;
    if (st) rc = opts_lib_error("merge", st);
    else fprintf(stderr, "qinsbench merge: wrote %s (%zu cells from %d files)\n", out, n_all, nin);
    free(all);
    free(text0);
    free(name0);
    free(path0);
    return rc;
}

/* test_plot.c — `qinsbench plot` and `qinsbench report` on a real (small) results file: every chart written as
 * PNG and SVG with nothing else left in the output directory, a clear exit-2 error without gnuplot or with a
 * bad results file, and a report whose claims table judges the measured numbers (and never claims a
 * Pattern A match the file does not show). Needs QB_BIN and gnuplot; runs from the repo root. */
#include <check.h>

#include "cli_run.h"
#include "h5_results.h"
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>


static char results[128]; /* made once for the suite (a run takes seconds) */


static void setup(void) {
    snprintf(dir, sizeof dir, "/tmp/qb_test_plot_XXXXXX");
    ck_assert(mkdtemp(dir) != NULL);
}

static void teardown(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

static int file_starts(const char *path, const char *magic, size_t n) {
    char buf[64] = {0};
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t got = fread(buf, 1, sizeof buf, f);
    fclose(f);
    return got >= n && !memcmp(buf, magic, n);
}

START_TEST(test_plot_writes_every_chart) {
    char args[512];
    snprintf(args, sizeof args, "plot %s --out %s/charts", results, dir);
    int rc = run(args);
    ck_assert_msg(rc == 0, "plot: exit %d: %s", rc, err_text);
    const char *charts[] = {"fixtures-match", "fixtures-quality-size", "fixtures-speed", "fixtures-survival-phi3-tiny",
                            "fixtures-memory-phi3-tiny", "fixtures-flip-margins-phi3-tiny"};
    for (size_t i = 0; i < sizeof charts / sizeof *charts; i++) {
        char p[256];
        snprintf(p, sizeof p, "%s/charts/%s.png", dir, charts[i]);
        ck_assert_msg(file_starts(p, "\x89PNG\r\n\x1a\n", 8), "%s: missing or not a PNG", p);
        snprintf(p, sizeof p, "%s/charts/%s.svg", dir, charts[i]);
        ck_assert_msg(file_starts(p, "<?xml", 5) || file_starts(p, "<svg", 4), "%s: missing or not an SVG", p);
    }
    /* nothing but the charts: no temporary data files left behind */
    char p[256];
    snprintf(p, sizeof p, "%s/charts", dir);
    DIR *d = opendir(p);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        size_t l = strlen(e->d_name);
        ck_assert_msg(l > 4 && (!strcmp(e->d_name + l - 4, ".png") || !strcmp(e->d_name + l - 4, ".svg")),
                      "unexpected file %s", e->d_name);
        n++;
    }
    closedir(d);
    ck_assert_int_eq(n, 2 * (int)(sizeof charts / sizeof *charts));
}
END_TEST

START_TEST(test_plot_errors) {
    char args[512];
    snprintf(args, sizeof args, "plot %s --out %s", results, dir);
    ck_assert_int_eq(run_env("PATH=/nonexistent", args), 2);
    ck_assert_msg(strstr(err_text, "gnuplot: not found") != NULL, "%s", err_text);
    snprintf(args, sizeof args, "plot %s/nosuch.h5 --out %s", dir, dir);
    ck_assert_int_eq(run(args), 2);
    ck_assert_ptr_nonnull(strstr(err_text, "nosuch.h5: no such file"));
    snprintf(args, sizeof args, "plot tests/fixtures/README.md --out %s", dir);
    ck_assert_int_eq(run(args), 2);
    ck_assert_ptr_nonnull(strstr(err_text, "README.md: not an HDF5 file"));
    snprintf(args, sizeof args, "plot %s --out %s --bench tests/fixtures/README.md", results, dir);
    ck_assert_int_eq(run(args), 2);
    ck_assert_ptr_nonnull(strstr(err_text, "README.md: not a `qinsbench bench --format csv` file"));
    ck_assert_int_eq(run("plot --help"), 0);
    ck_assert_ptr_nonnull(strstr(out_text, "usage: qinsbench plot"));
    ck_assert_int_eq(run("plot --frobnicate x.h5"), 2);
    ck_assert_ptr_nonnull(strstr(err_text, "usage: qinsbench plot"));
    ck_assert_int_eq(run("plot"), 2);
}
END_TEST

START_TEST(test_report) {
    char args[512], p[256];
    snprintf(args, sizeof args, "report %s --out %s/R.md --charts %s", results, dir, dir);
    int rc = run(args);
    ck_assert_msg(rc == 0, "report: exit %d: %s", rc, err_text);
    snprintf(p, sizeof p, "%s/R.md", dir);
    FILE *f = fopen(p, "r");
    ck_assert_ptr_nonnull(f);
    static char md[1 << 20];
    size_t n = fread(md, 1, sizeof md - 1, f);
    md[n] = 0;
    fclose(f);
    ck_assert_ptr_nonnull(strstr(md, "## Claims"));
    /* The fixtures' qins match is far below 100%: the Pattern A claim must come out refuted, not held. */
    const char *a = strstr(md, "| Pattern A (codec-at-rest, `qins`) keeps 100% greedy match");
    ck_assert_ptr_nonnull(a);
    const char *eol = strchr(a, '\n');
    ck_assert_ptr_nonnull(eol);
    const char *v = strstr(a, "**refuted**");
    ck_assert_msg(v && v < eol, "Pattern A row: %.*s", (int)(eol - a), a);
    ck_assert_ptr_nonnull(strstr(md, "calibrated QINS: 0.0% greedy match | not measured | **inconclusive**"));
    ck_assert_ptr_nonnull(strstr(md, "FP32 15.28 GB")); /* Phi-3.5-mini: 3.821 G parameters × 4 bytes */
    ck_assert_ptr_nonnull(strstr(md, "p = min(s_w·s_x, 255)")); /* our compute-in-QINS definition, quoted */
    ck_assert_ptr_nonnull(strstr(md, "### phi3-tiny"));
    ck_assert_ptr_nonnull(strstr(md, "qinsbench run configs/fixtures.json"));
    /* no partial output on failure */
    snprintf(args, sizeof args, "report %s %s/nosuch.h5 --out %s/R2.md", results, dir, dir);
    ck_assert_int_eq(run(args), 2);
    ck_assert_ptr_nonnull(strstr(err_text, "nosuch.h5: no such file"));
    snprintf(p, sizeof p, "%s/R2.md", dir);
    ck_assert_int_eq(access(p, F_OK), -1);
    ck_assert_int_eq(run("report --help"), 0);
    ck_assert_int_eq(run("report --nope x.h5"), 2);
    ck_assert_int_eq(run("report"), 2);
}
END_TEST


/* ---- docs/results.md agrees with a real results file ---- */

static char *docs_text(void) {
    FILE *f = fopen("docs/results.md", "r");
    ck_assert_ptr_nonnull(f);
    static char t[1 << 17];
    size_t n = fread(t, 1, sizeof t - 1, f);
    t[n] = 0;
    fclose(f);
    return t;
}

static int documented(const char *docs, const char *name) {
    char q[256];
    snprintf(q, sizeof q, "`%s`", name);
    if (strstr(docs, q)) return 1;
    snprintf(q, sizeof q, "`/%s`", name);
    return strstr(docs, q) != NULL;
}

typedef struct {
    const char *docs;
    char missing[4096];
} Walk;

/* The documented name of an object: /models/<label>/x → x, /cells/<cell>/g/x → g/x, /x → x. */
static const char *generic(const char *path) {
    if (!strncmp(path, "models/", 7) || !strncmp(path, "cells/", 6)) {
        const char *p = strchr(strchr(path, '/') + 1, '/');
        return p ? p + 1 : NULL; /* NULL: the per-model / per-cell group itself */
    }
    return path;
}

static herr_t attr_cb(hid_t loc, const char *name, const H5A_info_t *info, void *data) {
    (void)loc, (void)info;
    Walk *w = data;
    if (!documented(w->docs, name) && strlen(w->missing) + strlen(name) + 4 < sizeof w->missing)
        strcat(strcat(w->missing, " @"), name);
    return 0;
}

static herr_t obj_cb(hid_t o, const char *path, const H5O_info_t *info, void *data) {
    Walk *w = data;
    hid_t obj = H5Oopen(o, path, H5P_DEFAULT);
    ck_assert(obj >= 0);
    H5Aiterate2(obj, H5_INDEX_NAME, H5_ITER_NATIVE, NULL, attr_cb, w);
    H5Oclose(obj);
    const char *g = strcmp(path, ".") ? generic(path) : NULL;
    if (info->type == H5O_TYPE_DATASET && g && !documented(w->docs, g) && strlen(w->missing) + strlen(g) + 4 < sizeof w->missing)
        strcat(strcat(w->missing, " /"), g);
    return 0;
}

/* Every attribute and dataset of a real file is documented; /summary_fields is the field table; the docs'
 * /summary table lists exactly those fields, each with the unit the file gives it. */
START_TEST(test_docs_agree_with_file) {
    const char *docs = docs_text();
    hid_t f = H5Fopen(results, H5F_ACC_RDONLY, H5P_DEFAULT);
    ck_assert(f >= 0);
    Walk w = {docs, ""};
    ck_assert(H5Ovisit(f, H5_INDEX_NAME, H5_ITER_NATIVE, obj_cb, &w) >= 0);
    ck_assert_msg(!w.missing[0], "docs/results.md does not document:%s", w.missing);

    int nf;
    const H5rField *fl = h5r_summary_fields(&nf);
    typedef struct {
        char name[32], kind[2], units[16], description[192];
    } FieldRow;
    hid_t t = H5Tcreate(H5T_COMPOUND, sizeof(FieldRow)), s32 = H5Tcopy(H5T_C_S1), s2 = H5Tcopy(H5T_C_S1),
          s16 = H5Tcopy(H5T_C_S1), s192 = H5Tcopy(H5T_C_S1);
    H5Tset_size(s32, 32), H5Tset_size(s2, 2), H5Tset_size(s16, 16), H5Tset_size(s192, 192);
    /* HDF5 does not convert between character sets: the file's strings are UTF-8 */
    H5Tset_cset(s32, H5T_CSET_UTF8), H5Tset_cset(s2, H5T_CSET_UTF8), H5Tset_cset(s16, H5T_CSET_UTF8),
        H5Tset_cset(s192, H5T_CSET_UTF8);
    H5Tinsert(t, "name", offsetof(FieldRow, name), s32);
    H5Tinsert(t, "kind", offsetof(FieldRow, kind), s2);
    H5Tinsert(t, "units", offsetof(FieldRow, units), s16);
    H5Tinsert(t, "description", offsetof(FieldRow, description), s192);
    FieldRow *rows = NULL;
    size_t n = 0;
    ck_assert_int_eq(h5r_read(f, "summary_fields", t, (void **)&rows, &n), QB_OK);
    ck_assert_int_eq((int)n, nf);
    for (int i = 0; i < nf; i++) {
        ck_assert_str_eq(rows[i].name, fl[i].name);
        ck_assert_str_eq(rows[i].units, fl[i].units);
        ck_assert_msg(strlen(rows[i].description) > 10, "%s: no description", rows[i].name);
    }
    free(rows);
    hid_t ts[] = {t, s32, s2, s16, s192};
    for (int i = 0; i < 5; i++) H5Tclose(ts[i]);
    H5Fclose(f);

    /* the docs' /summary table: first column `name` (+`_lo`, `_hi`), second the unit ("—" for none) */
    const char *sec = strstr(docs, "## `/summary`");
    ck_assert_ptr_nonnull(sec);
    const char *end = strstr(sec + 3, "\n## ");
    int seen[256] = {0}, listed = 0;
    for (const char *l = strstr(sec, "\n| `"); l && (!end || l < end); l = strstr(l + 1, "\n| `")) {
        const char *bar = strchr(l + 3, '|'), *bar2 = bar ? strchr(bar + 1, '|') : NULL;
        ck_assert(bar && bar2);
        char unit[32];
        snprintf(unit, sizeof unit, "%.*s", (int)(bar2 - bar - 3), bar + 2);
        char base[200] = "";
        for (const char *q = strchr(l + 1, '`'); q && q < bar; q = strchr(q + 1, '`')) {
            const char *e = strchr(q + 1, '`');
            char name[200];
            size_t bl = q[1] == '_' ? strlen(base) : 0, nl = (size_t)(e - q - 1);
            ck_assert(bl + nl < sizeof name);
            memcpy(name, base, bl);
            memcpy(name + bl, q + 1, nl);
            name[bl + nl] = 0;
            if (q[1] != '_') memcpy(base, name, bl + nl + 1);
            int k = -1;
            for (int i = 0; i < nf && k < 0; i++)
                if (!strcmp(fl[i].name, name)) k = i;
            ck_assert_msg(k >= 0, "docs/results.md lists '%s', which /summary does not have", name);
            ck_assert_msg(!strcmp(unit, fl[k].units[0] ? fl[k].units : "—"), "%s: docs say unit '%s', the file '%s'",
                          name, unit, fl[k].units);
            seen[k] = 1;
            listed++;
            q = e;
        }
    }
    for (int i = 0; i < nf; i++) ck_assert_msg(seen[i], "docs/results.md does not list /summary field %s", fl[i].name);
    ck_assert_int_eq(listed, nf);
}
END_TEST

static Suite *plot_suite(void) {
    Suite *s = suite_create("plot");
    TCase *tc = tcase_create("plot");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_plot_writes_every_chart);
    tcase_add_test(tc, test_plot_errors);
    tcase_add_test(tc, test_report);
    tcase_add_test(tc, test_docs_agree_with_file);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    /* One small real results file for every test: the fixtures config, phi3-tiny only. */
    static char rdir[64] = "/tmp/qb_test_plot_res_XXXXXX";
    if (!mkdtemp(rdir)) return EXIT_FAILURE;
    snprintf(results, sizeof results, "%s/fixtures.h5", rdir);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s run configs/fixtures.json --only model=phi3-tiny --out %s >/dev/null 2>&1", bin(), results);
    int rc = system(cmd);
    int failed = 1;
    if (rc != 0) fprintf(stderr, "test_plot: `%s` failed\n", cmd);
    else {
        SRunner *sr = srunner_create(plot_suite());
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
    }
    snprintf(cmd, sizeof cmd, "rm -rf %s", rdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", rdir);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

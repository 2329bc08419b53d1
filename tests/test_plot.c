/* test_plot.c — `qinsbench plot` and `qinsbench report` on a real (small) results file: every chart written as
 * PNG and SVG with nothing else left in the output directory, a clear exit-2 error without gnuplot or with a
 * bad results file, and a report whose claims table judges the measured numbers (and never claims a
 * Pattern A match the file does not show). Needs QB_BIN and gnuplot; runs from the repo root. */
#include <check.h>

#include "cli_run.h"
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

static Suite *plot_suite(void) {
    Suite *s = suite_create("plot");
    TCase *tc = tcase_create("plot");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_plot_writes_every_chart);
    tcase_add_test(tc, test_plot_errors);
    tcase_add_test(tc, test_report);
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

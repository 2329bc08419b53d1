/* test_gate.c — `qinsbench gate`: passes a correct results file, fails (exit 1, naming the cell and the check)
 * on every kind of violation — a threshold, exact losslessness, bits/weight against the codec definition, a
 * NaN (unmeasured) metric, a failed or missing cell, a cell without thresholds — rejects bad input with
 * exit 2 and the path, and, on a real run of configs/gate.json (phi3-tiny only, seconds), passes with
 * thresholds derived from it (--suggest) and fails against thresholds a correct build cannot meet.
 * Needs QB_BIN (set by make test); runs from the repo root. */
#include <check.h>
#include "check_main.h"

#include "cli_run.h"
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gate.h"
#include "h5_results.h"




static void setup(void) {
    snprintf(dir, sizeof dir, "/tmp/qb_test_gate_XXXXXX");
    ck_assert(mkdtemp(dir) != NULL);
}

static void teardown(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

static void write_text(const char *name, const char *text) {
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

/* phi3-tiny (tests/fixtures/phi3-tiny/config.json): hidden 64, 4 heads × 16, 4 KV heads, intermediate 160.
 * Projections: qkv [192, 64], o [64, 64], gate_up [320, 64], down [64, 160] → 47104 weights in 640 rows.
 * qins stores 16 bits per weight + one f32 scale per row: 16 + 32 · 640 / 47104 bits/weight. */
#define TINY_QINS_BITS (16.0 + 32.0 * 640.0 / 47104.0)

/* A results file with the given rows and /models/phi3-tiny's path. */
static void make_results(const char *name, const SummaryRow *rows, size_t n) {
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    H5Root root = {.config_name = "unit", .config_text = "{}", .config_path = "unit.json", .command_line = "test",
                   .shard = "", .threads = 1};
    ck_assert_int_eq(h5r_create(p, &root), QB_OK);
    hid_t f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
    ck_assert(f >= 0);
    ck_assert_int_eq(h5r_write_summary(f, rows, n), QB_OK);
    hid_t g;
    ck_assert_int_eq(h5r_group(f, "models/phi3-tiny", &g), QB_OK);
    ck_assert_int_eq(h5r_attr_str(g, "path", "tests/fixtures/phi3-tiny"), QB_OK);
    H5Gclose(g);
    H5Fclose(f);
}

/* Two good cells: fp32 (exactly lossless) and qins. */
static void good_rows(SummaryRow r[2]) {
    h5r_row_init(&r[0], "phi3-tiny", "fp32", "f32", 0);
    h5r_row_init(&r[1], "phi3-tiny", "qins", "f32", 1);
    for (int i = 0; i < 2; i++) {
        snprintf(r[i].status, sizeof r[i].status, "ok");
        r[i].match_rate = i ? 0.5 : 1.0;
        r[i].tf_agreement = i ? 0.75 : 1.0;
        r[i].kl_mean = i ? 0.01 : 0.0;
        r[i].delta_ppl = i ? 1.5 : 0.0;
        r[i].bits_per_weight_linear = i ? TINY_QINS_BITS : 32.0;
    }
}

static const char *THRESHOLDS =
    "{\"_comment\": \"unit test\", \"cells\": [\n"
    " {\"model\": \"phi3-tiny\", \"codec\": \"fp32\", \"exact\": true},\n"
    " {\"model\": \"phi3-tiny\", \"codec\": \"qins\", \"kv\": \"f32\", \"min_match_rate\": 0.4, \"min_tf_agreement\": 0.7,\n"
    "  \"max_kl_mean\": 0.02, \"max_delta_ppl\": 2}]}\n";

static int gate(const char *results, const char *thresholds) {
    char args[512];
    snprintf(args, sizeof args, "gate %s/%s --thresholds %s/%s", dir, results, dir, thresholds);
    return run(args);
}

START_TEST(test_passes) {
    SummaryRow r[2];
    good_rows(r);
    make_results("r.h5", r, 2);
    write_text("t.json", THRESHOLDS);
    int rc = gate("r.h5", "t.json");
    ck_assert_msg(rc == 0, "exit %d\n%s%s", rc, out_text, err_text);
    ck_assert_ptr_nonnull(strstr(out_text, "PASS  phi3-tiny / qins / f32"));
    ck_assert_ptr_nonnull(strstr(out_text, "bits_per_weight"));
    ck_assert_ptr_nonnull(strstr(out_text, "gate: passed: all 10 checks"));
    ck_assert_ptr_null(strstr(out_text, "FAIL"));
    /* random ids: without the ΔPPL threshold it passes, the exact cell checked on same-top instead of ΔPPL */
    for (int i = 0; i < 2; i++) {
        snprintf(r[i].ppl_kind, sizeof r[i].ppl_kind, "random_ids");
        r[i].delta_ppl = NAN;
    }
    r[0].same_top = 1.0;
    make_results("ids.h5", r, 2);
    write_text("ids.json", "{\"cells\": [{\"model\": \"phi3-tiny\", \"codec\": \"fp32\", \"exact\": true},\n"
                           " {\"model\": \"phi3-tiny\", \"codec\": \"qins\", \"kv\": \"f32\", \"max_kl_mean\": 0.02}]}\n");
    rc = gate("ids.h5", "ids.json");
    ck_assert_msg(rc == 0, "exit %d\n%s%s", rc, out_text, err_text);
    ck_assert_ptr_nonnull(strstr(out_text, "same_top"));
    ck_assert_ptr_null(strstr(out_text, "delta_ppl"));
}
END_TEST

/* Each case breaks one thing; the gate must exit 1 and print FAIL on a line naming the check. */
typedef struct {
    const char *what; /* the check name that must appear on a FAIL line */
    int row;
    void (*breakit)(SummaryRow *r);
} Breakage;

static void low_match(SummaryRow *r) { r->match_rate = 0.39; }
static void low_tf(SummaryRow *r) { r->tf_agreement = 0.69; }
static void high_kl(SummaryRow *r) { r->kl_mean = 0.021; }
static void high_dppl(SummaryRow *r) { r->delta_ppl = 2.01; }
static void nan_kl(SummaryRow *r) { r->kl_mean = NAN; }
static void lossy_fp32(SummaryRow *r) { r->kl_mean = 1e-15; }
static void fp32_flip(SummaryRow *r) { r->tf_agreement = 0.999; }
static void bits_off(SummaryRow *r) { r->bits_per_weight_linear += 1e-6; } /* e.g. a lost row scale */
static void failed(SummaryRow *r) { snprintf(r->status, sizeof r->status, "failed: killed by signal 9"); }
/* random-id corpus: no perplexity, so a ΔPPL threshold is an error and exactness is checked on same-top */
static void ids_ppl_threshold(SummaryRow *r) { snprintf(r->ppl_kind, sizeof r->ppl_kind, "random_ids"); }
static void ids_exact_flip(SummaryRow *r) {
    snprintf(r->ppl_kind, sizeof r->ppl_kind, "random_ids");
    r->same_top = 0.999;
}
static void renamed(SummaryRow *r) { snprintf(r->codec, sizeof r->codec, "qins8"); } /* missing + unlisted */

static const Breakage breakages[] = {
    {"match_rate", 1, low_match},   {"tf_agreement", 1, low_tf}, {"kl_mean", 1, high_kl},
    {"delta_ppl", 1, high_dppl},    {"kl_mean", 1, nan_kl},      {"kl_mean", 0, lossy_fp32},
    {"tf_agreement", 0, fp32_flip}, {"bits_per_weight", 1, bits_off}, {"status", 1, failed},
    {"present", 1, renamed},        {"thresholds", 1, renamed},  {"delta_ppl", 1, ids_ppl_threshold},
    {"same_top", 0, ids_exact_flip},
};

START_TEST(test_fails_and_names_check) {
    const Breakage *b = &breakages[_i];
    SummaryRow r[2];
    good_rows(r);
    b->breakit(&r[b->row]);
    make_results("r.h5", r, 2);
    write_text("t.json", THRESHOLDS);
    int rc = gate("r.h5", "t.json");
    ck_assert_msg(rc == 1, "case %d (%s): exit %d\n%s%s", _i, b->what, rc, out_text, err_text);
    int named = 0;
    for (char *l = out_text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        char line[512];
        snprintf(line, sizeof line, "%.*s", (int)(strchr(l, '\n') ? strchr(l, '\n') - l : (long)strlen(l)), l);
        if (!strncmp(line, "FAIL", 4) && strstr(line, "phi3-tiny /") && strstr(line, b->what)) named = 1;
    }
    ck_assert_msg(named, "case %d: no FAIL line names %s:\n%s", _i, b->what, out_text);
    ck_assert_ptr_nonnull(strstr(out_text, "gate: FAILED"));
}
END_TEST

START_TEST(test_bad_input) {
    SummaryRow r[2];
    good_rows(r);
    make_results("r.h5", r, 2);
    write_text("t.json", THRESHOLDS);
    char args[512];
    snprintf(args, sizeof args, "gate %s/nosuch.h5 --thresholds %s/t.json", dir, dir);
    ck_assert_int_eq(run(args), 2);
    ck_assert_ptr_nonnull(strstr(err_text, "nosuch.h5: no such file"));
    write_text("corrupt.h5", "not hdf5 at all\n");
    ck_assert_int_eq(gate("corrupt.h5", "t.json"), 2);
    ck_assert_ptr_nonnull(strstr(err_text, "corrupt.h5: not an HDF5 file"));
    write_text("bad.json", "{\"cells\": [{\"model\": \"phi3-tiny\", \"codec\": \"qins\", \"min_match\": 0.5}]}");
    ck_assert_int_eq(gate("r.h5", "bad.json"), 2);
    ck_assert_msg(strstr(err_text, "bad.json: cells[0].min_match: unknown key") != NULL, "%s", err_text);
    write_text("bad2.json", "{\"cells\": [{\"model\": \"phi3-tiny\", \"codec\": \"qins\", \"max_kl_mean\": \"small\"}]}");
    ck_assert_int_eq(gate("r.h5", "bad2.json"), 2);
    ck_assert_ptr_nonnull(strstr(err_text, "cells[0].max_kl_mean: expected a number"));
    write_text("bad3.json", "{\"cells\": [");
    ck_assert_int_eq(gate("r.h5", "bad3.json"), 2);
    ck_assert_ptr_nonnull(strstr(err_text, "bad3.json: not valid JSON"));
    ck_assert_int_eq(gate("r.h5", "nosuch.json"), 2);
    ck_assert_ptr_nonnull(strstr(err_text, "nosuch.json"));
    ck_assert_int_eq(run("gate --help"), 0);
    ck_assert_ptr_nonnull(strstr(out_text, "usage: qinsbench gate"));
    ck_assert_int_eq(run("gate --bogus x.h5"), 2);
    ck_assert_ptr_nonnull(strstr(err_text, "usage: qinsbench gate"));
    ck_assert_int_eq(run("gate"), 2);
}
END_TEST

START_TEST(test_expected_bits) {
    /* The definitions, by hand for phi3-tiny: see TINY_QINS_BITS. q4_0 pads rows to 32 (64 and 160 are
     * multiples): 18 bytes per 32 weights = 4.5 bits, no row scale. */
    double b;
    ck_assert_int_eq(gate_expected_bits_linear("tests/fixtures/phi3-tiny", "qins", &b), QB_OK);
    ck_assert_double_eq_tol(b, TINY_QINS_BITS, 1e-12);
    ck_assert_int_eq(gate_expected_bits_linear("tests/fixtures/phi3-tiny", "qins8", &b), QB_OK);
    ck_assert_double_eq_tol(b, TINY_QINS_BITS - 8.0, 1e-12);
    ck_assert_int_eq(gate_expected_bits_linear("tests/fixtures/phi3-tiny", "q4_0", &b), QB_OK);
    ck_assert_double_eq_tol(b, 4.5, 1e-12);
    ck_assert_int_eq(gate_expected_bits_linear("tests/fixtures/phi3-tiny", "bf16", &b), QB_OK);
    ck_assert_double_eq(b, 16.0);
    /* apply=mlp: attention stays fp32 (16384 weights), MLP is qins (30720 weights in 384 rows). */
    ck_assert_int_eq(gate_expected_bits_linear("tests/fixtures/phi3-tiny", "qins:apply=mlp", &b), QB_OK);
    ck_assert_double_eq_tol(b, (16384.0 * 32 + 30720.0 * 16 + 384.0 * 32) / 47104.0, 1e-12);
}
END_TEST

/* The real thing: a run of the gate config (phi3-tiny only, so it takes seconds) passes with thresholds
 * measured from it, and fails against thresholds no correct build can meet (a match rate above 1),
 * naming the check on every cell. */
START_TEST(test_real_run_can_fail) {
    char args[1024];
    snprintf(args, sizeof args, "run configs/gate.json --only model=phi3-tiny --out %s/g.h5 --fresh", dir);
    int rc = run(args);
    ck_assert_msg(rc == 0, "run: exit %d: %s", rc, err_text);
    snprintf(args, sizeof args, "gate %s/g.h5 --suggest", dir);
    ck_assert_int_eq(run(args), 0);
    write_text("measured.json", out_text);
    rc = gate("g.h5", "measured.json");
    ck_assert_msg(rc == 0, "gate with measured thresholds: exit %d\n%s", rc, out_text);

    cJSON *t;
    char p[256];
    snprintf(p, sizeof p, "%s/measured.json", dir);
    FILE *f = fopen(p, "r");
    ck_assert_ptr_nonnull(f);
    static char text[262144];
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = 0;
    fclose(f);
    t = cJSON_Parse(text);
    ck_assert_ptr_nonnull(t);
    int cells = 0;
    cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(t, "cells")) {
        cJSON_DeleteItemFromObject(c, "min_match_rate");
        cJSON_AddNumberToObject(c, "min_match_rate", 1.01); /* impossible: a rate is at most 1 */
        cells++;
    }
    char *imp = cJSON_Print(t);
    write_text("impossible.json", imp);
    free(imp);
    cJSON_Delete(t);
    rc = gate("g.h5", "impossible.json");
    ck_assert_msg(rc == 1, "impossible thresholds: exit %d\n%s", rc, out_text);
    ck_assert_ptr_nonnull(strstr(out_text, "FAIL  phi3-tiny / qins / f32"));
    ck_assert_ptr_nonnull(strstr(out_text, "match_rate"));
    char want[64];
    snprintf(want, sizeof want, "gate: FAILED: %d of", cells);
    ck_assert_msg(strstr(out_text, want) != NULL, "expected every cell's match check to fail:\n%s", out_text);
}
END_TEST

static Suite *gate_suite(void) {
    Suite *s = suite_create("gate");
    TCase *tc = tcase_create("gate");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_passes);
    tcase_add_loop_test(tc, test_fails_and_names_check, 0, (int)(sizeof breakages / sizeof *breakages));
    tcase_add_test(tc, test_bad_input);
    tcase_add_test(tc, test_expected_bits);
    tcase_add_test(tc, test_real_run_can_fail);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return qb_check_run(gate_suite());
}

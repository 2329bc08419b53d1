/* test_overwrite.c — no output path may overwrite an input. Each command that writes a file from inputs is
 * given an output that is (the same file as) one of its inputs — by the same name, through a symlink, a
 * hard link or another spelling — and must exit 2 naming it, with the input byte-for-byte unchanged.
 * `codec --in X --out X` used to exit 0 having replaced the checkpoint with decoded weights. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_run.h"
#include "util.h"

static void setup(void) {
    snprintf(dir, sizeof dir, "/tmp/qb_test_ovw_XXXXXX");
    ck_assert(mkdtemp(dir) != NULL);
}

static void teardown(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

static void sh(const char *fmt, const char *a, const char *b) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, fmt, a, b);
    ck_assert_msg(system(cmd) == 0, "%s", cmd);
}

static char *slurp(const char *path, size_t *n) {
    char *p = NULL;
    ck_assert_msg(qb_read_file(path, &p, n, (size_t)1 << 30) == QB_OK, "%s", qb_last_error());
    return p;
}

/* Runs args, expects exit 2 with "write over an input" in stderr and `path` unchanged. */
static void expect_refused(const char *args, const char *path) {
    size_t n0, n1;
    char *before = slurp(path, &n0);
    int rc = run(args);
    char *after = slurp(path, &n1);
    ck_assert_msg(rc == 2, "qinsbench %s: exit %d (want 2); stderr: %s", args, rc, err_text);
    ck_assert_msg(strstr(err_text, "write over an input") != NULL, "qinsbench %s: stderr: %s", args, err_text);
    ck_assert_msg(n0 == n1 && memcmp(before, after, n0) == 0, "qinsbench %s changed %s", args, path);
    free(before);
    free(after);
}

START_TEST(codec_in_is_out) {
    char in[128], args[512];
    snprintf(in, sizeof in, "%s/m.safetensors", dir);
    sh("cp tests/fixtures/phi3-tiny/model-00003-of-00003.safetensors %s%s", in, "");
    snprintf(args, sizeof args, "codec --codec qins --in %s --out %s", in, in);
    expect_refused(args, in);
    /* another spelling, a symlink and a hard link to the same file */
    snprintf(args, sizeof args, "codec --codec qins --in %s --out %s/./m.safetensors", in, dir);
    expect_refused(args, in);
    sh("ln -s m.safetensors %s/link%s", dir, "");
    snprintf(args, sizeof args, "codec --codec qins --in %s --out %s/link", in, dir);
    expect_refused(args, in);
    sh("ln %s %s/hard", in, dir);
    snprintf(args, sizeof args, "codec --codec qins --in %s --out %s/hard", in, dir);
    expect_refused(args, in);
    /* a different output still works */
    snprintf(args, sizeof args, "codec --codec qins --in %s --out %s/coded.safetensors", in, dir);
    ck_assert_msg(run(args) == 0, "%s", err_text);
}
END_TEST

START_TEST(logits_into_model_dir) {
    char model[128], shard[192], args[512];
    snprintf(model, sizeof model, "%s/model", dir);
    sh("cp -r tests/fixtures/phi3-tiny %s%s", model, "");
    snprintf(shard, sizeof shard, "%s/model-00001-of-00003.safetensors", model);
    snprintf(args, sizeof args, "logits --model %s --ids 1,2,3 --out %s", model, shard);
    expect_refused(args, shard);
    snprintf(args, sizeof args, "logits --model %s --ids 1,2,3 --out %s/config.json", model, model);
    snprintf(shard, sizeof shard, "%s/config.json", model);
    expect_refused(args, shard);
    /* a new file, even inside the model directory, is not an input */
    snprintf(args, sizeof args, "logits --model %s --ids 1,2,3 --out %s/logits.safetensors", model, model);
    ck_assert_msg(run(args) == 0, "%s", err_text);
}
END_TEST

START_TEST(synth_tokenizer_in_out_dir) {
    char out[128], tok[192], args[512];
    snprintf(out, sizeof out, "%s/toy", dir);
    snprintf(tok, sizeof tok, "%s/tokenizer.json", out);
    sh("mkdir -p %s && cp models/austen-toy/tokenizer.json %s", out, tok);
    snprintf(args, sizeof args, "synth --preset toy --out %s --tokenizer %s --force --config-only --quiet", out, tok);
    expect_refused(args, tok);
}
END_TEST

START_TEST(report_plot_merge_onto_input) {
    char r[128], args[512];
    snprintf(r, sizeof r, "%s/r.h5", dir);
    sh("printf 'not really hdf5' > %s%s", r, "");
    snprintf(args, sizeof args, "report %s --out %s", r, r);
    expect_refused(args, r);
    snprintf(args, sizeof args, "report %s --out %s/../%s/r.h5", r, dir, dir + 5);
    expect_refused(args, r);
    snprintf(args, sizeof args, "plot %s --out %s", r, r);
    expect_refused(args, r);
    /* merge: the same file under another name */
    snprintf(args, sizeof args, "merge %s -o %s/./r.h5", r, dir);
    size_t n;
    char *before = slurp(r, &n);
    ck_assert_int_eq(run(args), 2);
    ck_assert_msg(strstr(err_text, "both input and output") != NULL, "%s", err_text);
    free(before);
}
END_TEST

int main(void) {
    Suite *s = suite_create("overwrite");
    TCase *tc = tcase_create("overwrite");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, codec_in_is_out);
    tcase_add_test(tc, logits_into_model_dir);
    tcase_add_test(tc, synth_tokenizer_in_out_dir);
    tcase_add_test(tc, report_plot_merge_onto_input);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}

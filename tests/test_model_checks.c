/* test_model_checks.c — model files that used to load silently although they disagree with each other:
 * a checkpoint with tensors the config does not use (config says 1 layer, the file has 3), an eos id
 * outside the vocabulary, a tokenizer with more ids than the model's embedding has rows (refused at load,
 * before any output). Each must be an error naming the file and the problem. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_run.h"
#include "config.h"
#include "model.h"
#include "tokenizer.h"

static void setup(void) {
    snprintf(dir, sizeof dir, "/tmp/qb_test_mchk_XXXXXX");
    ck_assert(mkdtemp(dir) != NULL);
}

static void teardown(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

static void sh(const char *cmd) { ck_assert_msg(system(cmd) == 0, "%s", cmd); }

/* Copies model directory src into dir/m, replacing `from` by `to` in file `name`. */
static const char *copy_edit(const char *src, const char *name, const char *from, const char *to) {
    static char m[128];
    char cmd[1024];
    snprintf(m, sizeof m, "%s/m", dir);
    snprintf(cmd, sizeof cmd, "rm -rf %s && cp -r %s %s && sed -i 's/%s/%s/' %s/%s", m, src, m, from, to, m, name);
    sh(cmd);
    return m;
}

START_TEST(unused_layers_refused) {
    /* the unedited copy loads (the check accepts exactly what the model reads) */
    const char *m = copy_edit("tests/fixtures/phi3-tiny-gqa", "config.json", "x", "x");
    Model model;
    ModelOptions o = {0};
    ck_assert_msg(model_load(m, &o, &model) == QB_OK, "%s", qb_last_error());
    model_free(&model);
    m = copy_edit("tests/fixtures/phi3-tiny-gqa", "config.json", "\"num_hidden_layers\": *3",
                  "\"num_hidden_layers\": 1");
    ck_assert_int_eq(model_load(m, &o, &model), QB_ERR_INPUT);
    const char *msg = qb_last_error();
    ck_assert_msg(strstr(msg, m) && strstr(msg, "tensors the config does not use") &&
                  strstr(msg, "model.layers.1.") && strstr(msg, "num_hidden_layers = 1"), "%s", msg);
    /* sharded checkpoints are checked the same way */
    m = copy_edit("tests/fixtures/phi3-tiny", "config.json", "\"num_hidden_layers\": *[0-9]*",
                  "\"num_hidden_layers\": 1");
    ck_assert_int_eq(model_load(m, &o, &model), QB_ERR_INPUT);
    ck_assert_msg(strstr(qb_last_error(), "does not use") != NULL, "%s", qb_last_error());
}
END_TEST

START_TEST(eos_outside_vocab) {
    Config c;
    const char *base = "{\"hidden_size\":96,\"intermediate_size\":256,\"num_hidden_layers\":3,\"num_attention_heads\":6,"
                       "\"vocab_size\":384,\"max_position_embeddings\":1536,\"eos_token_id\":%s}";
    char txt[512];
    snprintf(txt, sizeof txt, base, "383");
    ck_assert_msg(config_parse("c.json", txt, &c) == QB_OK, "%s", qb_last_error());
    config_free(&c);
    snprintf(txt, sizeof txt, base, "[2, 384]");
    ck_assert_int_eq(config_parse("c.json", txt, &c), QB_ERR_INPUT);
    ck_assert_msg(strstr(qb_last_error(), "c.json: eos_token_id: 384 is outside the vocabulary (vocab_size 384)"),
                  "%s", qb_last_error());
    /* from generation_config.json */
    const char *m = copy_edit("tests/fixtures/phi3-tiny-gqa", "generation_config.json", "\"eos_token_id\": *[0-9]*",
                              "\"eos_token_id\": 32007");
    ck_assert_int_eq(config_load(m, &c), QB_ERR_INPUT);
    ck_assert_msg(strstr(qb_last_error(), "generation_config.json: eos_token_id: 32007 is outside"), "%s",
                  qb_last_error());
}
END_TEST

START_TEST(tokenizer_too_big_for_model) {
    /* austen-toy's tokenizer fits its 5000-row embedding; claim 4000 rows and it must be refused */
    const char *m = copy_edit("models/austen-toy", "config.json", "\"vocab_size\": *5000", "\"vocab_size\": 4000");
    Tokenizer *t = NULL;
    ck_assert_int_eq(tok_load_dir(m, &t), QB_ERR_INPUT);
    ck_assert_ptr_null(t);
    ck_assert_msg(strstr(qb_last_error(), "vocab_size 4000 is smaller than the tokenizer's"), "%s", qb_last_error());
    ck_assert_int_eq(tok_load_dir("models/austen-toy", &t), QB_OK);
    tok_free(t);
    /* the CLI refuses before printing anything */
    char args[256];
    snprintf(args, sizeof args, "generate --model %s --prompt 'Anne' --max-new 4", m);
    ck_assert_int_eq(run(args), 2);
    ck_assert_msg(out_text[0] == 0, "stdout: %s", out_text);
    ck_assert_msg(strstr(err_text, "smaller than the tokenizer") != NULL, "%s", err_text);
}
END_TEST

int main(void) {
    Suite *s = suite_create("model_checks");
    TCase *tc = tcase_create("model_checks");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, unused_layers_refused);
    tcase_add_test(tc, eos_outside_vocab);
    tcase_add_test(tc, tokenizer_too_big_for_model);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}

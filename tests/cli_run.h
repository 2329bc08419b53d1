/* cli_run.h — for tests that drive the qinsbench executable: runs `qinsbench ARGS` (the binary in QB_BIN,
 * default build/qinsbench) with stdout and stderr captured into out_text / err_text through files in the
 * test's scratch directory `dir` (set it up with mkdtemp before the first run). Header-only: each test
 * binary is one translation unit. */
#ifndef QB_TEST_CLI_RUN_H
#define QB_TEST_CLI_RUN_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

static char dir[64];
static char err_text[16384];
static char out_text[262144];

static const char *bin(void) {
    const char *b = getenv("QB_BIN");
    return b ? b : "build/qinsbench";
}

/* Runs `ENV qinsbench ARGS` (env: "" or "VAR=value …"); returns the exit status (128 if it died). */
static int run_env(const char *env, const char *args) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s %s %s >%s/stdout 2>%s/stderr </dev/null", env, bin(), args, dir, dir);
    int rc = system(cmd);
    const char *names[2] = {"stderr", "stdout"};
    char *bufs[2] = {err_text, out_text};
    size_t sizes[2] = {sizeof err_text, sizeof out_text};
    for (int i = 0; i < 2; i++) {
        char p[128];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        FILE *f = fopen(p, "r");
        size_t n = f ? fread(bufs[i], 1, sizes[i] - 1, f) : 0;
        bufs[i][n] = 0;
        if (f) fclose(f);
    }
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
}

static inline int run(const char *args) { return run_env("", args); }

#endif

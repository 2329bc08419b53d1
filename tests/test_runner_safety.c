/* test_runner_safety.c — `qinsbench run` trusted with hours of work (issue 13, issue 12 items 4, 5, 10):
 * one writer per results file (a second one is refused naming the first's pid; two racing runs leave one
 * complete file, no failed cell); a full disk is exit 2 "No space left on device" at every size tried, the
 * file keeps only committed cells and resume completes once there is space (needs root for a tmpfs mount:
 * skipped otherwise); a damaged cell is flagged by `show` and recomputed by resume; a truncated file is
 * "damaged"; SIGINT/SIGTERM keep the finished cells, remove temporary files, say how to resume, exit 130;
 * a bad model path writes nothing; `show` on a partial or empty file says so; progress lines and headlines
 * appear in a log; a changed config's message names the exact command. Runs the binary in QB_BIN. */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "h5_results.h"

static char dir[256], cfgp[300], out[300], log_text[1 << 16];
static const char *bin(void) { return getenv("QB_BIN") ? getenv("QB_BIN") : "build/qinsbench"; }

/* One model, 3 codecs: 3 cells of about 0.3 s. */
static const char CFG[] =
    "{\"name\": \"safety\", \"models\": [{\"label\": \"tiny\", \"path\": \"tests/fixtures/phi3-tiny\"}],\n"
    " \"codecs\": [\"fp32\", \"q4_0\", \"int8\"],\n"
    " \"greedy\": {\"prompts\": [[1, 15, 27, 99], [1, 200, 2, 77], [1, 5, 6, 7, 8]], \"steps\": 24},\n"
    " \"perplexity\": {\"corpus_ids\": \"experiments/fixtures-ids.txt\", \"window\": 64, \"stride\": 32,\n"
    "                \"max_tokens\": 384},\n"
    " \"speed\": {\"prompt_tokens\": 16, \"decode_tokens\": 8, \"repeats\": 2}, \"threads\": 1, \"seed\": 7}\n";
#define N_CELLS 3

static void path(char *buf, size_t n, const char *name) { snprintf(buf, n, "%s/%s", dir, name); }

static void write_file(const char *p, const char *text) {
    FILE *f = fopen(p, "w");
    ck_assert_msg(f != NULL, "%s", p);
    fputs(text, f);
    fclose(f);
}

static void read_log(void) {
    char p[300];
    path(p, sizeof p, "log");
    FILE *f = fopen(p, "r");
    size_t n = f ? fread(log_text, 1, sizeof log_text - 1, f) : 0;
    log_text[n] = 0;
    if (f) fclose(f);
}

/* Starts qinsbench with args (NULL-terminated), stdout+stderr into dir/log, env "NAME=value" or NULL. */
static pid_t start(const char *const *args, const char *env) {
    char log[300];
    path(log, sizeof log, "log");
    fflush(NULL);
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        if (!freopen(log, "w", stdout) || dup2(1, 2) < 0) _exit(99); /* one file offset for both */
        if (env) putenv((char *)env);
        const char *argv[32] = {bin()};
        int i = 0;
        for (; args[i]; i++) argv[i + 1] = args[i];
        argv[i + 1] = NULL;
        execv(bin(), (char *const *)argv);
        _exit(98);
    }
    return pid;
}

static int finish(pid_t pid) {
    int st;
    waitpid(pid, &st, 0);
    read_log();
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int run(const char *const *args) { return finish(start(args, NULL)); }

static int run_out(void) {
    const char *args[] = {"run", cfgp, "--out", out, "--progress-every", "0.01", NULL};
    return run(args);
}

/* Summary rows of a results file (-1 if it does not open); every ok row's cell must pass its checksums. */
static int ok_rows(const char *file) {
    hid_t f;
    if (h5r_open(file, &f)) return -1;
    SummaryRow *rows;
    size_t n;
    ck_assert_msg(h5r_read_summary(f, &rows, &n) == QB_OK, "%s", qb_last_error());
    int ok = 0;
    for (size_t i = 0; i < n; i++) {
        ck_assert_msg(!strcmp(rows[i].status, "ok"), "%s: row %zu: %s", file, i, rows[i].status);
        char g[512], p[600];
        h5r_cell_name(rows[i].model, rows[i].codec, rows[i].kv, g, sizeof g);
        snprintf(p, sizeof p, "/cells/%s", g);
        ck_assert_msg(h5r_check(f, p) == QB_OK, "%s", qb_last_error());
        ok++;
    }
    free(rows);
    H5Fclose(f);
    return ok;
}

/* No *.tmp file left anywhere under d (one level of subdirectories: the cache). */
static void no_tmp_files(const char *d) {
    DIR *dd = opendir(d);
    if (!dd) return;
    struct dirent *e;
    while ((e = readdir(dd))) {
        if (e->d_name[0] == '.') continue;
        size_t l = strlen(e->d_name);
        ck_assert_msg(l < 4 || strcmp(e->d_name + l - 4, ".tmp"), "%s/%s left behind", d, e->d_name);
        char sub[600];
        snprintf(sub, sizeof sub, "%s/%s", d, e->d_name);
        struct stat sb;
        if (!stat(sub, &sb) && S_ISDIR(sb.st_mode) && strcmp(sub, d)) no_tmp_files(sub);
    }
    closedir(dd);
}

static void setup(void) {
    snprintf(dir, sizeof dir, "/tmp/qb-test-safety-%d", (int)getpid());
    mkdir(dir, 0755);
    path(cfgp, sizeof cfgp, "cfg.json");
    write_file(cfgp, CFG);
    path(out, sizeof out, "o.h5");
    h5r_quiet();
}
static void teardown(void) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "umount %s/mnt 2>/dev/null; rm -rf %s", dir, dir);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", dir);
}

/* A second writer is refused, naming the first's pid; the lock goes with the run. */
START_TEST(lock_refuses_second_writer) {
    char lock[320];
    snprintf(lock, sizeof lock, "%s.lock", out);
    int fd = open(lock, O_RDWR | O_CREAT, 0644);
    ck_assert(fd >= 0 && flock(fd, LOCK_EX) == 0);
    char pid[32];
    snprintf(pid, sizeof pid, "%d\n", (int)getpid());
    ck_assert(write(fd, pid, strlen(pid)) == (ssize_t)strlen(pid));
    ck_assert_int_eq(run_out(), 2);
    char want[1024];
    snprintf(want, sizeof want, "%s is being written by pid %d", out, (int)getpid());
    ck_assert_msg(strstr(log_text, want), "log: %s", log_text);
    ck_assert_msg(access(out, F_OK) != 0, "the refused run wrote %s", out);
    close(fd);
    unlink(lock);
    ck_assert_int_eq(run_out(), 0);
    ck_assert_int_eq(ok_rows(out), N_CELLS);
    ck_assert_msg(access(lock, F_OK) != 0, "lock file left after the run");
}
END_TEST

/* Two runs started together on one --out: one wins, the other is refused or finds the cells done; the file
 * has every cell ok (before the lock: one died, the other recorded "failed: cannot create HDF5 file"). */
START_TEST(lock_two_racing_runs) {
    for (int round = 0; round < 3; round++) {
        unlink(out);
        const char *args[] = {"run", cfgp, "--out", out, "--quiet", NULL};
        pid_t a = start(args, NULL), b = start(args, NULL);
        int ra = finish(a), rb = finish(b);
        ck_assert_msg((ra == 0 || ra == 2) && (rb == 0 || rb == 2) && (ra == 0 || rb == 0), "exits %d %d", ra, rb);
        ck_assert_int_eq(ok_rows(out), N_CELLS);
    }
}
END_TEST

/* A full disk at many sizes: exit 2 naming ENOSPC (never a crash inside libhdf5: main exits 139 at 960 KiB),
 * only committed cells in the file, and resume completes once the filesystem has room. */
START_TEST(disk_full_is_an_error_and_resumes) {
    if (getuid() != 0) {
        fprintf(stderr, "disk_full_is_an_error_and_resumes: skipped (needs root to mount a small tmpfs)\n");
        return;
    }
    char mnt[300], o[330], cmd[700];
    path(mnt, sizeof mnt, "mnt");
    mkdir(mnt, 0755);
    snprintf(o, sizeof o, "%s/o.h5", mnt);
    int full = 0;
    static const int kib[] = {64, 400, 700, 800, 880, 920, 960, 1000, 1040, 1100, 1200, 1300};
    for (size_t i = 0; i < sizeof kib / sizeof kib[0]; i++) {
        snprintf(cmd, sizeof cmd, "mount -t tmpfs -o size=%dk tmpfs %s", kib[i], mnt);
        if (system(cmd)) {
            fprintf(stderr, "disk_full_is_an_error_and_resumes: skipped (cannot mount tmpfs here)\n");
            return;
        }
        const char *args[] = {"run", cfgp, "--out", o, "--quiet", NULL};
        int rc = run(args);
        ck_assert_msg(rc == 0 || rc == 2, "%d KiB: exit %d: %s", kib[i], rc, log_text);
        if (rc == 2) {
            full++;
            ck_assert_msg(strstr(log_text, "No space left on device") && strstr(log_text, "resume with: qinsbench run"),
                          "%d KiB: %s", kib[i], log_text);
            int have = access(o, F_OK) ? 0 : ok_rows(o);
            ck_assert_msg(have >= 0 && have < N_CELLS, "%d KiB: %d rows", kib[i], have);
            no_tmp_files(mnt);
            snprintf(cmd, sizeof cmd, "mount -o remount,size=8m %s", mnt);
            ck_assert(system(cmd) == 0);
            ck_assert_msg(run(args) == 0, "%d KiB: resume: %s", kib[i], log_text);
        }
        ck_assert_int_eq(ok_rows(o), N_CELLS);
        snprintf(cmd, sizeof cmd, "umount %s", mnt);
        ck_assert(system(cmd) == 0);
    }
    ck_assert_msg(full >= 3, "only %d sizes filled the disk: the sizes no longer test anything", full);
}
END_TEST

/* Flips bytes in the middle of the first chunk of a cell's dataset. */
static void damage(const char *file, const char *dataset) {
    hid_t f;
    ck_assert(h5r_open(file, &f) == QB_OK);
    hid_t d = H5Dopen2(f, dataset, H5P_DEFAULT);
    ck_assert_msg(d >= 0, "%s", dataset);
    haddr_t addr;
    hsize_t size;
    unsigned mask;
    hsize_t off[2];
    hid_t sp = H5Dget_space(d);
    ck_assert_msg(H5Dget_chunk_info(d, sp, 0, off, &mask, &addr, &size) >= 0, "%s is not chunked", dataset);
    H5Sclose(sp);
    H5Dclose(d);
    H5Fclose(f);
    ck_assert(size > 8);
    int fd = open(file, O_RDWR);
    ck_assert(fd >= 0);
    unsigned char b[4];
    ck_assert(pread(fd, b, 4, (off_t)(addr + size / 2)) == 4);
    for (int i = 0; i < 4; i++) b[i] ^= 0x5a;
    ck_assert(pwrite(fd, b, 4, (off_t)(addr + size / 2)) == 4);
    close(fd);
}

/* A damaged cell: show flags it (exit 1), resume recomputes it to the same numbers. */
START_TEST(checksum_damaged_cell_recomputed) {
    ck_assert_int_eq(run_out(), 0);
    const char *ds = "/cells/tiny__q4_0__f32/ppl/kl";
    hid_t f;
    double *before, *after;
    size_t nb, na;
    ck_assert(h5r_open(out, &f) == QB_OK);
    ck_assert(h5r_read(f, ds, H5T_NATIVE_DOUBLE, (void **)&before, &nb) == QB_OK);
    H5Fclose(f);
    damage(out, ds);
    const char *show[] = {"show", out, NULL};
    ck_assert_int_eq(run(show), 1);
    ck_assert_msg(strstr(log_text, "DAMAGED") && strstr(log_text, "tiny__q4_0__f32"), "show: %s", log_text);
    ck_assert_int_eq(run_out(), 0);
    ck_assert_msg(strstr(log_text, "recomputing that cell") && strstr(log_text, "[1/1] tiny q4_0 f32: ok"), "%s", log_text);
    ck_assert_int_eq(ok_rows(out), N_CELLS);
    ck_assert(h5r_open(out, &f) == QB_OK);
    ck_assert(h5r_read(f, ds, H5T_NATIVE_DOUBLE, (void **)&after, &na) == QB_OK);
    H5Fclose(f);
    ck_assert_int_eq(na, nb);
    ck_assert_msg(!memcmp(before, after, nb * sizeof *before), "recomputed cell differs");
    free(before);
    free(after);
    ck_assert_int_eq(run(show), 0);
}
END_TEST

START_TEST(truncated_file_is_damaged) {
    ck_assert_int_eq(run_out(), 0);
    struct stat sb;
    ck_assert(stat(out, &sb) == 0);
    ck_assert(truncate(out, sb.st_size / 2) == 0);
    char want[1024];
    snprintf(want, sizeof want, "%s is damaged: run with --fresh, or delete it", out);
    ck_assert_int_eq(run_out(), 2);
    ck_assert_msg(strstr(log_text, want), "run: %s", log_text);
    const char *show[] = {"show", out, NULL};
    ck_assert_int_eq(run(show), 2);
    ck_assert_msg(strstr(log_text, want), "show: %s", log_text);
    const char *fresh[] = {"run", cfgp, "--out", out, "--fresh", "--quiet", NULL};
    ck_assert_int_eq(run(fresh), 0);
    ck_assert_int_eq(ok_rows(out), N_CELLS);
}
END_TEST

/* SIGINT or SIGTERM while cell 1 is in flight (a test hook makes it hang): exit 130, cell 0 kept, no
 * temporary file left, the message says what was saved, how to resume and where the cache is; resume
 * completes. Before: death by signal, nothing said. */
START_TEST(signal_keeps_cells_and_says_how_to_resume) {
    static const int sigs[] = {SIGINT, SIGTERM};
    const int sig = sigs[_i];
    const char *args[] = {"run", cfgp, "--out", out, "--progress-every", "0.01", NULL};
    pid_t pid = start(args, "QB_TEST_HANG_CELL=1");
    for (int waited = 0; waited < 600; waited++) { /* up to 60 s for cell 0 to be committed */
        read_log();
        if (strstr(log_text, "[2/3] tiny q4_0 f32: greedy ")) break;
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    ck_assert_msg(strstr(log_text, "[1/3] tiny fp32 f32: ok"), "cell 0 never finished: %s", log_text);
    kill(pid, sig);
    ck_assert_int_eq(finish(pid), 130);
    char want[1024];
    snprintf(want, sizeof want, "resume with: qinsbench run %s --out %s", cfgp, out);
    ck_assert_msg(strstr(log_text, "interrupted") && strstr(log_text, want) && strstr(log_text, "saved: 1 of 3 cells") &&
                      strstr(log_text, ".cache (") && strstr(log_text, "abandoned"),
                  "%s", log_text);
    no_tmp_files(dir);
    char cell[400];
    snprintf(cell, sizeof cell, "%s.cache/cell-1.h5", out);
    ck_assert_msg(access(cell, F_OK) != 0, "abandoned cell file left");
    ck_assert_int_eq(ok_rows(out), 1);
    ck_assert_int_eq(run_out(), 0);
    ck_assert_int_eq(ok_rows(out), N_CELLS);
    char cache[400];
    snprintf(cache, sizeof cache, "%s.cache", out);
    ck_assert_msg(access(cache, F_OK) != 0, "the reference cache outlived a completed run");
}
END_TEST

/* A model path that is missing, or a file: the message blames it, and nothing is written. */
START_TEST(bad_model_path_writes_nothing) {
    static const char *const paths[] = {"tests/fixtures/no-such-model", "tests/fixtures/README.md"};
    static const char *const says[] = {"model directory tests/fixtures/no-such-model does not exist",
                                       "tests/fixtures/README.md is not a directory"};
    for (int i = 0; i < 2; i++) {
        char cfg[1024];
        snprintf(cfg, sizeof cfg,
                 "{\"name\": \"bad\", \"models\": [{\"label\": \"m\", \"path\": \"%s\"}], \"codecs\": [\"fp32\"],\n"
                 " \"greedy\": {\"prompts\": [[1, 2, 3]], \"steps\": 4}}\n",
                 paths[i]);
        write_file(cfgp, cfg);
        ck_assert_int_eq(run_out(), 2);
        ck_assert_msg(strstr(log_text, says[i]) && strstr(log_text, "relative to the current directory"), "%s", log_text);
        DIR *d = opendir(dir);
        struct dirent *e;
        while ((e = readdir(d)))
            ck_assert_msg(e->d_name[0] == '.' || !strcmp(e->d_name, "cfg.json") || !strcmp(e->d_name, "log"),
                          "%s left behind", e->d_name);
        closedir(d);
    }
}
END_TEST

/* A corpus that is not UTF-8 is blamed by file, line and column; a missing one says where paths start. */
START_TEST(corpus_errors_name_file_and_line) {
    char corpus[400], cfg[1024];
    path(corpus, sizeof corpus, "corpus.txt");
    write_file(corpus, "It was a fine day.\nAnother line.\nA bad \xff byte here.\n");
    snprintf(cfg, sizeof cfg,
             "{\"name\": \"bc\", \"models\": [{\"label\": \"a\", \"path\": \"models/austen-toy\"}], \"codecs\": [\"fp32\"],\n"
             " \"perplexity\": {\"corpus\": \"%s\", \"documents\": \"lines\", \"window\": 8, \"stride\": 8}}\n",
             corpus);
    write_file(cfgp, cfg);
    ck_assert_int_eq(run_out(), 2);
    char want[1024];
    snprintf(want, sizeof want, "%s:3:7: not valid UTF-8 (byte 0xff", corpus);
    ck_assert_msg(strstr(log_text, want), "%s", log_text);
    write_file(cfgp, "{\"name\": \"bc\", \"models\": [{\"label\": \"a\", \"path\": \"models/austen-toy\"}], \"codecs\": "
                     "[\"fp32\"], \"perplexity\": {\"corpus\": \"no/such/corpus.txt\", \"window\": 8, \"stride\": 8}}\n");
    ck_assert_int_eq(run_out(), 2);
    ck_assert_msg(strstr(log_text, "corpus no/such/corpus.txt does not exist (paths in a config are relative to the current "
                                   "directory"),
                  "%s", log_text);
    ck_assert_msg(access(out, F_OK) != 0, "a failed config wrote %s", out);
}
END_TEST

/* --out naming the config (or the corpus) is refused and the input is left as it was. */
START_TEST(out_never_overwrites_an_input) {
    const char *args[] = {"run", cfgp, "--out", cfgp, "--quiet", NULL};
    ck_assert_int_eq(run(args), 2);
    ck_assert_msg(strstr(log_text, "is the input"), "%s", log_text);
    FILE *f = fopen(cfgp, "r");
    char buf[sizeof CFG + 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    ck_assert_str_eq(buf, CFG);
    const char *corpus[] = {"run", cfgp, "--out", "experiments/fixtures-ids.txt", "--quiet", NULL};
    ck_assert_int_eq(run(corpus), 2);
    ck_assert_msg(strstr(log_text, "is the input"), "%s", log_text);
}
END_TEST

/* show on a partial file names the count and the command; on an empty one it exits non-zero. */
START_TEST(show_partial_and_empty) {
    const char *one[] = {"run", cfgp, "--out", out, "--only", "codec=q4_0", "--quiet", NULL};
    ck_assert_int_eq(run(one), 0);
    const char *show[] = {"show", out, NULL};
    ck_assert_int_eq(run(show), 0);
    char want[1024];
    snprintf(want, sizeof want, "partial: 1 of 3 cells done — resume with: qinsbench run %s --out %s\n", cfgp, out);
    ck_assert_msg(strstr(log_text, want), "%s", log_text);
    /* empty: interrupted in the first cell */
    unlink(out);
    const char *args[] = {"run", cfgp, "--out", out, "--progress-every", "0.01", NULL};
    pid_t pid = start(args, "QB_TEST_HANG_CELL=0");
    for (int waited = 0; waited < 600 && !strstr(log_text, "[1/3] tiny fp32 f32: greedy "); waited++) {
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
        read_log();
    }
    kill(pid, SIGINT);
    ck_assert_int_eq(finish(pid), 130);
    ck_assert_int_eq(run(show), 1);
    ck_assert_msg(strstr(log_text, "empty: no cell was finished"), "%s", log_text);
}
END_TEST

/* The log shows the reference step, progress inside cells and each cell's headline; --quiet shows none. */
START_TEST(progress_in_a_log) {
    ck_assert_int_eq(run_out(), 0);
    ck_assert_msg(strstr(log_text, "reference fp32 on tiny: 3 prompts, 11 windows") &&
                      strstr(log_text, "reference fp32 on tiny: done in") && strstr(log_text, "[2/3] tiny q4_0 f32: greedy ") &&
                      strstr(log_text, "ETA") && strstr(log_text, "[3/3] tiny int8 f32: ok  greedy match"),
                  "%s", log_text);
    ck_assert_msg(!strchr(log_text, '\r'), "carriage returns in a log");
    const char *quiet[] = {"run", cfgp, "--out", out, "--fresh", "--quiet", NULL};
    ck_assert_int_eq(run(quiet), 0);
    ck_assert_msg(!strstr(log_text, "reference") && !strstr(log_text, "[1/3]") && strstr(log_text, "wrote"), "%s", log_text);
}
END_TEST

/* A results file from another config: the message gives the exact command that starts over. */
START_TEST(changed_config_names_the_command) {
    ck_assert_int_eq(run_out(), 0);
    char cfg[sizeof CFG + 16];
    snprintf(cfg, sizeof cfg, "%s", CFG);
    char *seed = strstr(cfg, "\"seed\": 7");
    ck_assert(seed);
    seed[8] = '8';
    write_file(cfgp, cfg);
    ck_assert_int_eq(run_out(), 2);
    char want[1024];
    snprintf(want, sizeof want, "to start over:    qinsbench run %s --out %s --fresh", cfgp, out);
    ck_assert_msg(strstr(log_text, want), "%s", log_text);
}
END_TEST

int main(void) {
    Suite *s = suite_create("runner_safety");
    TCase *tc = tcase_create("runner_safety");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, lock_refuses_second_writer);
    tcase_add_test(tc, lock_two_racing_runs);
    tcase_add_test(tc, disk_full_is_an_error_and_resumes);
    tcase_add_test(tc, checksum_damaged_cell_recomputed);
    tcase_add_test(tc, truncated_file_is_damaged);
    tcase_add_loop_test(tc, signal_keeps_cells_and_says_how_to_resume, 0, 2);
    tcase_add_test(tc, bad_model_path_writes_nothing);
    tcase_add_test(tc, show_partial_and_empty);
    tcase_add_test(tc, corpus_errors_name_file_and_line);
    tcase_add_test(tc, out_never_overwrites_an_input);
    tcase_add_test(tc, progress_in_a_log);
    tcase_add_test(tc, changed_config_names_the_command);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}

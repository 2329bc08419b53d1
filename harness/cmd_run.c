/* cmd_run.c — `qinsbench run CONFIG`: every (model, codec, KV mode) cell of an experiment config, each in
 * its own forked child (a crash or an out-of-memory fails that cell, not the sweep, and wait4 gives the
 * cell's own peak RSS), against reference outputs computed once per model (also in a child) and cached
 * beside the results file. Each finished cell is committed to the HDF5 file at once (h5r_commit: the file is
 * always whole), so a killed run resumes where it stopped. One writer per results file (h5r_lock). Nothing
 * is written before the first cell starts (a bad model path leaves no file behind). SIGINT/SIGTERM abandon
 * the cell in progress, keep every committed one and say how to resume (exit 130); a failed write (a full
 * disk) stops the run with exit 2 and records nothing for that cell, so resume retries it. `show` and
 * `merge` live in run_show.c. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "expconfig.h"
#include "h5_results.h"
#include "opts.h"
#include "model.h"
#include "progress.h"
#include "run_cell.h"

static const char RUN_USAGE[] =
    "usage: qinsbench run CONFIG [--out results/NAME.h5] [--fresh] [--threads N] [--only model=M,codec=C,kv=K]\n"
    "                            [--shard K/N | --shard auto] [--quiet] [--progress-every SEC]\n"
    "Runs every (model, codec, kv) cell of an experiment config against the reference codec and writes an\n"
    "HDF5 results file (schema: docs/results.md). Cells already in OUT are skipped (resume); a cell whose\n"
    "stored data fails its checksum is recomputed. Model, prompt and corpus paths in CONFIG are relative to\n"
    "the current directory (run from the repository root). Ctrl-C keeps every finished cell (exit 130).\n"
    "  --out FILE      results file (default results/<config name>.h5, or …-shardK-of-N.h5)\n"
    "  --fresh         start over: ignore and replace an existing OUT\n"
    "  --threads N     threads per cell; 0 = all online cores (default: the config's `threads`, else 0)\n"
    "  --only SEL      only cells matching model=…, codec=… and/or kv=… (comma-separated)\n"
    "  --shard K/N     only cells with cell_index % N == K (0 <= K < N); `auto` reads\n"
    "                  SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN and SLURM_ARRAY_TASK_COUNT\n"
    "  --batch N|auto  greedy prompts decoded together (default auto: as many as fit --mem-budget, at most\n"
    "                  32 and the prompt count); the reference's batch is recorded and every cell uses it\n"
    "  --mem-budget B  bytes for the batch's KV caches and activations (default MemAvailable minus the weights)\n"
    "  --quiet         no progress lines (errors and the final line only)\n"
    "  --progress-every SEC  when stderr is not a terminal: at most one progress line per SEC seconds\n"
    "                  (default 5); on a terminal progress is one live line\n"
    "Exit status: 0 every cell ok, 1 some cell failed, 2 bad input or a failed write, 130 interrupted.\n";

static volatile sig_atomic_t g_signal; /* SIGINT/SIGTERM received: stop after (or abandon) the current cell */
static void on_signal(int sig) { g_signal = sig; }

typedef struct {
    int model, codec, kv, index;
} Cell;

static int mkdir_p(const char *path) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(buf, 0755) && errno != EEXIST) return -1;
            *p = '/';
        }
    return mkdir(buf, 0755) && errno != EEXIST ? -1 : 0;
}

/* Describes how a child ended: "" when it exited 0. */
static void child_reason(int status, char *buf, size_t n) {
    buf[0] = 0;
    if (WIFSIGNALED(status))
        snprintf(buf, n, "failed: killed by signal %d (%s)%s", WTERMSIG(status), strsignal(WTERMSIG(status)),
                 WTERMSIG(status) == SIGKILL ? ", out of memory?" : "");
    else if (WIFEXITED(status) && WEXITSTATUS(status))
        snprintf(buf, n, "failed: exit status %d", WEXITSTATUS(status));
}

/* What the parent shows while a child works: the unit counts of its work and where the run stands. */
typedef struct {
    ProgressOut *po;
    char what[300];     /* "[2/8] tiny q4_0 f32" or "reference fp32 on tiny" */
    int n[QB_PROG_KINDS]; /* greedy prompts, teacher-forced prompts, windows, speed repeats of this workload */
    int cells_after;    /* cells still to run after this one */
    double avg_cell;    /* mean seconds of this run's finished cells (0: none yet) */
} Live;

static void fmt_secs(double s, char *buf, size_t n) {
    if (!isfinite(s) || s < 0) snprintf(buf, n, "?");
    else if (s < 60) snprintf(buf, n, "%.0fs", s);
    else if (s < 3600) snprintf(buf, n, "%dm%02ds", (int)s / 60, (int)s % 60);
    else snprintf(buf, n, "%dh%02dm", (int)s / 3600, (int)s % 3600 / 60);
}

/* ETA from the work left: the cell's fraction done is the mean over its phases (prompts, windows, speed
 * repeats) of done/total; the cells after it take the mean time of the finished ones (or this one's
 * estimate before any finished). */
static void live_update(const Live *lv, double elapsed) {
    int64_t d[QB_PROG_KINDS];
    progress_read(d);
    static const char *const names[QB_PROG_KINDS] = {"greedy", "teacher-forced", "windows", "speed runs"};
    char text[512], part[128];
    int len = snprintf(text, sizeof text, "%s:", lv->what), phases = 0;
    double frac = 0;
    for (int k = 0; k < QB_PROG_KINDS; k++) {
        if (!lv->n[k]) continue;
        int64_t dk = d[k] < lv->n[k] ? d[k] : lv->n[k];
        snprintf(part, sizeof part, "%s %s %lld/%d", phases ? "," : "", names[k], (long long)dk, lv->n[k]);
        len += snprintf(text + len, sizeof text - (size_t)len, "%s", part);
        frac += (double)dk / lv->n[k];
        phases++;
    }
    if (phases) frac /= phases;
    double cell_left = frac > 0 ? elapsed * (1 - frac) / frac : NAN;
    double per_cell = lv->avg_cell > 0 ? lv->avg_cell : frac > 0 ? elapsed / frac : NAN;
    char el[32], eta[32];
    fmt_secs(elapsed, el, sizeof el);
    fmt_secs(cell_left + lv->cells_after * per_cell, eta, sizeof eta);
    if (len < (int)sizeof text) snprintf(text + len, sizeof text - (size_t)len, "  (%s, ETA %s)", el, eta);
    progress_live(lv->po, text);
}

/* Runs fn(arg) in a child; *row is shared memory the child fills. Returns the child's wait status and its
 * rusage (-1 when fork/wait fail). While it waits, shows the child's progress; on SIGINT/SIGTERM it kills
 * the child (the cell is abandoned: nothing of it is committed). The child exits 74 (EX_IOERR) when a read or
 * write failed (a full disk): not a property of the cell, so it is not recorded and resume retries it. */
#define EXIT_IO 74
typedef qb_status (*child_fn)(void *arg, SummaryRow *row);
static int run_child(child_fn fn, void *arg, SummaryRow *shared, struct rusage *ru, const Live *lv) {
    fflush(NULL);
    progress_reset();
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* a killed sweep takes its cell with it */
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        qb_status st = fn(arg, shared);
        if (st) {
            snprintf(shared->status, sizeof shared->status, "failed: %s", qb_last_error());
            if (st != QB_ERR_IO) fprintf(stderr, "qinsbench run: %s\n", qb_last_error());
        }
        fflush(NULL);
        _exit(st == QB_ERR_IO ? EXIT_IO : st ? 1 : 0);
    }
    int status = 0, killed = 0;
    double t0 = qb_now();
    memset(ru, 0, sizeof *ru);
    /* every cell's first line is shown, even one that ends before the first poll (a log then says which
     * cell ran, whatever the interval) */
    if (lv) {
        lv->po->force = 1;
        live_update(lv, 0);
    }
    for (;;) {
        pid_t r = wait4(pid, &status, WNOHANG, ru);
        if (r == pid) break;
        if (r < 0 && errno != EINTR) return -1;
        if (g_signal && !killed) {
            kill(pid, SIGKILL);
            killed = 1;
        }
        if (lv && !killed) live_update(lv, qb_now() - t0);
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return status;
}

/* The child ended because of SIGINT/SIGTERM (ours, or one sent to the whole process group by Ctrl-C). */
static int child_interrupted(int status) {
    return g_signal || (WIFSIGNALED(status) && (WTERMSIG(status) == SIGINT || WTERMSIG(status) == SIGTERM));
}

typedef struct {
    const Workload *w;
    int codec, kv; /* indices into the config's codecs and kv */
    const char *ref_h5, *ref_logits, *cell_h5;
} ChildArgs;

static qb_status child_reference(void *arg, SummaryRow *row) {
    ChildArgs *a = arg;
    (void)row;
    h5r_quiet();
    return run_reference(a->w, a->ref_h5, a->ref_logits);
}

static qb_status child_cell(void *arg, SummaryRow *row) {
    ChildArgs *a = arg;
    h5r_quiet();
    /* test hook (tests/test_run.c): this cell dies as the OOM killer would kill it (SIGKILL: sanitizers
     * cannot intercept it) */
    const char *crash = getenv("QB_TEST_CRASH_CELL");
    if (crash && atoll(crash) == row->cell_index) raise(SIGKILL);
    /* test hook (tests/test_runner_safety.c): this cell never ends, so a signal reliably finds a cell in flight */
    const char *hang = getenv("QB_TEST_HANG_CELL");
    if (hang && atoll(hang) == row->cell_index)
        for (;;) pause();
    return run_cell(a->w, a->codec, a->kv, a->ref_h5, a->ref_logits, a->cell_h5, row);
}

typedef struct {
    const Workload *w;
    int n_cells;
} EstArgs;

static qb_status child_estimate(void *arg, SummaryRow *row) {
    EstArgs *a = arg;
    return work_estimate(a->w, a->n_cells, &row->seconds);
}

static int parse_only(const char *s, char **model, char **codec, char **kv) {
    char *dup = strdup(s), *save = NULL;
    if (!dup) return -1;
    int bad = 0;
    for (char *it = strtok_r(dup, ",", &save); it && !bad; it = strtok_r(NULL, ",", &save)) {
        char **dst = !strncmp(it, "model=", 6) ? model : !strncmp(it, "codec=", 6) ? codec : !strncmp(it, "kv=", 3) ? kv : NULL;
        if (!dst || *dst) bad = 1;
        else *dst = strdup(strchr(it, '=') + 1);
    }
    free(dup);
    return bad ? -1 : 0;
}

static int parse_shard(const char *s, int *k, int *n) {
    if (!strcmp(s, "auto")) {
        const char *id = getenv("SLURM_ARRAY_TASK_ID"), *cnt = getenv("SLURM_ARRAY_TASK_COUNT"),
                   *mn = getenv("SLURM_ARRAY_TASK_MIN");
        if (!id || !cnt) return -1;
        *k = atoi(id) - (mn ? atoi(mn) : 0);
        *n = atoi(cnt);
    } else {
        char tail;
        if (sscanf(s, "%d/%d%c", k, n, &tail) != 2) return -1;
    }
    return *n >= 1 && *k >= 0 && *k < *n ? 0 : -1;
}

/* One line per finished cell, the numbers a reader looks at first. */
static void headline(ProgressOut *po, int done, int total, const SummaryRow *r) {
    char buf[512];
    int n = snprintf(buf, sizeof buf, "[%d/%d] %s %s %s: %s", done, total, r->model, r->codec, r->kv, r->status);
    if (!strcmp(r->status, "ok")) {
        if (!isnan(r->match_rate) && r->match_rate >= 1)
            n += snprintf(buf + n, sizeof buf - (size_t)n, "  greedy match 100%% (no divergence in %lld steps)",
                          (long long)r->steps);
        else if (!isnan(r->match_rate))
            n += snprintf(buf + n, sizeof buf - (size_t)n, "  greedy match %.1f%% (first divergence after %.1f steps on average)",
                          100 * r->match_rate, r->prefix_len_mean);
        if (!isnan(r->kl_mean) && n < (int)sizeof buf) n += snprintf(buf + n, sizeof buf - (size_t)n, "  KL %.3g nat", r->kl_mean);
        if (!isnan(r->delta_ppl_rel) && n < (int)sizeof buf)
            n += snprintf(buf + n, sizeof buf - (size_t)n, "  ΔPPL %+.2f%%", 100 * r->delta_ppl_rel);
        if (!isnan(r->decode_tps) && n < (int)sizeof buf)
            n += snprintf(buf + n, sizeof buf - (size_t)n, "  %.0f tok/s decode", r->decode_tps);
    }
    if (n < (int)sizeof buf) snprintf(buf + n, sizeof buf - (size_t)n, "  %.1fs", r->seconds);
    progress_note(po, "%s", buf);
}

/* Appends `arg` to a command line, single-quoted when the shell would split or expand it. */
static void append_arg(char *cmd, size_t n, const char *arg) {
    size_t l = strlen(cmd);
    int plain = arg[0] != 0;
    for (const char *p = arg; *p; p++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=,:+@%", *p)) plain = 0;
    if (plain) {
        snprintf(cmd + l, n - l, " %s", arg);
        return;
    }
    l += (size_t)snprintf(cmd + l, n - l, " '");
    for (const char *p = arg; *p && l + 5 < n; p++) l += (size_t)snprintf(cmd + l, n - l, *p == '\'' ? "'\\''" : "%c", *p);
    if (l < n) snprintf(cmd + l, n - l, "'");
}

/* Bytes of the files in a directory (the reference cache). */
static double dir_bytes(const char *path) {
    DIR *d = opendir(path);
    if (!d) return 0;
    double sum = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        char p[4600];
        struct stat sb;
        snprintf(p, sizeof p, "%s/%s", path, e->d_name);
        if (!stat(p, &sb) && S_ISREG(sb.st_mode)) sum += (double)sb.st_size;
    }
    closedir(d);
    return sum;
}

/* A model path that is not a directory gets blamed before anything loads from it. Paths in a config are
 * relative to the current directory (not the config's): the message says so. */
static qb_status check_model_dir(const char *cfg_path, const ExpModel *m) {
    struct stat sb;
    char where[512] = "";
    if (m->path[0] != '/') {
        char cwd[400];
        snprintf(where, sizeof where, " (relative to the current directory %s)", getcwd(cwd, sizeof cwd) ? cwd : "?");
    }
    if (stat(m->path, &sb))
        return qb_errorf(QB_ERR_INPUT, "%s: model '%s': model directory %s does not exist%s", cfg_path, m->label, m->path,
                         where);
    if (!S_ISDIR(sb.st_mode))
        return qb_errorf(QB_ERR_INPUT, "%s: model '%s': %s is not a directory (a model is a checkpoint directory)%s",
                         cfg_path, m->label, m->path, where);
    return QB_OK;
}

static int cmp_row(const void *a, const void *b) {
    const SummaryRow *x = a, *y = b;
    return (x->cell_index > y->cell_index) - (x->cell_index < y->cell_index);
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0 when it is not one (overlong forms, surrogates and
 * code points past U+10FFFF are invalid, as the tokenizer's encoder also says). */
static int utf8_len(const unsigned char *p, size_t left) {
    unsigned c = p[0];
    if (c < 0x80) return 1;
    int n = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (!n || (size_t)n > left) return 0;
    for (int i = 1; i < n; i++)
        if ((p[i] & 0xc0) != 0x80) return 0;
    if (c == 0xe0 && p[1] < 0xa0) return 0; /* overlong */
    if (c == 0xed && p[1] >= 0xa0) return 0; /* surrogate */
    if (c == 0xf0 && p[1] < 0x90) return 0; /* overlong */
    if (c == 0xf4 && p[1] >= 0x90) return 0; /* past U+10FFFF */
    return n;
}

/* A text corpus that is not UTF-8 is blamed by file, line and column before the tokenizer sees it. */
static qb_status check_utf8_file(const char *path) {
    char *text = NULL;
    size_t len = 0;
    qb_status st = qb_read_file(path, &text, &len, (size_t)1 << 31);
    if (st) return st;
    size_t line = 1, col = 1;
    /* (when the file is missing, the caller's relative_hint says where it was looked for) */
    for (size_t i = 0; i < len;) {
        int n = utf8_len((const unsigned char *)text + i, len - i);
        if (!n) {
            st = qb_errorf(QB_ERR_INPUT, "%s:%zu:%zu: not valid UTF-8 (byte 0x%02x at file offset %zu)", path, line, col,
                           (unsigned char)text[i], i);
            break;
        }
        if (text[i] == '\n') line++, col = 1;
        else col++;
        i += (size_t)n;
    }
    free(text);
    return st;
}

/* A data file of the config that does not exist: say that relative paths start at the current directory. */
static qb_status relative_hint(const char *cfg_path, const char *what, const char *path, qb_status st) {
    if (!st || path[0] == '/' || qb_file_exists(path)) return st;
    char cwd[1024];
    return qb_errorf(QB_ERR_INPUT, "%s: %s %s does not exist (paths in a config are relative to the current directory, "
                                   "%s, not to the config file)",
                     cfg_path, what, path, getcwd(cwd, sizeof cwd) ? cwd : "?");
}

/* Removes what an abandoned cell or reference left in flight (temporary files, an uncommitted cell). */
static void remove_in_flight(const char *out, const char *cache, int n_models, int cell_index) {
    char p[4600];
    snprintf(p, sizeof p, "%s.tmp", out);
    unlink(p);
    if (cell_index >= 0) {
        snprintf(p, sizeof p, "%s/cell-%d.h5", cache, cell_index);
        unlink(p);
        snprintf(p, sizeof p, "%s/cell-%d.h5.tmp", cache, cell_index);
        unlink(p);
    }
    for (int mi = 0; mi < n_models; mi++) {
        snprintf(p, sizeof p, "%s/ref-%d.h5.tmp", cache, mi);
        unlink(p);
        snprintf(p, sizeof p, "%s/ref-%d.logits.tmp", cache, mi);
        unlink(p);
    }
}

static void remove_cache(const char *cache, int n_models) {
    for (int mi = 0; mi < n_models; mi++) {
        char p[4600];
        snprintf(p, sizeof p, "%s/ref-%d.h5", cache, mi);
        unlink(p);
        snprintf(p, sizeof p, "%s/ref-%d.logits", cache, mi);
        unlink(p);
    }
    rmdir(cache);
}

int cmd_run(int argc, char **argv) {
    static const struct option longopts[] = {{"out", required_argument, 0, 'o'},   {"fresh", no_argument, 0, 'f'},
                                             {"threads", required_argument, 0, 't'}, {"only", required_argument, 0, 'O'},
                                             {"shard", required_argument, 0, 's'}, {"quiet", no_argument, 0, 'q'},
                                             {"progress-every", required_argument, 0, 'P'},
                                             {"batch", required_argument, 0, 'b'}, {"mem-budget", required_argument, 0, 'M'},
                                             {"help", no_argument, 0, 'h'},        {0, 0, 0, 0}};
    const char *out_arg = NULL, *only = NULL, *shard = NULL, *threads_arg = NULL, *batch = "auto",
               *mem_budget_arg = NULL, *batch_arg = NULL;
    long long mem_budget = 0;
    int fresh = 0, quiet = 0;
    long long threads = -1;
    double every = 5;
    opts_reset();
    int c;
    while ((c = getopt_long(argc, argv, "o:", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': out_arg = optarg; break;
        case 'f': fresh = 1; break;
        case 't':
            if (opts_int("run", "--threads", optarg, 0, 1024, &threads)) return 2;
            threads_arg = optarg;
            break;
        case 'O': only = optarg; break;
        case 's': shard = optarg; break;
        case 'q': quiet = 1; break;
        case 'P':
            if (opts_double("run", "--progress-every", optarg, 0.01, 86400, &every)) return 2;
            break;
        case 'b': batch = batch_arg = optarg; break;
        case 'M':
            if (opts_int("run", "--mem-budget", optarg, 1, INT64_MAX, &mem_budget)) return 2;
            mem_budget_arg = optarg;
            break;
        case 'h': fputs(RUN_USAGE, stdout); return 0;
        default: return opts_bad(RUN_USAGE);
        }
    }
    if (optind != argc - 1) return opts_fail("run", RUN_USAGE, "expected one CONFIG file");
    const char *cfg_path = argv[optind];
    char *o_model = NULL, *o_codec = NULL, *o_kv = NULL;
    int shard_k = 0, shard_n = 1;
    if (only && parse_only(only, &o_model, &o_codec, &o_kv))
        return opts_fail("run", RUN_USAGE, "--only: expected model=…,codec=…,kv=… (each at most once)");
    if (shard && parse_shard(shard, &shard_k, &shard_n)) {
        free(o_model), free(o_codec), free(o_kv);
        return opts_fail("run", RUN_USAGE, "--shard: expected K/N with 0 <= K < N, or auto inside a Slurm array job");
    }

    h5r_quiet();
    ExpConfig cfg;
    qb_status st = exp_config_load(cfg_path, &cfg);
    int rc = 0;
    if (st) {
        free(o_model), free(o_codec), free(o_kv);
        return opts_lib_error("run", st);
    }
    int nthreads = threads >= 0 ? (int)threads : cfg.threads;
    if (nthreads <= 0) nthreads = opts_default_threads();

    char out[4096], cache[4200], shard_txt[64] = "";
    if (shard) snprintf(shard_txt, sizeof shard_txt, "%d/%d", shard_k, shard_n);
    if (out_arg) snprintf(out, sizeof out, "%s", out_arg);
    else if (shard) snprintf(out, sizeof out, "results/%s-shard%d-of-%d.h5", cfg.name, shard_k, shard_n);
    else snprintf(out, sizeof out, "results/%s.h5", cfg.name);
    snprintf(cache, sizeof cache, "%s.cache", out);

    /* how to finish this run later: the same selection, without --fresh */
    char resume_cmd[8192] = "qinsbench run";
    append_arg(resume_cmd, sizeof resume_cmd, cfg_path);
    append_arg(resume_cmd, sizeof resume_cmd, "--out");
    append_arg(resume_cmd, sizeof resume_cmd, out);
    char plan_cmd[8192]; /* what completes the file (every cell of the shard): no --only */
    snprintf(plan_cmd, sizeof plan_cmd, "%s", resume_cmd);
    if (shard) append_arg(plan_cmd, sizeof plan_cmd, "--shard"), append_arg(plan_cmd, sizeof plan_cmd, shard);
    if (only) append_arg(resume_cmd, sizeof resume_cmd, "--only"), append_arg(resume_cmd, sizeof resume_cmd, only);
    if (shard) append_arg(resume_cmd, sizeof resume_cmd, "--shard"), append_arg(resume_cmd, sizeof resume_cmd, shard);
    if (threads_arg)
        append_arg(resume_cmd, sizeof resume_cmd, "--threads"), append_arg(resume_cmd, sizeof resume_cmd, threads_arg);
    if (batch_arg) append_arg(resume_cmd, sizeof resume_cmd, "--batch"), append_arg(resume_cmd, sizeof resume_cmd, batch_arg);
    if (mem_budget_arg)
        append_arg(resume_cmd, sizeof resume_cmd, "--mem-budget"), append_arg(resume_cmd, sizeof resume_cmd, mem_budget_arg);

    /* the cells of this run, in config order */
    int n_all = cfg.n_models * cfg.n_codecs * cfg.n_kv, n_sel = 0, n_shard = 0, lock_fd = -1, created = 0;
    Cell *cells = calloc((size_t)n_all, sizeof *cells);
    SummaryRow *rows = NULL;
    size_t n_rows = 0;
    Workload *works = calloc((size_t)cfg.n_models, sizeof *works);
    int *work_ok = calloc((size_t)cfg.n_models, sizeof *work_ok);
    int *ref_in_file = calloc((size_t)cfg.n_models, sizeof *ref_in_file);
    char (*ref_fail)[H5R_STATUS_LEN] = calloc((size_t)cfg.n_models, sizeof *ref_fail);
    char **drops = calloc((size_t)n_all + (size_t)cfg.n_models, sizeof *drops);
    int n_drops = 0;
    SummaryRow *shared = mmap(NULL, sizeof(SummaryRow), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    struct sigaction old_int, old_term;
    int handlers = 0;
    ProgressOut po;
    progress_out_init(&po, quiet, every);
    if (!cells || !works || !work_ok || !ref_in_file || !ref_fail || !drops || shared == MAP_FAILED) {
        fprintf(stderr, "qinsbench run: out of memory\n");
        rc = 3;
        goto done;
    }
    for (int mi = 0, idx = 0; mi < cfg.n_models; mi++)
        for (int ci = 0; ci < cfg.n_codecs; ci++)
            for (int ki = 0; ki < cfg.n_kv; ki++, idx++) {
                if (idx % shard_n != shard_k) continue;
                n_shard++;
                if (o_model && strcmp(o_model, cfg.models[mi].label)) continue;
                if (o_codec && strcmp(o_codec, cfg.codecs[ci])) continue;
                if (o_kv && strcmp(o_kv, cfg.kv[ki])) continue;
                cells[n_sel++] = (Cell){mi, ci, ki, idx};
            }
    if (!n_sel) {
        rc = opts_fail("run", RUN_USAGE, "no cell matches --only/--shard");
        goto done;
    }

    /* every workload first: a config error stops the run before anything is written */
    if (cfg.has_ppl && cfg.corpus) st = relative_hint(cfg_path, "corpus", cfg.corpus, check_utf8_file(cfg.corpus));
    if (!st && cfg.has_ppl && cfg.corpus_ids && !qb_file_exists(cfg.corpus_ids))
        st = relative_hint(cfg_path, "corpus_ids", cfg.corpus_ids, QB_ERR_INPUT);
    if (st) {
        rc = opts_lib_error("run", st);
        goto done;
    }
    for (int i = 0; i < n_sel; i++) {
        int mi = cells[i].model;
        if (work_ok[mi]) continue;
        if ((st = check_model_dir(cfg_path, &cfg.models[mi])) || (st = work_build(&cfg, &cfg.models[mi], nthreads, &works[mi]))) {
            rc = opts_lib_error("run", st);
            goto done;
        }
        work_ok[mi] = 1;
        if ((st = work_batch(&works[mi], batch, (uint64_t)mem_budget, NULL))) {
            rc = opts_lib_error("run", st);
            goto done;
        }
        if (works[mi].n_prompts && !quiet)
            fprintf(stderr, "qinsbench run: %s: greedy prompts decoded %d at a time\n", cfg.models[mi].label, works[mi].batch);
    }

    /* never write over an input: the config, a model directory, the corpus (or the cache over one) */
    {
        const char *inputs[3] = {cfg_path, cfg.corpus, cfg.corpus_ids};
        for (int k = 0; !st && k < 3; k++)
            if (inputs[k]) {
                st = qb_check_not_input(out, inputs[k]);
                if (!st) st = qb_check_not_input(cache, inputs[k]);
            }
        for (int mi = 0; !st && mi < cfg.n_models; mi++) {
            st = qb_check_not_input(out, cfg.models[mi].path);
            if (!st) st = qb_check_not_input(cache, cfg.models[mi].path);
        }
        if (st) {
            rc = opts_lib_error("run", st);
            goto done;
        }
    }
    {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s", out);
        char *slash = strrchr(dir, '/');
        if (slash) {
            *slash = 0;
            if (dir[0] && mkdir_p(dir)) {
                rc = opts_fail("run", RUN_USAGE, "%s: cannot create directory: %s", dir, strerror(errno));
                goto done;
            }
        }
    }
    if ((st = h5r_lock(out, &lock_fd))) {
        rc = opts_lib_error("run", st);
        goto done;
    }

    /* resume */
    if (!fresh && qb_file_exists(out)) {
        hid_t f;
        char *text = NULL, *sh = NULL;
        if ((st = h5r_open(out, &f))) {
            rc = opts_lib_error("run", st);
            goto done;
        }
        st = h5r_read_attr_str(f, "/", rs_name(RS_ROOT_CONFIG_TEXT), &text);
        if (!st) st = h5r_read_attr_str(f, "/", rs_name(RS_ROOT_SHARD), &sh);
        if (!st && (st = h5r_read_summary(f, &rows, &n_rows)))
            st = qb_errorf(QB_ERR_INPUT, "%s is damaged (its summary table cannot be read): run with --fresh, or delete it",
                           out);
        if (!st && (strcmp(text, cfg.text) || strcmp(sh, shard_txt)))
            st = qb_errorf(QB_ERR_INPUT,
                           "%s was made by a different config or shard (%s has changed since, or --shard differs).\n"
                           "  to start over:    %s --fresh%s\n"
                           "  to keep that file: choose another --out",
                           out, cfg_path, resume_cmd,
                           !strcmp(out, "results/austen.h5") ? "   (or: make demo FRESH=1)" : "");
        /* a committed cell whose data fails its checksum is recomputed: its row and group go */
        for (size_t r = 0; !st && r < n_rows;) {
            char g[512], path[600];
            h5r_cell_name(rows[r].model, rows[r].codec, rows[r].kv, g, sizeof g);
            snprintf(path, sizeof path, "%s/%s", rs_name(RS_CELLS), g);
            if (!strcmp(rows[r].status, "ok") && h5r_check(f, path)) {
                fprintf(stderr, "qinsbench run: %s: %s — recomputing that cell\n", out, qb_last_error());
                drops[n_drops++] = strdup(path);
                rows[r] = rows[--n_rows];
                continue;
            }
            r++;
        }
        for (int mi = 0; !st && mi < cfg.n_models; mi++) {
            char path[300];
            snprintf(path, sizeof path, "%s/%s", rs_name(RS_MODELS), cfg.models[mi].label);
            if (H5Lexists(f, path, H5P_DEFAULT) > 0 && h5r_check(f, path)) {
                fprintf(stderr, "qinsbench run: %s: %s — recomputing the reference\n", out, qb_last_error());
                drops[n_drops++] = strdup(path);
            }
        }
        H5Fclose(f);
        qsort(rows, n_rows, sizeof *rows, cmp_row);
        free(text);
        free(sh);
        if (st) {
            rc = opts_lib_error("run", st);
            goto done;
        }
        created = 1;
        if (n_rows && !quiet) fprintf(stderr, "qinsbench run: %s: resuming, %zu cells already done\n", out, n_rows);
    }
    SummaryRow *grow = realloc(rows, ((size_t)n_rows + (size_t)n_sel) * sizeof *rows);
    if (!grow) {
        rc = 3;
        goto done;
    }
    rows = grow;

    int total = 0, done_n = 0, io_failed = 0, interrupted = 0, abandoned = -1;
    for (int i = 0; i < n_sel; i++) {
        int have = 0;
        for (size_t r = 0; r < n_rows; r++) have |= rows[r].cell_index == cells[i].index;
        if (have) cells[i].index = -1 - cells[i].index; /* done already */
        else total++;
    }
    {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal; /* no SA_RESTART: waits and sleeps return early */
        sigemptyset(&sa.sa_mask);
        g_signal = 0;
        sigaction(SIGINT, &sa, &old_int);
        sigaction(SIGTERM, &sa, &old_term);
        handlers = 1;
    }
    progress_init();
    for (int mi = 0; mi < cfg.n_models && !g_signal && !quiet; mi++) { /* a short probe per model: how long this run will take */
        EstArgs ea = {&works[mi], 0};
        for (int i = 0; i < n_sel; i++) ea.n_cells += cells[i].index >= 0 && cells[i].model == mi;
        struct rusage ru;
        shared->seconds = NAN;
        if (ea.n_cells && run_child(child_estimate, &ea, shared, &ru, NULL) == 0 && !isnan(shared->seconds))
            /* Not a bound either way: the probe times the reference only. On the toy it said 69 s for a
             * 134 s run (codecs slower than fp32, conversion at load, statistics and writing per cell). */
            fprintf(stderr, "qinsbench run: %s: %d cell(s), estimated %.0f s (%.1f h) from a short probe of the "
                    "reference: more when codecs compute slower than it, less when they match it longer "
                    "(teacher forcing starts at the first divergence)\n",
                    cfg.models[mi].label, ea.n_cells, shared->seconds, shared->seconds / 3600);
    }
    double t0 = qb_now(), cells_secs = 0;
    for (int i = 0; i < n_sel && !g_signal; i++) {
        if (cells[i].index < 0) continue;
        const Cell *cl = &cells[i];
        const ExpModel *em = &cfg.models[cl->model];
        char ref_h5[4400], ref_logits[4400], cell_h5[4400], reason[H5R_STATUS_LEN] = "";
        snprintf(ref_h5, sizeof ref_h5, "%s/ref-%d.h5", cache, cl->model);
        snprintf(ref_logits, sizeof ref_logits, "%s/ref-%d.logits", cache, cl->model);
        snprintf(cell_h5, sizeof cell_h5, "%s/cell-%d.h5", cache, cl->index);
        SummaryRow *row = &rows[n_rows];
        h5r_row_init(row, em->label, cfg.codecs[cl->codec], cfg.kv[cl->kv], cl->index);
        row->threads = nthreads;

        /* the first cell starts: now the results file and the cache exist */
        if (!created) {
            remove_cache(cache, cfg.n_models); /* a fresh run must not reuse an old reference cache */
            char cmdline[2048] = "qinsbench";
            for (int k = 0; k < argc; k++) append_arg(cmdline, sizeof cmdline, argv[k]);
            H5Root root = {cfg.name, cfg.text, cfg_path, cmdline, shard_txt, nthreads};
            if ((st = h5r_create_plan(out, &root, n_shard, plan_cmd))) {
                rc = opts_lib_error("run", st);
                io_failed = 1;
                break;
            }
            created = 1;
        }
        if (mkdir_p(cache)) {
            fprintf(stderr, "qinsbench run: %s: cannot create directory: %s\n", cache, strerror(errno));
            rc = 2;
            io_failed = 1;
            break;
        }

        const Workload *w = &works[cl->model];
        Live lv = {&po, "", {w->n_prompts, w->n_prompts, w->n_windows, cfg.has_speed ? cfg.speed_repeats : 0},
                   total - done_n - 1, done_n ? cells_secs / done_n : 0};
        int need_ref = w->n_prompts || w->n_windows;
        ChildArgs a = {w, cl->codec, cl->kv, ref_h5, ref_logits, cell_h5};
        struct rusage ru;
        double tc = qb_now();
        if (ref_fail[cl->model][0]) snprintf(reason, sizeof reason, "%s", ref_fail[cl->model]);
        else if (need_ref && !qb_file_exists(ref_h5)) {
            double tr = qb_now();
            Live lr = {&po, "", {w->n_prompts, 0, w->n_windows, 0}, total - done_n, lv.avg_cell};
            snprintf(lr.what, sizeof lr.what, "reference %s on %s", cfg.reference, em->label);
            progress_note(&po, "reference %s on %s: %d prompts, %d windows …", cfg.reference, em->label, w->n_prompts,
                          w->n_windows);
            h5r_row_init(shared, em->label, cfg.reference, "f32", -1);
            int status = run_child(child_reference, &a, shared, &ru, &lr);
            if (status >= 0 && child_interrupted(status)) {
                abandoned = -2;
                break;
            }
            if (status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == EXIT_IO) {
                progress_end(&po);
                fprintf(stderr, "qinsbench run: reference on %s: %s\n", em->label, shared->status + 8);
                io_failed = 1;
                rc = 2;
                break;
            }
            child_reason(status, reason, sizeof reason);
            if (status < 0) snprintf(reason, sizeof reason, "failed: fork/wait: %s", strerror(errno));
            if (reason[0] && strncmp(shared->status, "failed", 6)) snprintf(shared->status, sizeof shared->status, "%s", reason);
            if (reason[0]) snprintf(reason, sizeof reason, "failed: reference: %s", shared->status + 8);
            else progress_note(&po, "reference %s on %s: done in %.1fs", cfg.reference, em->label, qb_now() - tr);
            if (reason[0]) snprintf(ref_fail[cl->model], sizeof ref_fail[cl->model], "%s", reason);
        }
        if (!need_ref && !qb_file_exists(ref_h5) && (st = run_model_info(w, ref_h5))) {
            rc = opts_lib_error("run", st);
            io_failed = 1;
            break;
        }
        if (!reason[0]) {
            if (!ref_in_file[cl->model]) {
                char dst[256];
                snprintf(dst, sizeof dst, "%s/%s", rs_name(RS_MODELS), em->label);
                const char *src = rs_name(RS_CACHE_REF), *dstp = dst;
                if ((st = h5r_commit_drop(out, ref_h5, &src, &dstp, 1, (const char *const *)drops, n_drops, rows,
                                          n_rows))) {
                    progress_end(&po);
                    rc = opts_lib_error("run", st);
                    io_failed = 1;
                    break;
                }
                ref_in_file[cl->model] = 1;
                for (int k = 0; k < n_drops; k++) free(drops[k]);
                n_drops = 0;
            }
            snprintf(lv.what, sizeof lv.what, "[%d/%d] %s %s %s", done_n + 1, total, em->label, cfg.codecs[cl->codec],
                     cfg.kv[cl->kv]);
            memcpy(shared, row, sizeof *row);
            int status = run_child(child_cell, &a, shared, &ru, &lv);
            if (status >= 0 && child_interrupted(status)) {
                abandoned = cl->index;
                break;
            }
            if (status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == EXIT_IO) {
                progress_end(&po);
                fprintf(stderr, "qinsbench run: %s %s %s: %s\n", em->label, cfg.codecs[cl->codec], cfg.kv[cl->kv],
                        shared->status + 8);
                io_failed = 1;
                rc = 2;
                abandoned = cl->index;
                break;
            }
            memcpy(row, shared, sizeof *row);
            child_reason(status, reason, sizeof reason);
            if (status < 0) snprintf(reason, sizeof reason, "failed: fork/wait: %s", strerror(errno));
            if (!reason[0] && strcmp(row->status, "ok")) snprintf(reason, sizeof reason, "failed: no result");
            if (reason[0] && !strncmp(row->status, "failed: ", 8)) snprintf(reason, sizeof reason, "%s", row->status);
            row->peak_rss_bytes = (int64_t)ru.ru_maxrss * 1024;
        }
        if (reason[0]) {
            int64_t rss = row->peak_rss_bytes;
            h5r_row_init(row, em->label, cfg.codecs[cl->codec], cfg.kv[cl->kv], cl->index);
            row->threads = nthreads;
            row->peak_rss_bytes = rss;
            snprintf(row->status, sizeof row->status, "%s", reason);
        }
        n_rows++;
        qsort(rows, n_rows, sizeof *rows, cmp_row);
        char gname[512], dst[600];
        h5r_cell_name(em->label, cfg.codecs[cl->codec], cfg.kv[cl->kv], gname, sizeof gname);
        snprintf(dst, sizeof dst, "%s/%s", rs_name(RS_CELLS), gname);
        const char *src = rs_name(RS_CACHE_CELL), *dstp = dst;
        int has_cell = !reason[0] && qb_file_exists(cell_h5);
        if ((st = h5r_commit_drop(out, has_cell ? cell_h5 : NULL, &src, &dstp, has_cell, (const char *const *)drops,
                                  n_drops, rows, n_rows))) {
            progress_end(&po);
            rc = opts_lib_error("run", st);
            io_failed = 1;
            abandoned = cl->index;
            n_rows--; /* not in the file */
            break;
        }
        for (int k = 0; k < n_drops; k++) free(drops[k]);
        n_drops = 0;
        unlink(cell_h5);
        done_n++;
        cells_secs += qb_now() - tc;
        for (size_t r = 0; r < n_rows; r++)
            if (rows[r].cell_index == cl->index) headline(&po, done_n, total, &rows[r]);
        if (reason[0]) rc = 1;
    }
    progress_end(&po);
    if (g_signal || abandoned == -2 || (abandoned >= 0 && !io_failed)) interrupted = 1;
    if (interrupted || io_failed) {
        remove_in_flight(out, cache, cfg.n_models, abandoned);
        if (interrupted)
            fprintf(stderr, "\nqinsbench run: interrupted (%s)%s\n", g_signal ? strsignal(g_signal) : "cell killed by a signal",
                    abandoned >= 0 ? "; the cell in progress was abandoned" : "");
        if (created)
            fprintf(stderr, "qinsbench run: saved: %zu of %d cells in %s (%d this run)\n", n_rows, n_shard, out, done_n);
        else fprintf(stderr, "qinsbench run: nothing was saved (no cell had finished)\n");
        fprintf(stderr, "qinsbench run: %s with: %s\n", io_failed ? "after fixing the cause, resume" : "resume", resume_cmd);
        double cb = dir_bytes(cache);
        if (cb > 0)
            fprintf(stderr, "qinsbench run: reference cache kept for the resume: %s (%.1f MiB; rm -r it if you will not resume)\n",
                    cache, cb / 1048576.0);
        else rmdir(cache);
        if (interrupted && !io_failed) rc = 130;
        goto done;
    }
    /* every cell of this run is in the file: the reference cache has done its job */
    remove_cache(cache, cfg.n_models);
    if (!total) fprintf(stderr, "qinsbench run: %s: every cell was already done\n", out);
    else fprintf(stderr, "qinsbench run: wrote %s (%d cells, %.1fs)\n", out, total, qb_now() - t0);
    {
        int failed = 0;
        for (size_t r = 0; r < n_rows; r++) failed += strcmp(rows[r].status, "ok") != 0;
        if (failed) {
            fprintf(stderr, "qinsbench run: %d cell(s) failed (see status in %s)\n", failed, out);
            rc = 1;
        }
        if (only && (int)n_rows < n_shard)
            fprintf(stderr, "qinsbench run: %s holds %zu of %d cells (--only ran a subset)\n", out, n_rows, n_shard);
    }
done:
    if (handlers) {
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGTERM, &old_term, NULL);
    }
    h5r_unlock(out, lock_fd);
    for (int mi = 0; works && mi < cfg.n_models; mi++)
        if (work_ok && work_ok[mi]) work_free(&works[mi]);
    for (int k = 0; drops && k < n_drops; k++) free(drops[k]);
    free(drops);
    free(works);
    free(work_ok);
    free(ref_in_file);
    free(ref_fail);
    free(cells);
    free(rows);
    if (shared != MAP_FAILED && shared) munmap(shared, sizeof *shared);

    exp_config_free(&cfg);
    free(o_model);
    free(o_codec);
    free(o_kv);
    return rc;
}

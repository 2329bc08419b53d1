/* cmd_run.c — `qinsbench run CONFIG`: every (model, codec, KV mode) cell of an experiment config, each in
 * its own forked child (a crash or an out-of-memory fails that cell, not the sweep, and wait4 gives the
 * cell's own peak RSS), against reference outputs computed once per model (also in a child) and cached
 * beside the results file. Each finished cell is committed to the HDF5 file at once (h5r_commit: the file is
 * always whole), so a killed run resumes where it stopped. `show` and `merge` live in run_show.c. */
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
#include <unistd.h>

#include "commands.h"
#include "expconfig.h"
#include "h5_results.h"
#include "opts.h"
#include "model.h"
#include "run_cell.h"

static const char RUN_USAGE[] =
    "usage: qinsbench run CONFIG [--out results/NAME.h5] [--fresh] [--threads N] [--only model=M,codec=C,kv=K]\n"
    "                            [--shard K/N | --shard auto]\n"
    "Runs every (model, codec, kv) cell of an experiment config against the reference codec and writes an\n"
    "HDF5 results file (schema: docs/results.md). Cells already in OUT are skipped (resume).\n"
    "  --out FILE      results file (default results/<config name>.h5, or …-shardK-of-N.h5)\n"
    "  --fresh         start over: ignore and replace an existing OUT\n"
    "  --threads N     threads per cell (default: the config's `threads`, else all cores)\n"
    "  --only SEL      only cells matching model=…, codec=… and/or kv=… (comma-separated)\n"
    "  --shard K/N     only cells with cell_index % N == K (0 <= K < N); `auto` reads\n"
    "                  SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN and SLURM_ARRAY_TASK_COUNT\n"
    "  --batch N|auto  greedy prompts decoded together (default auto: as many as fit --mem-budget, at most\n"
    "                  32 and the prompt count); the reference's batch is recorded and every cell uses it\n"
    "  --mem-budget B  bytes for the batch's KV caches and activations (default MemAvailable minus the weights)\n";

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

/* Runs fn(arg) in a child; *row is shared memory the child fills. Returns the child's wait status and its
 * rusage. */
typedef qb_status (*child_fn)(void *arg, SummaryRow *row);
static int run_child(child_fn fn, void *arg, SummaryRow *shared, struct rusage *ru) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* a killed sweep takes its cell with it */
        qb_status st = fn(arg, shared);
        if (st) {
            snprintf(shared->status, sizeof shared->status, "failed: %s", qb_last_error());
            fprintf(stderr, "qinsbench run: %s\n", qb_last_error());
        }
        fflush(NULL);
        _exit(st ? 1 : 0);
    }
    int status = 0;
    memset(ru, 0, sizeof *ru);
    while (wait4(pid, &status, 0, ru) < 0)
        if (errno != EINTR) return -1;
    return status;
}

typedef struct {
    const Workload *w;
    const char *codec, *kv, *ref_h5, *ref_logits, *cell_h5;
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

static void progress(int tty, int done, int total, const SummaryRow *r, double elapsed) {
    double eta = done ? elapsed / done * (total - done) : 0;
    if (tty) {
        int width = 24, fill = total ? width * done / total : width;
        char bar[32];
        for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
        bar[width] = 0;
        char tps[48] = "";
        if (!isnan(r->decode_tps)) snprintf(tps, sizeof tps, "  %.0f tok/s decode", r->decode_tps);
        fprintf(stderr, "\r\033[K[%s] %d/%d  last: %s %s %s %s%s  ETA %.0fs", bar, done, total, r->model, r->codec,
                r->kv, r->status, tps, eta);
        if (done == total) fputc('\n', stderr);
    } else
        fprintf(stderr, "[%d/%d] %s %s %s: %s  match %.4f  dPPL %.4g  KL %.3g  %.1fs\n", done, total, r->model, r->codec,
                r->kv, r->status, r->match_rate, r->delta_ppl, r->kl_mean, r->seconds);
}

static int cmp_row(const void *a, const void *b) {
    const SummaryRow *x = a, *y = b;
    return (x->cell_index > y->cell_index) - (x->cell_index < y->cell_index);
}

int cmd_run(int argc, char **argv) {
    static const struct option longopts[] = {{"out", required_argument, 0, 'o'},   {"fresh", no_argument, 0, 'f'},
                                             {"threads", required_argument, 0, 't'}, {"only", required_argument, 0, 'O'},
                                             {"shard", required_argument, 0, 's'}, {"help", no_argument, 0, 'h'},
                                             {"batch", required_argument, 0, 'b'}, {"mem-budget", required_argument, 0, 'M'},
                                             {0, 0, 0, 0}};
    const char *out_arg = NULL, *only = NULL, *shard = NULL, *batch = "auto";
    long long mem_budget = 0;
    int fresh = 0;
    long long threads = -1;
    opts_reset();
    int c;
    while ((c = getopt_long(argc, argv, "o:", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': out_arg = optarg; break;
        case 'f': fresh = 1; break;
        case 't':
            if (opts_int("run", "--threads", optarg, 0, 1024, &threads)) return 2;
            break;
        case 'O': only = optarg; break;
        case 's': shard = optarg; break;
        case 'b': batch = optarg; break;
        case 'M':
            if (opts_int("run", "--mem-budget", optarg, 1, INT64_MAX, &mem_budget)) return 2;
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
    /* a typo in a codec or KV mode is a config error, found before any cell runs */
    {
        CodecSpec cs;
        kv_mode km;
        if ((st = codec_spec_parse(cfg.reference, &cs))) qb_error_prefix("reference");
        for (int i = 0; !st && i < cfg.n_codecs; i++)
            if ((st = codec_spec_parse(cfg.codecs[i], &cs))) {
                char k[32];
                snprintf(k, sizeof k, "codecs[%d]", i);
                qb_error_prefix(k);
            }
        for (int i = 0; !st && i < cfg.n_kv; i++)
            if ((st = kv_mode_parse(cfg.kv[i], &km))) {
                char k[32];
                snprintf(k, sizeof k, "kv[%d]", i);
                qb_error_prefix(k);
            }
        if (st) {
            qb_error_prefix(cfg_path);
            rc = opts_lib_error("run", st);
            goto done_cfg;
        }
    }
    int nthreads = threads >= 0 ? (int)threads : cfg.threads;
    if (nthreads <= 0) nthreads = opts_default_threads();

    char out[4096], cache[4200], shard_txt[64] = "";
    if (shard) snprintf(shard_txt, sizeof shard_txt, "%d/%d", shard_k, shard_n);
    if (out_arg) snprintf(out, sizeof out, "%s", out_arg);
    else if (shard) snprintf(out, sizeof out, "results/%s-shard%d-of-%d.h5", cfg.name, shard_k, shard_n);
    else snprintf(out, sizeof out, "results/%s.h5", cfg.name);
    snprintf(cache, sizeof cache, "%s.cache", out);
    {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s", out);
        char *slash = strrchr(dir, '/');
        if (slash) {
            *slash = 0;
            if (dir[0] && mkdir_p(dir)) {
                rc = opts_fail("run", RUN_USAGE, "%s: cannot create directory: %s", dir, strerror(errno));
                goto done_cfg;
            }
        }
    }

    /* the cells of this run, in config order */
    int n_all = cfg.n_models * cfg.n_codecs * cfg.n_kv, n_sel = 0;
    Cell *cells = calloc((size_t)n_all, sizeof *cells);
    SummaryRow *rows = NULL;
    size_t n_rows = 0;
    Workload *works = calloc((size_t)cfg.n_models, sizeof *works);
    int *work_ok = calloc((size_t)cfg.n_models, sizeof *work_ok);
    int *ref_in_file = calloc((size_t)cfg.n_models, sizeof *ref_in_file);
    char (*ref_fail)[H5R_STATUS_LEN] = calloc((size_t)cfg.n_models, sizeof *ref_fail);
    SummaryRow *shared = mmap(NULL, sizeof(SummaryRow), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (!cells || !works || !work_ok || !ref_in_file || !ref_fail || shared == MAP_FAILED) {
        fprintf(stderr, "qinsbench run: out of memory\n");
        rc = 3;
        goto done;
    }
    for (int mi = 0, idx = 0; mi < cfg.n_models; mi++)
        for (int ci = 0; ci < cfg.n_codecs; ci++)
            for (int ki = 0; ki < cfg.n_kv; ki++, idx++) {
                if (idx % shard_n != shard_k) continue;
                if (o_model && strcmp(o_model, cfg.models[mi].label)) continue;
                if (o_codec && strcmp(o_codec, cfg.codecs[ci])) continue;
                if (o_kv && strcmp(o_kv, cfg.kv[ki])) continue;
                cells[n_sel++] = (Cell){mi, ci, ki, idx};
            }
    if (!n_sel) {
        rc = opts_fail("run", RUN_USAGE, "no cell matches --only/--shard");
        goto done;
    }

    /* resume or create */
    if (!fresh && qb_file_exists(out)) {
        hid_t f;
        char *text = NULL, *sh = NULL;
        if ((st = h5r_open(out, &f))) {
            rc = opts_lib_error("run", st);
            goto done;
        }
        st = h5r_read_attr_str(f, "/", "config_text", &text);
        if (!st) st = h5r_read_attr_str(f, "/", "shard", &sh);
        if (!st) st = h5r_read_summary(f, &rows, &n_rows);
        H5Fclose(f);
        if (!st && (strcmp(text, cfg.text) || strcmp(sh, shard_txt)))
            st = qb_errorf(QB_ERR_INPUT, "%s was made by a different config or shard; use --fresh or another --out", out);
        free(text);
        free(sh);
        if (st) {
            rc = opts_lib_error("run", st);
            goto done;
        }
        if (n_rows) fprintf(stderr, "qinsbench run: %s: resuming, %zu cells already done\n", out, n_rows);
    } else {
        char cmdline[2048] = "qinsbench";
        for (int i = 0; i < argc; i++) {
            size_t l = strlen(cmdline);
            snprintf(cmdline + l, sizeof cmdline - l, " %s", argv[i]);
        }
        /* a fresh run must not reuse an old reference cache */
        for (int mi = 0; mi < cfg.n_models; mi++) {
            char p[4400];
            snprintf(p, sizeof p, "%s/ref-%d.h5", cache, mi);
            unlink(p);
            snprintf(p, sizeof p, "%s/ref-%d.logits", cache, mi);
            unlink(p);
        }
        H5Root root = {cfg.name, cfg.text, cfg_path, cmdline, shard_txt, nthreads};
        if ((st = h5r_create(out, &root))) {
            rc = opts_lib_error("run", st);
            goto done;
        }
    }
    if (mkdir_p(cache)) {
        rc = opts_fail("run", RUN_USAGE, "%s: cannot create directory: %s", cache, strerror(errno));
        goto done;
    }
    SummaryRow *grow = realloc(rows, ((size_t)n_rows + (size_t)n_sel) * sizeof *rows);
    if (!grow) {
        rc = 3;
        goto done;
    }
    rows = grow;

    /* every workload first: a config error stops the run before any cell starts */
    for (int i = 0; i < n_sel; i++) {
        int mi = cells[i].model;
        if (work_ok[mi]) continue;
        if ((st = work_build(&cfg, &cfg.models[mi], nthreads, &works[mi]))) {
            rc = opts_lib_error("run", st);
            goto done;
        }
        work_ok[mi] = 1;
        if ((st = work_batch(&works[mi], batch, (uint64_t)mem_budget, NULL))) {
            rc = opts_lib_error("run", st);
            goto done;
        }
        if (works[mi].n_prompts)
            fprintf(stderr, "qinsbench run: %s: greedy prompts decoded %d at a time\n", cfg.models[mi].label, works[mi].batch);
    }
    int tty = isatty(2), total = 0, done_n = 0;
    for (int i = 0; i < n_sel; i++) {
        int have = 0;
        for (size_t r = 0; r < n_rows; r++) have |= rows[r].cell_index == cells[i].index;
        if (have) cells[i].index = -1 - cells[i].index; /* done already */
        else total++;
    }
    for (int mi = 0; mi < cfg.n_models; mi++) { /* a short probe per model: how long this run will take */
        EstArgs ea = {&works[mi], 0};
        for (int i = 0; i < n_sel; i++) ea.n_cells += cells[i].index >= 0 && cells[i].model == mi;
        struct rusage ru;
        shared->seconds = NAN;
        if (ea.n_cells && run_child(child_estimate, &ea, shared, &ru) == 0 && !isnan(shared->seconds))
            fprintf(stderr, "qinsbench run: %s: %d cell(s), estimated %.0f s (%.1f h) from a short probe\n",
                    cfg.models[mi].label, ea.n_cells, shared->seconds, shared->seconds / 3600);
    }
    double t0 = qb_now();
    for (int i = 0; i < n_sel; i++) {
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

        const Workload *w = &works[cl->model];
        if (tty) {
            double el = qb_now() - t0, eta = done_n ? el / done_n * (total - done_n) : 0;
            fprintf(stderr, "\r\033[K[%d/%d] running %s %s %s  (%.0fs elapsed, ETA %.0fs)", done_n, total, em->label,
                    cfg.codecs[cl->codec], cfg.kv[cl->kv], el, eta);
        }
        int need_ref = w->n_prompts || w->n_windows;
        ChildArgs a = {w, cfg.codecs[cl->codec], cfg.kv[cl->kv], ref_h5, ref_logits, cell_h5};
        struct rusage ru;
        if (ref_fail[cl->model][0]) snprintf(reason, sizeof reason, "%s", ref_fail[cl->model]);
        else if (need_ref && !qb_file_exists(ref_h5)) {
            double tr = qb_now();
            if (!tty) fprintf(stderr, "qinsbench run: %s: reference (%s) …\n", em->label, cfg.reference);
            h5r_row_init(shared, em->label, cfg.reference, "f32", -1);
            int status = run_child(child_reference, &a, shared, &ru);
            child_reason(status, reason, sizeof reason);
            if (status < 0) snprintf(reason, sizeof reason, "failed: fork/wait: %s", strerror(errno));
            if (reason[0] && strncmp(shared->status, "failed", 6)) snprintf(shared->status, sizeof shared->status, "%s", reason);
            if (reason[0]) snprintf(reason, sizeof reason, "failed: reference: %s", shared->status + 8);
            else if (!tty) fprintf(stderr, "qinsbench run: %s: reference done in %.1fs\n", em->label, qb_now() - tr);
            if (reason[0]) snprintf(ref_fail[cl->model], sizeof ref_fail[cl->model], "%s", reason);
        }
        if (!need_ref && !qb_file_exists(ref_h5) && (st = run_model_info(w, ref_h5))) {
            rc = opts_lib_error("run", st);
            goto done;
        }
        if (!reason[0]) {
            if (!ref_in_file[cl->model]) {
                ref_in_file[cl->model] = 1;
                char dst[256];
                snprintf(dst, sizeof dst, "/models/%s", em->label);
                const char *src = "ref", *dstp = dst;
                if ((st = h5r_commit(out, ref_h5, &src, &dstp, 1, rows, n_rows))) {
                    rc = opts_lib_error("run", st);
                    goto done;
                }
            }
            memcpy(shared, row, sizeof *row);
            int status = run_child(child_cell, &a, shared, &ru);
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
        snprintf(dst, sizeof dst, "/cells/%s", gname);
        const char *src = "cell", *dstp = dst;
        int has_cell = !reason[0] && qb_file_exists(cell_h5);
        if ((st = h5r_commit(out, has_cell ? cell_h5 : NULL, &src, &dstp, has_cell, rows, n_rows))) {
            rc = opts_lib_error("run", st);
            goto done;
        }
        unlink(cell_h5);
        done_n++;
        const SummaryRow *last = NULL;
        for (size_t r = 0; r < n_rows; r++)
            if (rows[r].cell_index == cl->index) last = &rows[r];
        progress(tty, done_n, total, last, qb_now() - t0);
        if (reason[0]) rc = 1;
    }
    /* every cell of this run is in the file: the reference cache has done its job */
    for (int mi = 0; mi < cfg.n_models; mi++) {
        char p[4400];
        snprintf(p, sizeof p, "%s/ref-%d.h5", cache, mi);
        unlink(p);
        snprintf(p, sizeof p, "%s/ref-%d.logits", cache, mi);
        unlink(p);
    }
    rmdir(cache);
    if (!total) fprintf(stderr, "qinsbench run: %s: every cell was already done\n", out);
    else fprintf(stderr, "qinsbench run: wrote %s (%d cells, %.1fs)\n", out, total, qb_now() - t0);
    {
        int failed = 0;
        for (size_t r = 0; r < n_rows; r++) failed += strcmp(rows[r].status, "ok") != 0;
        if (failed) {
            fprintf(stderr, "qinsbench run: %d cell(s) failed (see status in %s)\n", failed, out);
            rc = 1;
        }
    }
done:
    for (int mi = 0; works && mi < cfg.n_models; mi++)
        if (work_ok && work_ok[mi]) work_free(&works[mi]);
    free(works);
    free(work_ok);
    free(ref_in_file);
    free(ref_fail);
    free(cells);
    free(rows);
    if (shared != MAP_FAILED && shared) munmap(shared, sizeof *shared);
done_cfg:
    exp_config_free(&cfg);
    free(o_model);
    free(o_codec);
    free(o_kv);
    return rc;
}

/* cmd_bench.c — `qinsbench bench`: prefill (pp) and decode (tg) speed per codec and thread count, in
 * llama-bench's conventions (a warm-up, mean ± stddev over repeats, its field names: n_threads, n_prompt,
 * n_gen, avg_ts, stddev_ts, model_size, model_n_params) plus what llama-bench lacks: each row's ratio to
 * the memory-bandwidth bound (bytes read per token ÷ read bandwidth measured in the same run) and the
 * peak RSS of the process that ran it. Each codec runs in its own child process so peak RSS is its own. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cblas.h>

#include "commands.h"
#include "engine_opts.h"
#include "membw.h"
#include "opts.h"

static const char *usage =
    "usage: qinsbench bench --model DIR [--codec SPEC[,SPEC…]] [--threads LIST] [-p LIST] [-n LIST] [-r N]\n"
    "                       [--kv MODE] [--batch 1,16] [--format md|csv|json]\n"
    "Prefill (pp<N>: N prompt tokens in one forward) and decode (tg<N>: N single-token steps) speed, as\n"
    "llama-bench measures them, per codec and thread count, with the ratio to the memory-bandwidth bound.\n"
    "Options:\n"
    "  --model DIR        checkpoint directory\n"
    "  --codec LIST       codec specs separated by commas (default fp32); a spec's own options follow\n"
    "                     its name: --codec fp32,qins:scale=tensor,q8_0\n"
    "  --kv MODE          KV cache mode (default f32)\n"
    "  -t, --threads LIST thread counts; 0 = all online cores (the default)\n"
    "  -p, --n-prompt LIST prompt lengths for pp tests (default 512; 0 = none)\n"
    "  -n, --n-gen LIST   token counts for tg tests (default 128; 0 = none)\n"
    "  -r, --repetitions N repeats per test (default 5)\n"
    "  -b, --batch LIST   parallel sequences for tg tests (default 1): B sequences decode N steps in\n"
    "                     lockstep, each linear layer one [B × in] product; t/s is the aggregate B·N ÷ time\n"
    "                     (llama-batched-bench's S_TG), the bound B × the single-sequence bound\n"
    "  --bw-bytes N       buffer size for the bandwidth probe (default 1 GiB)\n"
    "  --format F         md (default), csv or json\n"
    "  --csv FILE         also write the rows as CSV to FILE\n"
    "  --help             this text\n";

#define MAX_LIST 16
#define MAX_CODECS 16
#define MAX_REPS 100

typedef struct {
    char codec[96];
    int n_threads, n_prompt, n_gen, n_batch;
    double avg_ts, stddev_ts, min_ts, max_ts;
    double bw_gbs, bytes_per_token, bound_ts, bw_ratio;
    unsigned long long model_size, model_n_params, peak_rss;
    int ok;
    char error[256];
} BenchRow;

/* Splits "fp32,qins:scale=tensor,apply=attn,q8_0" into specs: an item holding '=' but no ':' continues
 * the previous spec's options. */
static int split_codecs(const char *text, char specs[][96], int max) {
    int n = 0;
    char *dup = strdup(text), *save = NULL;
    for (char *item = strtok_r(dup, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        if (strchr(item, '=') && !strchr(item, ':') && n > 0) {
            size_t len = strlen(specs[n - 1]);
            if (len + 1 + strlen(item) >= 96) {
                n = -1;
                break;
            }
            snprintf(specs[n - 1] + len, 96 - len, ",%s", item);
        } else if (n < max && strlen(item) < 96) {
            snprintf(specs[n++], 96, "%s", item);
        } else {
            n = -1;
            break;
        }
    }
    free(dup);
    return n;
}

static int parse_list(const char *cmd, const char *opt, const char *text, long long lo, long long hi, int *out) {
    int n = 0;
    char *dup = strdup(text), *save = NULL;
    for (char *item = strtok_r(dup, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        long long v;
        if (n == MAX_LIST || opts_int(cmd, opt, item, lo, hi, &v)) {
            if (n == MAX_LIST) fprintf(stderr, "qinsbench %s: %s: more than %d values\n", cmd, opt, MAX_LIST);
            free(dup);
            return -1;
        }
        out[n++] = (int)v;
    }
    free(dup);
    if (n == 0) fprintf(stderr, "qinsbench %s: %s: empty list\n", cmd, opt);
    return n ? n : -1;
}

static void stats(const double *ts, int n, BenchRow *r) {
    double sum = 0, sq = 0;
    r->min_ts = INFINITY;
    r->max_ts = 0;
    for (int i = 0; i < n; i++) {
        sum += ts[i];
        r->min_ts = fmin(r->min_ts, ts[i]);
        r->max_ts = fmax(r->max_ts, ts[i]);
    }
    r->avg_ts = sum / n;
    for (int i = 0; i < n; i++) sq += (ts[i] - r->avg_ts) * (ts[i] - r->avg_ts);
    r->stddev_ts = n > 1 ? sqrt(sq / (n - 1)) : 0;
}

/* Deterministic prompt ids (an LCG), avoiding id 0. */
static void bench_ids(int *ids, int n, int vocab) {
    uint64_t x = 12345;
    for (int i = 0; i < n; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        ids[i] = vocab > 1 ? 1 + (int)((x >> 33) % (uint64_t)(vocab - 1)) : 0;
    }
}

/* One test (pp, tg, or tg of `batch` sequences in lockstep) at one thread count: warm-up, then `reps`
 * timed runs; ts[r] is tokens (of all sequences) per second. */
static qb_status run_test(Model *m, int threads, int n_prompt, int n_gen, int batch, int reps, double *ts) {
    m->threads = threads;
    openblas_set_num_threads(threads);
    if (batch < 1 || n_prompt > 0) batch = 1;
    RunState *s = qb_calloc((size_t)batch, sizeof *s, "run states");
    RunState **sp = qb_calloc((size_t)batch, sizeof *sp, "run states");
    BatchScratch a;
    memset(&a, 0, sizeof a);
    int built = 0, n = n_prompt > 0 ? n_prompt : n_gen * batch;
    int *ids = qb_malloc((size_t)n * sizeof(int), "ids");
    float *logits = qb_malloc((size_t)batch * (size_t)m->config.vocab * sizeof(float), "logits");
    qb_status st = !s || !sp || !ids || !logits ? QB_ERR_NOMEM : batch_scratch_build(&a, m, batch);
    for (; !st && built < batch; built++) {
        st = runstate_build_ctx(&s[built], m, n_prompt > 0 ? m->ctx : n_gen);
        sp[built] = &s[built];
    }
    if (st) goto done;
    bench_ids(ids, n, m->config.vocab);
    for (int r = -1; r < reps && !st; r++) { /* r = −1 is the warm-up */
        for (int i = 0; i < batch; i++) runstate_reset(&s[i]);
        double t0 = qb_now();
        if (n_prompt > 0) {
            st = model_forward(m, &s[0], ids, n_prompt, logits, 0, NULL);
        } else if (batch == 1) {
            for (int i = 0; i < n_gen && !st; i++) st = model_forward(m, &s[0], ids + i, 1, logits, 0, NULL);
        } else {
            for (int i = 0; i < n_gen && !st; i++)
                st = model_forward_batch(m, sp, ids + (size_t)i * batch, NULL, batch, logits, &a);
        }
        double dt = qb_now() - t0;
        if (r >= 0) ts[r] = (double)n / dt;
    }
done:
    free(ids);
    free(logits);
    for (int i = 0; i < built; i++) runstate_free(&s[i]);
    free(s);
    free(sp);
    batch_scratch_free(&a);
    return st;
}

/* The child: loads the model under one codec and runs every test, writing rows to the pipe. */
static int child_main(int fd, const char *model_dir, const char *codec, const char *kv, const int *threads, int nt,
                      const int *pp, int npp, const int *tg, int ntg, const int *nb, int nnb, int reps, const double *bw) {
    Model m;
    ModelOptions mo = {.codec = codec, .kv = kv, .threads = threads[0]};
    BenchRow row;
    memset(&row, 0, sizeof row);
    size_t codec_len = strnlen(codec, sizeof row.codec - 1);
    memcpy(row.codec, codec, codec_len);
    qb_status st = model_load(model_dir, &mo, &m);
    if (st) {
        snprintf(row.error, sizeof row.error, "%s", qb_last_error());
        for (char *q = row.error; *q; q++)
            if (*q == '"' || *q == '\\' || *q == '\n') *q = '\'';
        return write(fd, &row, sizeof row) == (ssize_t)sizeof row ? 1 : 2;
    }
    const WeightBytes *b = &m.bytes;
    row.model_size = b->attn + b->mlp + b->lm_head + b->embed + b->norms;
    row.model_n_params = b->n_params_attn + b->n_params_mlp + b->n_params_lm_head + b->n_params_embed + b->n_params_norms;
    /* decode reads every weight once but only one embedding row */
    double per_token = (double)(b->attn + b->mlp + (b->lm_head ? b->lm_head : b->embed) + b->norms);
    double ts[MAX_REPS];
    for (int ti = 0; ti < nt; ti++) {
        for (int k = 0; k < npp + ntg * nnb; k++) {
            BenchRow r = row;
            r.n_threads = threads[ti];
            r.n_prompt = k < npp ? pp[k] : 0;
            r.n_gen = k < npp ? 0 : tg[(k - npp) / nnb];
            r.n_batch = k < npp ? 1 : nb[(k - npp) % nnb];
            if ((r.n_prompt == 0 && r.n_gen == 0)) continue;
            if (r.n_prompt + r.n_gen > m.ctx) m.ctx = r.n_prompt + r.n_gen;
            st = run_test(&m, threads[ti], r.n_prompt, r.n_gen, r.n_batch, reps, ts);
            if (st) {
                snprintf(r.error, sizeof r.error, "%s", qb_last_error());
                for (char *q = r.error; *q; q++)
                    if (*q == '"' || *q == '\\' || *q == '\n') *q = '\''; /* keeps CSV and JSON well-formed */
            } else {
                r.ok = 1;
                stats(ts, reps, &r);
                r.bw_gbs = bw[ti];
                r.bytes_per_token = per_token;
                if (r.n_gen > 0 && bw[ti] > 0) {
                    r.bound_ts = r.n_batch * bw[ti] * 1e9 / per_token;
                    r.bw_ratio = r.avg_ts / r.bound_ts;
                }
            }
            r.peak_rss = qb_peak_rss();
            if (write(fd, &r, sizeof r) != (ssize_t)sizeof r) return 2;
        }
    }
    model_free(&m);
    return 0;
}

static void print_rows(FILE *out, const BenchRow *rows, int n, const char *format, const char *model) {
    if (!strcmp(format, "csv")) {
        fprintf(out, "model,codec,model_size,model_n_params,n_threads,n_prompt,n_gen,n_batch,test,avg_ts,stddev_ts,min_ts,max_ts,"
               "bw_gbs,bytes_per_token,bound_ts,bw_ratio,peak_rss,error\n");
        for (int i = 0; i < n; i++) {
            const BenchRow *r = &rows[i];
            fprintf(out, "%s,\"%s\",%llu,%llu,%d,%d,%d,%d,%s%d,%.3f,%.3f,%.3f,%.3f,%.2f,%.0f,%.3f,%.4f,%llu,\"%s\"\n", model, r->codec,
                   r->model_size, r->model_n_params, r->n_threads, r->n_prompt, r->n_gen, r->n_batch, r->n_prompt ? "pp" : "tg",
                   r->n_prompt ? r->n_prompt : r->n_gen, r->avg_ts, r->stddev_ts, r->min_ts, r->max_ts, r->bw_gbs,
                   r->bytes_per_token, r->bound_ts, r->bw_ratio, r->peak_rss, r->error);
        }
        return;
    }
    if (!strcmp(format, "json")) {
        fprintf(out, "[\n");
        for (int i = 0; i < n; i++) {
            const BenchRow *r = &rows[i];
            fprintf(out, "  {\"model\": \"%s\", \"codec\": \"%s\", \"model_size\": %llu, \"model_n_params\": %llu, "
                   "\"n_threads\": %d, \"n_prompt\": %d, \"n_gen\": %d, \"n_batch\": %d, \"avg_ts\": %.3f, \"stddev_ts\": %.3f, "
                   "\"bw_gbs\": %.2f, \"bytes_per_token\": %.0f, \"bound_ts\": %.3f, \"bw_ratio\": %.4f, "
                   "\"peak_rss\": %llu, \"ok\": %s}%s\n",
                   model, r->codec, r->model_size, r->model_n_params, r->n_threads, r->n_prompt, r->n_gen, r->n_batch, r->avg_ts,
                   r->stddev_ts, r->bw_gbs, r->bytes_per_token, r->bound_ts, r->bw_ratio, r->peak_rss,
                   r->ok ? "true" : "false", i + 1 < n ? "," : "");
        }
        fprintf(out, "]\n");
        return;
    }
    fprintf(out, "| codec | size | params | threads | test | t/s | bound t/s | of bound | read GB/s | peak RSS |\n");
    fprintf(out, "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|\n");
    for (int i = 0; i < n; i++) {
        const BenchRow *r = &rows[i];
        if (!r->ok) {
            fprintf(out, "| %s | | | %d | | failed: %s | | | | |\n", r->codec, r->n_threads, r->error);
            continue;
        }
        char test[32];
        if (r->n_batch > 1) snprintf(test, sizeof test, "tg%d ×%d", r->n_gen, r->n_batch);
        else snprintf(test, sizeof test, "%s%d", r->n_prompt ? "pp" : "tg", r->n_prompt ? r->n_prompt : r->n_gen);
        fprintf(out, "| %s | %.2f MiB | %.2f M | %d | %s | %.2f ± %.2f |", r->codec, r->model_size / 1048576.0,
               r->model_n_params / 1e6, r->n_threads, test, r->avg_ts, r->stddev_ts);
        if (r->n_gen)
            fprintf(out, " %.2f | %.2f | %.1f |", r->bound_ts, r->bw_ratio, r->bw_gbs);
        else
            fprintf(out, " | | %.1f |", r->bw_gbs);
        fprintf(out, " %.0f MiB |\n", r->peak_rss / 1048576.0);
    }
}

static int measure_bw(const int *threads, int nt, size_t bytes, double *bw) {
    int fds[2];
    if (pipe(fds) != 0) return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        close(fds[0]);
        for (int i = 0; i < nt; i++) bw[i] = membw_read_gbs(bytes, threads[i], 5);
        _exit(write(fds[1], bw, (size_t)nt * sizeof *bw) == (ssize_t)(nt * sizeof *bw) ? 0 : 1);
    }
    close(fds[1]);
    ssize_t got = read(fds[0], bw, (size_t)nt * sizeof *bw);
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    return got == (ssize_t)(nt * sizeof *bw) ? 0 : -1;
}

int cmd_bench(int argc, char **argv) {
    EngineArgs ea;
    engine_args_init(&ea);
    const char *codec_list = "fp32", *format = "md", *csv_path = NULL;
    int threads[MAX_LIST] = {opts_default_threads()}, nt = 1;
    int pp[MAX_LIST] = {512}, npp = 1, tg[MAX_LIST] = {128}, ntg = 1, nb[MAX_LIST] = {1}, nnb = 1;
    long long reps = 5, bw_bytes = 1LL << 30;
    static const struct option longopts[] = {{"model", required_argument, 0, 'm'},
                                             {"codec", required_argument, 0, 'c'},
                                             {"kv", required_argument, 0, 'k'},
                                             {"threads", required_argument, 0, 't'},
                                             {"n-prompt", required_argument, 0, 'p'},
                                             {"n-gen", required_argument, 0, 'n'},
                                             {"repetitions", required_argument, 0, 'r'},
                                             {"batch", required_argument, 0, 'b'},
                                             {"bw-bytes", required_argument, 0, 'B'},
                                             {"format", required_argument, 0, 'f'},
                                             {"csv", required_argument, 0, 'C'},
                                             {"help", no_argument, 0, 'h'},
                                             {0, 0, 0, 0}};
    opts_reset();
    int opt;
    while ((opt = getopt_long(argc, argv, "t:p:n:r:b:", longopts, NULL)) != -1) {
        switch (opt) {
        case 'm': ea.model = optarg; break;
        case 'c': codec_list = optarg; break;
        case 'k': ea.mo.kv = optarg; break;
        case 't':
            if ((nt = parse_list(argv[0], "--threads", optarg, 0, 1024, threads)) < 0) return 2;
            for (int i = 0; i < nt; i++) threads[i] = threads[i] ? threads[i] : opts_default_threads(); /* 0 = all cores */
            break;
        case 'p':
            if ((npp = parse_list(argv[0], "--n-prompt", optarg, 0, 1 << 20, pp)) < 0) return 2;
            break;
        case 'n':
            if ((ntg = parse_list(argv[0], "--n-gen", optarg, 0, 1 << 20, tg)) < 0) return 2;
            break;
        case 'b':
            if ((nnb = parse_list(argv[0], "--batch", optarg, 1, 4096, nb)) < 0) return 2;
            break;
        case 'r':
            if (opts_int(argv[0], "--repetitions", optarg, 1, MAX_REPS, &reps)) return 2;
            break;
        case 'B':
            if (opts_int(argv[0], "--bw-bytes", optarg, 1 << 20, 1LL << 36, &bw_bytes)) return 2;
            break;
        case 'f':
            if (strcmp(optarg, "md") && strcmp(optarg, "csv") && strcmp(optarg, "json"))
                return opts_fail(argv[0], usage, "--format: '%s' is not md, csv or json", optarg);
            format = optarg;
            break;
        case 'C': csv_path = optarg; break;
        case 'h': fputs(usage, stdout); return 0;
        default: return opts_bad(usage);
        }
    }
    if (optind < argc) return opts_fail(argv[0], usage, "unexpected argument '%s'", argv[optind]);
    if (!ea.model) return opts_fail(argv[0], usage, "--model is required");
    if (opts_model_dir(argv[0], ea.model)) return 2;
    char specs[MAX_CODECS][96];
    int nc = split_codecs(codec_list, specs, MAX_CODECS);
    if (nc <= 0) return opts_fail(argv[0], usage, "--codec: between 1 and %d specs of under 96 characters", MAX_CODECS);
    /* Check every spec and the kv mode before any long work. */
    for (int i = 0; i < nc; i++) {
        CodecSpec cs;
        if (codec_spec_parse(specs[i], &cs)) return opts_lib_error(argv[0], QB_ERR_INPUT);
    }
    kv_mode kvm;
    if (kv_mode_parse(ea.mo.kv, &kvm)) return opts_lib_error(argv[0], QB_ERR_INPUT);
    Config cfg;
    qb_status st = config_load(ea.model, &cfg);
    if (st) return opts_lib_error(argv[0], st);
    config_free(&cfg);

    /* The bandwidth probe runs in a child of its own, never here: libgomp's thread pool does not survive
     * fork(), so a parent that had run an OpenMP region would leave its children hanging in their first
     * one; and in a child of its own its buffer stays out of the codecs' peak RSS. */
    double bw[MAX_LIST] = {0};
    if (measure_bw(threads, nt, (size_t)bw_bytes, bw)) fprintf(stderr, "bench: bandwidth probe failed\n");
    for (int i = 0; i < nt; i++)
        fprintf(stderr, "bench: read bandwidth with %d thread%s: %.1f GB/s\n", threads[i], threads[i] > 1 ? "s" : "", bw[i]);
    int max_rows = nc * nt * (npp + ntg * nnb);
    BenchRow *rows = calloc((size_t)max_rows, sizeof *rows);
    if (!rows) return opts_fail(argv[0], usage, "out of memory");
    int n_rows = 0, failed = 0;
    fflush(stdout);
    for (int c = 0; c < nc; c++) {
        int fds[2];
        if (pipe(fds) != 0) {
            free(rows);
            return opts_fail(argv[0], usage, "pipe failed");
        }
        fprintf(stderr, "bench: %s …\n", specs[c]);
        pid_t pid = fork();
        if (pid < 0) {
            close(fds[0]);
            close(fds[1]);
            fprintf(stderr, "qinsbench bench: fork failed\n");
            failed = 1;
            break;
        }
        if (pid == 0) {
            close(fds[0]);
            _exit(child_main(fds[1], ea.model, specs[c], ea.mo.kv, threads, nt, pp, npp, tg, ntg, nb, nnb, (int)reps, bw));
        }
        close(fds[1]);
        BenchRow r;
        int got = 0;
        while (n_rows < max_rows && read(fds[0], &r, sizeof r) == (ssize_t)sizeof r) {
            rows[n_rows++] = r;
            got++;
            if (!r.ok) failed = 1;
        }
        close(fds[0]);
        int status;
        struct rusage ru;
        wait4(pid, &status, 0, &ru);
        for (int k = n_rows - got; k < n_rows; k++) rows[k].peak_rss = (unsigned long long)ru.ru_maxrss * 1024ULL;
        if (!WIFEXITED(status) || (WEXITSTATUS(status) != 0 && got == 0)) {
            fprintf(stderr, "bench: %s: the child process died (status %d)\n", specs[c], status);
            failed = 1;
        }
    }
    print_rows(stdout, rows, n_rows, format, ea.model);
    if (csv_path) {
        FILE *f = fopen(csv_path, "w");
        if (!f) {
            fprintf(stderr, "qinsbench bench: %s: cannot write\n", csv_path);
            failed = 1;
        } else {
            print_rows(f, rows, n_rows, "csv", ea.model);
            if (fclose(f) != 0) failed = 1;
        }
    }
    free(rows);
    return failed ? 1 : 0;
}

/* bench_kernels.c — `make bench-kernels`: one matvec (T = 1, the decode step) per codec at each
 * Phi-3.5-mini shape, 1 and 2 threads, against this machine's read bandwidth measured in the same run
 * (a STREAM-like sum over a buffer far larger than the caches) and OpenBLAS sgemv on FP32. "× fp32 time"
 * is relative to the fp32 codec (codec_matmul's own fp32 kernel) at the same shape and thread count.
 *
 * A benchmark, not a test: numbers depend on the machine and its load. Each configuration runs many
 * repetitions and reports the median. Small tensors are replicated (several coded copies, used in turn)
 * so the bytes streamed per call always come from DRAM, not from the last-level cache.
 *
 * "in L2" times the same kernel on the tensor's first rows only (at most L2_BYTES of codes per thread), the
 * same call repeated so the codes stay in each core's L2: the kernel's own ceiling. A kernel whose DRAM
 * rate is near its in-L2 rate is bound by its arithmetic, not by memory; one far below it is waiting on
 * memory (that is how the missing prefetch of the decode kernels showed, kernels.h).
 *
 * Usage: bench_kernels [CSV_PATH] [--quick] */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_util.h"
#include "codec.h"
#include "runtime_env.h"
#include "membw.h"

#define MIN_WORKING_SET (512ull << 20) /* bytes streamed before a buffer is reused: ≫ L3 */
#define L2_BYTES (768u << 10)              /* codes per thread in the in-L2 runs: inside a 1-2 MB L2 */

void openblas_set_num_threads(int);

/* Median of v[0..n) (sorts v; the mean of the middle two when n is even). */
static double median(double *v, int n) {
    stats_sort(v, (size_t)n);
    return stats_quantile_sorted(v, (size_t)n, 0.5);
}

/* Read bandwidth: the engine's STREAM-style read probe (engine/membw.c), best of `reps` over a buffer far
 * larger than the caches: a pure read, so kernels are measured against what memory can deliver, not
 * against another kernel. */
static double read_bw(int nthreads, int reps) { return membw_read_gbs(MIN_WORKING_SET, nthreads, reps); }

typedef struct {
    const char *name;
    int rows, cols;
} shape;
static const shape k_shapes[] = {{"qkv", 9216, 3072}, {"o", 3072, 3072}, {"gate_up", 16384, 3072}, {"down", 3072, 8192}};

/* Times fn over copies, median seconds per call. */
typedef struct {
    CodedTensor *copies;
    int ncopies;
    const float *x;
    float *out;
    int threads;
    int mode; /* 0 codec_matmul, 1 OpenBLAS sgemv */
} job;

static void run_once(job *j, int k) {
    CodedTensor *t = &j->copies[k % j->ncopies];
    if (j->mode == 1) {
        cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)t->rows, (int)t->cols, 1.0f, (const float *)t->codes, (int)t->cols,
                    j->x, 1, 0.0f, j->out, 1);
    } else {
        codec_matmul(j->out, t, j->x, 1, j->threads);
    }
}

static double time_job(job *j, double budget) {
    int cap = 400, n = 0;
    double *t = malloc(sizeof(double) * cap), start = qb_now();
    run_once(j, 0); /* warm-up */
    while (n < cap && (n < 10 || qb_now() - start < budget)) {
        double t0 = qb_now();
        run_once(j, n + 1);
        t[n++] = qb_now() - t0;
    }
    double m = median(t, n);
    free(t);
    return m;
}

int main(int argc, char **argv) {
    /* The environment qinsbench itself runs with (harness/runtime_env.c): passive OpenMP waiting, and
     * OpenBLAS's SkylakeX/Haswell kernels where it would fall back to Prescott's. Without it the sgemm and
     * f32-activation figures here were Prescott's (25-33 GFLOP/s for sgemm on a core that runs 80+). */
    if (qb_runtime_env()) execv("/proc/self/exe", argv);
    const char *csv_path = "results/bench-kernels.csv";
    int quick = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            quick = 1;
        else
            csv_path = argv[i];
    }
    double budget = quick ? 0.1 : 0.4;
    FILE *csv = fopen(csv_path, "w");
    if (!csv) {
        fprintf(stderr, "bench_kernels: cannot write %s\n", csv_path);
        return 2;
    }
    fprintf(csv, "codec,shape,rows,cols,threads,bytes,median_ms,gb_per_s,frac_read_bw,ratio_to_fp32,gb_per_s_in_l2\n");
    printf("SIMD level %d (0 scalar, 1 AVX2, 2 AVX-512). Shared machine: numbers are noisy under load.\n",
           codec_simd_level());
    double bw[3] = {0};
    for (int nt = 1; nt <= 2; nt++) {
        bw[nt] = read_bw(nt, quick ? 5 : 15);
        printf("read bandwidth, %d thread%s: %.1f GB/s\n", nt, nt > 1 ? "s" : "", bw[nt]);
        fprintf(csv, "read-bw,-,0,0,%d,%llu,0,%.3f,1,0\n", nt, (unsigned long long)MIN_WORKING_SET, bw[nt]);
    }
    printf("\n| codec | shape | threads | MB | ms | GB/s | of read BW | × fp32 time | GB/s in L2 |\n");
    printf("|---|---|---|---|---|---|---|---|---|\n");
    float *x = malloc(sizeof(float) * 8192), *out = malloc(sizeof(float) * 16384);
    for (int i = 0; i < 8192; i++) x[i] = frand();
    for (size_t s = 0; s < sizeof k_shapes / sizeof k_shapes[0]; s++) {
        const shape *sh = &k_shapes[s];
        size_t nw = (size_t)sh->rows * sh->cols;
        float *w = malloc(nw * sizeof(float));
        if (!w) return 3;
        for (size_t i = 0; i < nw; i++) w[i] = frand();
        double fp32_ms[3] = {0};
        /* Every codec through codec_matmul (fp32 first: the ratio's base), then OpenBLAS sgemv on the same
         * fp32 weights last — OpenBLAS's threads spin-wait after a call and would slow the OpenMP kernels
         * measured after them on a 2-core machine. */
        for (int c = 0; c <= CODEC_COUNT; c++) {
            codec_id id = c == CODEC_COUNT ? CODEC_FP32 : (codec_id)c;
            int blas = c == CODEC_COUNT;
            CodedTensor base;
            if (codec_tensor_init(&base, id, 0, sh->rows, sh->cols, 0) || codec_encode_rows(&base, 0, sh->rows, w)) {
                fprintf(stderr, "bench_kernels: %s\n", qb_last_error());
                return 3;
            }
            size_t bytes = codec_tensor_bytes(&base);
            int ncopies = (int)((MIN_WORKING_SET + bytes - 1) / bytes);
            if (ncopies < 1) ncopies = 1;
            CodedTensor *copies = calloc((size_t)ncopies, sizeof *copies);
            copies[0] = base;
            for (int k = 1; k < ncopies; k++) {
                copies[k] = base;
                copies[k].codes = qb_aligned_alloc((size_t)base.rows * base.row_stride, "copy");
                memcpy(copies[k].codes, base.codes, (size_t)base.rows * base.row_stride);
            }
            for (int nt = 1; nt <= 2; nt++) {
                if (blas) openblas_set_num_threads(nt);
                job j = {copies, ncopies, x, out, nt, blas};
                double sec = time_job(&j, budget);
                double gbs = (double)bytes / sec / 1e9;
                /* The first rows only (a multiple of 4 rows per thread), the same copy every call. */
                CodedTensor head = copies[0];
                int64_t hr = (int64_t)(L2_BYTES * (size_t)nt / base.row_stride) / (4 * nt) * (4 * nt);
                head.rows = hr < 4 * nt ? 4 * nt : hr < base.rows ? hr : base.rows;
                job jl2 = {&head, 1, x, out, nt, blas};
                double gbs_l2 = (double)head.rows * (double)base.row_stride / time_job(&jl2, budget) / 1e9;
                if (c == CODEC_FP32) fp32_ms[nt] = sec * 1e3;
                const char *label = blas ? "fp32 OpenBLAS sgemv" : codec_name(id);
                printf("| %s | %s %dx%d | %d | %.1f | %.3f | %.1f | %.0f%% | %.2f | %.1f |\n", label, sh->name, sh->rows,
                       sh->cols, nt, bytes / 1e6, sec * 1e3, gbs, 100 * gbs / bw[nt], sec * 1e3 / fp32_ms[nt], gbs_l2);
                fprintf(csv, "%s,%s,%d,%d,%d,%zu,%.4f,%.3f,%.4f,%.4f,%.3f\n", label, sh->name, sh->rows, sh->cols, nt, bytes,
                        sec * 1e3, gbs, gbs / bw[nt], sec * 1e3 / fp32_ms[nt], gbs_l2);
                fflush(stdout);
            }
            for (int k = 1; k < ncopies; k++) free(copies[k].codes);
            codec_tensor_free(&copies[0]);
            free(copies);
        }
        free(w);
    }
    fclose(csv);
    printf("\nCSV: %s\n", csv_path);
    free(x);
    free(out);
    return 0;
}

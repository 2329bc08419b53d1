/* cmd_codec.c — `qinsbench codec --codec SPEC --in IN.safetensors --out OUT.safetensors`: encodes every
 * 2-D float tensor of IN with the codec, writes the decoded FP32 tensors under the same names to OUT (other
 * tensors are copied unchanged), and prints per coded tensor: bits/weight at rest, max abs error, relative
 * RMS error (‖decoded − w‖ / ‖w‖), and the order-0 Shannon entropy of the stored symbols in bits/weight —
 * the best a lossless entropy coder (the claim's Huffman stage) could reach on those symbols, with the
 * scales (per row or per block) added at their stored size.
 *
 * Symbols per codec: fp32 — none (2^32 values; not computed, "-"); bf16, f16 — the 16-bit value; qins,
 * qins-compute — the (stored, sign) pair; qins8, int8 — the byte; q8_0 — the int8 quant; q4_0 — the
 * nibble. Padding of a last block is not counted. The apply= groups of the spec do not matter here.
 *
 * Tensors are converted one at a time inside the writer's fill callback, so memory holds one tensor (plus
 * its coded form), not the checkpoint. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "commands.h"
#include "opts.h"
#include "safetensors.h"

static const char *k_usage =
    "usage: qinsbench codec --codec SPEC --in IN.safetensors --out OUT.safetensors\n"
    "  Encodes every 2-D float tensor of IN with the codec, writes the decoded FP32 tensors (same names) to\n"
    "  OUT, other tensors unchanged, and prints per tensor: bits/weight, max abs error, relative RMS error,\n"
    "  and the Shannon entropy of the stored symbols in bits/weight (scales included at stored size).\n"
    "  --codec SPEC   e.g. qins, qins:scale=tensor, qins8, int8, q8_0, q4_0, bf16, f16, fp32, qins-compute\n"
    "  --in PATH      input safetensors file\n"
    "  --out PATH     output safetensors file (written via PATH.tmp, then renamed)\n"
    "  --help         this text\n";

typedef struct {
    const st_file *f;
    const st_tensor *t;
    CodecSpec spec;
    /* results */
    double bits, max_abs, rel_rms, entropy;
    int printed;
} job;

/* Order-0 entropy (bits/symbol) of a histogram. */
static double entropy_of(const uint64_t *hist, size_t nbins, uint64_t total) {
    double h = 0;
    for (size_t i = 0; i < nbins; i++) {
        if (!hist[i]) continue;
        double p = (double)hist[i] / (double)total;
        h -= p * log2(p);
    }
    return h;
}

/* Entropy of the stored symbols of a coded tensor + side information, in bits per real weight; -1 when
 * not computed (fp32). */
static double stored_entropy(const CodedTensor *ct) {
    if (ct->id == CODEC_FP32) return -1;
    uint64_t *hist = calloc(65536, sizeof(uint64_t));
    if (!hist) return -1;
    size_t nbins = 256;
    double side_bits = 0;
    const uint64_t n = (uint64_t)ct->rows * (uint64_t)ct->cols;
    for (int64_t r = 0; r < ct->rows; r++) {
        const uint8_t *row = ct->codes + (size_t)r * ct->row_stride;
        switch (ct->id) {
        case CODEC_BF16:
        case CODEC_F16:
        case CODEC_QINS:
        case CODEC_QINS_COMPUTE:
            nbins = 65536;
            for (int64_t i = 0; i < ct->cols; i++) hist[row[2 * i] | (row[2 * i + 1] << 8)]++;
            break;
        case CODEC_QINS8:
        case CODEC_INT8:
            for (int64_t i = 0; i < ct->cols; i++) hist[row[i]]++;
            break;
        case CODEC_Q8_0: /* 34-byte blocks: f16 d, 32 quants */
            for (int64_t i = 0; i < ct->cols; i++) hist[row[(i / 32) * 34 + 2 + i % 32]]++;
            side_bits += 16.0 * (double)(ct->cols_padded / 32);
            break;
        case CODEC_Q4_0: /* 18-byte blocks: f16 d, 16 bytes; byte j holds weights j (low) and j+16 (high) */
            nbins = 16;
            for (int64_t i = 0; i < ct->cols; i++) {
                uint8_t b = row[(i / 32) * 18 + 2 + (i % 32) % 16];
                hist[(i % 32) < 16 ? (b & 0xf) : (b >> 4)]++;
            }
            side_bits += 16.0 * (double)(ct->cols_padded / 32);
            break;
        default: break;
        }
        if (ct->traits->has_row_scale) side_bits += 32;
    }
    double h = entropy_of(hist, nbins, n);
    free(hist);
    return h + side_bits / (double)n;
}

static qb_status fill(void *ctx, void *dst, uint64_t nbytes) {
    job *j = ctx;
    const st_tensor *t = j->t;
    const int64_t rows = t->shape[0], cols = t->shape[1];
    float *w = dst;
    if (nbytes != (uint64_t)rows * (uint64_t)cols * sizeof(float))
        return qb_errorf(QB_ERR_INTERNAL, "size mismatch in codec fill");
    qb_status st = st_to_f32(t, 0, t->numel, w);
    if (st) return st;
    st_release(j->f, t);
    float amax = 0;
    for (uint64_t i = 0; i < t->numel; i++) {
        if (!isfinite(w[i]))
            return qb_errorf(QB_ERR_INPUT, "row %lld, column %lld: weight is %s", (long long)(i / (uint64_t)cols),
                             (long long)(i % (uint64_t)cols), isnan(w[i]) ? "NaN" : "Inf");
        amax = fmaxf(amax, fabsf(w[i]));
    }
    CodedTensor ct;
    st = codec_tensor_init(&ct, j->spec.id, j->spec.scale_per_tensor, rows, cols, amax);
    if (st) return st;
    st = codec_encode_rows(&ct, 0, rows, w);
    float *row = st ? NULL : malloc((size_t)cols * sizeof(float));
    if (!st && !row) st = qb_errorf(QB_ERR_NOMEM, "out of memory for one row");
    if (st) {
        codec_tensor_free(&ct);
        return st;
    }
    double err2 = 0, ref2 = 0, max_abs = 0;
    for (int64_t r = 0; r < rows; r++) {
        float *wr = w + (size_t)r * cols;
        codec_decode_row(&ct, r, row);
        for (int64_t i = 0; i < cols; i++) {
            double e = (double)row[i] - wr[i];
            err2 += e * e;
            ref2 += (double)wr[i] * wr[i];
            if (fabs(e) > max_abs) max_abs = fabs(e);
        }
        memcpy(wr, row, (size_t)cols * sizeof(float));
    }
    j->bits = codec_bits_per_weight(&ct);
    j->max_abs = max_abs;
    j->rel_rms = ref2 > 0 ? sqrt(err2 / ref2) : (err2 > 0 ? INFINITY : 0);
    j->entropy = stored_entropy(&ct);
    codec_tensor_free(&ct);
    free(row);
    char ent[32];
    if (j->entropy < 0)
        snprintf(ent, sizeof ent, "-");
    else
        snprintf(ent, sizeof ent, "%.3f", j->entropy);
    printf("| %s | %lldx%lld | %.4f | %.4g | %.4g | %s |\n", t->name, (long long)rows, (long long)cols, j->bits,
           j->max_abs, j->rel_rms, ent);
    fflush(stdout);
    j->printed = 1;
    return QB_OK;
}

static int is_float(st_dtype d) {
    return d == ST_F32 || d == ST_F16 || d == ST_BF16;
}

int cmd_codec(int argc, char **argv) {
    static const struct option longopts[] = {
        {"codec", required_argument, 0, 'c'}, {"in", required_argument, 0, 'i'}, {"out", required_argument, 0, 'o'},
        {"help", no_argument, 0, 'h'},        {0, 0, 0, 0},
    };
    const char *spec_text = NULL, *in = NULL, *out = NULL;
    opts_reset();
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': spec_text = optarg; break;
        case 'i': in = optarg; break;
        case 'o': out = optarg; break;
        case 'h': fputs(k_usage, stdout); return 0;
        default: return opts_bad(k_usage);
        }
    }
    if (optind < argc) return opts_fail(argv[0], k_usage, "unexpected argument '%s'", argv[optind]);
    if (!spec_text) return opts_fail(argv[0], k_usage, "--codec is required");
    if (!in) return opts_fail(argv[0], k_usage, "--in is required");
    if (!out) return opts_fail(argv[0], k_usage, "--out is required");
    if (qb_check_not_input(out, in)) return opts_lib_error(argv[0], QB_ERR_INPUT);
    CodecSpec spec;
    qb_status st = codec_spec_parse(spec_text, &spec);
    if (st) return opts_lib_error(argv[0], st);

    st_file f;
    st = st_open(in, &f);
    if (st) return opts_lib_error(argv[0], st);
    st_writer *w = st_writer_new();
    job *jobs = calloc((size_t)(f.n_tensors ? f.n_tensors : 1), sizeof *jobs);
    if (!w || !jobs) {
        st_writer_free(w);
        free(jobs);
        st_close(&f);
        return opts_lib_error(argv[0], QB_ERR_NOMEM);
    }
    int ncoded = 0;
    for (int i = 0; i < f.n_tensors && !st; i++) {
        const st_tensor *t = &f.tensors[i];
        if (t->ndim == 2 && is_float(t->dtype) && t->numel > 0) {
            jobs[i] = (job){&f, t, spec, 0, 0, 0, 0, 0};
            st = st_writer_add_lazy(w, t->name, ST_F32, 2, t->shape, fill, &jobs[i]);
            ncoded++;
        } else {
            st = st_writer_add(w, t->name, t->dtype, t->ndim, t->shape, t->data);
        }
    }
    char canon[128];
    codec_spec_format(&spec, canon, sizeof canon);
    if (!st) st = st_writer_meta(w, "qinsbench_codec", canon);
    if (!st) {
        printf("codec %s: %d of %d tensors coded (%s)\n\n", canon, ncoded, f.n_tensors, in);
        printf("| tensor | shape | bits/weight | max abs err | rel RMS err | entropy bits/weight |\n");
        printf("|---|---|---|---|---|---|\n");
        fflush(stdout);
        st = st_writer_finish(w, out);
    }
    st_writer_free(w);
    free(jobs);
    st_close(&f);
    if (st) {
        qb_error_prefix(in);
        return opts_lib_error(argv[0], st);
    }
    printf("\nwrote %s\n", out);
    return 0;
}

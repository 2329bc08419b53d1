/* cmd_codec.c — `qinsbench codec --codec SPEC --in IN.safetensors --out OUT.safetensors`: encodes every
 * 2-D float tensor of IN with the codec, writes the decoded FP32 tensors under the same names to OUT (other
 * tensors are copied unchanged), and prints per coded tensor: bits/weight at rest, max abs error, relative
 * RMS error (‖decoded − w‖ / ‖w‖), and the order-0 Shannon entropy of the stored symbols in bits/weight —
 * the best a lossless entropy coder (the claim's Huffman stage) could reach on those symbols, with the
 * scales (per row or per block) added at their stored size.
 *
 * The symbols, the side information and the error statistics come from the codec's row of the table
 * (engine/codec_stats.c): the codec command knows no codec by name. The apply= groups of the spec do not
 * matter here.
 *
 * Tensors are converted one at a time inside the writer's fill callback, so memory holds one tensor (plus
 * its coded form), not the checkpoint. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "codec_stats.h"
#include "commands.h"
#include "opts.h"
#include "safetensors.h"

static const char k_usage_head[] =
    "usage: qinsbench codec --codec SPEC --in IN.safetensors --out OUT.safetensors\n"
    "  Encodes every 2-D float tensor of IN with the codec, writes the decoded FP32 tensors (same names) to\n"
    "  OUT, other tensors unchanged, and prints per tensor: bits/weight, max abs error, relative RMS error,\n"
    "  mean element-wise relative error, the Shannon entropy of the stored symbols in bits/weight (scales\n"
    "  included at stored size) and, for the QINS family, the fraction of stored codes > 200.\n"
    "  --codec SPEC   NAME[:OPTION=VALUE,...]: for the codecs that have them scale=row|tensor|N,\n"
    "                 round=round|floor (apply= and act= are for model commands: here every 2-D tensor is\n"
    "                 coded and no product is computed). act= (model commands) sets the product's arithmetic:\n"
    "                 f32 activations (default: the codec alone) or llama.cpp's (act=q8 / act=bf16, where\n"
    "                 marked below). Codecs:\n";
static const char k_usage_tail[] =
    "  --in PATH      input safetensors file\n"
    "  --out PATH     output safetensors file (written via PATH.tmp, then renamed)\n"
    "  --help         this text\n";

/* The canonical spec without its apply= option (which this command does not use), in place. */
static const char *canon_no_apply(char *canon) {
    char *a = strstr(canon, "apply=");
    if (!a) return canon;
    char *end = strchr(a, ',');
    if (end) memmove(a, end + 1, strlen(end + 1) + 1);
    else {
        *a = 0;
        size_t n = strlen(canon);
        if (n && (canon[n - 1] == ',' || canon[n - 1] == ':')) canon[n - 1] = 0;
    }
    return canon;
}

/* The usage text with the codec list drawn from the table. */
static const char *usage(void) {
    static char buf[4096];
    size_t k = (size_t)snprintf(buf, sizeof buf, "%s", k_usage_head);
    for (int i = 0; i < CODEC_COUNT && k < sizeof buf; i++) {
        const codec_traits *tr = &codec_table[i];
        int w = snprintf(buf + k, sizeof buf - k, "                   %-13s %g bits/weight%s%s%s\n", tr->name,
                         8.0 * (double)tr->block_bytes / tr->block_size, tr->has_row_scale ? " + an f32 scale per row" : "",
                         tr->options & CODEC_OPT_ACT_Q8 ? "; act=q8" : "", tr->options & CODEC_OPT_ACT_BF16 ? "; act=bf16" : "");
        if (w > 0) k += (size_t)w;
    }
    if (k < sizeof buf) snprintf(buf + k, sizeof buf - k, "%s", k_usage_tail);
    return buf;
}

typedef struct {
    const st_file *f;
    const st_tensor *t;
    CodecSpec spec;
    int printed;
} job;

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
    st = codec_tensor_init(&ct, j->spec.id, &j->spec.params, rows, cols, amax);
    if (st) return st;
    CodecStats cs;
    codec_stats_init(&cs);
    st = codec_encode_rows(&ct, 0, rows, w);
    if (!st) st = codec_stats_add(&cs, &ct, w);
    for (int64_t r = 0; r < rows && !st; r++) codec_decode_row(&ct, r, w + (size_t)r * (size_t)cols);
    codec_tensor_free(&ct);
    if (st) return st;
    char ent[32], sparse[32];
    double h = codec_stats_entropy_bits(&cs), sp = codec_stats_sparse_frac(&cs);
    if (isnan(h)) snprintf(ent, sizeof ent, "-");
    else snprintf(ent, sizeof ent, "%.3f", h);
    if (isnan(sp)) snprintf(sparse, sizeof sparse, "-");
    else snprintf(sparse, sizeof sparse, "%.2f%%", 100 * sp);
    printf("| %s | %lldx%lld | %.4f | %.4g | %.4g | %.4g | %s | %s |\n", t->name, (long long)rows, (long long)cols,
           codec_stats_bits(&cs), cs.max_abs, codec_stats_rel_rms(&cs), codec_stats_mean_rel(&cs), ent, sparse);
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
        case 'h': fputs(usage(), stdout); return 0;
        default: return opts_bad(usage());
        }
    }
    if (optind < argc) return opts_fail(argv[0], usage(), "unexpected argument '%s'", argv[optind]);
    if (!spec_text) return opts_fail(argv[0], usage(), "--codec is required");
    if (!in) return opts_fail(argv[0], usage(), "--in is required");
    if (!out) return opts_fail(argv[0], usage(), "--out is required");
    if (qb_check_not_input(out, in)) return opts_lib_error(argv[0], QB_ERR_INPUT);
    CodecSpec spec;
    qb_status st = codec_spec_parse(spec_text, &spec);
    if (st) return opts_lib_error(argv[0], st);
    /* apply= picks tensor groups of a loaded model; this command codes every 2-D float tensor of a file, so
     * a spec that names groups would make the header claim what the work does not do. */
    if (strstr(spec_text, "apply="))
        return opts_fail(argv[0], usage(), "apply= selects tensor groups of a model; `codec` codes every 2-D float "
                                           "tensor of --in, so leave apply= out of --codec");
    if (spec.params.act != CODEC_ACT_F32)
        return opts_fail(argv[0], usage(), "act= sets the arithmetic of a model's products; `codec` computes none (it "
                                           "writes decoded weights), so leave act= out of --codec");

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
            jobs[i] = (job){&f, t, spec, 0};
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
        printf("codec %s on every 2-D float tensor: %d of %d tensors coded (%s)\n\n", canon_no_apply(canon), ncoded,
               f.n_tensors, in);
        printf("| tensor | shape | bits/weight | max abs err | rel RMS err | mean rel err | entropy bits/weight | "
               "stored > %d |\n", CODEC_SPARSE_STORED);
        printf("|---|---|---|---|---|---|---|---|\n");
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

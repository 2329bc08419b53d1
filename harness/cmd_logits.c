/* cmd_logits.c — `qinsbench logits`: one forward pass over given ids, logits written to safetensors.
 * The held-out checks of the engine run through this command, so it stays small and exact. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "engine_opts.h"
#include "opts.h"
#include "safetensors.h"

static const char *usage =
    "usage: qinsbench logits --model DIR --ids 1,2,3 --out F.safetensors [--hidden] [engine options]\n"
    "Runs one forward pass over the ids (positions 0…T−1) and writes the F32 tensor `logits` [T, vocab]\n"
    "(and with --hidden, `hidden` [layers+1, T, hidden] = transformers' output_hidden_states).\n"
    "Options:\n"
    "  --ids LIST         comma-separated token ids\n"
    "  --out FILE         output safetensors file (written whole or not at all)\n"
    "  --hidden           also write the hidden states\n" ENGINE_USAGE "  --help             this text\n";

int cmd_logits(int argc, char **argv) {
    EngineArgs ea;
    engine_args_init(&ea);
    const char *ids_text = NULL, *out = NULL;
    int want_hidden = 0;
    static const struct option longopts[] = {ENGINE_LONGOPTS,
                                             {"ids", required_argument, 0, 'i'},
                                             {"out", required_argument, 0, 'o'},
                                             {"hidden", no_argument, 0, 'H'},
                                             {"help", no_argument, 0, 'h'},
                                             {0, 0, 0, 0}};
    opts_reset();
    int opt, r;
    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if ((r = engine_opt(argv[0], opt, optarg, &ea))) {
            if (r == 2) return 2;
            continue;
        }
        switch (opt) {
        case 'i': ids_text = optarg; break;
        case 'o': out = optarg; break;
        case 'H': want_hidden = 1; break;
        case 'h': fputs(usage, stdout); return 0;
        default: return opts_bad(usage);
        }
    }
    if (optind < argc) return opts_fail(argv[0], usage, "unexpected argument '%s'", argv[optind]);
    if (!ea.model || !ids_text || !out) return opts_fail(argv[0], usage, "--model, --ids and --out are required");
    if (qb_check_not_input(out, ea.model)) return opts_lib_error(argv[0], QB_ERR_INPUT);
    int *ids = NULL, n = 0;
    qb_status st = qb_parse_int_list(ids_text, "--ids", 1LL << 30, &ids, &n);
    if (st) return opts_lib_error(argv[0], st);

    Model m;
    RunState s;
    if ((st = model_load(ea.model, &ea.mo, &m))) {
        free(ids);
        return opts_lib_error(argv[0], st);
    }
    const Config *c = &m.config;
    if (ea.mo.ctx == 0 && n > m.ctx) m.ctx = n <= c->max_pos ? n : m.ctx; /* one pass needs n slots */
    float *logits = NULL, *hidden = NULL;
    if ((st = runstate_build(&s, &m))) goto done_model;
    logits = qb_malloc((size_t)n * (size_t)c->vocab * sizeof(float), "logits");
    if (want_hidden) hidden = qb_malloc((size_t)(c->n_layers + 1) * (size_t)n * (size_t)c->hidden * sizeof(float), "hidden");
    if (!logits || (want_hidden && !hidden)) {
        st = QB_ERR_NOMEM;
        goto done;
    }
    if ((st = model_forward(&m, &s, ids, n, logits, 1, hidden))) goto done;
    st_writer *w = st_writer_new();
    if (!w) {
        st = qb_errorf(QB_ERR_NOMEM, "out of memory");
        goto done;
    }
    int64_t shape[3] = {n, c->vocab, 0};
    st = st_writer_add(w, "logits", ST_F32, 2, shape, logits);
    if (!st && want_hidden) {
        int64_t hs[3] = {c->n_layers + 1, n, c->hidden};
        st = st_writer_add(w, "hidden", ST_F32, 3, hs, hidden);
    }
    if (!st) st = st_writer_meta(w, "producer", "qinsbench logits");
    if (!st) st = st_writer_meta(w, "codec", ea.mo.codec);
    if (!st) st = st_writer_finish(w, out);
    st_writer_free(w);
done:
    runstate_free(&s);
done_model:
    free(logits);
    free(hidden);
    model_free(&m);
    free(ids);
    return st ? opts_lib_error(argv[0], st) : 0;
}

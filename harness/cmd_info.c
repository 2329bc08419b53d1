/* cmd_info.c — `qinsbench info`: what a checkpoint is and what it costs under a codec: config summary,
 * parameter count, exact bytes at rest by tensor group, bits per weight, KV cache bytes, load time and
 * peak RSS (so the memory claims can be checked on the real shapes). */
#include <stdio.h>
#include <stdlib.h>

#include "commands.h"
#include "engine_opts.h"
#include "opts.h"

static const char *usage =
    "usage: qinsbench info --model DIR [--codec SPEC] [--kv MODE] [--ctx N] [--threads N]\n"
    "Loads the model under the codec and prints its config, parameters, exact bytes by tensor group,\n"
    "bits per weight (codes, scales and padding included), KV cache bytes at --ctx, load time, peak RSS.\n"
    "Options:\n" ENGINE_USAGE "  --help             this text\n";

static void row(const char *group, uint64_t bytes, uint64_t params) {
    if (params)
        printf("  %-8s %14llu bytes  %12llu params  %7.4f bits/weight\n", group, (unsigned long long)bytes,
               (unsigned long long)params, 8.0 * (double)bytes / (double)params);
    else
        printf("  %-8s %14llu bytes  %12s\n", group, (unsigned long long)bytes, "(shared)");
}

int cmd_info(int argc, char **argv) {
    EngineArgs ea;
    engine_args_init(&ea);
    static const struct option longopts[] = {ENGINE_LONGOPTS, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    opts_reset();
    int opt, r;
    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if ((r = engine_opt(argv[0], opt, optarg, &ea))) {
            if (r == 2) return 2;
            continue;
        }
        if (opt == 'h') {
            fputs(usage, stdout);
            return 0;
        }
        return opts_bad(usage);
    }
    if (optind < argc) return opts_fail(argv[0], usage, "unexpected argument '%s'", argv[optind]);
    if (!ea.model) return opts_fail(argv[0], usage, "--model is required");
    Model m;
    double t0 = qb_now();
    qb_status st = model_load(ea.model, &ea.mo, &m);
    if (st) return opts_lib_error(argv[0], st);
    double t_load = qb_now() - t0;
    RunState s;
    if ((st = runstate_build(&s, &m))) {
        model_free(&m);
        return opts_lib_error(argv[0], st);
    }
    const Config *c = &m.config;
    char spec[160];
    codec_spec_format(&m.codec, spec, sizeof spec);
    printf("model      %s\n", ea.model);
    printf("shape      %d layers, hidden %d, intermediate %d, %d heads × %d, %d KV heads, vocab %d\n", c->n_layers,
           c->hidden, c->intermediate, c->n_heads, c->head_dim, c->n_kv_heads, c->vocab);
    printf("rope       theta %g, rotary dim %d%s", c->rope_theta, c->rotary_dim, c->longrope ? ", longrope" : "");
    if (c->longrope)
        printf(" (original_max %d, max %d, attention factor %.6f)", c->orig_max_pos, c->max_pos, c->attention_factor);
    printf("\n");
    printf("other      rms_norm_eps %g, tie_word_embeddings %s, sliding_window %d, stored as %s\n", (double)c->rms_eps,
           c->tie_embeddings ? "true" : "false", c->sliding_window, c->torch_dtype[0] ? c->torch_dtype : "?");
    printf("tokens     bos %d, eos", c->bos_id);
    for (int i = 0; i < c->n_eos; i++) printf(" %d", c->eos_ids[i]);
    printf("\n");
    const WeightBytes *b = &m.bytes;
    uint64_t params = b->n_params_attn + b->n_params_mlp + b->n_params_lm_head + b->n_params_embed + b->n_params_norms;
    uint64_t bytes = b->attn + b->mlp + b->lm_head + b->embed + b->norms;
    printf("codec      %s\n", spec);
    printf("weights    %llu params, %llu bytes at rest (%.2f MiB)\n", (unsigned long long)params, (unsigned long long)bytes,
           (double)bytes / 1048576.0);
    row("attn", b->attn, b->n_params_attn);
    row("mlp", b->mlp, b->n_params_mlp);
    row("lm_head", b->lm_head, b->n_params_lm_head);
    row("embed", b->embed, b->n_params_embed);
    row("norms", b->norms, b->n_params_norms);
    row("total", bytes, params);
    printf("kv cache   %s, %d tokens: %llu bytes (%.2f MiB)\n", kv_mode_name(m.kv), m.ctx, (unsigned long long)s.kv_bytes,
           (double)s.kv_bytes / 1048576.0);
    printf("load time  %.2f s (%d threads)\n", t_load, m.threads);
    printf("peak RSS   %llu bytes (%.1f MiB)\n", (unsigned long long)qb_peak_rss(), (double)qb_peak_rss() / 1048576.0);
    runstate_free(&s);
    model_free(&m);
    return 0;
}

/* cmd_verify.c — `qinsbench verify`: runs every case of a reference file; exit 1 on any mismatch. */
#include <stdio.h>
#include <stdlib.h>

#include "commands.h"
#include "engine_opts.h"
#include "opts.h"
#include "verify.h"

static const char *usage =
    "usage: qinsbench verify --model DIR [--reference F] [--tol X] [engine options]\n"
    "Runs the cases of a reference file (default DIR/reference.safetensors): short and long logits (and\n"
    "hidden states), greedy and crossing tokens. Prints max relative logit error and token agreement per\n"
    "case; exit 1 on any mismatch.\n"
    "Options:\n"
    "  --reference F      reference.safetensors to check against\n"
    "  --tol X            max|Δ| / max|ref| allowed for logits and hidden states (default 1e-4)\n"
    "  --thin-margin X    greedy steps are checked up to the first reference margin below X (default 1e-3)\n" ENGINE_USAGE
    "  --help             this text\n";

int cmd_verify(int argc, char **argv) {
    EngineArgs ea;
    engine_args_init(&ea);
    const char *ref = NULL;
    VerifyOptions vo = {.tol = 1e-4, .thin_margin = 1e-3};
    static const struct option longopts[] = {ENGINE_LONGOPTS,
                                             {"reference", required_argument, 0, 'r'},
                                             {"tol", required_argument, 0, 't'},
                                             {"thin-margin", required_argument, 0, 'm'},
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
        case 'r': ref = optarg; break;
        case 't':
            if (opts_double(argv[0], "--tol", optarg, 0, 1e6, &vo.tol)) return 2;
            break;
        case 'm':
            if (opts_double(argv[0], "--thin-margin", optarg, 0, 1e6, &vo.thin_margin)) return 2;
            break;
        case 'h': fputs(usage, stdout); return 0;
        default: return opts_bad(usage);
        }
    }
    if (optind < argc) return opts_fail(argv[0], usage, "unexpected argument '%s'", argv[optind]);
    if (!ea.model) return opts_fail(argv[0], usage, "--model is required");
    char *ref_path = ref ? NULL : qb_path_join(ea.model, "reference.safetensors");
    Model m;
    qb_status st = model_load(ea.model, &ea.mo, &m);
    if (st) {
        free(ref_path);
        return opts_lib_error(argv[0], st);
    }
    VerifyResult res;
    st = verify_model(&m, ref ? ref : ref_path, &vo, &res);
    model_free(&m);
    free(ref_path);
    if (st) return opts_lib_error(argv[0], st);
    printf("model %s, codec %s, kv %s\n", ea.model, ea.mo.codec, ea.mo.kv);
    verify_print(stdout, &res, &vo);
    return res.pass ? 0 : 1;
}

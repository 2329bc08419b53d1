/* engine_opts.c — see engine_opts.h. */
#include "engine_opts.h"

#include <stdio.h>
#include <string.h>

#include "opts.h"

void engine_args_init(EngineArgs *ea) {
    memset(ea, 0, sizeof *ea);
    ea->mo.codec = "fp32";
    ea->mo.kv = "f32";
}

int engine_opt(const char *cmd, int opt, const char *arg, EngineArgs *ea) {
    long long v;
    switch (opt) {
    case EO_MODEL: ea->model = arg; return opts_model_dir(cmd, arg) ? 2 : 1;
    case EO_CODEC: ea->mo.codec = arg; return 1;
    case EO_KV: ea->mo.kv = arg; return 1;
    case EO_THREADS:
        if (opts_int(cmd, "--threads", arg, 0, 1024, &v)) return 2;
        ea->mo.threads = v ? (int)v : opts_default_threads(); /* 0 = all online cores, as in every command */
        return 1;
    case EO_CTX:
        if (opts_int(cmd, "--ctx", arg, 1, 1 << 30, &v)) return 2;
        ea->mo.ctx = (int)v;
        return 1;
    case EO_ROPE:
        if (!strcmp(arg, "keep")) ea->mo.rope_recompute = 0;
        else if (!strcmp(arg, "recompute")) ea->mo.rope_recompute = 1;
        else {
            fprintf(stderr, "qinsbench %s: --rope-crossing: '%s' is not keep or recompute\n", cmd, arg);
            return 2;
        }
        return 1;
    default: return 0;
    }
}

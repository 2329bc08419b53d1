/* cmd_synth.c — `qinsbench synth`: writes a synthetic Hugging Face Phi-3 checkpoint directory with random
 * weights (the options → engine/synth.c, which does the work). */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "opts.h"
#include "synth.h"

static const char usage[] =
    "usage: qinsbench synth --preset NAME --out DIR [--layers N] [--dtype bf16|f16|f32] [--seed S]\n"
    "                       [--shard-size BYTES] [--tokenizer FILE] [--force] [--quiet]\n"
    "                       [--config-only]\n"
    "\n"
    "Writes a complete Hugging Face checkpoint directory (config.json, generation_config.json, safetensors —\n"
    "sharded with model.safetensors.index.json when larger than --shard-size — and tokenizer.json if given)\n"
    "with random weights initialised as transformers initialises Phi-3: normal(0, initializer_range), norms 1.\n"
    "The same options give byte-identical files.\n"
    "\n"
    "  --preset NAME        toy (3 layers, hidden 256, 5000-token vocabulary) or phi3.5-mini\n"
    "                       (Phi-3.5-mini-instruct's exact shapes and options; 7.6 GB in bf16)\n"
    "  --out DIR            output directory, created if missing; must be empty unless --force\n"
    "  --layers N           override the preset's layer count (1..1000); phi3.5-mini --layers 4 keeps the\n"
    "                       real per-layer shapes and loads in seconds\n"
    "  --dtype T            bf16 (default), f16 or f32\n"
    "  --seed S             random seed (default 0)\n"
    "  --shard-size BYTES   largest shard's tensor bytes (default 4000000000)\n"
    "  --tokenizer FILE     copy this tokenizer.json into the directory\n"
    "  --force              write into a non-empty directory, replacing the files synth writes\n"
    "  --quiet              no progress lines\n"
    "  --config-only        write the JSON files (and tokenizer) but no weights\n"
    "  --help               this text\n";

int cmd_synth(int argc, char **argv) {
    const char *cmd = "synth";
    static const struct option longopts[] = {
        {"preset", required_argument, 0, 'p'},     {"out", required_argument, 0, 'o'},
        {"layers", required_argument, 0, 'l'},     {"dtype", required_argument, 0, 'd'},
        {"seed", required_argument, 0, 's'},       {"shard-size", required_argument, 0, 'S'},
        {"tokenizer", required_argument, 0, 't'},  {"force", no_argument, 0, 'f'},
        {"quiet", no_argument, 0, 'q'},            {"help", no_argument, 0, 'h'},
        {"config-only", no_argument, 0, 'c'},
        {0, 0, 0, 0},
    };
    synth_options o = {.dtype = ST_BF16};
    long long v;
    int c;
    opts_reset();
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'p': o.preset = optarg; break;
        case 'o': o.out_dir = optarg; break;
        case 't': o.tokenizer = optarg; break;
        case 'f': o.force = 1; break;
        case 'q': o.quiet = 1; break;
        case 'c': o.config_only = 1; break;
        case 'l':
            if (opts_int(cmd, "--layers", optarg, 1, 1000, &v)) return 2;
            o.layers = (int)v;
            break;
        case 's':
            if (opts_int(cmd, "--seed", optarg, 0, 9223372036854775807LL, &v)) return 2;
            o.seed = (uint64_t)v;
            break;
        case 'S':
            if (opts_int(cmd, "--shard-size", optarg, 1, 9223372036854775807LL, &v)) return 2;
            o.shard_size = (uint64_t)v;
            break;
        case 'd':
            if (!strcmp(optarg, "bf16")) o.dtype = ST_BF16;
            else if (!strcmp(optarg, "f16")) o.dtype = ST_F16;
            else if (!strcmp(optarg, "f32")) o.dtype = ST_F32;
            else return opts_fail(cmd, usage, "--dtype: '%s' is not bf16, f16 or f32", optarg);
            break;
        case 'h': fputs(usage, stdout); return 0;
        default: return opts_bad(usage);
        }
    }
    if (optind < argc) return opts_fail(cmd, usage, "unexpected argument '%s'", argv[optind]);
    if (!o.preset) return opts_fail(cmd, usage, "--preset is required (%s)", synth_preset_names());
    if (!synth_find_preset(o.preset))
        return opts_fail(cmd, usage, "--preset: unknown preset '%s' (known: %s)", o.preset, synth_preset_names());
    if (!o.out_dir) return opts_fail(cmd, usage, "--out is required");
    /* the tokenizer is copied into the directory, which --force clears first */
    if (o.tokenizer && qb_check_not_input(o.tokenizer, o.out_dir)) return opts_lib_error(cmd, QB_ERR_INPUT);

    double t0 = qb_now();
    synth_result r;
    qb_status st = synth_write(&o, &r);
    if (st) return opts_lib_error(cmd, st);
    if (o.config_only) {
        printf("synth: wrote %s: preset %s, config files only (no weights)\n", o.out_dir, o.preset);
        return 0;
    }
    printf("synth: wrote %s: preset %s, %d tensors, %llu parameters, %.3f GB in %d shard%s, %.1f s\n", o.out_dir,
           o.preset, r.n_tensors, (unsigned long long)r.n_params, r.total_bytes / 1e9, r.n_shards,
           r.n_shards == 1 ? "" : "s", qb_now() - t0);
    return 0;
}

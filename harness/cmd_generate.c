/* cmd_generate.c — `qinsbench generate`: greedy decoding from token ids or a text prompt (optionally in
 * the Phi-3 chat format), streaming text as tokens arrive or printing the new ids. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "engine_opts.h"
#include "opts.h"
#include "tokenizer.h"

static const char *usage =
    "usage: qinsbench generate --model DIR (--ids 1,2,3 | --prompt TEXT [--chat]) [options]\n"
    "Greedy decoding (the only mode: qinsbench measures codecs, not samplers). Stops at an eos id of\n"
    "config.json / generation_config.json unless --ignore-eos.\n"
    "Options:\n"
    "  --ids LIST         prompt as comma-separated token ids\n"
    "  --prompt TEXT      prompt as text (needs the model's tokenizer.json)\n"
    "  --chat             wrap the prompt in the Phi-3 chat format (<|user|>…<|end|><|assistant|>)\n"
    "  --system TEXT      system message for --chat\n"
    "  --max-new N        new tokens at most (default 64)\n"
    "  --greedy           accepted for compatibility (greedy is always on)\n"
    "  --ignore-eos       do not stop at eos ids\n"
    "  --print-ids        print the new ids, space-separated, instead of text\n" ENGINE_USAGE
    "  --help             this text\n";

typedef struct {
    TokStream *stream;
    qb_status st;
} StreamCtx;

/* Prints each token's text as soon as it is complete UTF-8. */
static int stream_token(void *ctx, int token) {
    StreamCtx *sc = ctx;
    char *text = NULL;
    size_t len = 0;
    sc->st = tok_stream_push(sc->stream, token, &text, &len);
    if (sc->st) return 1;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    free(text);
    return 0;
}

int cmd_generate(int argc, char **argv) {
    EngineArgs ea;
    engine_args_init(&ea);
    const char *ids_text = NULL, *prompt = NULL, *system = NULL;
    int chat = 0, ignore_eos = 0, print_ids = 0;
    long long max_new = 64;
    static const struct option longopts[] = {ENGINE_LONGOPTS,
                                             {"ids", required_argument, 0, 'i'},
                                             {"prompt", required_argument, 0, 'p'},
                                             {"system", required_argument, 0, 's'},
                                             {"chat", no_argument, 0, 'c'},
                                             {"max-new", required_argument, 0, 'n'},
                                             {"greedy", no_argument, 0, 'g'},
                                             {"ignore-eos", no_argument, 0, 'e'},
                                             {"print-ids", no_argument, 0, 'P'},
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
        case 'p': prompt = optarg; break;
        case 's': system = optarg; break;
        case 'c': chat = 1; break;
        case 'n':
            if (opts_int(argv[0], "--max-new", optarg, 1, 1 << 24, &max_new)) return 2;
            break;
        case 'g': break;
        case 'e': ignore_eos = 1; break;
        case 'P': print_ids = 1; break;
        case 'h': fputs(usage, stdout); return 0;
        default: return opts_bad(usage);
        }
    }
    if (optind < argc) return opts_fail(argv[0], usage, "unexpected argument '%s'", argv[optind]);
    if (!ea.model) return opts_fail(argv[0], usage, "--model is required");
    if (!!ids_text + !!prompt != 1) return opts_fail(argv[0], usage, "give exactly one of --ids and --prompt");
    if (chat && !prompt) return opts_fail(argv[0], usage, "--chat needs --prompt");
    if (system && !chat) return opts_fail(argv[0], usage, "--system needs --chat");

    qb_status st = QB_OK;
    Tokenizer *tok = NULL;
    int *ids = NULL, n = 0, *out = NULL, n_out = 0;
    Model m;
    RunState s;
    int have_model = 0, have_state = 0;
    StreamCtx sc = {0};
    /* The tokenizer is needed for text in or text out; ids in + ids out works without one. */
    if (prompt || !print_ids) {
        char *tok_path = qb_path_join(ea.model, "tokenizer.json");
        int absent = tok_path && !qb_file_exists(tok_path);
        free(tok_path);
        if (absent && !prompt) { /* ids in, no tokenizer: the output can only be ids */
            fprintf(stderr, "qinsbench generate: %s has no tokenizer.json; printing ids\n", ea.model);
            print_ids = 1;
        } else if ((st = tok_load_dir(ea.model, &tok))) {
            goto done;
        }
    }
    if (prompt)
        st = chat ? tok_encode_chat(tok, system, prompt, &ids, &n) : tok_encode(tok, prompt, strlen(prompt), -1, &ids, &n);
    else
        st = qb_parse_int_list(ids_text, "--ids", 1LL << 30, &ids, &n);
    if (st) goto done;
    if (n == 0) {
        st = qb_errorf(QB_ERR_INPUT, "the prompt encodes to no tokens");
        goto done;
    }
    if ((st = model_load(ea.model, &ea.mo, &m))) goto done;
    have_model = 1;
    if (ea.mo.ctx == 0 && n + max_new > m.ctx && n + max_new <= m.config.max_pos) m.ctx = (int)(n + max_new);
    if ((st = runstate_build(&s, &m))) goto done;
    have_state = 1;
    out = qb_malloc((size_t)max_new * sizeof(int), "tokens");
    if (!out) {
        st = QB_ERR_NOMEM;
        goto done;
    }
    if (!print_ids) {
        sc.stream = tok_stream_new(tok, 0);
        if (!sc.stream) {
            st = qb_errorf(QB_ERR_NOMEM, "out of memory");
            goto done;
        }
    }
    st = model_generate_greedy(&m, &s, ids, n, (int)max_new, ignore_eos, out, NULL, &n_out,
                               print_ids ? NULL : stream_token, &sc);
    if (!st && sc.st) st = sc.st;
    if (st) goto done;
    if (print_ids) {
        for (int i = 0; i < n_out; i++) printf("%s%d", i ? " " : "", out[i]);
        printf("\n");
    } else {
        char *text = NULL;
        size_t len = 0;
        if ((st = tok_stream_finish(sc.stream, &text, &len))) goto done;
        fwrite(text, 1, len, stdout);
        free(text);
        printf("\n");
    }
done:
    if (sc.stream) tok_stream_free(sc.stream);
    if (have_state) runstate_free(&s);
    if (have_model) model_free(&m);
    if (tok) tok_free(tok);
    free(ids);
    free(out);
    return st ? opts_lib_error(argv[0], st) : 0;
}

/* cmd_tokenize.c — `qinsbench tokenize` (text → ids) and `qinsbench detokenize` (ids → text) with a
 * Hugging Face tokenizer.json (engine/tokenizer.h). Output is exact and machine-readable: ids
 * space-separated (or one JSON array a line with --jsonl), text byte for byte. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "commands.h"
#include "opts.h"
#include "tokenizer.h"
#include "util.h"

#define MAX_TEXT_FILE ((size_t)1 << 30)

static const char TOKENIZE_USAGE[] =
    "usage: qinsbench tokenize (--model DIR | --tokenizer FILE) (--text T | --file F | --jsonl F)\n"
    "                          [--bos | --no-bos | --default-bos]\n"
    "Prints the token ids of a text, space-separated on one line: the ids Hugging Face `tokenizers` gives\n"
    "(encode with add_special_tokens=False unless --bos).\n"
    "  --model DIR       DIR/tokenizer.json, honouring DIR/tokenizer_config.json (add_bos_token, bos/eos)\n"
    "  --tokenizer FILE  a tokenizer.json\n"
    "  --text T          the text (UTF-8)\n"
    "  --file F          the whole file as one string\n"
    "  --jsonl F         one {\"text\": ...} object a line; prints one JSON array of ids a line\n"
    "  --bos             prepend BOS (the post_processor's template, else the bos token)\n"
    "  --no-bos          no BOS (the default, so ids are those of the text alone)\n"
    "  --default-bos     BOS as the tokenizer does by default (tokenizer_config.json add_bos_token, else\n"
    "                    the post_processor; what generate and the experiments use)\n"
    "  -h, --help        this text\n";

static const char DETOKENIZE_USAGE[] =
    "usage: qinsbench detokenize (--model DIR | --tokenizer FILE) (--ids 1,2,3 | --ids-file F) [--skip-special]\n"
    "Prints the text of token ids exactly (no newline is added unless stdout is a terminal).\n"
    "  --model DIR       DIR/tokenizer.json (+ tokenizer_config.json)\n"
    "  --tokenizer FILE  a tokenizer.json\n"
    "  --ids LIST        comma-separated ids\n"
    "  --ids-file F      ids separated by commas and/or whitespace (F = - reads stdin); for long inputs\n"
    "  --skip-special    leave out special tokens (<s>, <|end|>, ...)\n"
    "  -h, --help        this text\n";

static int load_tokenizer(const char *cmd, const char *model, const char *file, Tokenizer **t) {
    qb_status st = model ? tok_load_dir(model, t) : tok_load(file, t);
    return st ? opts_lib_error(cmd, st) : 0;
}

/* Writes ids as "1 2 3\n" or "[1,2,3]\n". Returns 0, or 2 on a write error. */
static int print_ids(const char *cmd, const int *ids, int n, int json) {
    char num[16];
    if (json) fputc('[', stdout);
    for (int i = 0; i < n; i++) {
        int k = snprintf(num, sizeof num, "%s%d", i ? (json ? "," : " ") : "", ids[i]);
        fwrite(num, 1, (size_t)k, stdout);
    }
    if (json) fputc(']', stdout);
    fputc('\n', stdout);
    if (ferror(stdout)) {
        fprintf(stderr, "qinsbench %s: writing stdout failed\n", cmd);
        return 2;
    }
    return 0;
}

static int tokenize_jsonl(const char *cmd, const Tokenizer *t, const char *path, int bos) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "qinsbench %s: %s: cannot open: %s\n", cmd, path, strerror(errno));
        return 2;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    long lineno = 0;
    int rc = 0;
    while (rc == 0 && (got = getline(&line, &cap, f)) >= 0) {
        lineno++;
        size_t n = (size_t)got;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' ' || line[n - 1] == '\t')) n--;
        if (n == 0) continue; /* blank lines (a trailing one) carry no record */
        /* cJSON checks the line is JSON; the text itself is read by tok_json_string_field, which keeps
         * "\u0000" (cJSON's NUL-terminated strings would cut the text there) */
        cJSON *obj = cJSON_ParseWithLength(line, n);
        int ok = cJSON_IsObject(obj) && cJSON_IsString(cJSON_GetObjectItemCaseSensitive(obj, "text"));
        cJSON_Delete(obj);
        char *text = NULL;
        size_t tlen = 0;
        if (!ok || tok_json_string_field(line, n, "text", &text, &tlen) != QB_OK) {
            fprintf(stderr, "qinsbench %s: %s:%ld: not a JSON object with a \"text\" string\n", cmd, path, lineno);
            free(text);
            rc = 2;
            break;
        }
        int *ids, m;
        qb_status st = tok_encode(t, text, tlen, bos, &ids, &m);
        free(text);
        if (st) {
            fprintf(stderr, "qinsbench %s: %s:%ld: %s\n", cmd, path, lineno, qb_last_error());
            rc = qb_exit_code(st);
            break;
        }
        rc = print_ids(cmd, ids, m, 1);
        free(ids);
    }
    if (rc == 0 && ferror(f)) {
        fprintf(stderr, "qinsbench %s: %s: read error\n", cmd, path);
        rc = 2;
    }
    free(line);
    fclose(f);
    return rc;
}

int cmd_tokenize(int argc, char **argv) {
    static const struct option longopts[] = {
        {"model", required_argument, 0, 'm'}, {"tokenizer", required_argument, 0, 't'},
        {"text", required_argument, 0, 'x'},  {"file", required_argument, 0, 'f'},
        {"jsonl", required_argument, 0, 'j'}, {"bos", no_argument, 0, 'b'},
        {"no-bos", no_argument, 0, 'B'},      {"default-bos", no_argument, 0, 'D'},
        {"help", no_argument, 0, 'h'},        {0, 0, 0, 0}};
    const char *cmd = argv[0], *model = NULL, *tokfile = NULL, *text = NULL, *file = NULL, *jsonl = NULL;
    int bos = 0, nbos = 0, c;
    opts_reset();
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 't': tokfile = optarg; break;
        case 'x': text = optarg; break;
        case 'f': file = optarg; break;
        case 'j': jsonl = optarg; break;
        case 'b': bos = 1; nbos++; break;
        case 'B': bos = 0; nbos++; break;
        case 'D': bos = -1; nbos++; break;
        case 'h': fputs(TOKENIZE_USAGE, stdout); return 0;
        default: return opts_bad(TOKENIZE_USAGE);
        }
    }
    if (optind < argc) return opts_fail(cmd, TOKENIZE_USAGE, "unexpected argument '%s'", argv[optind]);
    if (!model == !tokfile) return opts_fail(cmd, TOKENIZE_USAGE, "give exactly one of --model and --tokenizer");
    if ((text != NULL) + (file != NULL) + (jsonl != NULL) != 1)
        return opts_fail(cmd, TOKENIZE_USAGE, "give exactly one of --text, --file and --jsonl");
    if (nbos > 1) return opts_fail(cmd, TOKENIZE_USAGE, "give at most one of --bos, --no-bos and --default-bos");
    Tokenizer *t;
    int rc = load_tokenizer(cmd, model, tokfile, &t);
    if (rc) return rc;
    if (jsonl) {
        rc = tokenize_jsonl(cmd, t, jsonl, bos);
    } else {
        char *buf = NULL;
        size_t len;
        qb_status st = QB_OK;
        if (file) {
            st = qb_read_file(file, &buf, &len, MAX_TEXT_FILE);
        } else {
            len = strlen(text);
        }
        int *ids = NULL, n = 0;
        if (!st) {
            st = tok_encode(t, file ? buf : text, len, bos, &ids, &n);
            if (st && file) qb_error_prefix(file);
        }
        rc = st ? opts_lib_error(cmd, st) : print_ids(cmd, ids, n, 0);
        free(ids);
        free(buf);
    }
    tok_free(t);
    if (rc == 0 && fflush(stdout) != 0) rc = 2;
    return rc;
}

/* Ids separated by commas and/or whitespace (the --ids-file form). */
static qb_status parse_ids_text(const char *s, const char *what, int max_id, int **out, int *n) {
    size_t cap = 16, k = 0;
    int *ids = malloc(cap * sizeof(int));
    if (!ids) return qb_errorf(QB_ERR_NOMEM, "%s: out of memory", what);
    const char *p = s;
    for (;;) {
        while (*p == ',' || *p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
        if (!*p) break;
        if (*p < '0' || *p > '9') {
            free(ids);
            return qb_errorf(QB_ERR_INPUT, "%s: item %zu is not a non-negative integer", what, k + 1);
        }
        errno = 0;
        char *end;
        long long v = strtoll(p, &end, 10);
        if (errno == ERANGE || v > max_id) {
            free(ids);
            return qb_errorf(QB_ERR_INPUT, "%s: item %zu (%.*s) is out of range (0..%d)", what, k + 1, (int)(end - p), p,
                             max_id);
        }
        if (*end && *end != ',' && *end != ' ' && *end != '\t' && *end != '\n' && *end != '\r') {
            free(ids);
            return qb_errorf(QB_ERR_INPUT, "%s: item %zu is not a non-negative integer", what, k + 1);
        }
        if (k == cap) {
            cap *= 2;
            int *x = realloc(ids, cap * sizeof(int));
            if (!x) {
                free(ids);
                return qb_errorf(QB_ERR_NOMEM, "%s: out of memory", what);
            }
            ids = x;
        }
        if (k >= INT_MAX) {
            free(ids);
            return qb_errorf(QB_ERR_INPUT, "%s: too many ids", what);
        }
        ids[k++] = (int)v;
        p = end;
    }
    *out = ids;
    *n = (int)k;
    return QB_OK;
}

static qb_status read_stream(FILE *f, char **out) {
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    if (!buf) return qb_errorf(QB_ERR_NOMEM, "stdin: out of memory");
    size_t got;
    while ((got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (n + 1 == cap) {
            if (cap > MAX_TEXT_FILE) {
                free(buf);
                return qb_errorf(QB_ERR_INPUT, "stdin: more than %zu bytes", MAX_TEXT_FILE);
            }
            char *x = realloc(buf, cap * 2);
            if (!x) {
                free(buf);
                return qb_errorf(QB_ERR_NOMEM, "stdin: out of memory");
            }
            buf = x;
            cap *= 2;
        }
    }
    buf[n] = 0;
    *out = buf;
    return QB_OK;
}

int cmd_detokenize(int argc, char **argv) {
    static const struct option longopts[] = {
        {"model", required_argument, 0, 'm'}, {"tokenizer", required_argument, 0, 't'},
        {"ids", required_argument, 0, 'i'},   {"ids-file", required_argument, 0, 'I'},
        {"skip-special", no_argument, 0, 's'}, {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *cmd = argv[0], *model = NULL, *tokfile = NULL, *idstr = NULL, *idfile = NULL;
    int skip = 0, c;
    opts_reset();
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 't': tokfile = optarg; break;
        case 'i': idstr = optarg; break;
        case 'I': idfile = optarg; break;
        case 's': skip = 1; break;
        case 'h': fputs(DETOKENIZE_USAGE, stdout); return 0;
        default: return opts_bad(DETOKENIZE_USAGE);
        }
    }
    if (optind < argc) return opts_fail(cmd, DETOKENIZE_USAGE, "unexpected argument '%s'", argv[optind]);
    if (!model == !tokfile) return opts_fail(cmd, DETOKENIZE_USAGE, "give exactly one of --model and --tokenizer");
    if (!idstr == !idfile) return opts_fail(cmd, DETOKENIZE_USAGE, "give exactly one of --ids and --ids-file");
    Tokenizer *t;
    int rc = load_tokenizer(cmd, model, tokfile, &t);
    if (rc) return rc;
    int *ids = NULL, n = 0;
    qb_status st;
    int max_id = tok_vocab_size(t) - 1;
    if (idstr) {
        /* an empty list is the empty text */
        st = *idstr ? qb_parse_int_list(idstr, "--ids", max_id, &ids, &n) : QB_OK;
    } else {
        char *buf = NULL;
        size_t len;
        st = strcmp(idfile, "-") == 0 ? read_stream(stdin, &buf) : qb_read_file(idfile, &buf, &len, MAX_TEXT_FILE);
        if (!st) st = parse_ids_text(buf, strcmp(idfile, "-") == 0 ? "stdin" : idfile, max_id, &ids, &n);
        free(buf);
    }
    char *text = NULL;
    size_t len = 0;
    if (!st) st = tok_decode(t, ids, n, skip, &text, &len);
    if (st) {
        rc = opts_lib_error(cmd, st);
    } else {
        fwrite(text, 1, len, stdout);
        if (isatty(STDOUT_FILENO)) fputc('\n', stdout);
        if (fflush(stdout) != 0 || ferror(stdout)) {
            fprintf(stderr, "qinsbench %s: writing stdout failed\n", cmd);
            rc = 2;
        }
    }
    free(text);
    free(ids);
    tok_free(t);
    return rc;
}

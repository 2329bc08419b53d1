/* tok_json.c — reads one string field of a one-line JSON object (the `{"text": …}` lines of
 * `tokenize --jsonl` and of the test vectors) with its exact bytes. cJSON hands strings back
 * NUL-terminated, which silently cuts a text containing "\u0000"; texts can hold any character, so this
 * small decoder returns the length as well. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer.h"

typedef struct {
    const char *s;
    size_t n, i;
} Cur;

static void skip_ws(Cur *c) {
    while (c->i < c->n && (c->s[c->i] == ' ' || c->s[c->i] == '\t' || c->s[c->i] == '\n' || c->s[c->i] == '\r'))
        c->i++;
}

static int hex4(const char *p, unsigned *v) {
    *v = 0;
    for (int k = 0; k < 4; k++) {
        char ch = p[k];
        int d = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
        if (d < 0) return -1;
        *v = *v * 16 + (unsigned)d;
    }
    return 0;
}

/* Parses the string at c->i (which is '"'). out may be NULL (just skip). Returns 0 or -1. */
static int parse_string(Cur *c, char **out, size_t *outlen) {
    if (c->i >= c->n || c->s[c->i] != '"') return -1;
    c->i++;
    char *buf = NULL;
    if (out) {
        buf = malloc(c->n - c->i + 1); /* decoded text is never longer than its JSON form */
        if (!buf) return -1;
    }
    size_t k = 0;
    while (c->i < c->n) {
        unsigned char ch = (unsigned char)c->s[c->i++];
        if (ch == '"') {
            if (out) {
                buf[k] = 0;
                *out = buf;
                *outlen = k;
            }
            return 0;
        }
        if (ch < 0x20) break; /* raw control characters are not JSON */
        if (ch != '\\') {
            if (buf) buf[k] = (char)ch;
            k++;
            continue;
        }
        if (c->i >= c->n) break;
        char e = c->s[c->i++];
        unsigned cp;
        const char *simple = "\"\\/bfnrt", *value = "\"\\/\b\f\n\r\t";
        const char *f = e ? strchr(simple, e) : NULL;
        if (f) {
            if (buf) buf[k] = value[f - simple];
            k++;
            continue;
        }
        if (e != 'u' || c->i + 4 > c->n || hex4(c->s + c->i, &cp)) break;
        c->i += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            unsigned lo;
            if (c->i + 6 > c->n || c->s[c->i] != '\\' || c->s[c->i + 1] != 'u' || hex4(c->s + c->i + 2, &lo) ||
                lo < 0xDC00 || lo > 0xDFFF)
                break; /* a lone surrogate is no character */
            c->i += 6;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            break;
        }
        unsigned char u[4];
        int m;
        if (cp < 0x80) { u[0] = (unsigned char)cp; m = 1; }
        else if (cp < 0x800) { u[0] = (unsigned char)(0xC0 | (cp >> 6)); u[1] = (unsigned char)(0x80 | (cp & 0x3F)); m = 2; }
        else if (cp < 0x10000) {
            u[0] = (unsigned char)(0xE0 | (cp >> 12)); u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
            u[2] = (unsigned char)(0x80 | (cp & 0x3F)); m = 3;
        } else {
            u[0] = (unsigned char)(0xF0 | (cp >> 18)); u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
            u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F)); u[3] = (unsigned char)(0x80 | (cp & 0x3F)); m = 4;
        }
        if (buf) memcpy(buf + k, u, (size_t)m);
        k += (size_t)m;
    }
    free(buf);
    return -1;
}

/* Skips any JSON value (strings honoured so brackets inside them do not count). */
static int skip_value(Cur *c) {
    skip_ws(c);
    if (c->i >= c->n) return -1;
    char ch = c->s[c->i];
    if (ch == '"') return parse_string(c, NULL, NULL);
    if (ch == '{' || ch == '[') {
        int depth = 0;
        while (c->i < c->n) {
            ch = c->s[c->i];
            if (ch == '"') {
                if (parse_string(c, NULL, NULL)) return -1;
                continue;
            }
            if (ch == '{' || ch == '[') depth++;
            if (ch == '}' || ch == ']') depth--;
            c->i++;
            if (depth == 0) return 0;
        }
        return -1;
    }
    size_t start = c->i;
    while (c->i < c->n && c->s[c->i] != ',' && c->s[c->i] != '}' && c->s[c->i] != ']' && c->s[c->i] != ' ' &&
           c->s[c->i] != '\t' && c->s[c->i] != '\r' && c->s[c->i] != '\n')
        c->i++;
    return c->i > start ? 0 : -1;
}

qb_status tok_json_string_field(const char *json, size_t n, const char *key, char **out, size_t *len) {
    *out = NULL;
    *len = 0;
    Cur c = {json, n, 0};
    skip_ws(&c);
    if (c.i >= n || json[c.i] != '{') return qb_errorf(QB_ERR_INPUT, "not a JSON object");
    c.i++;
    for (;;) {
        skip_ws(&c);
        if (c.i < n && json[c.i] == '}') break;
        char *k;
        size_t klen;
        if (parse_string(&c, &k, &klen)) return qb_errorf(QB_ERR_INPUT, "bad JSON key near byte %zu", c.i);
        skip_ws(&c);
        if (c.i >= n || json[c.i] != ':') {
            free(k);
            return qb_errorf(QB_ERR_INPUT, "bad JSON: ':' expected at byte %zu", c.i);
        }
        c.i++;
        skip_ws(&c);
        int match = klen == strlen(key) && memcmp(k, key, klen) == 0;
        free(k);
        if (match) {
            if (c.i >= n || json[c.i] != '"') return qb_errorf(QB_ERR_INPUT, "\"%s\" is not a string", key);
            if (parse_string(&c, out, len)) return qb_errorf(QB_ERR_INPUT, "bad JSON string for \"%s\"", key);
            return QB_OK;
        }
        if (skip_value(&c)) return qb_errorf(QB_ERR_INPUT, "bad JSON value near byte %zu", c.i);
        skip_ws(&c);
        if (c.i < n && json[c.i] == ',') {
            c.i++;
            continue;
        }
        if (c.i < n && json[c.i] == '}') break;
        return qb_errorf(QB_ERR_INPUT, "bad JSON near byte %zu", c.i);
    }
    return qb_errorf(QB_ERR_INPUT, "no \"%s\" field", key);
}

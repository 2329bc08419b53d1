/* test_safetensors.c — the safetensors reader and writer: round trips, the phi3-tiny fixture, the bf16/f16
 * conversions against hand-computed values and the scalar reference, and one test per kind of hostile file
 * (each built byte by byte in a temporary directory) that must be rejected with QB_ERR_INPUT and a message
 * naming the file and the problem. */
#include <check.h>
#include "check_main.h"
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "safetensors.h"

static char tmpdir[256];

static void tmp_setup(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/qb_st_test_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void tmp_teardown(void) {
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", tmpdir);
}

static char *tmp_path(const char *name) {
    static char p[512];
    snprintf(p, sizeof p, "%s/%s", tmpdir, name);
    return p;
}

static void write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    if (n) ck_assert_uint_eq(fwrite(data, 1, n, f), n);
    fclose(f);
}

/* A file with header length `len` (as written), the header text, then `data_len` zero bytes. */
static void write_st(const char *path, uint64_t len, const char *header, size_t data_len) {
    size_t hl = strlen(header);
    size_t n = 8 + hl + data_len;
    uint8_t *buf = calloc(1, n);
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)(len >> (8 * i));
    memcpy(buf + 8, header, hl);
    write_bytes(path, buf, n);
    free(buf);
}

/* st_open must fail with QB_ERR_INPUT, leave *f zeroed, and say which file and what. */
static void expect_bad(const char *path, const char *word) {
    st_file f;
    memset(&f, 0x5a, sizeof f);
    qb_status st = st_open(path, &f);
    const char *msg = qb_last_error();
    if (getenv("ST_VERBOSE")) printf("rejected: %s\n", msg);
    ck_assert_msg(st == QB_ERR_INPUT, "%s: status %d (want QB_ERR_INPUT), message '%s'", path, st, msg);
    ck_assert_msg(strstr(msg, path) != NULL, "message '%s' does not name the file", msg);
    ck_assert_msg(strstr(msg, word) != NULL, "message '%s' does not contain '%s'", msg, word);
    ck_assert_ptr_null(f.map);
    ck_assert_ptr_null(f.tensors);
    ck_assert_int_eq(f.n_tensors, 0);
    ck_assert_int_eq(f.fd, 0); /* zeroed, as the header promises */
    st_close(&f);              /* harmless on a zeroed st_file: must not close fd 0 */
    ck_assert_int_ne(fcntl(0, F_GETFD), -1);
}

/* ---- hostile headers: a table, one loop-test iteration each ---- */
typedef struct {
    const char *what;
    const char *header;
    size_t data_len;
    const char *word;
} hostile;

static const hostile hostiles[] = {
    {"not json", "{\"a\": {\"dtype\": ", 0, "not valid JSON"},
    {"json garbage", "hello world!", 0, "not valid JSON"},
    {"trailing bytes", "{}xyz", 0, "trailing"},
    {"not an object", "[1, 2, 3]", 0, "not an object"},
    {"entry not an object", "{\"a\": 5}", 0, "not an object"},
    {"missing dtype", "{\"a\": {\"shape\": [1], \"data_offsets\": [0, 4]}}", 4, "missing dtype"},
    {"dtype wrong type", "{\"a\": {\"dtype\": 7, \"shape\": [1], \"data_offsets\": [0, 4]}}", 4, "dtype is not a string"},
    {"missing shape", "{\"a\": {\"dtype\": \"F32\", \"data_offsets\": [0, 4]}}", 4, "missing shape"},
    {"shape wrong type", "{\"a\": {\"dtype\": \"F32\", \"shape\": 1, \"data_offsets\": [0, 4]}}", 4, "shape is not an array"},
    {"missing data_offsets", "{\"a\": {\"dtype\": \"F32\", \"shape\": [1]}}", 4, "missing data_offsets"},
    {"data_offsets wrong type", "{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": \"0-4\"}}", 4, "data_offsets"},
    {"data_offsets one item", "{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4]}}", 4, "data_offsets"},
    {"data_offsets negative", "{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [-4, 0]}}", 4, "data_offsets"},
    {"unknown dtype", "{\"a\": {\"dtype\": \"Q7\", \"shape\": [1], \"data_offsets\": [0, 4]}}", 4, "unknown dtype 'Q7'"},
    {"unsupported dtype", "{\"a\": {\"dtype\": \"BOOL\", \"shape\": [1], \"data_offsets\": [0, 1]}}", 4, "unsupported dtype 'BOOL'"},
    {"negative dim", "{\"a\": {\"dtype\": \"F32\", \"shape\": [-1, 4], \"data_offsets\": [0, 4]}}", 4, "negative"},
    {"fractional dim", "{\"a\": {\"dtype\": \"F32\", \"shape\": [1.5], \"data_offsets\": [0, 4]}}", 4, "integer"},
    {"dim not a number", "{\"a\": {\"dtype\": \"F32\", \"shape\": [\"1\"], \"data_offsets\": [0, 4]}}", 4, "not a number"},
    {"too many dims", "{\"a\": {\"dtype\": \"F32\", \"shape\": [1,1,1,1,1,1,1,1,1], \"data_offsets\": [0, 4]}}", 4, "dims"},
    {"element count overflow",
     "{\"a\": {\"dtype\": \"F32\", \"shape\": [4294967296, 4294967296, 16], \"data_offsets\": [0, 4]}}", 4, "overflow"},
    {"byte count overflow", "{\"a\": {\"dtype\": \"F64\", \"shape\": [4294967296, 4294967296], \"data_offsets\": [0, 4]}}",
     4, "overflow"},
    {"size mismatch", "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 4]}}", 8, "size mismatch"},
    {"begin > end", "{\"a\": {\"dtype\": \"F32\", \"shape\": [0], \"data_offsets\": [8, 4]}}", 8, "begin"},
    {"end past data", "{\"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]}}", 8, "past the data section"},
    {"huge offsets", "{\"a\": {\"dtype\": \"U8\", \"shape\": [4], \"data_offsets\": [1e300, 1e300]}}", 8, "data_offsets"},
    {"overlap",
     "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
     " \"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}",
     12, "overlap"},
    {"overlap out of order",
     "{\"b\": {\"dtype\": \"U8\", \"shape\": [2], \"data_offsets\": [10, 12]},"
     " \"c\": {\"dtype\": \"U8\", \"shape\": [2], \"data_offsets\": [0, 2]},"
     " \"a\": {\"dtype\": \"U8\", \"shape\": [12], \"data_offsets\": [0, 12]}}",
     12, "overlap"},
    {"contained overlap",
     "{\"a\": {\"dtype\": \"U8\", \"shape\": [12], \"data_offsets\": [0, 12]},"
     " \"b\": {\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [11, 12]}}",
     12, "overlap"},
    {"duplicate name",
     "{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]},"
     " \"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}",
     8, "duplicate"},
    {"metadata not an object", "{\"__metadata__\": [\"x\"]}", 0, "__metadata__"},
    {"metadata value not a string", "{\"__metadata__\": {\"format\": 1}}", 0, "not a string"},
};

START_TEST(test_hostile_header) {
    const hostile *h = &hostiles[_i];
    char *p = tmp_path("hostile.safetensors");
    write_st(p, strlen(h->header), h->header, h->data_len);
    expect_bad(p, h->word);
}
END_TEST

START_TEST(test_empty_file) {
    char *p = tmp_path("empty.safetensors");
    write_bytes(p, "", 0);
    expect_bad(p, "empty");
}
END_TEST

START_TEST(test_short_file) {
    char *p = tmp_path("short.safetensors");
    write_bytes(p, "\x02\0\0\0\0", 5);
    expect_bad(p, "too short");
}
END_TEST

START_TEST(test_header_past_eof) {
    char *p = tmp_path("past.safetensors");
    write_st(p, 1000, "{}", 0);
    expect_bad(p, "past end of file");
    /* one byte too many is already too many */
    write_st(p, 3, "{}", 0);
    expect_bad(p, "past end of file");
}
END_TEST

START_TEST(test_header_len_huge) {
    char *p = tmp_path("huge.safetensors");
    /* 2^64 - 1 and 2^63: would wrap 8 + n if added carelessly */
    write_st(p, UINT64_MAX, "{}", 0);
    expect_bad(p, "header length");
    write_st(p, UINT64_C(1) << 63, "{}", 0);
    expect_bad(p, "header length");
    write_st(p, UINT64_MAX - 7, "{}", 0);
    expect_bad(p, "header length");
}
END_TEST

START_TEST(test_header_with_nul) {
    char *p = tmp_path("nul.safetensors");
    uint8_t buf[8 + 4] = {4, 0, 0, 0, 0, 0, 0, 0, '{', 0, '}', ' '};
    write_bytes(p, buf, sizeof buf);
    expect_bad(p, "NUL");
}
END_TEST

START_TEST(test_missing_file) {
    st_file f;
    ck_assert_int_eq(st_open("/nonexistent/x.safetensors", &f), QB_ERR_INPUT);
    ck_assert_ptr_nonnull(strstr(qb_last_error(), "/nonexistent/x.safetensors"));
}
END_TEST

/* Valid oddities that must be accepted: empty header object, padding, zero-size tensors, gaps. */
START_TEST(test_valid_edge_cases) {
    char *p = tmp_path("edge.safetensors");
    write_st(p, 8, "{}      ", 0);
    st_file f;
    ck_assert_msg(st_open(p, &f) == QB_OK, "%s", qb_last_error());
    ck_assert_int_eq(f.n_tensors, 0);
    st_close(&f);
    write_st(p, 200,
             "{\"z\": {\"dtype\": \"F32\", \"shape\": [0, 3], \"data_offsets\": [4, 4]},"
             " \"s\": {\"dtype\": \"I32\", \"shape\": [], \"data_offsets\": [8, 12]},"
             " \"a\": {\"dtype\": \"U8\", \"shape\": [4], \"data_offsets\": [0, 4]}}"
             "                                                  ",
             12);
    ck_assert_msg(st_open(p, &f) == QB_OK, "%s", qb_last_error());
    ck_assert_int_eq(f.n_tensors, 3);
    ck_assert_str_eq(f.tensors[0].name, "z"); /* header order, not offset order */
    ck_assert_uint_eq(f.tensors[0].numel, 0);
    ck_assert_int_eq(f.tensors[1].ndim, 0);
    ck_assert_uint_eq(f.tensors[1].numel, 1);
    ck_assert_uint_eq(f.tensors[1].file_offset, 8 + 200 + 8);
    st_close(&f);
}
END_TEST

/* ---- writer → reader ---- */
static qb_status fill_ramp(void *ctx, void *dst, uint64_t nbytes) {
    int *calls = ctx;
    (*calls)++;
    ck_assert_uint_eq(nbytes, 5 * sizeof(float));
    float *f = dst;
    for (int i = 0; i < 5; i++) f[i] = (float)i * 0.5f;
    return QB_OK;
}

static qb_status fill_fail(void *ctx, void *dst, uint64_t nbytes) {
    (void)ctx;
    (void)dst;
    (void)nbytes;
    return qb_errorf(QB_ERR_IO, "synthetic failure");
}

START_TEST(test_round_trip) {
    char *p = strdup(tmp_path("rt.safetensors"));
    float a[6] = {1, -2, 3.5f, 0, 1e-3f, -7};
    uint16_t bf[4] = {0x3f80, 0xc000, 0x3fc0, 0x4049};
    uint16_t hf[4] = {0x3c00, 0xc000, 0x3555, 0x7bff};
    int64_t il[3] = {-1, 1LL << 40, 7};
    int32_t sc = 42;
    int64_t s23[2] = {2, 3}, s4[1] = {4}, s22[2] = {2, 2}, s3[1] = {3}, s0[1] = {0}, s5[1] = {5};
    int calls = 0;
    st_writer *w = st_writer_new();
    ck_assert_ptr_nonnull(w);
    ck_assert_int_eq(st_writer_meta(w, "format", "pt"), QB_OK);
    ck_assert_int_eq(st_writer_meta(w, "note", "quote \" backslash \\ newline \n"), QB_OK);
    ck_assert_int_eq(st_writer_add(w, "a.f32", ST_F32, 2, s23, a), QB_OK);
    ck_assert_int_eq(st_writer_add(w, "b.bf16", ST_BF16, 1, s4, bf), QB_OK);
    ck_assert_int_eq(st_writer_add(w, "c.f16", ST_F16, 2, s22, hf), QB_OK);
    ck_assert_int_eq(st_writer_add(w, "d.i64", ST_I64, 1, s3, il), QB_OK);
    ck_assert_int_eq(st_writer_add(w, "e.empty", ST_U8, 1, s0, NULL), QB_OK);
    ck_assert_int_eq(st_writer_add(w, "f.scalar", ST_I32, 0, NULL, &sc), QB_OK);
    ck_assert_int_eq(st_writer_add_lazy(w, "g.lazy", ST_F32, 1, s5, fill_ramp, &calls), QB_OK);
    /* invalid additions are refused and do not disturb the writer */
    ck_assert_int_eq(st_writer_add(w, "a.f32", ST_F32, 2, s23, a), QB_ERR_INPUT);
    ck_assert_ptr_nonnull(strstr(qb_last_error(), "duplicate"));
    int64_t big[3] = {1LL << 32, 1LL << 32, 16}, neg[1] = {-3};
    ck_assert_int_eq(st_writer_add(w, "big", ST_F32, 3, big, a), QB_ERR_INPUT);
    ck_assert_ptr_nonnull(strstr(qb_last_error(), "overflow"));
    ck_assert_int_eq(st_writer_add(w, "neg", ST_F32, 1, neg, a), QB_ERR_INPUT);
    ck_assert_int_eq(st_writer_add(w, "__metadata__", ST_F32, 1, s4, a), QB_ERR_INPUT);
    ck_assert_int_eq(st_writer_meta(w, "format", "np"), QB_ERR_INPUT);
    ck_assert_int_eq(calls, 0); /* lazy: nothing generated before finish */
    ck_assert_msg(st_writer_finish(w, p) == QB_OK, "%s", qb_last_error());
    ck_assert_int_eq(calls, 1);
    st_writer_free(w);

    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp", p);
    ck_assert(access(tmp, F_OK) != 0);

    st_file f;
    ck_assert_msg(st_open(p, &f) == QB_OK, "%s", qb_last_error());
    ck_assert_uint_eq(f.header_len % 8, 0);
    ck_assert_int_eq(f.n_tensors, 7);
    ck_assert_str_eq(st_meta(&f, "format"), "pt");
    ck_assert_str_eq(st_meta(&f, "note"), "quote \" backslash \\ newline \n");
    ck_assert_ptr_null(st_meta(&f, "absent"));
    const char *names[7] = {"a.f32", "b.bf16", "c.f16", "d.i64", "e.empty", "f.scalar", "g.lazy"};
    uint64_t off = 8 + f.header_len;
    for (int i = 0; i < 7; i++) {
        ck_assert_str_eq(f.tensors[i].name, names[i]);
        ck_assert_uint_eq(f.tensors[i].file_offset, off); /* contiguous, in add order */
        off += f.tensors[i].nbytes;
    }
    ck_assert_uint_eq(off, f.map_size);
    const st_tensor *t = st_find(&f, "a.f32");
    ck_assert_int_eq(t->dtype, ST_F32);
    ck_assert_int_eq(t->ndim, 2);
    ck_assert_int_eq(t->shape[0], 2);
    ck_assert_int_eq(t->shape[1], 3);
    ck_assert_mem_eq(t->data, a, sizeof a);
    t = st_find(&f, "b.bf16");
    ck_assert_int_eq(t->dtype, ST_BF16);
    ck_assert_mem_eq(t->data, bf, sizeof bf);
    t = st_find(&f, "c.f16");
    ck_assert_int_eq(t->dtype, ST_F16);
    ck_assert_mem_eq(t->data, hf, sizeof hf);
    t = st_find(&f, "d.i64");
    ck_assert_int_eq(t->dtype, ST_I64);
    ck_assert_mem_eq(t->data, il, sizeof il);
    t = st_find(&f, "e.empty");
    ck_assert_uint_eq(t->nbytes, 0);
    t = st_find(&f, "f.scalar");
    ck_assert_int_eq(t->ndim, 0);
    ck_assert_mem_eq(t->data, &sc, 4);
    t = st_find(&f, "g.lazy");
    float g[5];
    ck_assert_int_eq(st_to_f32(t, 0, 5, g), QB_OK);
    for (int i = 0; i < 5; i++) ck_assert_float_eq(g[i], (float)i * 0.5f);
    ck_assert_ptr_null(st_find(&f, "nope"));
    /* st_to_f32 refuses integer tensors */
    float dummy[3];
    ck_assert_int_eq(st_to_f32(st_find(&f, "d.i64"), 0, 3, dummy), QB_ERR_INPUT);
    st_close(&f);
    free(p);
}
END_TEST

START_TEST(test_writer_failure_leaves_nothing) {
    char *p = strdup(tmp_path("fail.safetensors"));
    int64_t s[1] = {4};
    float a[4] = {0};
    st_writer *w = st_writer_new();
    ck_assert_int_eq(st_writer_add(w, "ok", ST_F32, 1, s, a), QB_OK);
    ck_assert_int_eq(st_writer_add_lazy(w, "bad", ST_F32, 1, s, fill_fail, NULL), QB_OK);
    ck_assert_int_ne(st_writer_finish(w, p), QB_OK);
    ck_assert_ptr_nonnull(strstr(qb_last_error(), "synthetic failure"));
    st_writer_free(w);
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp", p);
    ck_assert(access(p, F_OK) != 0);
    ck_assert(access(tmp, F_OK) != 0);
    /* unwritable destination: an error, not a crash */
    w = st_writer_new();
    ck_assert_int_eq(st_writer_add(w, "ok", ST_F32, 1, s, a), QB_OK);
    ck_assert_int_eq(st_writer_finish(w, "/nonexistent-dir/x.safetensors"), QB_ERR_IO);
    st_writer_free(w);
    free(p);
}
END_TEST

/* ---- the real fixture ---- */
#define FIXTURE "tests/fixtures/phi3-tiny/model-00001-of-00003.safetensors"

START_TEST(test_fixture) {
    st_file f;
    ck_assert_msg(st_open(FIXTURE, &f) == QB_OK, "%s", qb_last_error());
    ck_assert_str_eq(st_meta(&f, "format"), "pt");
    const st_tensor *t = st_find(&f, "model.embed_tokens.weight");
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(t->dtype, ST_BF16);
    ck_assert_int_eq(t->ndim, 2);
    ck_assert_int_eq(t->shape[0], 512);
    ck_assert_int_eq(t->shape[1], 64);
    ck_assert_uint_eq(t->nbytes, 512 * 64 * 2);
    t = st_find(&f, "model.layers.0.self_attn.qkv_proj.weight");
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(t->shape[0], 192);
    ck_assert_int_eq(t->shape[1], 64);
    /* fast conversion == scalar reference on real weights, also after the pages were released */
    t = st_find(&f, "model.embed_tokens.weight");
    float *x = malloc(t->numel * sizeof(float));
    for (int pass = 0; pass < 2; pass++) {
        ck_assert_int_eq(st_to_f32(t, 0, t->numel, x), QB_OK);
        int bad = 0, nonzero = 0;
        for (uint64_t i = 0; i < t->numel; i++) {
            uint16_t h;
            memcpy(&h, (const uint8_t *)t->data + 2 * i, 2);
            if (memcmp(&x[i], &(float){qb_bf16_to_f32(h)}, 4)) bad++;
            if (x[i] != 0) nonzero++;
        }
        ck_assert_int_eq(bad, 0);
        ck_assert_int_gt(nonzero, (int)t->numel / 2);
        st_release(&f, t);
    }
    free(x);
    st_close(&f);
}
END_TEST

/* Every safetensors file among the fixtures opens and validates. */
START_TEST(test_all_fixtures_open) {
    static const char *const files[] = {
        "tests/fixtures/phi3-tiny/model-00001-of-00003.safetensors",
        "tests/fixtures/phi3-tiny/model-00002-of-00003.safetensors",
        "tests/fixtures/phi3-tiny/model-00003-of-00003.safetensors",
        "tests/fixtures/phi3-tiny/reference.safetensors",
        "tests/fixtures/phi3-tiny-gqa/model.safetensors",
        "tests/fixtures/phi3-tiny-gqa/reference.safetensors",
        "models/austen-toy/model.safetensors",
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        st_file f;
        ck_assert_msg(st_open(files[i], &f) == QB_OK, "%s", qb_last_error());
        ck_assert_int_gt(f.n_tensors, 0);
        st_close(&f);
    }
}
END_TEST

/* Random damage to a valid file — truncations and byte changes in the header and its length — must give
 * QB_OK or QB_ERR_INPUT, never a crash (run under ASan for the real check). Deterministic. */
START_TEST(test_mutations) {
    char *p = strdup(tmp_path("m.safetensors"));
    float a[6] = {1, 2, 3, 4, 5, 6};
    int64_t s23[2] = {2, 3}, s3[1] = {3};
    st_writer *w = st_writer_new();
    ck_assert_int_eq(st_writer_meta(w, "format", "pt"), QB_OK);
    ck_assert_int_eq(st_writer_add(w, "x", ST_F32, 2, s23, a), QB_OK);
    ck_assert_int_eq(st_writer_add(w, "y", ST_BF16, 1, s3, a), QB_OK);
    ck_assert_int_eq(st_writer_finish(w, p), QB_OK);
    st_writer_free(w);
    size_t n;
    char *orig;
    ck_assert_int_eq(qb_read_file(p, &orig, &n, 1 << 20), QB_OK);
    char *buf = malloc(n);
    uint64_t rng = 12345;
    int ok = 0, rejected = 0;
    unsigned touched = 0;
    for (int iter = 0; iter < 600; iter++) {
        memcpy(buf, orig, n);
        size_t len = n;
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        uint64_t r = rng >> 33;
        if (iter < 100) {
            len = (size_t)(r % n); /* truncation */
        } else {
            int flips = 1 + (int)(r % 3);
            for (int k = 0; k < flips; k++) {
                rng = rng * 6364136223846793005ull + 1442695040888963407ull;
                uint64_t q = rng >> 33;
                size_t at = (size_t)(q % (n - 24)); /* header and its length, not the data bytes */
                static const char pool[] = "{}[]\":,0123456789-.eE \x00\xff";
                buf[at] = (q >> 20) & 1 ? pool[(q >> 8) % (sizeof pool - 1)] : (char)(q >> 8);
            }
        }
        write_bytes(p, buf, len);
        st_file f;
        qb_status st = st_open(p, &f);
        ck_assert_msg(st == QB_OK || st == QB_ERR_INPUT, "iteration %d: status %d (%s)", iter, st, qb_last_error());
        if (st == QB_OK) {
            ok++;
            for (int i = 0; i < f.n_tensors; i++) /* touch every byte a tensor claims */
                for (uint64_t b = 0; b < f.tensors[i].nbytes; b++) touched += ((const uint8_t *)f.tensors[i].data)[b];
            st_close(&f);
        } else {
            rejected++;
        }
    }
    printf("mutations: %d opened, %d rejected (checksum of tensor bytes %u)\n", ok, rejected, touched);
    ck_assert_int_gt(rejected, 300);
    free(buf);
    free(orig);
    free(p);
}
END_TEST

/* ---- conversions ---- */
static st_tensor mem_tensor(st_dtype dt, const void *data, uint64_t n) {
    st_tensor t;
    memset(&t, 0, sizeof t);
    t.name = "mem";
    t.dtype = dt;
    t.ndim = 1;
    t.shape[0] = (int64_t)n;
    t.numel = n;
    t.data = data;
    t.nbytes = n * st_dtype_size(dt);
    return t;
}

START_TEST(test_bf16_values) {
    /* 11 values (not a multiple of 8: covers the vector body and the scalar tail), stored at an odd address */
    static const uint16_t h[11] = {0x3f80, 0xc000, 0x3fc0, 0x4049, 0x0000, 0x8000, 0x7f80,
                                   0xff80, 0x0001, 0x7f7f, 0x3e80};
    static const float want[11] = {1.0f,     -2.0f,    1.5f,     3.140625f,   0.0f,   -0.0f,
                                   INFINITY, -INFINITY, 0x1p-133f, 0x1.fep127f, 0.25f};
    uint8_t raw[1 + sizeof h];
    memcpy(raw + 1, h, sizeof h);
    st_tensor t = mem_tensor(ST_BF16, raw + 1, 11);
    float out[11];
    ck_assert_int_eq(st_to_f32(&t, 0, 11, out), QB_OK);
    for (int i = 0; i < 11; i++) ck_assert_msg(!memcmp(&out[i], &want[i], 4), "bf16 %04x → %a, want %a", h[i], out[i], want[i]);
    /* a sub-range */
    ck_assert_int_eq(st_to_f32(&t, 3, 2, out), QB_OK);
    ck_assert_float_eq(out[0], 3.140625f);
    ck_assert_float_eq(out[1], 0.0f);
    ck_assert_int_ne(st_to_f32(&t, 10, 2, out), QB_OK); /* past the end */
}
END_TEST

START_TEST(test_f16_values) {
    static const uint16_t h[13] = {0x3c00, 0xc000, 0x3555, 0x7bff, 0x0001, 0x0400, 0x7c00,
                                   0xfc00, 0x8000, 0x3800, 0x03ff, 0x4248, 0xbc01};
    static const float want[13] = {1.0f,      -2.0f,    0x1.554p-2f, 65504.0f, 0x1p-24f,  0x1p-14f,       INFINITY,
                                   -INFINITY, -0.0f,    0.5f,        0x1.ff8p-15f, 3.140625f, -1.0009765625f};
    uint8_t raw[3 + sizeof h];
    memcpy(raw + 3, h, sizeof h);
    st_tensor t = mem_tensor(ST_F16, raw + 3, 13);
    float out[13];
    ck_assert_int_eq(st_to_f32(&t, 0, 13, out), QB_OK);
    for (int i = 0; i < 13; i++) ck_assert_msg(!memcmp(&out[i], &want[i], 4), "f16 %04x → %a, want %a", h[i], out[i], want[i]);
}
END_TEST

/* Every 16-bit pattern: the fast path must equal the scalar reference bit for bit (NaNs: both NaN). */
START_TEST(test_all_halves_vs_ref) {
    uint16_t *h = malloc(65536 * 2 + 1);
    float *out = malloc(65536 * sizeof(float));
    for (int i = 0; i < 65536; i++) h[i] = (uint16_t)i;
    for (int dt = 0; dt < 2; dt++) {
        st_dtype d = dt ? ST_F16 : ST_BF16;
        st_tensor t = mem_tensor(d, h, 65536);
        ck_assert_int_eq(st_to_f32(&t, 0, 65536, out), QB_OK);
        int mismatches = 0;
        double worst = 0;
        for (int i = 0; i < 65536; i++) {
            float ref = d == ST_F16 ? qb_f16_to_f32((uint16_t)i) : qb_bf16_to_f32((uint16_t)i);
            if (isnan(ref)) {
                if (!isnan(out[i])) mismatches++;
                continue;
            }
            if (memcmp(&ref, &out[i], 4)) {
                mismatches++;
                double diff = fabs((double)ref - (double)out[i]);
                if (diff > worst || isnan(diff)) worst = diff;
            }
        }
        printf("st_to_f32 %s vs scalar reference: %d mismatches, worst difference %g (tolerance: exact)\n",
               st_dtype_name(d), mismatches, worst);
        ck_assert_int_eq(mismatches, 0);
    }
    free(h);
    free(out);
}
END_TEST

START_TEST(test_dtype_names) {
    for (int i = 0; i < ST_DTYPE_COUNT; i++) {
        ck_assert_int_eq(st_dtype_from_name(st_dtype_name((st_dtype)i)), i);
        ck_assert_uint_gt(st_dtype_size((st_dtype)i), 0);
    }
    ck_assert_int_eq(st_dtype_from_name("bf16"), -1); /* case matters in the format */
    ck_assert_uint_eq(st_dtype_size(ST_BF16), 2);
    ck_assert_uint_eq(st_dtype_size(ST_F64), 8);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("safetensors");
    TCase *tc = tcase_create("hostile");
    tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
    tcase_add_loop_test(tc, test_hostile_header, 0, (int)(sizeof hostiles / sizeof hostiles[0]));
    tcase_add_test(tc, test_empty_file);
    tcase_add_test(tc, test_short_file);
    tcase_add_test(tc, test_header_past_eof);
    tcase_add_test(tc, test_header_len_huge);
    tcase_add_test(tc, test_header_with_nul);
    tcase_add_test(tc, test_missing_file);
    tcase_add_test(tc, test_valid_edge_cases);
    suite_add_tcase(s, tc);
    tc = tcase_create("writer");
    tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_writer_failure_leaves_nothing);
    tcase_add_test(tc, test_mutations);
    suite_add_tcase(s, tc);
    tc = tcase_create("data");
    tcase_add_test(tc, test_fixture);
    tcase_add_test(tc, test_all_fixtures_open);
    tcase_add_test(tc, test_bf16_values);
    tcase_add_test(tc, test_f16_values);
    tcase_add_test(tc, test_all_halves_vs_ref);
    tcase_add_test(tc, test_dtype_names);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return qb_check_run(suite());
}

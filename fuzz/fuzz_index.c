/* fuzz_index.c — the shard index (model.safetensors.index.json) as ckpt_open reads it, beside the three
 * shards of the phi3-tiny fixture (copied once into the scratch directory; QB_FUZZ_FIXTURES names the
 * fixture directory, default tests/fixtures/phi3-tiny). */
#include "checkpoint.h"
#include "fuzz_common.h"

static void copy_fixture(const char *name) {
    const char *fx = getenv("QB_FUZZ_FIXTURES");
    char src[512];
    snprintf(src, sizeof src, "%s/%s", fx ? fx : "tests/fixtures/phi3-tiny", name);
    char *buf = NULL;
    size_t n = 0;
    if (qb_read_file(src, &buf, &n, (size_t)1 << 24)) {
        fprintf(stderr, "fuzz_index: %s\n", qb_last_error());
        abort();
    }
    fuzz_put(name, buf, n);
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int ready;
    if (!ready) {
        copy_fixture("model-00001-of-00003.safetensors");
        copy_fixture("model-00002-of-00003.safetensors");
        copy_fixture("model-00003-of-00003.safetensors");
        ready = 1;
    }
    fuzz_put("model.safetensors.index.json", data, size);
    Checkpoint ck;
    if (ckpt_open(fuzz_dir(), &ck) == QB_OK) {
        for (int i = 0; i < ck.n_map; i++)
            if (!ckpt_find(&ck, ck.map_names[i], NULL)) abort(); /* every mapped tensor was checked present */
        ckpt_close(&ck);
    }
    return 0;
}

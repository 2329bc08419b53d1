/* fuzz_safetensors.c — the safetensors header parser (st_open) on arbitrary bytes; when a file opens, every
 * tensor is converted to f32 (the offsets it trusts are then exercised too). */
#include "fuzz_common.h"
#include "safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    st_file f;
    if (st_open(fuzz_file(0, data, size), &f) == QB_OK) {
        float buf[64];
        for (int i = 0; i < f.n_tensors; i++) {
            const st_tensor *t = &f.tensors[i];
            uint64_t n = t->numel < 64 ? t->numel : 64;
            if (n) (void)st_to_f32(t, 0, n, buf);
            if (t->numel > 64) (void)st_to_f32(t, t->numel - 64, 64, buf);
        }
        st_close(&f);
    }
    return 0;
}

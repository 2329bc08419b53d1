/* runtime_env.c — see runtime_env.h. */
#include "runtime_env.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

const char *qb_blas_coretype_fix(const char *openblas_core, int simd_level) {
    /* Debian 12's OpenBLAS 0.3.21 (DYNAMIC_ARCH) does not know newer Intel models (family 6 model 207
     * here) and falls back to "Prescott", its SSE3 kernels: fp32 prefill pp512 on 8 layers of
     * Phi-3.5-mini ran 16.5 tok/s against llama.cpp F32's 45.8 in the same run. Its SkylakeX (AVX-512)
     * and Haswell (AVX2+FMA) kernels run on any CPU with those instruction sets. */
    if (!openblas_core || strcmp(openblas_core, "Prescott") != 0) return NULL;
    if (simd_level >= 2) return "SkylakeX";
    if (simd_level == 1) return "Haswell";
    return NULL;
}

int qb_runtime_env(void) {
    int changed = 0;
    /* libgomp's default wait policy spins between parallel regions, against every other process on a
     * shared machine. Measured (austen-toy, bench -t 2 tg32, load average 13 on 2 cores): 55 tok/s
     * spinning, 1412 tok/s with OMP_WAIT_POLICY=passive. A user's own value (e.g. active on a dedicated
     * node) wins. */
    if (!getenv("OMP_WAIT_POLICY") && setenv("OMP_WAIT_POLICY", "passive", 1) == 0) changed = 1;
    if (!getenv("OPENBLAS_CORETYPE")) {
        const char *core = qb_blas_coretype_fix(openblas_get_corename(), codec_simd_level());
        if (core && setenv("OPENBLAS_CORETYPE", core, 1) == 0) changed = 1;
    }
    return changed;
}

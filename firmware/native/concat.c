/* int8 CONCATENATION on any axis: TFLite-Micro copies the inputs' bytes without rescaling; for
 * each of the outer slices, each input contributes inner[j] contiguous bytes. */
#include "ofa_kernels.h"

void ofa_concat(const ofa_concat_params *p, const int8_t *const *src, int8_t *out) {
    for (int32_t o = 0; o < p->outer; ++o)
        for (int32_t j = 0; j < p->n_in; ++j) {
            const size_t n = (size_t)p->inner[j];
            memcpy(out, src[j] + (size_t)o * n, n);
            out += n;
        }
}

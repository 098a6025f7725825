/* Opening a backend by device name, and the precision names. */
#include "backend.h"

#include <string.h>

#include "cuda_entry.h"
#include "err.h"
#include "gemm.h"

static const char *const PRECISIONS[] = {[BE_FP32] = "fp32", [BE_TF32] = "tf32", [BE_BF16] = "bf16"};

int be_precision_parse(const char *name) {
    for (int i = 0; i < (int)(sizeof PRECISIONS / sizeof *PRECISIONS); i++)
        if (strcmp(name, PRECISIONS[i]) == 0) return i;
    return -1;
}

const char *be_precision_name(be_precision p) {
    return (unsigned)p < sizeof PRECISIONS / sizeof *PRECISIONS ? PRECISIONS[p] : "?";
}

int backend_open(const backend **out, const char *device, be_precision precision, char *err, size_t errlen) {
    *out = NULL;
    if (strcmp(device, "cpu") == 0) {
        if (precision == BE_TF32)
            return errf(err, errlen, "model.precision=tf32: tf32 is a mode of the GPU's tensor cores; on the CPU set "
                        "model.precision=fp32 or bf16, or model.device=cuda");
        if (precision == BE_BF16 && !gemm_bf16_supported())
            return errf(err, errlen, "model.precision=bf16: this CPU has no AVX512-BF16; set model.precision=fp32 "
                        "or model.device=cuda");
        *out = precision == BE_BF16 ? &backend_cpu_bf16 : &backend_cpu;
        return 0;
    }
    if (strcmp(device, "cuda") == 0) return backend_cuda_open(out, precision, err, errlen);
    return errf(err, errlen, "model.device: unknown device '%s' (%s)", device, BACKEND_DEVICES);
}

void backend_close(const backend *be) {
    if (be && be != &backend_cpu && be != &backend_cpu_bf16) backend_cuda_close(be);
}

int backend_gpus(backend_gpu *out, int max, char *why, size_t whylen) {
    return backend_cuda_gpus(out, max, why, whylen);
}

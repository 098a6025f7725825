/* The CUDA entry points of a build without CUDA: every request for the GPU is refused with the fix. */
#include "cuda_entry.h"
#include "err.h"

#define NO_CUDA "this lrpe was built without CUDA; rebuild with `make CUDA=1` (nvcc from CUDA_HOME, default /usr/local/cuda)"

int backend_cuda_open(const backend **out, be_precision precision, char *err, size_t errlen) {
    *out = NULL;
    return errf(err, errlen, "model.device=cuda: %s, or set model.device=cpu", NO_CUDA);
}

void backend_cuda_close(const backend *be) {}

int backend_cuda_gpus(backend_gpu *out, int max, char *why, size_t whylen) {
    errf(why, whylen, "%s", NO_CUDA);
    return 0;
}

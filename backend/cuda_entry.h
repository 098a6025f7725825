/* The entry points of the CUDA backend (backend/cuda/), as backend.c calls them; a build without
 * CUDA links backend/cuda_stub.c instead, which refuses with the fix. Not included outside backend/. */
#ifndef LRPE_CUDA_ENTRY_H
#define LRPE_CUDA_ENTRY_H

#include "backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Opens the CUDA backend on GPU 0 at this precision: 0, or -1 with one line (no GPU, ...). */
int backend_cuda_open(const backend **out, be_precision precision, char *err, size_t errlen);
void backend_cuda_close(const backend *be);
/* backend_gpus for the CUDA build. */
int backend_cuda_gpus(backend_gpu *out, int max, char *why, size_t whylen);

#ifdef __cplusplus
}
#endif

#endif

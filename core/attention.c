#include <string.h>

#include "attention.h"

/* Every attention kernel, in one static table. */
static const attn_kernel *const kernels[] = {&attn_softmax, &attn_linear};

const attn_kernel *attn_lookup(const char *name) {
    for (size_t i = 0; i < sizeof kernels / sizeof kernels[0]; i++)
        if (strcmp(kernels[i]->name, name) == 0) return kernels[i];
    return NULL;
}

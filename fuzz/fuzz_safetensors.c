/* Fuzz target: the safetensors reader (st_parse), then every accessor over what it accepted: each
 * tensor's description and data, each metadata entry, lookups by name and st_expect. */
#include <stdlib.h>
#include <string.h>

#include "safetensors.h"

/* Reads every byte of a tensor's data (ASan checks it is in bounds); returns a checksum. */
static unsigned touch_tensor(const st_tensor *t) {
    const unsigned char *p = t->data;
    size_t bytes = st_numel(t) * 4;
    unsigned h = (unsigned)t->dtype + (unsigned)t->ndim + (unsigned)strlen(t->name) + (unsigned)strlen(st_dtype_name(t->dtype));
    for (size_t i = 0; i < bytes; i++) h = h * 31 + p[i];
    return h;
}

/* One input: parse, walk, close. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    st_file *f;
    char err[512];
    if (st_parse(&f, data, size, "fuzz", err, sizeof err)) return 0;
    volatile unsigned sink = 0;
    for (int i = 0; i < st_count(f); i++) {
        const st_tensor *t = st_at(f, i);
        sink += touch_tensor(t);
        if (st_find(f, t->name) == NULL) abort(); /* every listed tensor can be found by its name */
        const st_tensor *again;
        if (st_expect(f, t->name, t->dtype, t->ndim, t->shape, &again, err, sizeof err) != 0) abort();
    }
    for (int i = 0; i < st_meta_count(f); i++) {
        st_meta m = st_meta_at(f, i);
        sink += (unsigned)strlen(m.key) + (unsigned)strlen(m.value);
        if (st_meta_get(f, m.key) == NULL) abort();
    }
    static const int64_t shape_w[2] = {2, 3}, shape_step[1] = {2}, shape_rng[1] = {8};
    const st_tensor *t;
    st_expect(f, "w", ST_F32, 2, shape_w, &t, err, sizeof err);
    st_expect(f, "state.step", ST_I32, 1, shape_step, &t, err, sizeof err);
    st_expect(f, "state.rng.train", ST_I32, 1, shape_rng, &t, err, sizeof err);
    st_expect(f, "scalar", ST_F32, 0, NULL, &t, err, sizeof err);
    st_meta_get(f, "format");
    st_close(f);
    (void)sink;
    return 0;
}

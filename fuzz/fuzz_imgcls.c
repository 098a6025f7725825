/* Fuzz target: the Fashion-MNIST IDX loader (imgcls_read_idx: gzip or raw bytes, size, magic,
 * dimensions, checksum, label range). The first input byte picks the expected layout, the rest is
 * the file: 0-3 the four real files (with their SHA-256), 4-7 small layouts without a checksum so the
 * checks after it (label range) are reachable: 1 or 2 images, 4 or 16 labels. */
#include <stdlib.h>

#include "fuzz_util.h"
#include "task_parse.h"

static const imgcls_idx SMALL[4] = {
    {"one-image", 0x803, 1, NULL},
    {"two-images", 0x803, 2, NULL},
    {"four-labels", 0x801, 4, NULL},
    {"sixteen-labels", 0x801, 16, NULL},
};

/* One input: write the file, read it against the chosen layout. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const int k = data[0] % 8;
    const imgcls_idx *want = k < 4 ? &IMGCLS_FILES[k] : &SMALL[k - 4];
    const char *path = fuzz_tmp_path(0, "idx.gz");
    fuzz_write_file(path, data + 1, size - 1);
    uint8_t *buf;
    char err[1600];
    if (imgcls_read_idx(path, want, &buf, err, sizeof err) == 0) {
        const int items = want->n, head = want->magic == 0x803 ? 16 : 8;
        if (want->magic == 0x801 && buf[head + items - 1] >= 10) abort(); /* labels were checked */
        free(buf);
    }
    return 0;
}

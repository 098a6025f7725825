/* SHA-256 (FIPS 180-4), for run identity: config ids and run ids are hex prefixes of it, so any
 * tool (Python's hashlib, sha256sum) can recompute them. */
#ifndef LRPE_SHA256_H
#define LRPE_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct sha256_ctx {
    uint32_t h[8];
    uint64_t len;      /* bytes hashed so far */
    unsigned char buf[64];
    size_t nbuf;
} sha256_ctx;

void sha256_init(sha256_ctx *c);
void sha256_update(sha256_ctx *c, const void *data, size_t n);
void sha256_final(sha256_ctx *c, unsigned char out[32]);
/* sha256_final as 64 lowercase hex digits and a NUL. */
void sha256_final_hex(sha256_ctx *c, char out[65]);

/* The digest of data[n] as lowercase hex, cut to hexlen (<= 64) characters; out holds hexlen + 1. */
void sha256_hex(const void *data, size_t n, char *out, int hexlen);

#endif

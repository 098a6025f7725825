/* MD5 (RFC 1321), only to check downloaded data files against their published checksums. */
#ifndef LRPE_MD5_H
#define LRPE_MD5_H

#include <stddef.h>
#include <stdint.h>

typedef struct md5_ctx {
    uint32_t h[4];
    uint64_t len;    /* bytes hashed so far */
    uint8_t buf[64]; /* pending partial block */
    size_t nbuf;
} md5_ctx;

void md5_init(md5_ctx *c);
void md5_update(md5_ctx *c, const void *data, size_t n);
/* Finishes and writes the 16-byte digest. */
void md5_final(md5_ctx *c, uint8_t out[16]);
/* The digest of data as 32 lowercase hex characters plus NUL in hex[33]. */
void md5_hex(const void *data, size_t n, char hex[33]);

#endif

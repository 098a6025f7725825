/* Fuzz target: the body extraction of the SpamAssassin loader (textcls_mail_body): the body must
 * lie inside the message, follow the first blank line when there is one, and be the empty tail
 * when there is none. */
#include <stdlib.h>
#include <string.h>

#include "task_parse.h"

/* One input: extract the body of a copy of exactly its size, check where it starts. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *msg = malloc(size ? size : 1);
    if (!msg) abort();
    memcpy(msg, data, size);
    size_t len;
    const char *body = textcls_mail_body(msg, size, &len);
    if (body < msg || body > msg + size || body + len != msg + size) abort();
    const int blank = memmem(msg, size, "\n\n", 2) || memmem(msg, size, "\r\n\r\n", 4);
    if (!blank && len != 0) abort();
    if (blank && !((body - msg >= 2 && memcmp(body - 2, "\n\n", 2) == 0) ||
                   (body - msg >= 4 && memcmp(body - 4, "\r\n\r\n", 4) == 0)))
        abort();
    /* ... the first one: none ends before the body starts */
    const size_t head = (size_t)(body - msg);
    if (blank && (memmem(msg, head - 1, "\n\n", 2) || memmem(msg, head - 1, "\r\n\r\n", 4))) abort();
    free(msg);
    return 0;
}

/* Text for messages: see text.h. */
#include "text.h"

const char *text_shown(const char *s, char *out, size_t len) {
    size_t i = 0;
    if (!len) return out;
    for (; s && s[i] && i + 1 < len; i++) out[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
    if (s && s[i] && i >= 3) out[i - 3] = out[i - 2] = out[i - 1] = '.';
    out[i] = 0;
    return out;
}

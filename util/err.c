/* One-line error messages: see err.h. */
#include "err.h"

#include <stdio.h>

int verrf_label(char *err, size_t errlen, const char *label, const char *fmt, va_list ap) {
    if (!err || !errlen) return -1;
    int k = label ? snprintf(err, errlen, "%s: ", label) : 0;
    if (k >= 0 && (size_t)k < errlen) vsnprintf(err + k, errlen - (size_t)k, fmt, ap);
    for (char *p = err; *p; p++)
        if ((unsigned char)*p < 0x20) *p = ' ';
    return -1;
}

int errf_label(char *err, size_t errlen, const char *label, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    verrf_label(err, errlen, label, fmt, ap);
    va_end(ap);
    return -1;
}

int errf(char *err, size_t errlen, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    verrf_label(err, errlen, NULL, fmt, ap);
    va_end(ap);
    return -1;
}

/* One-line error messages, the way every layer reports a failure: a function that can fail writes
 * its reason into the caller's (err, errlen) buffer and returns nonzero; nothing below the command
 * line prints or exits. */
#ifndef LRPE_ERR_H
#define LRPE_ERR_H

#include <stdarg.h>
#include <stddef.h>

/* Writes "label: message" (just the message when label is NULL) into err[errlen], cut to fit,
 * control bytes turned into spaces so it stays one line; err may be NULL. Returns -1, so that
 * `return errf(err, errlen, ...)` reports and fails in one statement. */
int verrf_label(char *err, size_t errlen, const char *label, const char *fmt, va_list ap);
int errf_label(char *err, size_t errlen, const char *label, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
int errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif

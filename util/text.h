/* Text for messages. */
#ifndef LRPE_TEXT_H
#define LRPE_TEXT_H

#include <stddef.h>

/* A printable copy of a (possibly hostile) string read from a file, for a message: control bytes
 * become '?', a string longer than len - 1 is cut and ends in "...". Returns out. */
const char *text_shown(const char *s, char *out, size_t len);

#endif

/* The build's identity: see version.h. */
#include "version.h"

#ifndef LRPE_VERSION
#define LRPE_VERSION "0.0.0"
#endif
#ifndef LRPE_GIT
#define LRPE_GIT "unknown"
#endif
#ifndef LRPE_CFLAGS
#define LRPE_CFLAGS "unknown"
#endif

const char *lrpe_version(void) { return LRPE_VERSION; }
const char *lrpe_commit(void) { return LRPE_GIT; }
const char *lrpe_cflags(void) { return LRPE_CFLAGS; }

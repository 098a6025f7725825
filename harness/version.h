/* Build identity, passed by the Makefile (-DLRPE_VERSION, -DLRPE_GIT, -DLRPE_CFLAGS); fallbacks for
 * builds that do not. */
#ifndef LRPE_VERSION_H
#define LRPE_VERSION_H

#ifndef LRPE_VERSION
#define LRPE_VERSION "0.0.0"
#endif
#ifndef LRPE_GIT
#define LRPE_GIT "unknown"
#endif
#ifndef LRPE_CFLAGS
#define LRPE_CFLAGS "unknown"
#endif

#endif

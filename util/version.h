/* The build's identity: the version, the commit it was built from ("-dirty" with uncommitted
 * changes) and its compiler flags. The Makefile passes them to util/version.c alone, which it
 * rebuilds every time, so nothing else can name a stale commit. */
#ifndef LRPE_VERSION_H
#define LRPE_VERSION_H

const char *lrpe_version(void);
const char *lrpe_commit(void);
const char *lrpe_cflags(void);

#endif

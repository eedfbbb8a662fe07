/*
 * daemon: what both daemons' main() does. Parse --config/--check-config,
 * load and validate the file, set up logging and failpoints, start the
 * service, wait for SIGINT or SIGTERM, stop it.
 *
 * Exit codes: 0 after a clean stop, 1 when the service cannot start (port in
 * use, unreadable log...), 2 for bad usage, config or failpoint spec.
 */
#ifndef XACT_DAEMON_H
#define XACT_DAEMON_H

#include <stddef.h>

#include "log.h"

struct daemon_ops {
	const char *program;   /* "xact-coordinator" */
	const char *component; /* "coordinator": the name in log lines */
	const char *example;   /* an example config file, for --help */
	void *cfg;             /* the config struct to fill */
	int (*load)(const char *path, void *cfg, char *err, size_t errlen);
	enum xlog_level (*log_level)(const void *cfg);
	int (*start)(const void *cfg, void **service, char *err, size_t errlen);
	void (*stop)(void *service);
	void (*free_cfg)(void *cfg);
};

int daemon_main(int argc, char **argv, const struct daemon_ops *ops);

#endif

/* xact-coordinator: wiring only; the service is in server.c and txn.c. */
#include "config.h"
#include "coordinator.h"
#include "daemon.h"

static int
load(const char *path, void *cfg, char *err, size_t errlen)
{
	return cfg_load_coord(path, cfg, err, errlen);
}

static enum xlog_level
log_level(const void *cfg)
{
	return ((const struct coord_config *)cfg)->log_level;
}

static int
start(const void *cfg, void **service, char *err, size_t errlen)
{
	return coordinator_start(cfg, (struct coordinator **)service, err,
	                         errlen);
}

static void
stop(void *service)
{
	coordinator_stop(service);
}

static void
free_cfg(void *cfg)
{
	cfg_free_coord(cfg);
}

int
main(int argc, char **argv)
{
	struct coord_config cfg = {0};
	const struct daemon_ops ops = {
	    .program = "xact-coordinator",
	    .component = "coordinator",
	    .example = "config/coordinator.yaml",
	    .cfg = &cfg,
	    .load = load,
	    .log_level = log_level,
	    .start = start,
	    .stop = stop,
	    .free_cfg = free_cfg,
	};

	return daemon_main(argc, argv, &ops);
}

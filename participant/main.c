/* xact-participant: wiring only; the service is in participant.c. */
#include "config.h"
#include "daemon.h"
#include "participant.h"

static int
load(const char *path, void *cfg, char *err, size_t errlen)
{
	return cfg_load_part(path, cfg, err, errlen);
}

static enum xlog_level
log_level(const void *cfg)
{
	return ((const struct part_config *)cfg)->log_level;
}

static int
start(const void *cfg, void **service, char *err, size_t errlen)
{
	return participant_start(cfg, (struct participant **)service, err,
	                         errlen);
}

static void
stop(void *service)
{
	participant_stop(service);
}

static void
free_cfg(void *cfg)
{
	cfg_free_part(cfg);
}

int
main(int argc, char **argv)
{
	struct part_config cfg = {0};
	const struct daemon_ops ops = {
	    .program = "xact-participant",
	    .component = "participant",
	    .example = "config/participant-bank1.yaml",
	    .cfg = &cfg,
	    .load = load,
	    .log_level = log_level,
	    .start = start,
	    .stop = stop,
	    .free_cfg = free_cfg,
	};

	return daemon_main(argc, argv, &ops);
}

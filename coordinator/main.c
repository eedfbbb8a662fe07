/*
 * xact-coordinator: parse flags, load the config, start, wait for a signal.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "coordinator.h"
#include "failpoint.h"
#include "log.h"

static void
usage(FILE *f)
{
	fprintf(f, "usage: xact-coordinator --config FILE [--check-config]\n"
		   "  -c, --config FILE   YAML configuration (see "
		   "config/coordinator.yaml)\n"
		   "      --check-config  validate FILE and exit\n");
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"check-config", no_argument, NULL, 'k'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *path = NULL;
	struct coord_config cfg = {0};
	struct coordinator *co;
	bool check = false;
	char err[512];
	sigset_t sigs;
	int c, sig;

	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 'k':
			check = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (path == NULL || optind != argc) {
		usage(stderr);
		return 2;
	}
	if (cfg_load_coord(path, &cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "xact-coordinator: %s\n", err);
		return 2;
	}
	if (check) {
		printf("%s: ok\n", path);
		cfg_free_coord(&cfg);
		return 0;
	}
	xlog_init("coordinator", cfg.log_level);
	if (fp_init(err, sizeof(err)) != 0) {
		fprintf(stderr, "xact-coordinator: %s\n", err);
		return 2;
	}
	/* Signals are taken by sigwait below, not by a handler. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (coordinator_start(&cfg, &co, err, sizeof(err)) != 0) {
		fprintf(stderr, "xact-coordinator: %s\n", err);
		cfg_free_coord(&cfg);
		return 1;
	}
	sigwait(&sigs, &sig);
	xlog_info("%s: stopping", strsignal(sig));
	coordinator_stop(co);
	cfg_free_coord(&cfg);
	return 0;
}

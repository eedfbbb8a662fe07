#include "daemon.h"

#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "failpoint.h"

static void
usage(FILE *f, const struct daemon_ops *ops)
{
	fprintf(f,
	        "usage: %s --config FILE [--check-config]\n"
	        "  -c, --config FILE   YAML configuration (e.g. %s)\n"
	        "      --check-config  validate FILE and exit\n",
	        ops->program, ops->example);
}

/*
 * NNG 1.5 sets itself up on its first use, without a lock that covers two
 * threads getting there at once (ThreadSanitizer sees it); a daemon's
 * threads all use NNG, so the main thread goes first, alone.
 */
static void
nng_first_use(void)
{
	nng_socket s;

	if (nng_req0_open(&s) == 0)
		nng_close(s);
}

int
daemon_main(int argc, char **argv, const struct daemon_ops *ops)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"check-config", no_argument, NULL, 'k'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *path = NULL;
	bool check = false;
	void *service;
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
			usage(stdout, ops);
			return 0;
		default:
			usage(stderr, ops);
			return 2;
		}
	}
	if (path == NULL || optind != argc) {
		usage(stderr, ops);
		return 2;
	}
	if (ops->load(path, ops->cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: %s\n", ops->program, err);
		return 2;
	}
	if (check) {
		printf("%s: ok\n", path);
		ops->free_cfg(ops->cfg);
		return 0;
	}
	xlog_init(ops->component, ops->log_level(ops->cfg));
	if (fp_init(err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: %s\n", ops->program, err);
		ops->free_cfg(ops->cfg);
		return 2;
	}
	/* Signals are taken by sigwait below; every thread inherits the
	 * mask, so none of them is interrupted by one. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	nng_first_use();
	if (ops->start(ops->cfg, &service, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: %s\n", ops->program, err);
		ops->free_cfg(ops->cfg);
		return 1;
	}
	sigwait(&sigs, &sig);
	xlog_info("%s: stopping", strsignal(sig));
	ops->stop(service);
	ops->free_cfg(ops->cfg);
	return 0;
}

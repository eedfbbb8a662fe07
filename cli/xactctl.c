/*
 * xactctl: run a distributed transaction, or ask for an outcome.
 *
 *   xactctl [-u URL | -c coordinator.yaml] exec [--protocol 2pc|3pc]
 *           -p NAME "SQL" [-p NAME "SQL"]...
 *   xactctl [-u URL | -c coordinator.yaml] status GID
 *   xactctl [-u URL | -c coordinator.yaml] stats
 *   xactctl [-u URL | -c coordinator.yaml] list [--json]
 *   xactctl [-u URL | -c coordinator.yaml] show GID
 *   xactctl [-u URL | -c coordinator.yaml] resolve GID --commit|--abort
 *           --reason WHY [--as WHO]
 *
 * Exit: 0 committed, 1 aborted (reason on stderr), 2 error (outcome of an
 * exec unknown: ask with status), 3 status: in progress.
 * stats prints one "name value" line per counter of the coordinator.
 * list prints the coordinator's transactions in flight and, with -c, the
 * branches prepared at each participant of the config, with their ages;
 * exit 2 when one of them did not answer. With -c, tls+tcp:// URLs are
 * dialed with the config's TLS identity (tls.ca, tls.cert, tls.key). show
 * prints one transaction: its outcome, and, while it is open, its state, age
 * and votes at the coordinator and whether each participant holds it prepared.
 * resolve is an operator's decision (docs/operations.md): exit 0 when it is
 * the outcome now, 1 when the coordinator refused it (it would contradict
 * the decision log, or it is still deciding), 2 on error. WHO defaults to
 * user@host.
 */
#include <getopt.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "xact.h"

enum {
	EXIT_COMMITTED = 0,
	EXIT_ABORTED = 1,
	EXIT_ERROR = 2,
	EXIT_IN_PROGRESS = 3,
};

static void
usage(FILE *f)
{
	fprintf(f,
	        "usage: xactctl [-u URL | -c FILE] [-t MS] exec "
	        "[--protocol 2pc|3pc] -p NAME SQL [-p NAME SQL]...\n"
	        "       xactctl [-u URL | -c FILE] [-t MS] status GID\n"
	        "       xactctl [-u URL | -c FILE] [-t MS] stats\n"
	        "       xactctl [-u URL | -c FILE] [-t MS] list [--json]\n"
	        "       xactctl [-u URL | -c FILE] [-t MS] show GID\n"
	        "       xactctl [-u URL | -c FILE] [-t MS] resolve GID "
	        "--commit|--abort --reason WHY [--as WHO]\n"
	        "  -u URL   coordinator URL (default $XACT_URL or "
	        "tcp://127.0.0.1:7600)\n"
	        "  -c FILE  take the URL from the coordinator's config file\n"
	        "  -t MS    request timeout in milliseconds (default 30000)\n"
	        "exit: 0 committed, 1 aborted, 2 error, 3 in progress\n");
}

static const char *
outcome_name(xact_outcome o)
{
	switch (o) {
	case XACT_COMMITTED:
		return "committed";
	case XACT_ABORTED:
		return "aborted";
	case XACT_IN_PROGRESS:
		return "in progress";
	}
	return "unknown";
}

/* Statements grouped by participant, in order of first appearance. */
struct plan {
	struct xact_branch *b;
	const char ***sql;
	size_t n;
};

static int
plan_add(struct plan *p, const char *name, const char *sql)
{
	size_t i;

	for (i = 0; i < p->n; i++)
		if (strcmp(p->b[i].participant, name) == 0)
			break;
	if (i == p->n) {
		p->b = realloc(p->b, (p->n + 1) * sizeof(*p->b));
		p->sql = realloc(p->sql, (p->n + 1) * sizeof(*p->sql));
		if (p->b == NULL || p->sql == NULL)
			return -1;
		p->b[i] = (struct xact_branch){name, NULL, 0};
		p->sql[i] = NULL;
		p->n++;
	}
	p->sql[i] = realloc(p->sql[i], (p->b[i].nsql + 1) * sizeof(char *));
	if (p->sql[i] == NULL)
		return -1;
	p->sql[i][p->b[i].nsql++] = sql;
	p->b[i].sql = p->sql[i];
	return 0;
}

static int
cmd_exec(xact_conn *c, int argc, char **argv)
{
	struct plan p = {0};
	char gid[XACT_GID_MAX] = "";
	xact_outcome o;
	int rc;

	if (argc >= 2 && strcmp(argv[0], "--protocol") == 0) {
		xact_protocol proto =
		    strcmp(argv[1], "2pc") == 0   ? XACT_PROTOCOL_2PC
		    : strcmp(argv[1], "3pc") == 0 ? XACT_PROTOCOL_3PC
		                                  : XACT_PROTOCOL_DEFAULT;

		if (proto == XACT_PROTOCOL_DEFAULT) {
			fprintf(stderr,
			        "xactctl: --protocol takes 2pc or 3pc, not "
			        "\"%s\"\n",
			        argv[1]);
			return EXIT_ERROR;
		}
		xact_set_protocol(c, proto);
		argc -= 2;
		argv += 2;
	}
	for (int i = 0; i < argc; i += 3) {
		if (strcmp(argv[i], "-p") != 0 || i + 2 >= argc) {
			fprintf(stderr, "xactctl: exec takes -p NAME SQL "
			                "pairs\n");
			return EXIT_ERROR;
		}
		if (plan_add(&p, argv[i + 1], argv[i + 2]) != 0) {
			fprintf(stderr, "xactctl: out of memory\n");
			return EXIT_ERROR;
		}
	}
	if (p.n == 0) {
		fprintf(stderr,
		        "xactctl: exec needs at least one -p NAME SQL\n");
		return EXIT_ERROR;
	}
	if (xact_submit(c, p.b, p.n, gid, &o) != 0) {
		fprintf(stderr, "xactctl: %s\n", xact_errmsg(c));
		rc = EXIT_ERROR;
	} else if (o == XACT_COMMITTED) {
		printf("%s committed\n", gid);
		rc = EXIT_COMMITTED;
	} else {
		printf("%s aborted\n", gid);
		fprintf(stderr, "xactctl: %s\n", xact_errmsg(c));
		rc = EXIT_ABORTED;
	}
	for (size_t i = 0; i < p.n; i++)
		free(p.sql[i]);
	free(p.sql);
	free(p.b);
	return rc;
}

static int
cmd_status(xact_conn *c, int argc, char **argv)
{
	xact_outcome o;

	if (argc != 1) {
		fprintf(stderr, "xactctl: status takes one GID\n");
		return EXIT_ERROR;
	}
	if (xact_status(c, argv[0], &o) != 0) {
		fprintf(stderr, "xactctl: %s\n", xact_errmsg(c));
		return EXIT_ERROR;
	}
	printf("%s %s\n", argv[0], outcome_name(o));
	return o == XACT_COMMITTED ? EXIT_COMMITTED
	       : o == XACT_ABORTED ? EXIT_ABORTED
	                           : EXIT_IN_PROGRESS;
}

/* user@host of whoever runs this. */
static void
default_who(char *buf, size_t len)
{
	const struct passwd *pw = getpwuid(geteuid());
	char host[64] = "?";

	gethostname(host, sizeof(host) - 1);
	/* The coordinator takes at most 64 bytes. */
	snprintf(buf, len, "%.31s@%.32s", pw != NULL ? pw->pw_name : "?", host);
}

static int
cmd_resolve(xact_conn *c, int argc, char **argv)
{
	const char *gid = NULL, *why = NULL, *who = NULL;
	xact_outcome decision = 0, o;
	char me[128];
	int rc;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--commit") == 0 ||
		    strcmp(argv[i], "--abort") == 0) {
			if (decision != 0) {
				fprintf(stderr, "xactctl: resolve: one of "
				                "--commit and --abort\n");
				return EXIT_ERROR;
			}
			decision =
			    argv[i][2] == 'c' ? XACT_COMMITTED : XACT_ABORTED;
		} else if (strcmp(argv[i], "--reason") == 0 && i + 1 < argc) {
			why = argv[++i];
		} else if (strcmp(argv[i], "--as") == 0 && i + 1 < argc) {
			who = argv[++i];
		} else if (argv[i][0] != '-' && gid == NULL) {
			gid = argv[i];
		} else {
			fprintf(stderr, "xactctl: resolve: unexpected \"%s\"\n",
			        argv[i]);
			return EXIT_ERROR;
		}
	}
	if (gid == NULL || decision == 0 || why == NULL || why[0] == '\0') {
		fprintf(stderr, "xactctl: resolve takes GID, --commit or "
		                "--abort, and --reason WHY\n");
		return EXIT_ERROR;
	}
	if (who == NULL) {
		default_who(me, sizeof(me));
		who = me;
	}
	rc = xact_resolve(c, gid, decision, who, why, &o);
	if (rc != 0) {
		fprintf(stderr, "xactctl: %s\n", xact_errmsg(c));
		return rc == 1 ? 1 : EXIT_ERROR;
	}
	printf("%s %s: %s\n", gid, outcome_name(o), xact_errmsg(c));
	return 0;
}

static int
cmd_stats(xact_conn *c, int argc)
{
	xact_result *r;

	if (argc != 0) {
		fprintf(stderr, "xactctl: stats takes no arguments\n");
		return EXIT_ERROR;
	}
	if (xact_stats(c, &r) != 0) {
		fprintf(stderr, "xactctl: %s\n", xact_errmsg(c));
		return EXIT_ERROR;
	}
	for (size_t i = 0; i < xact_result_nrows(r); i++)
		printf("%-14s %s\n", xact_result_value(r, i, 0),
		       xact_result_value(r, i, 1));
	xact_result_free(r);
	return 0;
}

/* The -c config's TLS identity, for tls+tcp:// URLs (NULL: none). */
static const struct coord_config *tls_cfg;

/* Connect as the -c config's daemon would (its TLS identity, if any). */
static int
connect_to(const char *url, unsigned timeout, xact_conn **c)
{
	if (tls_cfg != NULL && tls_cfg->tls_cert != NULL)
		return xact_connect_tls(url, timeout, tls_cfg->tls_ca,
		                        tls_cfg->tls_cert, tls_cfg->tls_key, c);
	return xact_connect(url, timeout, c);
}

/* s as a JSON string. */
static void
json_str(const char *s)
{
	putchar('"');
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

/* One table of a LIST answer; columns as xact_list() says. */
static void
print_rows(const xact_result *r, bool json, bool coordinator)
{
	for (size_t i = 0; i < xact_result_nrows(r); i++) {
		const char *gid = xact_result_value(r, i, 0);
		const char *age = xact_result_value(r, i, coordinator ? 2 : 1);

		if (json) {
			printf("%s{\"gid\": ", i > 0 ? ", " : "");
			json_str(gid);
			if (coordinator) {
				printf(", \"state\": ");
				json_str(xact_result_value(r, i, 1));
				printf(", \"participants\": ");
				json_str(xact_result_value(r, i, 3));
			}
			printf(", \"age_ms\": %s}", age);
			continue;
		}
		printf("  %-30s ", gid);
		if (coordinator)
			printf("%-13s ", xact_result_value(r, i, 1));
		printf("%8.1fs", strtod(age, NULL) / 1000);
		if (coordinator)
			printf("  %s", xact_result_value(r, i, 3));
		putchar('\n');
	}
}

static int
list_participant(const struct cfg_endpoint *e, unsigned timeout, bool json,
                 bool first)
{
	xact_conn *pc = NULL;
	xact_result *r = NULL;
	int rc = 0;

	if (connect_to(e->url, timeout, &pc) != 0 || xact_list(pc, &r) != 0)
		rc = -1;
	if (json) {
		printf("%s{\"name\": ", first ? "" : ", ");
		json_str(e->name);
		printf(", \"url\": ");
		json_str(e->url);
		if (rc != 0) {
			printf(", \"error\": ");
			json_str(pc != NULL ? xact_errmsg(pc)
			                    : "out of memory");
		} else {
			printf(", \"prepared\": [");
			print_rows(r, true, false);
			printf("]");
		}
		printf("}");
	} else if (rc != 0) {
		printf("participant %s (%s): no answer: %s\n", e->name, e->url,
		       pc != NULL ? xact_errmsg(pc) : "out of memory");
	} else {
		printf("participant %s (%s): %zu prepared\n", e->name, e->url,
		       xact_result_nrows(r));
		if (xact_result_nrows(r) > 0)
			printf("  %-30s %9s\n", "GID", "AGE");
		print_rows(r, false, false);
	}
	xact_result_free(r);
	xact_disconnect(pc);
	return rc;
}

static int
cmd_list(xact_conn *c, const char *url, const struct coord_config *cfg,
         unsigned timeout, int argc, char **argv)
{
	bool json = argc == 1 && strcmp(argv[0], "--json") == 0;
	xact_result *r;
	int rc = 0;

	if (argc > 1 || (argc == 1 && !json)) {
		fprintf(stderr, "xactctl: list takes only --json\n");
		return EXIT_ERROR;
	}
	if (xact_list(c, &r) != 0) {
		fprintf(stderr, "xactctl: %s\n", xact_errmsg(c));
		return EXIT_ERROR;
	}
	if (xact_result_ncols(r) == 2) {
		/* -u named a participant: its prepared branches. */
		if (json) {
			printf("{\"participant\": {\"url\": ");
			json_str(url);
			printf(", \"prepared\": [");
			print_rows(r, true, false);
			printf("]}}\n");
		} else {
			printf("participant %s: %zu prepared\n", url,
			       xact_result_nrows(r));
			if (xact_result_nrows(r) > 0)
				printf("  %-30s %9s\n", "GID", "AGE");
			print_rows(r, false, false);
		}
		xact_result_free(r);
		return 0;
	}
	if (json) {
		printf("{\"coordinator\": {\"url\": ");
		json_str(url);
		printf(", \"transactions\": [");
		print_rows(r, true, true);
		printf("]}, \"participants\": [");
	} else {
		printf("coordinator %s: %zu in flight\n", url,
		       xact_result_nrows(r));
		if (xact_result_nrows(r) > 0)
			printf("  %-30s %-13s %9s  %s\n", "GID", "STATE", "AGE",
			       "PARTICIPANTS");
		print_rows(r, false, true);
	}
	xact_result_free(r);
	for (size_t i = 0; i < cfg->nparticipants; i++)
		if (list_participant(&cfg->participants[i], timeout, json,
		                     i == 0) != 0)
			rc = EXIT_ERROR;
	if (json)
		printf("]}\n");
	else if (cfg->nparticipants == 0)
		printf("(give -c coordinator.yaml to list the participants' "
		       "prepared branches too)\n");
	return rc;
}

/* The row of r whose first column is gid, or -1. */
static long
find_row(const xact_result *r, const char *gid)
{
	for (size_t i = 0; i < xact_result_nrows(r); i++)
		if (strcmp(xact_result_value(r, i, 0), gid) == 0)
			return (long)i;
	return -1;
}

static int
cmd_show(xact_conn *c, const struct coord_config *cfg, unsigned timeout,
         int argc, char **argv)
{
	xact_result *r;
	xact_outcome o;
	long row;
	int rc = 0;

	if (argc != 1) {
		fprintf(stderr, "xactctl: show takes one GID\n");
		return EXIT_ERROR;
	}
	if (xact_status(c, argv[0], &o) != 0 || xact_list(c, &r) != 0) {
		fprintf(stderr, "xactctl: %s\n", xact_errmsg(c));
		return EXIT_ERROR;
	}
	printf("gid           %s\noutcome       %s\n", argv[0],
	       outcome_name(o));
	if ((row = find_row(r, argv[0])) >= 0)
		printf("state         %s\nage           %.1fs\n"
		       "votes         %s\n",
		       xact_result_value(r, (size_t)row, 1),
		       strtod(xact_result_value(r, (size_t)row, 2), NULL) /
		           1000,
		       xact_result_value(r, (size_t)row, 3));
	else
		printf("state         not in flight at the coordinator\n");
	xact_result_free(r);
	for (size_t i = 0; i < cfg->nparticipants; i++) {
		const struct cfg_endpoint *e = &cfg->participants[i];
		xact_conn *pc = NULL;

		printf("%-13s ", e->name);
		if (connect_to(e->url, timeout, &pc) != 0 ||
		    xact_list(pc, &r) != 0) {
			printf("no answer: %s\n",
			       pc != NULL ? xact_errmsg(pc) : "out of memory");
			rc = EXIT_ERROR;
		} else if ((row = find_row(r, argv[0])) >= 0) {
			printf(
			    "prepared for %.1fs\n",
			    strtod(xact_result_value(r, (size_t)row, 1), NULL) /
			        1000);
			xact_result_free(r);
		} else {
			printf("not prepared\n");
			xact_result_free(r);
		}
		xact_disconnect(pc);
	}
	return rc;
}

int
main(int argc, char **argv)
{
	const char *url = getenv("XACT_URL"), *cfgpath = NULL;
	struct coord_config cfg = {0};
	unsigned timeout = 0;
	xact_conn *c;
	char err[512];
	int opt, rc;

	/* Options stop at the command so that "-p" belongs to exec. */
	while ((opt = getopt(argc, argv, "+u:c:t:h")) != -1) {
		switch (opt) {
		case 'u':
			url = optarg;
			break;
		case 'c':
			cfgpath = optarg;
			break;
		case 't':
			timeout = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_ERROR;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_ERROR;
	}
	if (cfgpath != NULL) {
		if (cfg_load_coord(cfgpath, &cfg, err, sizeof(err)) != 0) {
			fprintf(stderr, "xactctl: %s\n", err);
			return EXIT_ERROR;
		}
		url = cfg.listen;
	}
	if (url == NULL)
		url = "tcp://127.0.0.1:7600";
	tls_cfg = &cfg;
	if (connect_to(url, timeout, &c) != 0) {
		fprintf(stderr, "xactctl: %s\n",
		        c != NULL ? xact_errmsg(c) : "out of memory");
		xact_disconnect(c);
		cfg_free_coord(&cfg);
		return EXIT_ERROR;
	}
	if (strcmp(argv[optind], "exec") == 0)
		rc = cmd_exec(c, argc - optind - 1, argv + optind + 1);
	else if (strcmp(argv[optind], "status") == 0)
		rc = cmd_status(c, argc - optind - 1, argv + optind + 1);
	else if (strcmp(argv[optind], "stats") == 0)
		rc = cmd_stats(c, argc - optind - 1);
	else if (strcmp(argv[optind], "show") == 0)
		rc = cmd_show(c, &cfg, timeout, argc - optind - 1,
		              argv + optind + 1);
	else if (strcmp(argv[optind], "resolve") == 0)
		rc = cmd_resolve(c, argc - optind - 1, argv + optind + 1);
	else if (strcmp(argv[optind], "list") == 0)
		rc = cmd_list(c, url, &cfg, timeout, argc - optind - 1,
		              argv + optind + 1);
	else {
		fprintf(stderr, "xactctl: unknown command \"%s\"\n",
		        argv[optind]);
		usage(stderr);
		rc = EXIT_ERROR;
	}
	xact_disconnect(c);
	cfg_free_coord(&cfg);
	return rc;
}

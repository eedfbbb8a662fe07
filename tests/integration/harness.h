/*
 * harness: what the integration tests stand on.
 *
 *   hpg_*      throwaway PostgreSQL clusters, one temp dir each
 *   hproc_*    child processes in their own process group, output to a file
 *   hwait_*    polling for a condition, a port, a free port
 *   hcluster_* N PostgreSQL clusters, N participants (bank1..bankN) and one
 *              coordinator, with their configs, in one temp dir
 *   hbank_*    the accounts table of the bank workload
 *
 * Clusters are copies of one template made by initdb once per build
 * ($XACT_BIN_DIR/pg-template, or $XACT_PG_TEMPLATE), under a lock file so
 * that parallel test processes do not race. When run as root, PostgreSQL
 * runs as the user postgres (initdb and pg_ctl refuse root).
 *
 * Nothing outlives a test: everything the harness starts is also registered
 * with a reaper process, which stops whatever is still running when the
 * test process goes away, even by SIGKILL (a Criterion timeout).
 *
 * Environment: XACT_KEEP_TMP=1 keeps the temp dirs (their paths are
 * printed); XACT_DUMP_LOGS=1 makes hcluster_stop() print the daemon logs.
 *
 * Functions returning int return 0 on success and -1 on failure, after
 * printing why on stderr.
 */
#ifndef XACT_HARNESS_H
#define XACT_HARNESS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "xact.h"

#define HPATH_MAX 512 /* our paths stay short: sockets live in them */

/*
 * A throwaway PostgreSQL cluster: data in dir/data, log in dir/pg.log.
 * dir, netns and host may be set before hpg_start(), or left "".
 */
struct hpg {
	char dir[HPATH_MAX];
	char netns[32]; /* the network namespace it runs in; "": ours */
	char host[16];  /* the address it listens on; "": 127.0.0.1 */
	int port;
	char conninfo[128]; /* host=<host> port=N dbname=postgres ... */
	bool running;
};

/* Create the cluster from the template and start it on a free port. */
int hpg_start(struct hpg *pg);
/* Stop at once (immediate) and remove its directory. */
void hpg_stop(struct hpg *pg);
/* Stop at once (immediate: a crash), keeping the data. */
int hpg_kill(struct hpg *pg);
/* Start a killed cluster again on the same port (crash recovery runs). */
int hpg_restart(struct hpg *pg);
/* The address it listens on. */
const char *hpg_host(const struct hpg *pg);
/* Run sql (may hold several statements) in a new session. */
int hpg_exec(struct hpg *pg, const char *sql);
/* Run a query returning one integer (NULL reads as 0). */
int hpg_query_i64(struct hpg *pg, const char *sql, int64_t *out);
/*
 * A query returning one integer, through the Unix socket: the filesystem
 * is shared across namespaces, so this reaches a database cut off by
 * hcluster_cut(). -1 on error (printed), or when the value is NULL.
 */
int64_t hpg_query_socket(struct hpg *pg, const char *sql);
/* Through the socket too: our prepared transactions, one balance. */
int64_t hpg_prepared_socket(struct hpg *pg);
int64_t hbank_balance_socket(struct hpg *pg, int id);
/* Our prepared transactions (gid LIKE 'xact\_%'), or -1 on error. */
int64_t hpg_prepared_count(struct hpg *pg);

/* A child process in its own process group. */
struct hproc {
	char name[32];
	pid_t pid; /* also its process group; 0 when not started */
	bool reaped;
	int status; /* waitpid status, once reaped */
	char log[HPATH_MAX];
};

/*
 * Start argv[0] (a path, or a name looked up in PATH) with extra_env
 * ("K=V" strings, NULL-terminated, may be NULL) added to the environment,
 * stdout and stderr appended to logpath.
 */
int hproc_start(struct hproc *p, const char *name, char *const argv[],
                char *const extra_env[], const char *logpath);
/* The same, in the network namespace netns (see hnet; NULL: ours). */
int hproc_start_in(struct hproc *p, const char *netns, const char *name,
                   char *const argv[], char *const extra_env[],
                   const char *logpath);
/* Send sig to the process group. */
int hproc_kill(struct hproc *p, int sig);
/* Wait up to timeout_ms for it to exit; status may be NULL. */
int hproc_wait(struct hproc *p, int timeout_ms, int *status);
bool hproc_alive(struct hproc *p);
/* SIGTERM, up to 5 s, then SIGKILL. Returns the wait status, or -1. */
int hproc_stop(struct hproc *p);

/* Poll cond(arg) every 20 ms until it holds or timeout_ms passes. */
bool hwait_until(bool (*cond)(void *), void *arg, int timeout_ms);
/* Wait until 127.0.0.1:port accepts a TCP connection. */
bool hwait_port(int port, int timeout_ms);
/* A TCP port that was free on 127.0.0.1 a moment ago, or -1. */
int hfree_port(void);

/* True when a line of the file at path contains needle. */
bool hlog_contains(const char *path, const char *needle);
/* Wait up to timeout_ms until it does. */
bool hwait_log(const char *path, const char *needle, int timeout_ms);

/* Print the last lines of a file to stderr, under a header. */
void hlog_tail(const char *title, const char *path, int lines);

/*
 * hnet: a network namespace of the test's own, joined to ours by a veth
 * pair, for partitions. Needs root and ip(8), tc(8). The host end has
 * host_addr, the namespace end ns_addr, on a /30 under 10.250.0.0/16 drawn
 * from the pid. The namespace's loopback is up.
 *
 * A cut puts a blackhole qdisc on both ends: every packet either way
 * vanishes, as in a real partition. No error reaches anyone, connections
 * stay open, and TCP retransmits what was lost once the link heals.
 */
struct hnet {
	char name[32]; /* as ip netns knows it; "" when none */
	char host_if[16], ns_if[16];
	char host_addr[16], ns_addr[16];
	bool cut;
};

/* False (with why) when this process cannot make namespaces. */
bool hnet_supported(char *why, size_t len);
int hnet_create(struct hnet *n);
/* Drop every packet between the namespace and us, both ways. */
int hnet_cut(struct hnet *n);
/* Let packets through again. */
int hnet_heal(struct hnet *n);
/* Delete the namespace (what still runs inside loses its network). */
void hnet_destroy(struct hnet *n);

#define HCLUSTER_MAX 4

/* Zero means "the daemon's default" for every number. */
struct hcluster_opts {
	int n; /* participants and databases, 1..4 (0: 3) */
	/* coordinator */
	unsigned vote_timeout_ms;
	unsigned idle_timeout_ms;
	unsigned request_timeout_ms;
	unsigned commit_wait_ms;
	unsigned retry_max_ms;
	char *const *coord_env;       /* e.g. {"XACT_FAILPOINTS=...", NULL} */
	const char *protocol;         /* "2pc" or "3pc"; NULL: default */
	const char *three_phase_mode; /* "quorum" or "plain"; NULL: default */
	const char *one_phase;        /* "true" or "false"; NULL: default */
	const char *coord_yaml;       /* more top-level YAML, e.g. limits */
	/* participants */
	unsigned statement_timeout_ms;
	unsigned part_idle_timeout_ms;
	unsigned sweep_interval_ms;
	unsigned sweep_safety_ms;
	unsigned sweep_inquiry_ms;
	unsigned termination_timeout_ms; /* 3PC */
	unsigned one_phase_retention_ms;
	unsigned pool_size;
	unsigned part_contexts;              /* participant REP contexts */
	char *const *part_env[HCLUSTER_MAX]; /* per participant, may be NULL */
	/* both */
	const char *log_level; /* NULL: "info" */
	bool metrics;          /* serve /metrics (coord_metrics_port...) */
	bool api;              /* the coordinator's HTTP/JSON API */
	/* tls+tcp://localhost everywhere, certificates in dir/certs made by
	 * scripts/test-certs (node.*: every daemon; stranger.*: refused) */
	bool tls;
	/* with tls: the coordinator trusts stranger-ca.pem too (a CA for
	 * clients, in one PEM file with ca.pem); participants do not */
	bool tls_clients_ca;
	/*
	 * 1..n: participant bankN and its database run in a network
	 * namespace of their own (hnet), for hcluster_cut(); 0: none.
	 */
	int isolate;
	/* bank tables: when accounts > 0, hbank_init() every database */
	int accounts;
	long balance;
};

struct hcluster {
	int n;
	char dir[HPATH_MAX / 2]; /* room for the file names inside */
	struct hcluster_opts opts;
	struct hpg pg[HCLUSTER_MAX];
	struct hproc part[HCLUSTER_MAX]; /* named bank1..bankN */
	int part_port[HCLUSTER_MAX];
	char part_conf[HCLUSTER_MAX][HPATH_MAX];
	struct hproc coord; /* node c1 */
	int coord_port;
	int coord_metrics_port;              /* with opts.metrics */
	int part_metrics_port[HCLUSTER_MAX]; /* likewise */
	int coord_api_port;                  /* with opts.api */
	char coord_conf[HPATH_MAX];
	char url[96]; /* tcp://<address>:<coord_port> */
	/*
	 * With opts.isolate, the coordinator and the other participants
	 * listen on net.host_addr (ours, so reachable from loopback and
	 * from the namespace), the isolated one on net.ns_addr.
	 */
	struct hnet net;
};

/* Start everything and wait until every daemon accepts connections. */
int hcluster_start(struct hcluster *c, const struct hcluster_opts *o);
/* Stop what still runs (coordinator, participants, PostgreSQL), rm -rf. */
void hcluster_stop(struct hcluster *c);
/*
 * Stop the coordinator if it runs (SIGTERM), start it again on the same
 * port and log, wait until ready. For a crash, hproc_kill(&c->coord,
 * SIGKILL) and hproc_wait() first.
 */
int hcluster_restart_coord(struct hcluster *c);
/* The same for participant i (0-based). */
int hcluster_restart_part(struct hcluster *c, int i);
/* Partition the isolated participant and its database from the rest. */
int hcluster_cut(struct hcluster *c);
int hcluster_heal(struct hcluster *c);
/* The coordinator's URL, for xact_connect(). */
const char *hcluster_url(const struct hcluster *c);
/* Our prepared transactions over all databases, or -1 on error. */
int64_t hcluster_total_prepared(struct hcluster *c);
/* Wait until no database holds one of our prepared transactions. */
bool hcluster_wait_no_prepared(struct hcluster *c, int timeout_ms);
/*
 * The end of a test: heal a cut, wait until nothing is prepared
 * (invariant 5), dump the logs if something is, then stop everything. True
 * when nothing was left; true also when no cluster was started.
 */
bool hcluster_finish(struct hcluster *c);
/* The tail of every daemon's and database's log, to stderr. */
void hcluster_dump_logs(struct hcluster *c);

/*
 * Like cr_assert() (a message is required), but dumps the cluster's logs
 * first when cond fails.
 */
#define hc_assert(c, cond, ...)                                                \
	do {                                                                   \
		if (!(cond)) {                                                 \
			hcluster_dump_logs(c);                                 \
			cr_assert(cond, __VA_ARGS__);                          \
		}                                                              \
	} while (0)

/*
 * GET http://127.0.0.1:port/path: the status code (or -1 when no answer)
 * and the body, NUL-terminated, cut to len - 1 bytes.
 */
int hhttp_get(int port, const char *path, char *body, size_t len);
/* The value of one sample in a Prometheus text body, or -1. */
int64_t hmetric(const char *body, const char *name);

/*
 * Run `xactctl -c <the coordinator's config> ARGS 2>&1` (ARGS from fmt, as
 * the shell reads them): its output into out, cut to len - 1 bytes. The
 * wait status, or -1.
 */
int hxactctl(struct hcluster *c, char *out, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* One counter of the coordinator's STATS answer (xact_stats), or -1. */
int64_t hstat(xact_conn *c, const char *name);

/* (Re)create accounts(id, balance) with ids 1..accounts. */
int hbank_init(struct hpg *pg, int accounts, long balance);
/* Sum of all balances, or -1 on error. */
long long hbank_total(struct hpg *pg);

#endif

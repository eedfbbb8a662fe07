/*
 * harness.c: throwaway PostgreSQL clusters, child processes and whole xact
 * clusters for the integration tests. See harness.h for the API.
 *
 * Cleanup has two layers. The normal one: each stop function undoes its
 * start. The safety net: a reaper, a child process forked on first use,
 * which is told over a socket what runs (process groups, PostgreSQL data
 * dirs, temp dirs) and what was stopped. When the test process ends in any
 * way, including SIGKILL by a test timeout, the socket reads EOF and the
 * reaper kills and removes whatever is still registered.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <grp.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "harness_internal.h"

#define POLL_MS          20
#define READY_TIMEOUT_MS 20000
#define STOP_TIMEOUT_MS  5000
#define START_ATTEMPTS   3 /* a free port can be taken before we bind it */
#define COORD_NODE       "c1"
#define SOCKET_DIR_MAX   90 /* sun_path holds 107: dir + "/.s.PGSQL.NNNNN" */

extern char **environ;

void
herr(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("harness: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static bool
keep_tmp(void)
{
	const char *v = getenv("XACT_KEEP_TMP");

	return v != NULL && strcmp(v, "1") == 0;
}

static void
sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* fclose, with any write error reported. */
static int
close_file(FILE *f, const char *path)
{
	if (ferror(f) | fclose(f)) {
		herr("cannot write %s", path);
		return -1;
	}
	return 0;
}

/* A fresh directory under $TMPDIR (or /tmp): prefix-XXXXXX. */
static int
make_tmpdir(char *out, size_t len, const char *prefix)
{
	const char *base = getenv("TMPDIR");

	if (base == NULL || base[0] == '\0')
		base = "/tmp";
	if ((size_t)snprintf(out, len, "%s/%s-XXXXXX", base, prefix) >= len ||
	    mkdtemp(out) == NULL) {
		herr("cannot create a temp dir under %s: %s", base,
		     strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Running tools. initdb and pg_ctl refuse root, so when we are root they
 * run as postgres: looked up once, before any fork.
 */

struct pg_user {
	bool drop; /* we are root: switch to uid/gid in the child */
	uid_t uid;
	gid_t gid;
};

static int
pg_user(struct pg_user *out)
{
	static struct pg_user u;
	static bool known;
	struct passwd *pw;

	if (!known && geteuid() == 0) {
		if ((pw = getpwnam("postgres")) == NULL) {
			herr("running as root needs a user 'postgres'");
			return -1;
		}
		u = (struct pg_user){true, pw->pw_uid, pw->pw_gid};
	}
	known = true;
	*out = u;
	return 0;
}

/* Give path to postgres when we are root, so the server can write there. */
static int
chown_pg(const char *path)
{
	struct pg_user u;

	if (pg_user(&u) != 0)
		return -1;
	if (u.drop && chown(path, u.uid, u.gid) != 0) {
		herr("chown %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* The PostgreSQL tools: $XACT_PG_BIN, the newest Debian one, or PATH. */
static void
pg_tool(char *out, size_t len, const char *tool)
{
	static char bindir[HPATH_MAX / 2];
	static bool searched;
	const char *env = getenv("XACT_PG_BIN");
	glob_t g;
	long best = -1;

	if (!searched && env != NULL) {
		snprintf(bindir, sizeof bindir, "%s", env);
	} else if (!searched &&
	           glob("/usr/lib/postgresql/*/bin/pg_ctl", 0, NULL, &g) == 0) {
		for (size_t i = 0; i < g.gl_pathc; i++) {
			const char *v =
			    g.gl_pathv[i] + strlen("/usr/lib/postgresql/");
			long major = strtol(v, NULL, 10);

			if (major > best) {
				best = major;
				snprintf(bindir, sizeof bindir,
				         "/usr/lib/postgresql/%ld/bin", major);
			}
		}
		globfree(&g);
	}
	searched = true;
	if (bindir[0] != '\0')
		snprintf(out, len, "%s/%s", bindir, tool);
	else
		snprintf(out, len, "%s", tool);
}

/* Where ip(8) keeps a named network namespace, into out ("" for none). */
static void
netns_path(char *out, size_t len, const char *netns)
{
	if (netns != NULL && netns[0] != '\0')
		snprintf(out, len, "/run/netns/%s", netns);
	else
		out[0] = '\0';
}

/*
 * In a child between fork and exec: stdin from /dev/null, stdout and stderr
 * to logfd (if >= 0), the network namespace at netns (a path, or ""), and
 * the postgres user if asked (after the namespace: joining one needs root).
 * Async-signal-safe.
 */
static void
child_setup(int logfd, const char *netns, const struct pg_user *as)
{
	int null = open("/dev/null", O_RDONLY);
	int ns;

	if (null >= 0)
		dup2(null, STDIN_FILENO);
	if (logfd >= 0) {
		dup2(logfd, STDOUT_FILENO);
		dup2(logfd, STDERR_FILENO);
	}
	if (chdir("/") != 0)
		_exit(126);
	if (netns[0] != '\0' && ((ns = open(netns, O_RDONLY | O_CLOEXEC)) < 0 ||
	                         setns(ns, CLONE_NEWNET) != 0)) {
		static const char msg[] = "harness: cannot join netns\n";
		(void)!write(STDERR_FILENO, msg, sizeof msg - 1);
		_exit(126);
	}
	if (as != NULL && as->drop &&
	    (setgroups(1, &as->gid) != 0 || setgid(as->gid) != 0 ||
	     setuid(as->uid) != 0))
		_exit(126);
}

static int
open_log(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

	if (fd < 0)
		herr("cannot open %s: %s", path, strerror(errno));
	return fd;
}

/*
 * hrun()'s first half, in the network namespace netns (NULL or "": ours):
 * start argv and return its pid without waiting (-1 if it could not be
 * started). wait_ok() collects it, so that several tools can run at once.
 */
static pid_t
spawn_in(const char *const argv[], bool as_pg, const char *logpath,
         const char *netns)
{
	struct pg_user u;
	char ns[HPATH_MAX];
	int logfd = -1;
	pid_t pid;

	netns_path(ns, sizeof ns, netns);

	if (pg_user(&u) != 0)
		return -1;
	if (logpath != NULL && (logfd = open_log(logpath)) < 0)
		return -1;
	if ((pid = fork()) < 0)
		herr("fork: %s", strerror(errno));
	if (pid == 0) {
		child_setup(logfd, ns, as_pg ? &u : NULL);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	if (logfd >= 0)
		close(logfd);
	return pid;
}

/* Wait for a spawn_in() child (pid -1: none); 0 if it exited with 0. */
static int
wait_ok(pid_t pid)
{
	int status;

	if (pid < 0)
		return -1;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* hrun() in the network namespace netns (NULL or "": ours). */
static int
run_in(const char *const argv[], bool as_pg, const char *logpath,
       const char *netns)
{
	return wait_ok(spawn_in(argv, as_pg, logpath, netns));
}

int
hrun(const char *const argv[], bool as_pg, const char *logpath)
{
	return run_in(argv, as_pg, logpath, NULL);
}

static int
rm_rf(const char *path)
{
	const char *argv[] = {"rm", "-rf", "--", path, NULL};

	return hrun(argv, false, NULL);
}

/* pg_ctl stop -m immediate, started in the background (see spawn_in). */
static pid_t
pg_ctl_stop_spawn(const char *datadir, const char *logpath)
{
	char pg_ctl[HPATH_MAX];

	pg_tool(pg_ctl, sizeof pg_ctl, "pg_ctl");
	const char *argv[] = {pg_ctl,      "-D", datadir, "-m",
	                      "immediate", "-w", "stop",  NULL};
	return spawn_in(argv, true, logpath, NULL);
}

static int
pg_ctl_stop(const char *datadir, const char *logpath)
{
	return wait_ok(pg_ctl_stop_spawn(datadir, logpath));
}

/*
 * The reaper. Messages are whole SOCK_SEQPACKET datagrams; EOF means every
 * process that could send (the test and its forks) is gone.
 */

struct reap_msg {
	char kind; /* enum reap_kind */
	bool add;  /* false: it was cleaned up normally */
	pid_t pgid;
	char path[HPATH_MAX];
};

#define REAP_MAX 256

static int reap_sock = -1;

static void
reaper_cleanup(const struct reap_msg *live, int n)
{
	for (int i = 0; i < n; i++)
		if (live[i].kind == REAP_GROUP)
			kill(-live[i].pgid, SIGKILL);
	for (int i = 0; i < n; i++)
		if (live[i].kind == REAP_PG)
			pg_ctl_stop(live[i].path, "/dev/null");
	for (int i = 0; i < n; i++)
		if (live[i].kind == REAP_NETNS)
			hnet_remove(live[i].path);
	for (int i = 0; i < n; i++) {
		if (live[i].kind != REAP_DIR)
			continue;
		if (keep_tmp())
			herr("kept %s", live[i].path);
		else
			rm_rf(live[i].path);
	}
}

static _Noreturn void
reaper_main(int sock)
{
	static struct reap_msg live[REAP_MAX];
	struct reap_msg m;
	int n = 0;
	ssize_t got;

	setsid(); /* out of the terminal's reach: a Ctrl-C must not stop us */
	close_range(3, (unsigned)sock - 1, 0);
	close_range((unsigned)sock + 1, ~0U, 0);
	while ((got = recv(sock, &m, sizeof m, 0)) != 0) {
		if (got < 0 && errno == EINTR)
			continue;
		if (got != (ssize_t)sizeof m)
			break;
		if (m.add && n < REAP_MAX) {
			live[n++] = m;
			continue;
		}
		for (int i = n - 1; i >= 0; i--) {
			if (live[i].kind == m.kind && live[i].pgid == m.pgid &&
			    strcmp(live[i].path, m.path) == 0) {
				live[i] = live[--n];
				break;
			}
		}
	}
	reaper_cleanup(live, n);
	_exit(0);
}

static void
reaper_start(void)
{
	struct pg_user u;
	int sv[2];
	pid_t pid;

	if (pg_user(&u) != 0 ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
		return;
	if ((pid = fork()) < 0) {
		close(sv[0]);
		close(sv[1]);
		return;
	}
	if (pid == 0) {
		close(sv[0]);
		reaper_main(sv[1]);
	}
	close(sv[1]);
	reap_sock = sv[0];
}

void
hreap_note(enum reap_kind kind, bool add, pid_t pgid, const char *path)
{
	struct reap_msg m = {.kind = (char)kind, .add = add, .pgid = pgid};

	if (reap_sock < 0)
		reaper_start();
	if (path != NULL)
		snprintf(m.path, sizeof m.path, "%s", path);
	if (reap_sock >= 0 && send(reap_sock, &m, sizeof m, MSG_NOSIGNAL) < 0)
		herr("reaper: %s (leftovers will not be cleaned)",
		     strerror(errno));
}

/* Remove a temp dir (unless XACT_KEEP_TMP=1) and tell the reaper. */
static void
remove_tmpdir(const char *dir)
{
	if (keep_tmp())
		herr("kept %s", dir);
	else
		rm_rf(dir);
	hreap_note(REAP_DIR, false, 0, dir);
}

/*
 * PostgreSQL clusters.
 */

/* initdb into a temp dir that postgres can write, then install at path. */
static int
template_build(const char *path)
{
	char tmp[HPATH_MAX], data[HPATH_MAX + 8], log[HPATH_MAX + 16];
	char next[HPATH_MAX + 8], initdb[HPATH_MAX];
	int rc = -1;

	if (make_tmpdir(tmp, sizeof tmp, "xact-initdb") != 0)
		return -1;
	snprintf(data, sizeof data, "%s/data", tmp);
	snprintf(log, sizeof log, "%s/initdb.log", tmp);
	snprintf(next, sizeof next, "%s.new", path);
	pg_tool(initdb, sizeof initdb, "initdb");
	const char *init[] = {initdb,  "-D",         data,        "-A",
	                      "trust", "-U",         "postgres",  "-E",
	                      "UTF8",  "--locale=C", "--no-sync", NULL};
	const char *copy[] = {"cp", "-a", "--", data, next, NULL};
	rm_rf(next);
	rm_rf(path); /* a half-made template, if any */
	if (chown_pg(tmp) != 0 || hrun(init, true, log) != 0) {
		herr("initdb failed");
		hlog_tail("initdb", log, 20);
	} else if (hrun(copy, false, NULL) != 0 || rename(next, path) != 0) {
		herr("cannot install the PostgreSQL template at %s", path);
	} else {
		rc = 0;
	}
	rm_rf(tmp);
	return rc;
}

/*
 * The template cluster: made once per build, under an exclusive flock so
 * that concurrent test processes wait for the first one to finish.
 */
static int
pg_template(char *out, size_t len)
{
	const char *env = getenv("XACT_PG_TEMPLATE");
	char lock[HPATH_MAX + 8], ver[HPATH_MAX + 16];
	int fd, rc = 0;

	snprintf(out, len, "%s",
	         env != NULL ? env : XACT_BIN_DIR "/pg-template");
	mkdir(XACT_BIN_DIR, 0755); /* a standalone build may lack it */
	snprintf(lock, sizeof lock, "%s.lock", out);
	snprintf(ver, sizeof ver, "%s/PG_VERSION", out);
	if ((fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0) {
		herr("cannot open %s: %s", lock, strerror(errno));
		return -1;
	}
	while (flock(fd, LOCK_EX) != 0 && errno == EINTR)
		;
	if (access(ver, F_OK) != 0)
		rc = template_build(out);
	close(fd); /* releases the lock */
	return rc;
}

static void
pg_paths(const struct hpg *pg, char *data, char *log, size_t len)
{
	snprintf(data, len, "%s/data", pg->dir);
	snprintf(log, len, "%s/pg.log", pg->dir);
}

const char *
hpg_host(const struct hpg *pg)
{
	return pg->host[0] != '\0' ? pg->host : "127.0.0.1";
}

/*
 * pg_ctl start on pg->port, started in the background (see spawn_in): it
 * returns once the server accepts connections, or has failed to.
 */
static pid_t
pg_ctl_start_spawn(struct hpg *pg)
{
	char data[HPATH_MAX + 8], log[HPATH_MAX + 8], ctl_log[HPATH_MAX + 16];
	char opts[HPATH_MAX + 256], pg_ctl[HPATH_MAX];

	pg_paths(pg, data, log, sizeof data);
	snprintf(ctl_log, sizeof ctl_log, "%s/pg_ctl.log", pg->dir);
	snprintf(opts, sizeof opts,
	         "-p %d -c listen_addresses=%s "
	         "-c unix_socket_directories=%s "
	         "-c max_prepared_transactions=100 -c max_connections=200 "
	         "-c fsync=off -c synchronous_commit=off "
	         "-c full_page_writes=off",
	         pg->port, hpg_host(pg), pg->dir);
	pg_tool(pg_ctl, sizeof pg_ctl, "pg_ctl");
	const char *argv[] = {pg_ctl, "-w", "-D", data,    "-l",
	                      log,    "-o", opts, "start", NULL};
	return spawn_in(argv, true, ctl_log, pg->netns);
}

/* pg_ctl start on pg->port, waiting until the server accepts connections. */
static int
pg_ctl_start(struct hpg *pg)
{
	if (wait_ok(pg_ctl_start_spawn(pg)) != 0)
		return -1;
	pg->running = true;
	return 0;
}

/*
 * The template trusts loopback only; a cluster on another address (in a
 * namespace) trusts that address's /16 too: the peers across the veth.
 */
static int
hba_allow(const char *data, const char *host)
{
	char path[HPATH_MAX + 32];
	unsigned a, b;
	FILE *f;

	if (sscanf(host, "%u.%u.", &a, &b) != 2) {
		herr("%s: not an IPv4 address", host);
		return -1;
	}
	snprintf(path, sizeof path, "%s/pg_hba.conf", data);
	if ((f = fopen(path, "a")) == NULL) {
		herr("cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	fprintf(f, "host all all %u.%u.0.0/16 trust\n", a, b);
	return close_file(f, path);
}

/*
 * The first half of starting pg: its directory, and the template's copy
 * into it started in the background. The copy's pid (see spawn_in), or -1
 * after printing why; *made when the directory is ours to remove.
 */
static pid_t
pg_copy_spawn(struct hpg *pg, const char *tmpl, bool *made)
{
	char data[HPATH_MAX + 8], log[HPATH_MAX + 8];

	*made = false;
	pg->running = false;
	if (pg->dir[0] == '\0') {
		if (make_tmpdir(pg->dir, sizeof pg->dir, "xact-pg") != 0)
			return -1;
	} else if (mkdir(pg->dir, 0700) != 0) {
		herr("mkdir %s: %s", pg->dir, strerror(errno));
		return -1;
	}
	*made = true;
	hreap_note(REAP_DIR, true, 0, pg->dir);
	if (strlen(pg->dir) > SOCKET_DIR_MAX) {
		herr("%s: too long for PostgreSQL's Unix socket: use a shorter "
		     "TMPDIR",
		     pg->dir);
		return -1;
	}
	pg_paths(pg, data, log, sizeof data);
	const char *copy[] = {"cp", "-a", "--", tmpl, data, NULL};
	if (chown_pg(pg->dir) != 0)
		return -1;
	return spawn_in(copy, false, NULL, NULL);
}

/*
 * A free port is picked (hfree_port) a moment before a server or a daemon
 * binds it. Test processes side by side (ctest -j) hold this lock from the
 * pick to the bind, so that none picks a port that another one is about
 * to bind. Its fd (closed on exec: no child keeps it), or -1 when there is
 * no lock file (then unguarded, as with one test at a time).
 */
static int
ports_lock(void)
{
	const char *base = getenv("TMPDIR");
	char path[HPATH_MAX];
	int fd;

	if (base == NULL || base[0] == '\0')
		base = "/tmp";
	snprintf(path, sizeof path, "%s/xact-harness-ports.lock", base);
	/* flock needs no write access; O_CREAT only when missing (a sticky
	 * /tmp refuses it on another user's file) */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 && errno == ENOENT)
		fd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		herr("cannot open %s: %s (ports picked unguarded)", path,
		     strerror(errno));
		return -1;
	}
	while (flock(fd, LOCK_EX) != 0 && errno == EINTR)
		;
	return fd;
}

static void
ports_unlock(int fd)
{
	if (fd >= 0)
		close(fd);
}

/* A free port that no other cluster of pgs[0..n) has, or -1. */
static int
pg_free_port(struct hpg *const pgs[], int n, int self)
{
	for (int tries = 0; tries < 100; tries++) {
		int port = hfree_port();
		bool dup = false;

		if (port < 0)
			return -1;
		for (int j = 0; j < n; j++)
			dup = dup || (j != self && pgs[j]->port == port);
		if (!dup)
			return port;
	}
	herr("no free port apart from the other clusters'");
	return -1;
}

/*
 * Start the servers of pgs[0..n) at once, each on a free port: pg_ctl -w
 * mostly waits, so the waits overlap. A port taken by someone else
 * meanwhile is retried on another. 0 when every one runs.
 */
static int
pg_start_servers(struct hpg *const pgs[], int n)
{
	char data[HPATH_MAX + 8], log[HPATH_MAX + 8];
	pid_t pid[HCLUSTER_MAX];
	int rc = 0, lock = ports_lock();

	for (int a = 0; a < START_ATTEMPTS; a++) {
		for (int i = 0; i < n; i++) {
			pid[i] = -1;
			if (!pgs[i]->running &&
			    (pgs[i]->port = pg_free_port(pgs, n, i)) >= 0)
				pid[i] = pg_ctl_start_spawn(pgs[i]);
		}
		for (int i = 0; i < n; i++) {
			if (pgs[i]->running)
				continue;
			if (wait_ok(pid[i]) == 0)
				pgs[i]->running = true;
			else
				herr("PostgreSQL did not start on port %d",
				     pgs[i]->port);
		}
	}
	ports_unlock(lock);
	for (int i = 0; i < n; i++) {
		if (pgs[i]->running)
			continue;
		pg_paths(pgs[i], data, log, sizeof data);
		hlog_tail("pg.log", log, 20);
		rc = -1;
	}
	return rc;
}

/*
 * Start n clusters (n <= HCLUSTER_MAX) as hpg_start() does one, at once:
 * the template copies overlap, and so do the servers' starts. On failure
 * every one of them is stopped and removed.
 */
static int
hpg_start_all(struct hpg *const pgs[], int n)
{
	char tmpl[HPATH_MAX], data[HPATH_MAX + 8], log[HPATH_MAX + 8];
	pid_t pid[HCLUSTER_MAX];
	bool made[HCLUSTER_MAX];
	bool ok = true;

	for (int i = 0; i < n; i++)
		pgs[i]->running = false;
	if (pg_template(tmpl, sizeof tmpl) != 0)
		return -1;
	for (int i = 0; i < n; i++)
		pid[i] = pg_copy_spawn(pgs[i], tmpl, &made[i]);
	for (int i = 0; i < n; i++) {
		if (wait_ok(pid[i]) != 0) {
			if (pid[i] >= 0)
				herr("cannot copy the template into %s",
				     pgs[i]->dir);
			ok = false;
			continue;
		}
		pg_paths(pgs[i], data, log, sizeof data);
		hreap_note(REAP_PG, true, 0, data);
		if (pgs[i]->host[0] != '\0' &&
		    hba_allow(data, pgs[i]->host) != 0)
			ok = false;
	}
	if (ok && pg_start_servers(pgs, n) != 0)
		ok = false;
	if (!ok) {
		for (int i = 0; i < n; i++)
			if (made[i])
				hpg_stop(pgs[i]);
		return -1;
	}
	for (int i = 0; i < n; i++)
		snprintf(pgs[i]->conninfo, sizeof pgs[i]->conninfo,
		         "host=%s port=%d dbname=postgres user=postgres",
		         hpg_host(pgs[i]), pgs[i]->port);
	return 0;
}

int
hpg_start(struct hpg *pg)
{
	return hpg_start_all(&pg, 1);
}

int
hpg_kill(struct hpg *pg)
{
	char data[HPATH_MAX + 8], log[HPATH_MAX + 16];

	snprintf(data, sizeof data, "%s/data", pg->dir);
	snprintf(log, sizeof log, "%s/pg_ctl.log", pg->dir);
	if (pg_ctl_stop(data, log) != 0)
		return -1;
	pg->running = false;
	return 0;
}

int
hpg_restart(struct hpg *pg)
{
	char data[HPATH_MAX + 8], log[HPATH_MAX + 8];

	if (pg_ctl_start(pg) != 0) {
		pg_paths(pg, data, log, sizeof data);
		herr("PostgreSQL did not restart on port %d", pg->port);
		hlog_tail("pg.log", log, 20);
		return -1;
	}
	return 0;
}

/*
 * hpg_stop() for pgs[0..n) (n <= HCLUSTER_MAX), at once: the servers'
 * stops overlap, and so do the removals of their directories.
 */
static void
hpg_stop_all(struct hpg *const pgs[], int n)
{
	char data[HPATH_MAX + 8], log[HPATH_MAX + 16];
	pid_t pid[HCLUSTER_MAX];

	for (int i = 0; i < n; i++) {
		pid[i] = -1;
		if (pgs[i]->dir[0] == '\0' || !pgs[i]->running)
			continue;
		snprintf(data, sizeof data, "%s/data", pgs[i]->dir);
		snprintf(log, sizeof log, "%s/pg_ctl.log", pgs[i]->dir);
		pid[i] = pg_ctl_stop_spawn(data, log);
	}
	for (int i = 0; i < n; i++)
		if (pid[i] >= 0 && wait_ok(pid[i]) == 0)
			pgs[i]->running = false;
	for (int i = 0; i < n; i++) {
		const char *rm[] = {"rm", "-rf", "--", pgs[i]->dir, NULL};

		pid[i] = -1;
		if (pgs[i]->dir[0] == '\0')
			continue;
		snprintf(data, sizeof data, "%s/data", pgs[i]->dir);
		hreap_note(REAP_PG, false, 0, data);
		if (keep_tmp())
			herr("kept %s", pgs[i]->dir);
		else
			pid[i] = spawn_in(rm, false, NULL, NULL);
	}
	for (int i = 0; i < n; i++) {
		if (pgs[i]->dir[0] == '\0')
			continue;
		wait_ok(pid[i]);
		hreap_note(REAP_DIR, false, 0, pgs[i]->dir);
		pgs[i]->dir[0] = '\0';
	}
}

void
hpg_stop(struct hpg *pg)
{
	hpg_stop_all(&pg, 1);
}

static void
pg_notice_quiet(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

static PGconn *
pg_connect(struct hpg *pg)
{
	char conninfo[sizeof pg->conninfo + 32];
	PGconn *conn;

	snprintf(conninfo, sizeof conninfo, "%s connect_timeout=10",
	         pg->conninfo);
	conn = PQconnectdb(conninfo);
	if (PQstatus(conn) != CONNECTION_OK) {
		herr("connect to port %d: %s", pg->port, PQerrorMessage(conn));
		PQfinish(conn);
		return NULL;
	}
	PQsetNoticeProcessor(conn, pg_notice_quiet, NULL);
	return conn;
}

/* Run sql; the result if it succeeded, else NULL after printing why. */
static PGresult *
pg_run(struct hpg *pg, const char *sql)
{
	PGconn *conn = pg_connect(pg);
	PGresult *res;

	if (conn == NULL)
		return NULL;
	res = PQexec(conn, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK &&
	    PQresultStatus(res) != PGRES_TUPLES_OK) {
		herr("port %d: %s: %s", pg->port, sql, PQerrorMessage(conn));
		PQclear(res);
		res = NULL;
	}
	PQfinish(conn);
	return res;
}

int
hpg_exec(struct hpg *pg, const char *sql)
{
	PGresult *res = pg_run(pg, sql);

	PQclear(res);
	return res != NULL ? 0 : -1;
}

int
hpg_query_i64(struct hpg *pg, const char *sql, int64_t *out)
{
	PGresult *res = pg_run(pg, sql);
	int rc = -1;

	if (res == NULL)
		return -1;
	if (PQntuples(res) == 1 && PQnfields(res) == 1) {
		*out = PQgetisnull(res, 0, 0)
		           ? 0
		           : strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		rc = 0;
	} else {
		herr("port %d: %s: expected one value", pg->port, sql);
	}
	PQclear(res);
	return rc;
}

int64_t
hpg_prepared_count(struct hpg *pg)
{
	int64_t n;

	if (hpg_query_i64(pg,
	                  "SELECT count(*) FROM pg_prepared_xacts "
	                  "WHERE gid LIKE 'xact\\_%'",
	                  &n) != 0)
		return -1;
	return n;
}

/*
 * Processes.
 */

static bool
env_has_key(char *const env[], const char *kv)
{
	size_t klen = strcspn(kv, "=");

	for (size_t i = 0; env != NULL && env[i] != NULL; i++)
		if (strncmp(env[i], kv, klen) == 0 && env[i][klen] == '=')
			return true;
	return false;
}

/* environ with extra's entries added or replacing; free the array only. */
static char **
env_merge(char *const extra[])
{
	size_t n = 0, k = 0, nextra = 0;
	char **env;

	while (environ[n] != NULL)
		n++;
	while (extra != NULL && extra[nextra] != NULL)
		nextra++;
	if ((env = calloc(n + nextra + 1, sizeof *env)) == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (!env_has_key(extra, environ[i]))
			env[k++] = environ[i];
	for (size_t i = 0; i < nextra; i++)
		env[k++] = extra[i];
	return env;
}

int
hproc_start(struct hproc *p, const char *name, char *const argv[],
            char *const extra_env[], const char *logpath)
{
	return hproc_start_in(p, NULL, name, argv, extra_env, logpath);
}

int
hproc_start_in(struct hproc *p, const char *netns, const char *name,
               char *const argv[], char *const extra_env[], const char *logpath)
{
	char **env = env_merge(extra_env);
	int logfd = open_log(logpath);
	char ns[HPATH_MAX];

	netns_path(ns, sizeof ns, netns);
	memset(p, 0, sizeof *p);
	snprintf(p->name, sizeof p->name, "%s", name);
	snprintf(p->log, sizeof p->log, "%s", logpath);
	if (env == NULL || logfd < 0) {
		free(env);
		if (logfd >= 0)
			close(logfd);
		return -1;
	}
	if ((p->pid = fork()) == 0) {
		setpgid(0, 0);
		child_setup(logfd, ns, NULL);
		execvpe(argv[0], argv, env);
		static const char msg[] = "harness: exec failed\n";
		(void)!write(STDERR_FILENO, msg, sizeof msg - 1);
		_exit(127);
	}
	free(env);
	close(logfd);
	if (p->pid < 0) {
		herr("fork %s: %s", name, strerror(errno));
		p->pid = 0;
		return -1;
	}
	setpgid(p->pid, p->pid); /* also here: no window without a group */
	hreap_note(REAP_GROUP, true, p->pid, NULL);
	return 0;
}

int
hproc_kill(struct hproc *p, int sig)
{
	if (p->pid <= 0 || p->reaped)
		return -1;
	return kill(-p->pid, sig);
}

/* Reap without blocking; true once the process has exited. */
static bool
proc_reap(struct hproc *p)
{
	pid_t got;

	if (p->reaped)
		return true;
	if (p->pid <= 0)
		return false;
	got = waitpid(p->pid, &p->status, WNOHANG);
	if (got == p->pid || (got < 0 && errno == ECHILD)) {
		p->reaped = true;
		kill(-p->pid, SIGKILL); /* strays left in its group */
		hreap_note(REAP_GROUP, false, p->pid, NULL);
	}
	return p->reaped;
}

int
hproc_wait(struct hproc *p, int timeout_ms, int *status)
{
	uint64_t deadline = clock_now_ms() + (uint64_t)timeout_ms;

	if (p->pid <= 0)
		return -1;
	while (!proc_reap(p)) {
		if (clock_now_ms() >= deadline)
			return -1;
		sleep_ms(5);
	}
	if (status != NULL)
		*status = p->status;
	return 0;
}

bool
hproc_alive(struct hproc *p)
{
	return p->pid > 0 && !proc_reap(p);
}

int
hproc_stop(struct hproc *p)
{
	if (p->pid <= 0)
		return -1;
	if (!p->reaped) {
		hproc_kill(p, SIGCONT); /* a SIGSTOPped test subject */
		hproc_kill(p, SIGTERM);
		if (hproc_wait(p, STOP_TIMEOUT_MS, NULL) != 0) {
			herr("%s ignored SIGTERM for %d ms: SIGKILL", p->name,
			     STOP_TIMEOUT_MS);
			hproc_kill(p, SIGKILL);
			if (hproc_wait(p, STOP_TIMEOUT_MS, NULL) != 0)
				return -1;
		}
	}
	return p->status;
}

/*
 * Waiting.
 */

bool
hwait_until(bool (*cond)(void *), void *arg, int timeout_ms)
{
	uint64_t deadline = clock_now_ms() + (uint64_t)timeout_ms;

	for (;;) {
		if (cond(arg))
			return true;
		if (clock_now_ms() >= deadline)
			return false;
		sleep_ms(POLL_MS);
	}
}

static struct sockaddr_in
loopback(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
	                        .sin_port = htons((uint16_t)port),
	                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	return a;
}

/* A TCP connection to addr:port (NULL: loopback) succeeds. */
static bool
port_accepts_at(const char *addr, int port)
{
	struct sockaddr_in a = loopback(port);
	int fd;
	bool ok;

	if (addr != NULL && inet_pton(AF_INET, addr, &a.sin_addr) != 1)
		return false;
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return false;
	ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
	close(fd);
	return ok;
}

static bool
port_accepts(int port)
{
	return port_accepts_at(NULL, port);
}

static bool
port_cond(void *arg)
{
	return port_accepts(*(int *)arg);
}

bool
hwait_port(int port, int timeout_ms)
{
	return hwait_until(port_cond, &port, timeout_ms);
}

int
hfree_port(void)
{
	struct sockaddr_in a = loopback(0);
	socklen_t alen = sizeof a;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int port = -1;

	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &alen) == 0)
		port = ntohs(a.sin_port);
	else
		herr("no free port: %s", strerror(errno));
	if (fd >= 0)
		close(fd);
	return port;
}

bool
hlog_contains(const char *path, const char *needle)
{
	char line[2048];
	bool found = false;
	FILE *f = fopen(path, "r");

	while (f != NULL && !found && fgets(line, sizeof line, f) != NULL)
		found = strstr(line, needle) != NULL;
	if (f != NULL)
		fclose(f);
	return found;
}

struct log_wait {
	const char *path;
	const char *needle;
};

static bool
log_wait_cond(void *arg)
{
	const struct log_wait *l = arg;

	return hlog_contains(l->path, l->needle);
}

bool
hwait_log(const char *path, const char *needle, int timeout_ms)
{
	struct log_wait l = {path, needle};

	return hwait_until(log_wait_cond, &l, timeout_ms);
}

int64_t
hpg_query_socket(struct hpg *pg, const char *sql)
{
	char conninfo[HPATH_MAX + 64];
	int64_t v = -1;
	PGconn *conn;
	PGresult *res;

	snprintf(conninfo, sizeof conninfo,
	         "host=%s port=%d dbname=postgres user=postgres", pg->dir,
	         pg->port);
	conn = PQconnectdb(conninfo);
	if (PQstatus(conn) != CONNECTION_OK) {
		herr("%s: %s", pg->dir, PQerrorMessage(conn));
		PQfinish(conn);
		return -1;
	}
	res = PQexec(conn, sql);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		herr("%s: %s", sql, PQerrorMessage(conn));
	else if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
		v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	PQfinish(conn);
	return v;
}

int64_t
hpg_prepared_socket(struct hpg *pg)
{
	return hpg_query_socket(pg, "SELECT count(*) FROM pg_prepared_xacts "
	                            "WHERE gid LIKE 'xact\\_%'");
}

int64_t
hbank_balance_socket(struct hpg *pg, int id)
{
	char sql[96];

	snprintf(sql, sizeof sql, "SELECT balance FROM accounts WHERE id = %d",
	         id);
	return hpg_query_socket(pg, sql);
}

void
hlog_tail(const char *title, const char *path, int lines)
{
	static char buf[64 * 1024];
	FILE *f = fopen(path, "r");
	size_t n, start;
	long size;

	fprintf(stderr, "----- %s (%s), last %d lines -----\n", title, path,
	        lines);
	if (f == NULL) {
		fprintf(stderr, "(cannot open: %s)\n", strerror(errno));
		return;
	}
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fseek(f, size > (long)sizeof buf ? size - (long)sizeof buf : 0,
	      SEEK_SET);
	n = fread(buf, 1, sizeof buf, f);
	fclose(f);
	start = n;
	if (start > 0 && buf[start - 1] == '\n')
		start--;
	for (int seen = 0; start > 0; start--)
		if (buf[start - 1] == '\n' && ++seen == lines)
			break;
	fwrite(buf + start, 1, n - start, stderr);
	if (n > 0 && buf[n - 1] != '\n')
		fputc('\n', stderr);
}

/*
 * Clusters: N databases, participants bank1..bankN, coordinator c1.
 */

/* A block of durations ("timeouts:", "sweep:"), only if one is set. */
static void
yaml_durations(FILE *f, const char *block, const char *const keys[],
               const unsigned ms[], int n)
{
	bool any = false;

	for (int i = 0; i < n; i++)
		any = any || ms[i] != 0;
	if (!any)
		return;
	fprintf(f, "%s:\n", block);
	for (int i = 0; i < n; i++)
		if (ms[i] != 0)
			fprintf(f, "  %s: %ums\n", keys[i], ms[i]);
}

/* Where the coordinator and the participants in our namespace listen. */
static const char *
host_addr(const struct hcluster *c)
{
	return c->net.name[0] != '\0' ? c->net.host_addr : "127.0.0.1";
}

static bool
isolated(const struct hcluster *c, int i)
{
	return c->net.name[0] != '\0' && c->opts.isolate == i + 1;
}

/* Where participant i listens. */
static const char *
part_addr(const struct hcluster *c, int i)
{
	return isolated(c, i) ? c->net.ns_addr : host_addr(c);
}

/* A daemon's URL: tls+tcp://localhost:PORT (the certificates' name)
 * with opts.tls, else tcp://ADDR:PORT. */
static void
daemon_url(const struct hcluster *c, const char *addr, int port, char *buf,
           size_t len)
{
	if (c->opts.tls)
		snprintf(buf, len, "tls+tcp://localhost:%d", port);
	else
		snprintf(buf, len, "tcp://%s:%d", addr, port);
}

/* tls: ca, cert and key of the cluster's test certificates. */
static void
yaml_tls(const struct hcluster *c, FILE *f, bool coordinator)
{
	if (c->opts.tls)
		fprintf(f,
		        "tls:\n  ca: \"%s/certs/%s\"\n"
		        "  cert: \"%s/certs/node.pem\"\n"
		        "  key: \"%s/certs/node.key\"\n",
		        c->dir,
		        coordinator && c->opts.tls_clients_ca ? "coord-ca.pem"
		                                              : "ca.pem",
		        c->dir, c->dir);
}

static const char *
log_level(const struct hcluster *c)
{
	return c->opts.log_level != NULL ? c->opts.log_level : "info";
}

static int
write_coord_conf(struct hcluster *c)
{
	const struct hcluster_opts *o = &c->opts;
	static const char *const keys[] = {"vote", "idle", "request",
	                                   "commit_wait", "retry_max"};
	const unsigned ms[] = {o->vote_timeout_ms, o->idle_timeout_ms,
	                       o->request_timeout_ms, o->commit_wait_ms,
	                       o->retry_max_ms};
	FILE *f = fopen(c->coord_conf, "w");

	if (f == NULL) {
		herr("cannot create %s: %s", c->coord_conf, strerror(errno));
		return -1;
	}
	fprintf(f,
	        "node: %s\nlisten: \"%s\"\nlog_dir: \"%s/coord-log\"\n"
	        "log_level: %s\nparticipants:\n",
	        COORD_NODE, c->url, c->dir, log_level(c));
	for (int i = 0; i < c->n; i++) {
		char url[96];

		daemon_url(c, part_addr(c, i), c->part_port[i], url,
		           sizeof(url));
		fprintf(f, "  - name: bank%d\n    url: \"%s\"\n", i + 1, url);
	}
	yaml_tls(c, f, true);
	yaml_durations(f, "timeouts", keys, ms, 5);
	if (o->protocol != NULL)
		fprintf(f, "protocol: %s\n", o->protocol);
	if (o->three_phase_mode != NULL)
		fprintf(f, "three_phase:\n  mode: %s\n", o->three_phase_mode);
	if (o->one_phase != NULL)
		fprintf(f, "one_phase: %s\n", o->one_phase);
	if (o->metrics)
		fprintf(f, "metrics:\n  listen: \"http://127.0.0.1:%d\"\n",
		        c->coord_metrics_port);
	if (o->api)
		fprintf(f, "api:\n  listen: \"http://127.0.0.1:%d\"\n",
		        c->coord_api_port);
	if (o->coord_yaml != NULL)
		fprintf(f, "%s\n", o->coord_yaml);
	return close_file(f, c->coord_conf);
}

static int
write_part_conf(struct hcluster *c, int i)
{
	const struct hcluster_opts *o = &c->opts;
	static const char *const tkeys[] = {"statement", "idle", "termination"};
	static const char *const skeys[] = {"interval", "safety",
	                                    "inquiry_timeout"};
	const unsigned tms[] = {o->statement_timeout_ms,
	                        o->part_idle_timeout_ms,
	                        o->termination_timeout_ms};
	const unsigned sms[] = {o->sweep_interval_ms, o->sweep_safety_ms,
	                        o->sweep_inquiry_ms};
	FILE *f = fopen(c->part_conf[i], "w");
	char url[96];

	if (f == NULL) {
		herr("cannot create %s: %s", c->part_conf[i], strerror(errno));
		return -1;
	}
	daemon_url(c, part_addr(c, i), c->part_port[i], url, sizeof(url));
	fprintf(f,
	        "name: bank%d\nlisten: \"%s\"\n"
	        "database: \"%s\"\nlog_level: %s\ncoordinators:\n"
	        "  - node: %s\n    url: \"%s\"\nlog_dir: \"%s/bank%d-log\"\n",
	        i + 1, url, c->pg[i].conninfo, log_level(c), COORD_NODE, c->url,
	        c->dir, i + 1);
	yaml_tls(c, f, false);
	if (o->pool_size != 0)
		fprintf(f, "pool_size: %u\n", o->pool_size);
	if (o->part_contexts != 0)
		fprintf(f, "contexts: %u\n", o->part_contexts);
	yaml_durations(f, "timeouts", tkeys, tms, 3);
	yaml_durations(f, "sweep", skeys, sms, 3);
	if (o->one_phase_retention_ms != 0)
		fprintf(f, "one_phase:\n  retention: %ums\n",
		        o->one_phase_retention_ms);
	if (o->metrics)
		fprintf(f, "metrics:\n  listen: \"http://127.0.0.1:%d\"\n",
		        c->part_metrics_port[i]);
	return close_file(f, c->part_conf[i]);
}

/* Free ports for the daemons, all different from each other. */
static int
pick_ports(struct hcluster *c)
{
	int *all[2 * HCLUSTER_MAX + 3];
	int n = 0;

	all[n++] = &c->coord_port;
	for (int i = 0; i < c->n; i++)
		all[n++] = &c->part_port[i];
	if (c->opts.metrics) {
		all[n++] = &c->coord_metrics_port;
		for (int i = 0; i < c->n; i++)
			all[n++] = &c->part_metrics_port[i];
	}
	if (c->opts.api)
		all[n++] = &c->coord_api_port;
	for (int i = 0; i < n; i++) {
		bool dup;

		do {
			if ((*all[i] = hfree_port()) < 0)
				return -1;
			dup = false;
			for (int j = 0; j < i; j++)
				dup = dup || *all[j] == *all[i];
		} while (dup);
	}
	daemon_url(c, host_addr(c), c->coord_port, c->url, sizeof c->url);
	return 0;
}

struct ready_arg {
	struct hproc *p;
	const char *addr;
	int port;
};

static bool
ready_cond(void *arg)
{
	struct ready_arg *r = arg;

	return !hproc_alive(r->p) || port_accepts_at(r->addr, r->port);
}

/* Start a daemon (in netns, if not NULL); daemon_ready() waits for it. */
static int
launch_daemon(struct hcluster *c, struct hproc *p, const char *name,
              const char *prog, const char *conf, char *const env[],
              const char *netns)
{
	char bin[HPATH_MAX], log[HPATH_MAX + 40];
	char *const argv[] = {bin, "--config", (char *)conf, NULL};

	snprintf(bin, sizeof bin, "%s/%s", XACT_BIN_DIR, prog);
	snprintf(log, sizeof log, "%s/%s.log", c->dir, name);
	return hproc_start_in(p, netns, name, argv, env, log);
}

/* Wait until a launched daemon listens on addr:port; fail early if it
 * exits. */
static int
daemon_ready(struct hproc *p, const char *addr, int port)
{
	struct ready_arg r = {p, addr, port};

	if (!hwait_until(ready_cond, &r, READY_TIMEOUT_MS) || !hproc_alive(p)) {
		herr("%s is not listening on port %d (%s)", p->name, port,
		     hproc_alive(p) ? "timeout" : "it exited");
		return -1;
	}
	return 0;
}

static int
launch_part(struct hcluster *c, int i)
{
	char name[16];

	snprintf(name, sizeof name, "bank%d", i + 1);
	return launch_daemon(c, &c->part[i], name, "xact-participant",
	                     c->part_conf[i], c->opts.part_env[i],
	                     isolated(c, i) ? c->net.name : NULL);
}

static int
part_ready(struct hcluster *c, int i)
{
	return daemon_ready(&c->part[i], part_addr(c, i), c->part_port[i]);
}

static int
start_part(struct hcluster *c, int i)
{
	return launch_part(c, i) != 0 ? -1 : part_ready(c, i);
}

static int
start_coord(struct hcluster *c)
{
	if (launch_daemon(c, &c->coord, "coordinator", "xact-coordinator",
	                  c->coord_conf, c->opts.coord_env, NULL) != 0)
		return -1;
	return daemon_ready(&c->coord, host_addr(c), c->coord_port);
}

/* The databases and their bank tables. */
static int
cluster_setup(struct hcluster *c)
{
	struct hpg *pgs[HCLUSTER_MAX];

	if (c->opts.isolate != 0 && hnet_create(&c->net) != 0)
		return -1;
	for (int i = 0; i < c->n; i++) {
		snprintf(c->pg[i].dir, sizeof c->pg[i].dir, "%s/pg%d", c->dir,
		         i + 1);
		if (isolated(c, i)) {
			snprintf(c->pg[i].netns, sizeof c->pg[i].netns, "%s",
			         c->net.name);
			snprintf(c->pg[i].host, sizeof c->pg[i].host, "%s",
			         c->net.ns_addr);
		}
		pgs[i] = &c->pg[i];
	}
	if (hpg_start_all(pgs, c->n) != 0)
		return -1;
	for (int i = 0; i < c->n; i++)
		if (c->opts.accounts > 0 &&
		    hbank_init(&c->pg[i], c->opts.accounts, c->opts.balance) !=
		        0)
			return -1;
	return 0;
}

/* The daemons' ports and configs. */
static int
cluster_configs(struct hcluster *c)
{
	char logdir[HPATH_MAX + 16];

	if (pick_ports(c) != 0)
		return -1;
	snprintf(logdir, sizeof logdir, "%s/coord-log", c->dir);
	snprintf(c->coord_conf, sizeof c->coord_conf, "%s/coordinator.yaml",
	         c->dir);
	if (mkdir(logdir, 0700) != 0 || write_coord_conf(c) != 0)
		return -1;
	for (int i = 0; i < c->n; i++) {
		snprintf(c->part_conf[i], sizeof c->part_conf[i],
		         "%s/bank%d.yaml", c->dir, i + 1);
		if (write_part_conf(c, i) != 0)
			return -1;
	}
	return 0;
}

int
hcluster_start(struct hcluster *c, const struct hcluster_opts *o)
{
	int lock;
	bool ok;

	memset(c, 0, sizeof *c);
	if (o != NULL)
		c->opts = *o;
	c->n = c->opts.n != 0 ? c->opts.n : 3;
	if (c->n < 1 || c->n > HCLUSTER_MAX) {
		herr("a cluster has 1..%d participants, not %d", HCLUSTER_MAX,
		     c->n);
		return -1;
	}
	if (c->opts.isolate < 0 || c->opts.isolate > c->n) {
		herr("isolate names participant 1..%d, not %d", c->n,
		     c->opts.isolate);
		return -1;
	}
	if (make_tmpdir(c->dir, sizeof c->dir, "xact-cluster") != 0)
		return -1;
	hreap_note(REAP_DIR, true, 0, c->dir);
	/* postgres must reach its own pgN dirs inside */
	if (chmod(c->dir, 0755) != 0 || cluster_setup(c) != 0)
		goto fail;
	if (c->opts.tls) {
		char cmd[2 * HPATH_MAX + 128];

		snprintf(cmd, sizeof(cmd),
		         "%s/scripts/test-certs %s/certs && cd %s/certs && "
		         "cat ca.pem stranger-ca.pem > coord-ca.pem",
		         XACT_SOURCE_DIR, c->dir, c->dir);
		if (system(cmd) != 0) {
			herr("%s failed", cmd);
			goto fail;
		}
	}
	/*
	 * From picking the daemons' ports until they listen, under the ports
	 * lock. The participants start side by side, the coordinator after
	 * them.
	 */
	lock = ports_lock();
	ok = cluster_configs(c) == 0;
	for (int i = 0; ok && i < c->n; i++)
		ok = launch_part(c, i) == 0;
	for (int i = 0; ok && i < c->n; i++)
		ok = part_ready(c, i) == 0;
	ok = ok && start_coord(c) == 0;
	/* Each daemon serves its metrics just after it starts listening. */
	for (int i = 0; ok && c->opts.metrics && i < c->n; i++)
		ok = hwait_port(c->part_metrics_port[i], 10000);
	ok = ok &&
	     (!c->opts.metrics || hwait_port(c->coord_metrics_port, 10000));
	ok = ok && (!c->opts.api || hwait_port(c->coord_api_port, 10000));
	ports_unlock(lock);
	if (!ok)
		goto fail;
	if (keep_tmp())
		herr("cluster in %s", c->dir);
	return 0;
fail:
	hcluster_dump_logs(c);
	hcluster_stop(c);
	return -1;
}

void
hcluster_stop(struct hcluster *c)
{
	const char *dump = getenv("XACT_DUMP_LOGS");
	struct hpg *pgs[HCLUSTER_MAX];

	if (c->dir[0] == '\0')
		return;
	if (dump != NULL && strcmp(dump, "1") == 0)
		hcluster_dump_logs(c);
	/* SIGTERM to all first, so that their shutdowns overlap */
	hproc_kill(&c->coord, SIGTERM);
	for (int i = 0; i < c->n; i++)
		hproc_kill(&c->part[i], SIGTERM);
	hproc_stop(&c->coord);
	for (int i = 0; i < c->n; i++)
		hproc_stop(&c->part[i]);
	for (int i = 0; i < c->n; i++)
		pgs[i] = &c->pg[i];
	hpg_stop_all(pgs, c->n);
	hnet_destroy(&c->net);
	remove_tmpdir(c->dir);
	c->dir[0] = '\0';
}

int
hcluster_restart_coord(struct hcluster *c)
{
	if (hproc_alive(&c->coord))
		hproc_stop(&c->coord);
	return start_coord(c);
}

int
hcluster_restart_part(struct hcluster *c, int i)
{
	if (hproc_alive(&c->part[i]))
		hproc_stop(&c->part[i]);
	return start_part(c, i);
}

int
hcluster_cut(struct hcluster *c)
{
	if (c->net.name[0] == '\0') {
		herr("hcluster_cut: no participant is isolated");
		return -1;
	}
	return hnet_cut(&c->net);
}

int
hcluster_heal(struct hcluster *c)
{
	if (c->net.name[0] == '\0') {
		herr("hcluster_heal: no participant is isolated");
		return -1;
	}
	return hnet_heal(&c->net);
}

const char *
hcluster_url(const struct hcluster *c)
{
	return c->url;
}

int64_t
hcluster_total_prepared(struct hcluster *c)
{
	int64_t total = 0;

	for (int i = 0; i < c->n; i++) {
		int64_t n = hpg_prepared_count(&c->pg[i]);

		if (n < 0)
			return -1;
		total += n;
	}
	return total;
}

static bool
no_prepared_cond(void *arg)
{
	return hcluster_total_prepared(arg) == 0;
}

bool
hcluster_wait_no_prepared(struct hcluster *c, int timeout_ms)
{
	return hwait_until(no_prepared_cond, c, timeout_ms);
}

void
hcluster_dump_logs(struct hcluster *c)
{
	char log[HPATH_MAX + 8];

	if (c->coord.pid > 0)
		hlog_tail(c->coord.name, c->coord.log, 60);
	for (int i = 0; i < c->n; i++)
		if (c->part[i].pid > 0)
			hlog_tail(c->part[i].name, c->part[i].log, 40);
	for (int i = 0; i < c->n; i++) {
		if (c->pg[i].dir[0] == '\0')
			continue;
		snprintf(log, sizeof log, "%s/pg.log", c->pg[i].dir);
		hlog_tail("postgresql", log, 15);
	}
}

/*
 * The bank.
 */

int
hbank_init(struct hpg *pg, int accounts, long balance)
{
	char sql[512];

	snprintf(sql, sizeof sql,
	         "DROP TABLE IF EXISTS accounts;"
	         "CREATE TABLE accounts (id int PRIMARY KEY,"
	         " balance bigint NOT NULL CHECK (balance >= 0));"
	         "INSERT INTO accounts SELECT g, %ld"
	         " FROM generate_series(1, %d) g",
	         balance, accounts);
	return hpg_exec(pg, sql);
}

long long
hbank_total(struct hpg *pg)
{
	int64_t total;

	if (hpg_query_i64(pg, "SELECT coalesce(sum(balance), 0) FROM accounts",
	                  &total) != 0)
		return -1;
	return total;
}

bool
hcluster_finish(struct hcluster *c)
{
	bool clean;

	if (c->n == 0 || c->dir[0] == '\0') /* never started, or stopped */
		return true;
	if (c->net.cut) /* left by a failed test: the databases must answer */
		hnet_heal(&c->net);
	clean = hcluster_wait_no_prepared(c, 30000);
	if (!clean)
		hcluster_dump_logs(c);
	hcluster_stop(c);
	return clean;
}

int64_t
hstat(xact_conn *c, const char *name)
{
	xact_result *r;
	int64_t v = -1;

	if (xact_stats(c, &r) != 0)
		return -1;
	for (size_t i = 0; i < xact_result_nrows(r); i++)
		if (xact_result_ncols(r) == 2 &&
		    strcmp(xact_result_value(r, i, 0), name) == 0)
			v = strtoll(xact_result_value(r, i, 1), NULL, 10);
	xact_result_free(r);
	return v;
}

int
hxactctl(struct hcluster *c, char *out, size_t len, const char *fmt, ...)
{
	char cmd[HPATH_MAX + 2048], args[1536];
	size_t got;
	va_list ap;
	FILE *f;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd), "%s/xactctl -c %s %s 2>&1", XACT_BIN_DIR,
	         c->coord_conf, args);
	if ((f = popen(cmd, "r")) == NULL)
		return -1;
	got = fread(out, 1, len - 1, f);
	out[got] = '\0';
	return pclose(f);
}

/* ---- HTTP (metrics) ---- */

int
hhttp_get(int port, const char *path, char *body, size_t len)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
	                        .sin_port = htons((uint16_t)port)};
	char req[256], *resp, *start;
	size_t got = 0, cap = 65536;
	int fd, status = -1;
	ssize_t r;

	body[0] = '\0';
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return -1;
	snprintf(req, sizeof(req),
	         "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: "
	         "close\r\n\r\n",
	         path);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    write(fd, req, strlen(req)) != (ssize_t)strlen(req) ||
	    (resp = malloc(cap)) == NULL) {
		close(fd);
		return -1;
	}
	while (got < cap - 1 && (r = read(fd, resp + got, cap - 1 - got)) > 0)
		got += (size_t)r;
	close(fd);
	resp[got] = '\0';
	if (sscanf(resp, "HTTP/1.%*d %d", &status) != 1)
		status = -1;
	if ((start = strstr(resp, "\r\n\r\n")) != NULL) {
		start += 4;
		snprintf(body, len, "%s", start);
	}
	free(resp);
	return status;
}

int64_t
hmetric(const char *body, const char *name)
{
	size_t n = strlen(name);

	for (const char *l = body; l != NULL && *l != '\0';) {
		if (strncmp(l, name, n) == 0 && l[n] == ' ')
			return strtoll(l + n + 1, NULL, 10);
		l = strchr(l, '\n');
		if (l != NULL)
			l++;
	}
	return -1;
}

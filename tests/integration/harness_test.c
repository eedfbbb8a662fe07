/*
 * harness_test: the integration harness itself, on PostgreSQL and plain
 * processes only (no xact daemons).
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <netinet/in.h>

#include "harness.h"

TestSuite(harness, .timeout = 180);

static bool
exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

/* Gone, or a zombie that nobody reaped yet (e.g. under a container init). */
static bool
pid_gone(pid_t pid)
{
	char path[64], state = 0;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return true;
	if (fscanf(f, "%*d (%*[^)]) %c", &state) != 1)
		state = 'Z';
	fclose(f);
	return state == 'Z';
}

static bool
pid_gone_cond(void *pid)
{
	return pid_gone(*(pid_t *)pid);
}

/* The first line of a file as a number, or 0. */
static long
file_long(const char *path)
{
	FILE *f = fopen(path, "r");
	long v = 0;

	if (f != NULL) {
		if (fscanf(f, "%ld", &v) != 1)
			v = 0;
		fclose(f);
	}
	return v;
}

static bool
file_has_number(void *path)
{
	return file_long(path) > 0;
}

static bool
file_contains(const char *path, const char *needle)
{
	char buf[4096];
	FILE *f = fopen(path, "r");
	size_t n;

	if (f == NULL)
		return false;
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strstr(buf, needle) != NULL;
}

static void
tmp_log(char *out, size_t len, const char *name)
{
	snprintf(out, len, "/tmp/harness-test-%d-%s.log", (int)getpid(), name);
	unlink(out);
}

static void
prepare(struct hpg *pg, const char *gid)
{
	char sql[256];

	snprintf(sql, sizeof sql,
	         "BEGIN; INSERT INTO t VALUES (1); PREPARE TRANSACTION '%s'",
	         gid);
	cr_assert_eq(hpg_exec(pg, sql), 0, "PREPARE TRANSACTION '%s'", gid);
}

Test(harness, two_clusters_prepare_and_rollback)
{
	struct hpg a = {0}, b = {0};
	char adir[HPATH_MAX], bdir[HPATH_MAX];
	int64_t v;

	cr_assert_eq(hpg_start(&a), 0);
	cr_assert_eq(hpg_start(&b), 0);
	cr_assert_neq(a.port, b.port);
	cr_assert_eq(hpg_query_i64(&a,
	                           "SELECT setting::int FROM pg_settings "
	                           "WHERE name = 'max_prepared_transactions'",
	                           &v),
	             0);
	cr_assert_eq(v, 100);

	cr_assert_eq(hpg_exec(&a, "CREATE TABLE t (x int)"), 0);
	cr_assert_eq(hpg_exec(&b, "CREATE TABLE t (x int)"), 0);
	prepare(&a, "xact_c1_1_1");
	prepare(&a, "xact_c1_1_2");
	prepare(&a, "xactXc1_1_3"); /* '_' in LIKE must not match 'X' */
	prepare(&b, "other_1");
	cr_assert_eq(hpg_prepared_count(&a), 2);
	cr_assert_eq(hpg_prepared_count(&b), 0);

	cr_assert_eq(hpg_exec(&a, "ROLLBACK PREPARED 'xact_c1_1_1'"), 0);
	cr_assert_eq(hpg_exec(&a, "COMMIT PREPARED 'xact_c1_1_2'"), 0);
	cr_assert_eq(hpg_exec(&a, "ROLLBACK PREPARED 'xactXc1_1_3'"), 0);
	cr_assert_eq(hpg_exec(&b, "ROLLBACK PREPARED 'other_1'"), 0);
	cr_assert_eq(hpg_prepared_count(&a), 0);
	cr_assert_eq(hpg_query_i64(&a, "SELECT count(*) FROM t", &v), 0);
	cr_assert_eq(v, 1);
	cr_assert_eq(hpg_exec(&a, "ROLLBACK PREPARED 'no_such_gid'"), -1);

	snprintf(adir, sizeof adir, "%s", a.dir);
	snprintf(bdir, sizeof bdir, "%s", b.dir);
	hpg_stop(&a);
	hpg_stop(&b);
	cr_assert(!exists(adir) && !exists(bdir), "temp dirs removed");
	cr_assert_eq(hpg_prepared_count(&a), -1, "the server is gone");
}

Test(harness, crash_keeps_prepared_and_bank)
{
	struct hpg pg = {0};
	int port;

	cr_assert_eq(hpg_start(&pg), 0);
	port = pg.port;
	cr_assert_eq(hpg_exec(&pg, "CREATE TABLE t (x int)"), 0);
	prepare(&pg, "xact_c1_2_1");

	cr_assert_eq(hpg_kill(&pg), 0);
	cr_assert(!pg.running);
	cr_assert_eq(hpg_exec(&pg, "SELECT 1"), -1);
	cr_assert_eq(hpg_restart(&pg), 0);
	cr_assert_eq(pg.port, port);
	cr_assert_eq(hpg_prepared_count(&pg), 1, "PREPARE survives a crash");
	cr_assert_eq(hpg_exec(&pg, "COMMIT PREPARED 'xact_c1_2_1'"), 0);

	cr_assert_eq(hbank_init(&pg, 10, 100), 0);
	cr_assert_eq(hbank_total(&pg), 1000);
	cr_assert_eq(hpg_exec(&pg, "UPDATE accounts SET balance = balance - "
	                           "101 WHERE id = 1"),
	             -1, "the check constraint refuses an overdraft");
	cr_assert_eq(hbank_init(&pg, 5, 7), 0, "init again replaces");
	cr_assert_eq(hbank_total(&pg), 35);
	hpg_stop(&pg);
}

/*
 * Two processes at once on an empty template: the flock makes the second
 * wait for the first initdb; both clusters work.
 */
Test(harness, parallel_start_on_a_fresh_template)
{
	char tmpl[HPATH_MAX];
	pid_t kids[2];
	int status;

	snprintf(tmpl, sizeof tmpl, "/tmp/harness-test-%d-template",
	         (int)getpid());
	setenv("XACT_PG_TEMPLATE", tmpl, 1);
	for (int i = 0; i < 2; i++) {
		if ((kids[i] = fork()) == 0) {
			struct hpg pg = {0};
			int ok =
			    hpg_start(&pg) == 0 &&
			    hpg_exec(&pg,
			             "CREATE TABLE t (x int);"
			             "BEGIN; INSERT INTO t VALUES (1);"
			             "PREPARE TRANSACTION 'xact_p_1_1'") == 0 &&
			    hpg_prepared_count(&pg) == 1;
			hpg_stop(&pg);
			_exit(ok ? 0 : 1);
		}
		cr_assert_gt(kids[i], 0);
	}
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(waitpid(kids[i], &status, 0), kids[i]);
		cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		          "child %d failed", i);
	}
	char rm[2 * HPATH_MAX + 32];
	snprintf(rm, sizeof rm, "rm -rf %s %s.lock", tmpl, tmpl);
	cr_assert_eq(system(rm), 0);
}

Test(harness, proc_exit_status_env_and_log)
{
	char log[HPATH_MAX];
	char *argv[] = {"sh", "-c", "echo \"hello $HARNESS_X\"; exit 3", NULL};
	char *env[] = {"HARNESS_X=42", NULL};
	struct hproc p;
	int status;

	tmp_log(log, sizeof log, "exit");
	cr_assert_eq(hproc_start(&p, "sh", argv, env, log), 0);
	cr_assert_eq(hproc_wait(&p, 5000, &status), 0);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 3);
	cr_assert(!hproc_alive(&p));
	cr_assert(file_contains(log, "hello 42"));
	unlink(log);
}

Test(harness, proc_kill_reaches_the_whole_group)
{
	char log[HPATH_MAX];
	char *argv[] = {"sh", "-c", "sleep 60 & echo $!; wait", NULL};
	struct hproc p;
	int status;
	pid_t sleeper;

	tmp_log(log, sizeof log, "group");
	cr_assert_eq(hproc_start(&p, "sh", argv, NULL, log), 0);
	cr_assert(hwait_until(file_has_number, log, 5000));
	sleeper = (pid_t)file_long(log);
	cr_assert(hproc_alive(&p));
	cr_assert_eq(hproc_wait(&p, 100, &status), -1, "still running");

	cr_assert_eq(hproc_kill(&p, SIGKILL), 0);
	cr_assert_eq(hproc_wait(&p, 5000, &status), 0);
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	cr_assert(hwait_until(pid_gone_cond, &sleeper, 5000));
	cr_assert_eq(hproc_kill(&p, SIGTERM), -1, "nothing left to signal");
	unlink(log);
}

Test(harness, proc_stop_uses_sigterm)
{
	char log[HPATH_MAX];
	char *argv[] = {"/bin/sleep", "60", NULL};
	struct hproc p;
	int status;

	tmp_log(log, sizeof log, "stop");
	cr_assert_eq(hproc_start(&p, "sleep", argv, NULL, log), 0);
	cr_assert(hproc_alive(&p));
	status = hproc_stop(&p);
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
	cr_assert(!hproc_alive(&p));
	unlink(log);
}

Test(harness, ports)
{
	int port = hfree_port(), fd;
	struct sockaddr_in a = {.sin_family = AF_INET,
	                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};

	cr_assert_gt(port, 0);
	cr_assert(!hwait_port(port, 100), "nobody listens yet");
	a.sin_port = htons((uint16_t)port);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	cr_assert_eq(listen(fd, 4), 0);
	cr_assert(hwait_port(port, 1000));
	close(fd);
}

struct leftovers {
	char dir[HPATH_MAX];
	pid_t postmaster;
	pid_t sleeper;
};

static bool
all_gone(void *arg)
{
	struct leftovers *l = arg;

	return !exists(l->dir) && pid_gone(l->postmaster) &&
	       pid_gone(l->sleeper);
}

/* A test process killed by SIGKILL leaves nothing behind. */
Test(harness, reaper_cleans_up_after_sigkill)
{
	struct leftovers l = {0};
	int fds[2], status;
	pid_t kid;

	cr_assert_eq(pipe(fds), 0);
	if ((kid = fork()) == 0) {
		char pidfile[HPATH_MAX + 32], log[HPATH_MAX + 16];
		char *argv[] = {"/bin/sleep", "600", NULL};
		struct hpg pg = {0};
		struct hproc p;

		if (hpg_start(&pg) != 0)
			_exit(1);
		snprintf(pidfile, sizeof pidfile, "%s/data/postmaster.pid",
		         pg.dir);
		snprintf(log, sizeof log, "%s/sleep.log", pg.dir);
		if (hproc_start(&p, "sleep", argv, NULL, log) != 0)
			_exit(1);
		snprintf(l.dir, sizeof l.dir, "%s", pg.dir);
		l.postmaster = (pid_t)file_long(pidfile);
		l.sleeper = p.pid;
		(void)!write(fds[1], &l, sizeof l);
		pause();
		_exit(0);
	}
	close(fds[1]);
	cr_assert_eq(read(fds[0], &l, sizeof l), (ssize_t)sizeof l);
	cr_assert_gt(l.postmaster, 0);
	cr_assert(!all_gone(&l));
	kill(kid, SIGKILL);
	waitpid(kid, &status, 0);
	cr_assert(hwait_until(all_gone, &l, 30000),
	          "the reaper stopped PostgreSQL and sleep and removed %s",
	          l.dir);
}

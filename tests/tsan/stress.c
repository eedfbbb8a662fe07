/*
 * Concurrency stress for ThreadSanitizer (scripts/tsan): the decision log
 * (group commit on its writer thread, lookups, ENDs and compaction from
 * others) and the per-client counts, hammered from several threads at
 * once. Criterion cannot run under TSan, so this is a plain program: it
 * exits 0, or 1 with what did not add up; TSan reports races itself.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clients.h"
#include "dlog.h"
#include "gid.h"
#include "log.h"

#define THREADS 4
#define COMMITS 2000

static struct dlog *d;
static struct clients *cl;
static uint64_t inc;
static atomic_int durable, failures;

static void
on_durable(void *arg)
{
	(void)arg;
	atomic_fetch_add(&durable, 1);
}

static void *
committer(void *arg)
{
	static const char *const names[] = {"bank1", "bank2"};
	int t = (int)(intptr_t)arg;
	char gid[GID_MAX];

	for (int i = 0; i < COMMITS; i++) {
		gid_format(gid, "c1", inc, (uint64_t)(t * COMMITS + i + 1));
		if (dlog_commit(d, gid, names, 2, on_durable, NULL) != 0)
			atomic_fetch_add(&failures, 1);
		(void)dlog_lookup(d, gid);
		if (i % 2 == 0)
			dlog_end(d, gid);
		(void)dlog_issued(d, gid);
	}
	return NULL;
}

static void *
compactor(void *arg)
{
	char err[256];

	(void)arg;
	for (int i = 0; i < 50; i++)
		if (dlog_maybe_compact(d, 1, err, sizeof(err)) != 0) {
			fprintf(stderr, "compaction: %s\n", err);
			atomic_fetch_add(&failures, 1);
		}
	return NULL;
}

static void *
client(void *arg)
{
	uint32_t id = (uint32_t)(intptr_t)arg % 3 + 1;

	for (int i = 0; i < 20000; i++) {
		if (clients_take(cl, id, 1, 1000000))
			clients_release(cl, id);
		else
			atomic_fetch_add(&failures, 1);
	}
	return NULL;
}

int
main(void)
{
	char dir[] = "/tmp/xact-tsan.XXXXXX", err[256], cmd[64];
	pthread_t th[2 * THREADS + 1];
	int n = 0;

	xlog_init("tsan", XLOG_ERROR);
	if (mkdtemp(dir) == NULL ||
	    dlog_open(dir, "c1", 100, &d, err, sizeof(err)) != 0 ||
	    (cl = clients_new()) == NULL) {
		fprintf(stderr, "tsan: setup failed: %s\n", err);
		return 1;
	}
	inc = dlog_incarnation(d);
	for (int t = 0; t < THREADS; t++)
		pthread_create(&th[n++], NULL, committer, (void *)(intptr_t)t);
	for (int t = 0; t < THREADS; t++)
		pthread_create(&th[n++], NULL, client, (void *)(intptr_t)t);
	pthread_create(&th[n++], NULL, compactor, NULL);
	for (int i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	dlog_close(d); /* flushes: every commit is durable by now */
	clients_free(cl);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "tsan: cannot remove %s\n", dir);
	if (atomic_load(&durable) != THREADS * COMMITS ||
	    atomic_load(&failures) != 0) {
		fprintf(stderr, "tsan: %d of %d commits durable, %d failures\n",
		        atomic_load(&durable), THREADS * COMMITS,
		        atomic_load(&failures));
		return 1;
	}
	printf("tsan: %d commits, %d client counts, compactions: ok\n",
	       THREADS * COMMITS, THREADS * 20000);
	return 0;
}

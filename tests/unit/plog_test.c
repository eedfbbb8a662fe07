/*
 * plog: a participant's 3PC log, on a real file in a fresh directory per
 * test. What it must keep across a restart and a compaction: the
 * participant list of every branch and its last acceptor state; done
 * entries for a while, then "forgotten" (never "unknown", which would
 * make the participant answer ABORT for a branch it may have committed).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gid.h"
#include "log.h"
#include "plog.h"
#include "wal.h"

static char dir[64];
static char path[128];
static char compact_path[160];
static char err[512];

static void
setup(void)
{
	xlog_init("plog_test", XLOG_ERROR);
	strcpy(dir, "/tmp/plog_test.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/participant.log", dir);
	snprintf(compact_path, sizeof(compact_path), "%s.compact", path);
}

static void
teardown(void)
{
	unlink(path);
	unlink(compact_path);
	rmdir(dir);
}

TestSuite(plog, .init = setup, .fini = teardown, .timeout = 60);

static struct plog *
open_log(uint64_t retain)
{
	struct plog *l = NULL;

	cr_assert_eq(plog_open(dir, retain, &l, err, sizeof(err)), 0,
	             "plog_open: %s", err);
	return l;
}

static const char *
mkgid(char buf[GID_MAX], const char *node, uint64_t seq)
{
	gid_format(buf, node, 1, seq);
	return buf;
}

static struct plog_wait
three_peers(unsigned rank)
{
	struct plog_wait w = {.rank = rank, .quorum = true, .npeers = 3};

	for (int i = 0; i < 3; i++) {
		snprintf(w.peers[i].name, sizeof(w.peers[i].name), "bank%d",
		         i + 1);
		snprintf(w.peers[i].url, sizeof(w.peers[i].url),
		         "tcp://127.0.0.1:%d", 7001 + i);
	}
	return w;
}

Test(plog, wait_and_state_survive_a_restart)
{
	const struct term_acceptor acc = {.voted_yes = true,
	                                  .promised = 77,
	                                  .accepted_ballot = 77,
	                                  .accepted = TERM_COMMIT};
	struct plog_wait w = three_peers(1), got;
	struct term_acceptor a;
	char gid[GID_MAX];
	bool has_wait;
	struct plog *l = open_log(100);

	mkgid(gid, "c1", 5);
	cr_assert_eq(plog_wait(l, gid, &w), 0);
	cr_assert_eq(plog_wait(l, gid, &w), -1, "a second WAIT is refused");
	cr_assert_eq(plog_put(l, gid, &acc), 0);
	plog_close(l);

	l = open_log(100);
	memset(&got, 0, sizeof(got));
	cr_assert_eq(plog_get(l, gid, &a, &got, &has_wait), PLOG_KNOWN);
	cr_assert(has_wait);
	/* field by field: padding bytes are not state */
	cr_assert_eq(a.voted_yes, acc.voted_yes);
	cr_assert_eq(a.promised, acc.promised);
	cr_assert_eq(a.accepted_ballot, acc.accepted_ballot);
	cr_assert_eq(a.accepted, acc.accepted);
	cr_assert_eq(a.decided, acc.decided);
	cr_assert_eq(got.rank, 1);
	cr_assert(got.quorum);
	cr_assert_eq(got.npeers, 3);
	cr_assert_str_eq(got.peers[2].name, "bank3");
	cr_assert_str_eq(got.peers[2].url, "tcp://127.0.0.1:7003");
	plog_close(l);
}

Test(plog, the_last_state_wins_and_unknown_means_never_seen)
{
	struct term_acceptor a = {.voted_yes = true, .promised = 3};
	struct term_acceptor got;
	char gid[GID_MAX], other[GID_MAX];
	bool has_wait = true;
	struct plog *l = open_log(100);

	mkgid(gid, "c1", 1);
	cr_assert_eq(plog_put(l, gid, &a), 0);
	a.decided = TERM_COMMIT;
	cr_assert_eq(plog_put(l, gid, &a), 0);
	plog_close(l);
	l = open_log(100);
	cr_assert_eq(plog_get(l, gid, &got, NULL, &has_wait), PLOG_KNOWN);
	cr_assert_eq(got.decided, TERM_COMMIT);
	cr_assert_not(has_wait, "a state without a WAIT (a tombstone)");
	cr_assert_eq(plog_get(l, mkgid(other, "c1", 2), &got, NULL, NULL),
	             PLOG_UNKNOWN);
	cr_assert_eq(plog_get(l, "not a gid", &got, NULL, NULL), PLOG_UNKNOWN);
	plog_close(l);
}

struct seen {
	char gid[4][GID_MAX];
	int n;
};

static void
visit(void *arg, const char *gid)
{
	struct seen *s = arg;

	if (s->n < 4)
		snprintf(s->gid[s->n++], GID_MAX, "%s", gid);
}

Test(plog, open_branches_are_handed_back_at_start)
{
	struct term_acceptor a = {.voted_yes = true};
	char g1[GID_MAX], g2[GID_MAX];
	struct plog_wait w = three_peers(0);
	struct plog *l = open_log(100);
	struct seen seen = {0};

	cr_assert_eq(plog_wait(l, mkgid(g1, "c1", 1), &w), 0);
	cr_assert_eq(plog_wait(l, mkgid(g2, "c1", 2), &w), 0);
	a.decided = TERM_ABORT;
	cr_assert_eq(plog_put(l, g1, &a), 0);
	cr_assert_eq(plog_done(l, g1), 0);
	plog_close(l);
	l = open_log(100);
	cr_assert_eq(plog_foreach_open(l, visit, &seen), 0);
	cr_assert_eq(seen.n, 1, "only the branch not done");
	cr_assert_str_eq(seen.gid[0], g2);
	plog_close(l);
}

/* Retention forgets done entries; a forgotten gid never reads unknown. */
static void
check_forgotten(struct plog *l)
{
	struct term_acceptor a;
	char gid[GID_MAX];

	cr_assert_eq(plog_get(l, mkgid(gid, "c1", 1), &a, NULL, NULL),
	             PLOG_FORGOTTEN);
	cr_assert_eq(plog_get(l, mkgid(gid, "c1", 2), &a, NULL, NULL),
	             PLOG_FORGOTTEN);
	cr_assert_eq(plog_get(l, mkgid(gid, "c1", 3), &a, NULL, NULL),
	             PLOG_KNOWN);
	cr_assert_eq(plog_get(l, mkgid(gid, "c1", 9), &a, NULL, NULL),
	             PLOG_UNKNOWN, "above the horizon: never seen");
	cr_assert_eq(plog_get(l, mkgid(gid, "c2", 1), &a, NULL, NULL),
	             PLOG_UNKNOWN, "horizons are per coordinator node");
	cr_assert_eq(plog_put(l, mkgid(gid, "c1", 1), &a), -1,
	             "a forgotten gid does not come back");
}

Test(plog, done_entries_are_forgotten_not_guessed)
{
	struct term_acceptor a = {.voted_yes = true, .decided = TERM_COMMIT};
	char gid[GID_MAX];
	struct plog *l = open_log(2);

	for (uint64_t s = 1; s <= 4; s++) {
		cr_assert_eq(plog_put(l, mkgid(gid, "c1", s), &a), 0);
		cr_assert_eq(plog_done(l, gid), 0);
	}
	/* 4 done, 2 retained: 1 and 2 forgotten, 3 and 4 known */
	check_forgotten(l);
	plog_close(l);
	l = open_log(2);
	check_forgotten(l);
	cr_assert_eq(plog_maybe_compact(l, 0, err, sizeof(err)), 0, "%s", err);
	plog_close(l);
	l = open_log(2);
	check_forgotten(l); /* now from the HORIZON record */
	plog_close(l);
}

Test(plog, compaction_keeps_every_answer)
{
	struct term_acceptor a = {.voted_yes = true, .promised = 9};
	struct plog_wait w = three_peers(2), got;
	struct term_acceptor b;
	char gid[GID_MAX];
	struct stat before, after;
	struct plog *l = open_log(100);

	for (uint64_t s = 1; s <= 50; s++) {
		cr_assert_eq(plog_wait(l, mkgid(gid, "c1", s), &w), 0);
		for (int k = 0; k < 5; k++) { /* promises pile up */
			a.promised++;
			cr_assert_eq(plog_put(l, gid, &a), 0);
		}
	}
	plog_close(l);
	l = open_log(100);
	cr_assert_eq(stat(path, &before), 0);
	cr_assert_eq(plog_maybe_compact(l, 0, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(stat(path, &after), 0);
	cr_assert_lt(after.st_size, before.st_size / 2, "%ld -> %ld",
	             (long)before.st_size, (long)after.st_size);
	plog_close(l);
	l = open_log(100);
	cr_assert_eq(plog_get(l, mkgid(gid, "c1", 50), &b, &got, NULL),
	             PLOG_KNOWN);
	cr_assert_eq(b.promised, a.promised);
	cr_assert_eq(got.rank, 2);
	cr_assert_eq(plog_get(l, mkgid(gid, "c1", 1), &b, &got, NULL),
	             PLOG_KNOWN);
	cr_assert_eq(b.promised, 9 + 5);
	plog_close(l);
}

/*
 * A STATE of a gid that retention already dropped earlier in the file (a
 * put racing with the eviction) must not bring the gid back as an open
 * branch. The file is written by hand: STATE is gid NUL, u8 voted_yes,
 * u64 promised, u64 accepted ballot, u8 accepted, u8 decided.
 */
static int
ignore(void *arg, uint8_t type, const void *payload, uint32_t len)
{
	(void)arg, (void)type, (void)payload, (void)len;
	return 0;
}

static void
raw_state(struct wal *w, const char *gid, uint8_t decided)
{
	uint8_t rec[GID_MAX + 19] = {0};
	size_t gl = strlen(gid) + 1;

	memcpy(rec, gid, gl);
	rec[gl] = 1;
	rec[gl + 18] = decided;
	cr_assert_eq(wal_append_sync(w, 2, rec, (uint32_t)(gl + 19)), 0);
}

Test(plog, a_late_record_of_a_forgotten_gid_is_skipped)
{
	char gid[GID_MAX];
	struct wal *w;
	struct plog *l;
	struct seen seen = {0};
	struct term_acceptor a;

	cr_assert_eq(wal_open(path, ignore, NULL, &w, err, sizeof(err)), 0,
	             "%s", err);
	for (uint64_t s = 1; s <= 3; s++) {
		raw_state(w, mkgid(gid, "c1", s), TERM_COMMIT);
		cr_assert_eq(wal_append_sync(w, 3, gid, strlen(gid) + 1), 0);
	}
	raw_state(w, mkgid(gid, "c1", 1), TERM_COMMIT); /* after eviction */
	wal_close(w);
	l = open_log(2);
	cr_assert_eq(plog_get(l, gid, &a, NULL, NULL), PLOG_FORGOTTEN);
	cr_assert_eq(plog_foreach_open(l, visit, &seen), 0);
	cr_assert_eq(seen.n, 0, "nothing open: %s", seen.gid[0]);
	plog_close(l);
}

Test(plog, bad_input_is_refused)
{
	struct plog_wait w = three_peers(0);
	struct term_acceptor a = {0};
	char gid[GID_MAX];
	struct plog *l = open_log(100);

	mkgid(gid, "c1", 1);
	cr_assert_eq(plog_put(l, "xact_bad", &a), -1);
	w.rank = 3;
	cr_assert_eq(plog_wait(l, gid, &w), -1, "rank beyond the list");
	w = three_peers(0);
	strcpy(w.peers[1].name, "no spaces allowed");
	cr_assert_eq(plog_wait(l, gid, &w), -1, "a bad participant name");
	w = three_peers(0);
	w.peers[1].url[0] = '\0';
	cr_assert_eq(plog_wait(l, gid, &w), -1, "an empty URL");
	w.npeers = 0;
	cr_assert_eq(plog_wait(l, gid, &w), -1, "nobody");
	plog_close(l);
}

Test(plog, a_corrupt_record_in_the_middle_is_refused)
{
	struct term_acceptor a = {.voted_yes = true};
	char gid[GID_MAX];
	struct plog *l = open_log(100);
	FILE *f;

	for (uint64_t s = 1; s <= 3; s++)
		cr_assert_eq(plog_put(l, mkgid(gid, "c1", s), &a), 0);
	plog_close(l);
	cr_assert_not_null(f = fopen(path, "r+"));
	fseek(f, 12, SEEK_SET); /* inside the first record's payload */
	fputc('#', f);
	fclose(f);
	l = NULL;
	cr_assert_eq(plog_open(dir, 100, &l, err, sizeof(err)), -1);
	cr_assert(strstr(err, "offset") != NULL, "says where: %s", err);
}

/*
 * term: 3PC's decision rules (lib/term.c), by hand and under random
 * schedules. The random test plays many backups and the coordinator
 * against acceptors over a network that delays, reorders and loses, and
 * holds quorum mode to agreement after every step; plain mode is shown to
 * split under a partition, the known limitation.
 */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "rng.h"
#include "term.h"

static const struct term_state UNCERTAIN = {TERM_NONE, 0, TERM_NONE};

Test(term, ballots_are_unique_and_above_the_coordinators)
{
	uint64_t a = term_next_ballot(0, 0), b = term_next_ballot(0, 1);

	cr_assert_gt(a, TERM_BALLOT_COORD);
	cr_assert_neq(a, b);
	cr_assert_gt(term_next_ballot(b, 0), b);
	cr_assert_gt(term_next_ballot(b, 7), b);
	cr_assert_gt(term_next_ballot(TERM_BALLOT_COORD, 0), TERM_BALLOT_COORD);
}

Test(term, state_request_promises_and_refuses_older_ballots)
{
	struct term_acceptor a = {.voted_yes = true};
	struct term_state s;

	cr_assert(term_on_state(&a, 10, &s));
	cr_assert_eq(a.promised, 10);
	cr_assert_eq(s.decided, TERM_NONE);
	cr_assert_eq(s.accepted_ballot, 0, "uncertain");
	cr_assert_not(term_on_state(&a, 10, &s), "the same ballot twice");
	cr_assert_not(term_on_state(&a, 9, &s));
	cr_assert_eq(a.promised, 10);
	cr_assert_eq(term_on_accept(&a, 9, TERM_COMMIT), TERM_REFUSED,
	             "a promise of 10 refuses the older ballot 9");
	cr_assert_eq(term_on_accept(&a, 10, TERM_COMMIT), TERM_ACCEPTED);
	cr_assert(term_on_state(&a, 11, &s));
	cr_assert_eq(s.accepted_ballot, 10);
	cr_assert_eq(s.accepted, TERM_COMMIT, "pre-committed");
}

Test(term, the_old_coordinator_is_refused_once_a_backup_asked)
{
	struct term_acceptor a = {.voted_yes = true};
	struct term_state s;

	cr_assert(term_on_state(&a, term_next_ballot(0, 2), &s));
	cr_assert_eq(term_on_accept(&a, TERM_BALLOT_COORD, TERM_COMMIT),
	             TERM_REFUSED);
	cr_assert_eq(a.accepted, TERM_NONE);
}

Test(term, a_participant_that_never_voted_answers_aborted_for_good)
{
	struct term_acceptor a = {0};
	struct term_state s;

	cr_assert(term_on_state(&a, 5, &s));
	cr_assert_eq(s.decided, TERM_ABORT);
	cr_assert_eq(a.decided, TERM_ABORT, "it must never vote YES now");
	cr_assert_not(term_on_decide(&a, TERM_COMMIT));

	struct term_acceptor b = {0};
	cr_assert_eq(term_on_accept(&b, 5, TERM_COMMIT), TERM_REFUSED);
	cr_assert_eq(b.decided, TERM_NONE);
	cr_assert_eq(term_on_accept(&b, 5, TERM_ABORT), TERM_ABORTED);
	cr_assert_eq(b.decided, TERM_ABORT);

	struct term_acceptor c = {0};
	term_abort_unvoted(&c);
	cr_assert_eq(c.decided, TERM_ABORT);
	struct term_acceptor d = {.voted_yes = true};
	term_abort_unvoted(&d);
	cr_assert_eq(d.decided, TERM_NONE, "after YES it may not");
}

Test(term, an_abort_learned_before_the_vote_forbids_yes)
{
	struct term_acceptor a = {0}, b = {0}, c = {0};
	struct term_state s;

	cr_assert(term_on_decide(&a, TERM_ABORT), "an unvoted one may abort");
	cr_assert_not(term_vote_yes(&a));
	cr_assert_not(a.voted_yes);
	cr_assert(term_on_state(&b, 9, &s));
	cr_assert_not(term_vote_yes(&b), "it answered aborted");
	cr_assert(term_vote_yes(&c));
	cr_assert(c.voted_yes);
}

Test(term, a_decided_participant_always_tells_and_never_changes)
{
	struct term_acceptor a = {.voted_yes = true, .promised = 50};
	struct term_state s;

	cr_assert(term_on_decide(&a, TERM_COMMIT));
	cr_assert(term_on_decide(&a, TERM_COMMIT), "a duplicate is fine");
	cr_assert_not(term_on_decide(&a, TERM_ABORT), "a conflict");
	cr_assert_eq(a.decided, TERM_COMMIT);
	cr_assert(term_on_state(&a, 3, &s), "even for a stale ballot");
	cr_assert_eq(s.decided, TERM_COMMIT);
	cr_assert_eq(a.promised, 50);
	cr_assert_eq(term_on_accept(&a, 60, TERM_ABORT), TERM_REFUSED);
}

Test(term, quorum_rounds_need_a_majority_plain_rounds_anyone)
{
	struct term_round q, p;

	cr_assert_eq(term_round_start(&q, 100, 3, true), 0);
	cr_assert_eq(term_round_start(&p, 100, 3, false), 0);
	cr_assert_not(term_round_choose(&q), "no answer yet");
	cr_assert_not(term_round_choose(&p), "no answer yet");
	term_round_answer(&q, 0, &UNCERTAIN);
	term_round_answer(&p, 0, &UNCERTAIN);
	cr_assert_not(term_round_choose(&q), "1 of 3 is no majority");
	cr_assert(term_round_choose(&p));
	term_round_answer(&q, 2, &UNCERTAIN);
	cr_assert(term_round_choose(&q));
	cr_assert_eq(q.value, TERM_ABORT, "all uncertain: abort");
	cr_assert_eq(q.phase, TERM_ACCEPTING);
	cr_assert_not(term_round_choose(&q), "chosen once");
	cr_assert_eq(term_round_start(&q, 1, 0, true), -1);
	cr_assert_eq(term_round_start(&q, 1, TERM_MAX_PARTS + 1, true), -1);
}

Test(term, a_decision_wins_over_any_accepted_value_in_any_order)
{
	/* The rule the model caught wrong in a first draft: the decided one
	 * answers after a pre-committed one, and still wins. */
	const struct term_state pre = {TERM_NONE, 1, TERM_COMMIT};
	const struct term_state aborted = {TERM_ABORT, 0, TERM_NONE};
	struct term_round r;

	term_round_start(&r, 9, 3, true);
	term_round_answer(&r, 0, &pre);
	term_round_answer(&r, 2, &aborted);
	cr_assert(term_round_choose(&r));
	cr_assert_eq(r.value, TERM_ABORT);
	cr_assert_eq(r.phase, TERM_DECIDED, "nothing to propose: tell all");
}

Test(term, the_value_accepted_at_the_highest_ballot_is_chosen)
{
	const struct term_state low = {TERM_NONE, 1, TERM_COMMIT};
	const struct term_state high = {TERM_NONE, 70, TERM_ABORT};
	struct term_round r;

	term_round_start(&r, 99, 3, true);
	term_round_answer(&r, 0, &low);
	term_round_answer(&r, 1, &high);
	term_round_answer(&r, 2, &UNCERTAIN);
	cr_assert(term_round_choose(&r));
	cr_assert_eq(r.value, TERM_ABORT);
	term_round_start(&r, 99, 3, true);
	term_round_answer(&r, 1, &low);
	term_round_answer(&r, 2, &UNCERTAIN);
	cr_assert(term_round_choose(&r));
	cr_assert_eq(r.value, TERM_COMMIT, "pre-committed: commit");
	cr_assert_eq(r.phase, TERM_ACCEPTING);
}

Test(term, acks_quorum_needs_a_majority_plain_everyone_heard)
{
	struct term_round q, p;

	term_round_start(&q, 9, 5, true);
	term_round_start(&p, 9, 5, false);
	for (size_t i = 0; i < 3; i++) {
		term_round_answer(&q, i, &UNCERTAIN);
		term_round_answer(&p, i, &UNCERTAIN);
	}
	cr_assert(term_round_choose(&q));
	cr_assert(term_round_choose(&p));
	cr_assert_not(term_round_ack(&q, 4), "1 of 5");
	cr_assert_not(term_round_ack(&q, 3), "2 of 5");
	cr_assert(term_round_ack(&q, 0), "3 of 5: decided");
	cr_assert_eq(q.phase, TERM_DECIDED);
	cr_assert_not(term_round_ack(&p, 3), "not heard: does not count");
	cr_assert_not(term_round_ack(&p, 0));
	cr_assert_not(term_round_ack(&p, 1));
	cr_assert(term_round_ack(&p, 2), "all three heard have acked");
}

Test(term, the_coordinators_proposal_needs_every_ack_in_plain_mode)
{
	struct term_round p, q;

	cr_assert_eq(term_round_propose(&p, 3, false, TERM_COMMIT), 0);
	cr_assert_eq(p.ballot, TERM_BALLOT_COORD);
	cr_assert_eq(p.phase, TERM_ACCEPTING);
	cr_assert_not(term_round_ack(&p, 0));
	cr_assert_not(term_round_ack(&p, 1));
	cr_assert(term_round_ack(&p, 2));
	term_round_propose(&q, 3, true, TERM_COMMIT);
	cr_assert_not(term_round_ack(&q, 0));
	cr_assert(term_round_ack(&q, 2), "a majority");
}

/*
 * Plain 3PC splits under a partition: P0 is pre-committed and cut off
 * from P1 and P2, which are uncertain. Each side runs a round with whoever
 * answers, and they decide differently.
 */
Test(term, plain_mode_splits_under_a_partition)
{
	struct term_acceptor acc[3] = {
	    {.voted_yes = true}, {.voted_yes = true}, {.voted_yes = true}};
	struct term_round a, b;
	struct term_state s;

	cr_assert_eq(term_on_accept(&acc[0], TERM_BALLOT_COORD, TERM_COMMIT),
	             TERM_ACCEPTED);
	/* side {P0}: P0 is the backup */
	term_round_start(&a, term_next_ballot(1, 0), 3, false);
	cr_assert(term_on_state(&acc[0], a.ballot, &s));
	term_round_answer(&a, 0, &s);
	cr_assert(term_round_choose(&a));
	cr_assert_eq(a.value, TERM_COMMIT);
	cr_assert_eq(term_on_accept(&acc[0], a.ballot, a.value), TERM_ACCEPTED);
	cr_assert(term_round_ack(&a, 0));
	cr_assert(term_on_decide(&acc[0], a.value));
	/* side {P1, P2}: P1 is the backup */
	term_round_start(&b, term_next_ballot(1, 1), 3, false);
	for (size_t i = 1; i < 3; i++) {
		cr_assert(term_on_state(&acc[i], b.ballot, &s));
		term_round_answer(&b, i, &s);
	}
	cr_assert(term_round_choose(&b));
	cr_assert_eq(b.value, TERM_ABORT, "all uncertain on this side");
	for (size_t i = 1; i < 3; i++) {
		term_on_accept(&acc[i], b.ballot, b.value);
		term_round_ack(&b, i);
		cr_assert(term_on_decide(&acc[i], b.value));
	}
	cr_assert_eq(acc[0].decided, TERM_COMMIT);
	cr_assert_eq(acc[1].decided, TERM_ABORT, "the known limitation");
	/* In quorum mode P0's side could not have chosen at all. */
	struct term_round q;
	term_round_start(&q, term_next_ballot(a.ballot, 0), 3, true);
	term_round_answer(&q, 0, &s);
	cr_assert_not(term_round_choose(&q), "1 of 3 is no majority");
}

/* ---- random schedules ---- */

#define SIM_N     5
#define SIM_PROPS (SIM_N + 1) /* every participant, and the coordinator */
#define SIM_COORD SIM_N
#define SIM_MSGS  256

enum sim_kind { M_STATE, M_ACCEPT, M_DECIDE, R_STATE, R_ACK };

struct sim_msg {
	enum sim_kind kind;
	size_t prop, part;
	uint64_t ballot;
	enum term_value value;
	struct term_state state;
};

struct sim {
	uint64_t rng;
	bool quorum;
	struct term_acceptor acc[SIM_N];
	struct term_round round[SIM_PROPS];
	bool running[SIM_PROPS];
	uint64_t seen[SIM_PROPS]; /* highest ballot a proposer has seen */
	bool coord_proposed;
	struct sim_msg bag[SIM_MSGS];
	size_t nbag;
	unsigned conflicts;
};

static unsigned
sim_rand(struct sim *s, unsigned n)
{
	return (unsigned)rng_below(&s->rng, n);
}

static void
sim_post(struct sim *s, struct sim_msg m)
{
	if (s->nbag < SIM_MSGS)
		s->bag[s->nbag++] = m;
}

static void
sim_send_all(struct sim *s, size_t p, enum sim_kind k, uint64_t b,
             enum term_value v)
{
	for (size_t i = 0; i < SIM_N; i++)
		sim_post(s, (struct sim_msg){.kind = k,
		                             .prop = p,
		                             .part = i,
		                             .ballot = b,
		                             .value = v});
}

static void
sim_decided(struct sim *s, size_t p)
{
	sim_send_all(s, p, M_DECIDE, 0, s->round[p].value);
	s->running[p] = false;
}

static void
sim_deliver(struct sim *s, struct sim_msg m)
{
	struct term_acceptor *a = &s->acc[m.part];
	struct term_round *r = &s->round[m.prop];
	struct term_state st;

	switch (m.kind) {
	case M_STATE:
		if (term_on_state(a, m.ballot, &st))
			sim_post(s, (struct sim_msg){R_STATE, m.prop, m.part,
			                             m.ballot, TERM_NONE, st});
		break;
	case M_ACCEPT:
		if (term_on_accept(a, m.ballot, m.value) == TERM_ACCEPTED)
			sim_post(s, (struct sim_msg){R_ACK, m.prop, m.part,
			                             m.ballot, m.value,
			                             UNCERTAIN});
		break;
	case M_DECIDE:
		if (!term_on_decide(a, m.value))
			s->conflicts++;
		break;
	case R_STATE:
		if (s->running[m.prop] && r->ballot == m.ballot)
			term_round_answer(r, m.part, &m.state);
		if (m.state.accepted_ballot > s->seen[m.prop])
			s->seen[m.prop] = m.state.accepted_ballot;
		break;
	case R_ACK:
		if (s->running[m.prop] && r->ballot == m.ballot &&
		    term_round_ack(r, m.part))
			sim_decided(s, m.prop);
		break;
	}
}

static bool
sim_all_yes(const struct sim *s)
{
	bool all = true;

	for (size_t k = 0; k < SIM_N; k++)
		all = all && s->acc[k].voted_yes;
	return all;
}

static bool
sim_any_commit(const struct sim *s)
{
	bool any = false;

	for (size_t k = 0; k < SIM_N; k++)
		any = any || s->acc[k].decided == TERM_COMMIT;
	return any;
}

/* One random step: deliver, lose, vote, time out, or act on replies. */
static void
sim_step(struct sim *s)
{
	unsigned what = sim_rand(s, 40); /* timeouts are the rare event */
	size_t p = sim_rand(s, SIM_PROPS), i = sim_rand(s, SIM_N);
	struct term_round *r = &s->round[p];

	if (what < 20 && s->nbag > 0) { /* deliver any message: reordering */
		size_t k = sim_rand(s, (unsigned)s->nbag);
		struct sim_msg m = s->bag[k];

		s->bag[k] = s->bag[--s->nbag];
		sim_deliver(s, m);
	} else if (what < 22 && s->nbag > 0) { /* lose one */
		size_t k = sim_rand(s, (unsigned)s->nbag);

		s->bag[k] = s->bag[s->nbag - 1];
		s->nbag--;
	} else if (what < 28) { /* a participant votes, or gives up */
		if (!s->acc[i].voted_yes && s->acc[i].decided == TERM_NONE) {
			if (sim_rand(s, 8) != 0)
				term_vote_yes(&s->acc[i]);
			else
				term_abort_unvoted(&s->acc[i]);
		}
	} else if (what < 32 && p == SIM_COORD && !s->coord_proposed) {
		if (sim_all_yes(s)) { /* every YES in: PRE-COMMIT, ballot 1 */
			term_round_propose(r, SIM_N, s->quorum, TERM_COMMIT);
			s->running[p] = s->coord_proposed = true;
			sim_send_all(s, p, M_ACCEPT, r->ballot, r->value);
		}
	} else if (what == 32 && !s->running[p] &&
	           (p == SIM_COORD ? s->coord_proposed
	                           : s->acc[p].voted_yes &&
	                                 s->acc[p].decided == TERM_NONE)) {
		/* a timeout: become a backup with a new ballot */
		uint64_t seen = s->seen[p];

		if (p != SIM_COORD && s->acc[p].promised > seen)
			seen = s->acc[p].promised;
		s->seen[p] = term_next_ballot(seen, (unsigned)p);
		term_round_start(r, s->seen[p], SIM_N, s->quorum);
		s->running[p] = true;
		sim_send_all(s, p, M_STATE, r->ballot, TERM_NONE);
	} else if (what > 32 && s->running[p] && term_round_choose(r)) {
		if (r->phase == TERM_DECIDED)
			sim_decided(s, p);
		else
			sim_send_all(s, p, M_ACCEPT, r->ballot, r->value);
	}
}

static bool
sim_split(const struct sim *s)
{
	bool c = false, a = false;

	for (size_t i = 0; i < SIM_N; i++) {
		c = c || s->acc[i].decided == TERM_COMMIT;
		a = a || s->acc[i].decided == TERM_ABORT;
	}
	return c && a;
}

Test(term, quorum_mode_agrees_under_random_schedules, .timeout = 60)
{
	static struct sim s;
	unsigned commits = 0, aborts = 0;

	for (uint64_t seed = 1; seed <= 20000; seed++) {
		memset(&s, 0, sizeof(s));
		s.rng = seed;
		s.quorum = true;
		for (int step = 0; step < 1000; step++) {
			sim_step(&s);
			cr_assert_not(sim_split(&s),
			              "seed %llu step %d: commit and abort",
			              (unsigned long long)seed, step);
			cr_assert_eq(s.conflicts, 0, "seed %llu",
			             (unsigned long long)seed);
			cr_assert(!sim_any_commit(&s) || sim_all_yes(&s),
			          "seed %llu: commit without every YES",
			          (unsigned long long)seed);
		}
		for (size_t i = 0; i < SIM_N; i++) {
			commits += s.acc[i].decided == TERM_COMMIT;
			aborts += s.acc[i].decided == TERM_ABORT;
		}
	}
	/* The schedules reach both outcomes, or the test proves little. */
	cr_assert_gt(commits, 1000, "commits %u", commits);
	cr_assert_gt(aborts, 1000, "aborts %u", aborts);
}

Test(term, plain_mode_splits_under_some_random_schedules, .timeout = 60)
{
	static struct sim s;
	unsigned splits = 0;

	for (uint64_t seed = 1; seed <= 20000; seed++) {
		memset(&s, 0, sizeof(s));
		s.rng = seed;
		for (int step = 0; step < 400 && !sim_split(&s); step++)
			sim_step(&s);
		splits += sim_split(&s);
	}
	cr_assert_gt(splits, 0, "the random schedules must find the split");
}

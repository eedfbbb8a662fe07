/*
 * term: the rules of 3PC's commit decision and termination protocol
 * (docs/protocols.md), with no I/O, no clock and no locks: the participant
 * and the coordinator keep the state, log it, and carry the messages.
 *
 * The decision is single-decree Paxos on {commit, abort}. A participant is
 * an acceptor (struct term_acceptor, durable: log every change before
 * replying). The coordinator's PRE-COMMIT is the proposal of ballot
 * TERM_BALLOT_COORD; a backup coordinator runs a round (struct term_round)
 * with a ballot of its own. In plain mode a round goes on with whoever
 * answers; in quorum mode it needs a majority of all participants, which
 * makes two different decisions impossible even under partitions.
 */
#ifndef XACT_TERM_H
#define XACT_TERM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TERM_MAX_PARTS    32
#define TERM_BALLOT_COORD 1u /* the coordinator's PRE-COMMIT */

enum term_value {
	TERM_NONE = 0,
	TERM_COMMIT = 1,
	TERM_ABORT = 2,
};

/* A ballot above every one in seen, unique to rank (0..65535). */
uint64_t term_next_ballot(uint64_t seen, unsigned rank);

/* One participant's state for one gid. Zero is "initial". */
struct term_acceptor {
	bool voted_yes;           /* WAIT logged, branch prepared */
	uint64_t promised;        /* highest ballot promised */
	uint64_t accepted_ballot; /* 0: nothing accepted (uncertain) */
	enum term_value accepted; /* pre-committed / pre-aborted */
	enum term_value decided;  /* committed / aborted */
};

/* What an acceptor answers to a state request. */
struct term_state {
	enum term_value decided;
	uint64_t accepted_ballot;
	enum term_value accepted;
};

/*
 * A state request of ballot b. False: refused (b is not above what was
 * promised, and nothing is decided), nothing changes. True: *out is the
 * answer, and *a may have changed (the promise; for a participant that
 * never voted YES, its abort): compare, and log a change before replying.
 * A decided participant always answers, whatever the ballot: a decision
 * is a fact anyone may learn.
 */
bool term_on_state(struct term_acceptor *a, uint64_t b, struct term_state *out);

enum term_accept {
	TERM_REFUSED,  /* a higher promise, or already decided: no change */
	TERM_ACCEPTED, /* *a changed: log it, then ack */
	TERM_ABORTED,  /* PRE-ABORT before any vote: *a aborted; log, no ack */
};

/*
 * PRE-COMMIT / PRE-ABORT (b, v). A PRE-COMMIT can only reach a participant
 * that voted YES (everyone did, or nobody could propose it); one that did
 * not is refused.
 */
enum term_accept term_on_accept(struct term_acceptor *a, uint64_t b,
                                enum term_value v);

/*
 * The decision v. True when *a now holds it (log it, then act on it).
 * False for a conflict: *a had decided the other value, which only plain
 * mode under a partition can cause; *a is left alone.
 */
bool term_on_decide(struct term_acceptor *a, enum term_value v);

/* A participant with no vote decides to vote NO (abort) on its own. */
void term_abort_unvoted(struct term_acceptor *a);

/*
 * The participant is about to vote YES (its branch prepared). False if it
 * may not: it already learned an abort, or answered a state request
 * before voting (which made it abort for good). True: voted_yes is set;
 * log it (with WAIT) before the vote leaves.
 */
bool term_vote_yes(struct term_acceptor *a);

/* Backup coordinator: one round of ballot b over n participants. */
enum term_phase {
	TERM_COLLECTING, /* states asked; waiting for enough */
	TERM_ACCEPTING,  /* PRE-x(b, value) sent; waiting for acks */
	TERM_DECIDED,    /* value is decided: send it to everyone */
};

struct term_round {
	uint64_t ballot;
	size_t n;
	bool quorum;
	enum term_phase phase;
	enum term_value value;
	bool answered[TERM_MAX_PARTS];
	struct term_state state[TERM_MAX_PARTS];
	bool acked[TERM_MAX_PARTS];
	bool heard[TERM_MAX_PARTS]; /* answered when the value was chosen */
};

/* Start a round: returns -1 if n is 0 or above TERM_MAX_PARTS. */
int term_round_start(struct term_round *r, uint64_t ballot, size_t n,
                     bool quorum);

/*
 * The coordinator's round: ballot TERM_BALLOT_COORD needs no first phase
 * (no ballot is lower), so it proposes v to all n at once (TERM_ACCEPTING,
 * every participant counted as heard).
 */
int term_round_propose(struct term_round *r, size_t n, bool quorum,
                       enum term_value v);

/* Participant i answered the state request. */
void term_round_answer(struct term_round *r, size_t i,
                       const struct term_state *s);

/*
 * The answers are in (every one that will come, or a timeout). Returns
 * false while they are not enough (quorum: a majority; plain: one), or if
 * the phase is not TERM_COLLECTING. True: r->value is chosen and r->phase
 * is TERM_DECIDED (someone had decided) or TERM_ACCEPTING (send PRE-x).
 */
bool term_round_choose(struct term_round *r);

/*
 * Participant i accepted (b, value). True once enough have (quorum: a
 * majority; plain: every participant heard in the first phase): the phase
 * becomes TERM_DECIDED.
 */
bool term_round_ack(struct term_round *r, size_t i);

const char *term_value_name(enum term_value v);

#endif

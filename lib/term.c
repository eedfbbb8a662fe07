/*
 * term.c: 3PC's decision rules. See term.h and docs/protocols.md; the
 * same rules are modelled in tests/model/threepc.pml.
 */
#include "term.h"

#include <string.h>

#define RANK_BITS 16

uint64_t
term_next_ballot(uint64_t seen, unsigned rank)
{
	uint64_t counter = (seen >> RANK_BITS) + 1;

	return counter << RANK_BITS | (rank & ((1u << RANK_BITS) - 1));
}

bool
term_on_state(struct term_acceptor *a, uint64_t b, struct term_state *out)
{
	if (b <= a->promised && a->decided == TERM_NONE)
		return false;
	if (b > a->promised)
		a->promised = b;
	/* Never voted YES: it never will, so it can answer "aborted". */
	if (!a->voted_yes && a->decided == TERM_NONE)
		a->decided = TERM_ABORT;
	out->decided = a->decided;
	out->accepted_ballot = a->accepted_ballot;
	out->accepted = a->accepted;
	return true;
}

enum term_accept
term_on_accept(struct term_acceptor *a, uint64_t b, enum term_value v)
{
	if (a->decided != TERM_NONE || b < a->promised)
		return TERM_REFUSED;
	if (!a->voted_yes) {
		if (v != TERM_ABORT)
			return TERM_REFUSED; /* cannot happen: COMMIT needs us
			                      */
		a->decided = TERM_ABORT;
		return TERM_ABORTED;
	}
	a->promised = b;
	a->accepted_ballot = b;
	a->accepted = v;
	return TERM_ACCEPTED;
}

bool
term_on_decide(struct term_acceptor *a, enum term_value v)
{
	if (a->decided != TERM_NONE)
		return a->decided == v;
	if (v == TERM_COMMIT && !a->voted_yes)
		return false; /* cannot happen: COMMIT needs every YES */
	a->decided = v;
	return true;
}

void
term_abort_unvoted(struct term_acceptor *a)
{
	if (!a->voted_yes && a->decided == TERM_NONE)
		a->decided = TERM_ABORT;
}

bool
term_vote_yes(struct term_acceptor *a)
{
	if (a->decided != TERM_NONE)
		return false;
	a->voted_yes = true;
	return true;
}

int
term_round_start(struct term_round *r, uint64_t ballot, size_t n, bool quorum)
{
	if (n == 0 || n > TERM_MAX_PARTS)
		return -1;
	memset(r, 0, sizeof(*r));
	r->ballot = ballot;
	r->n = n;
	r->quorum = quorum;
	r->phase = TERM_COLLECTING;
	return 0;
}

int
term_round_propose(struct term_round *r, size_t n, bool quorum,
                   enum term_value v)
{
	if (term_round_start(r, TERM_BALLOT_COORD, n, quorum) != 0)
		return -1;
	r->phase = TERM_ACCEPTING;
	r->value = v;
	for (size_t i = 0; i < n; i++)
		r->heard[i] = true;
	return 0;
}

void
term_round_answer(struct term_round *r, size_t i, const struct term_state *s)
{
	if (i >= r->n || r->phase != TERM_COLLECTING)
		return;
	r->answered[i] = true;
	r->state[i] = *s;
}

static size_t
count(const bool *v, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		k += v[i];
	return k;
}

static bool
enough(const struct term_round *r, size_t k)
{
	return r->quorum ? k > r->n / 2 : k >= 1;
}

bool
term_round_choose(struct term_round *r)
{
	enum term_value decided = TERM_NONE, best = TERM_NONE;
	uint64_t best_ballot = 0;

	if (r->phase != TERM_COLLECTING || !enough(r, count(r->answered, r->n)))
		return false;
	for (size_t i = 0; i < r->n; i++) {
		const struct term_state *s = &r->state[i];

		if (!r->answered[i])
			continue;
		r->heard[i] = true;
		/* A decision anywhere wins over any accepted value. */
		if (s->decided != TERM_NONE)
			decided = s->decided;
		else if (s->accepted_ballot > best_ballot) {
			best_ballot = s->accepted_ballot;
			best = s->accepted;
		}
	}
	if (decided != TERM_NONE) {
		r->value = decided;
		r->phase = TERM_DECIDED;
	} else {
		/* Nobody accepted anything: all uncertain, abort. */
		r->value = best != TERM_NONE ? best : TERM_ABORT;
		r->phase = TERM_ACCEPTING;
	}
	return true;
}

bool
term_round_ack(struct term_round *r, size_t i)
{
	bool all = true;

	if (i >= r->n || r->phase != TERM_ACCEPTING)
		return r->phase == TERM_DECIDED;
	r->acked[i] = true;
	if (r->quorum) {
		all = enough(r, count(r->acked, r->n));
	} else {
		for (size_t k = 0; k < r->n; k++)
			all = all && (!r->heard[k] || r->acked[k]);
	}
	if (all)
		r->phase = TERM_DECIDED;
	return all;
}

const char *
term_value_name(enum term_value v)
{
	switch (v) {
	case TERM_NONE:
		return "none";
	case TERM_COMMIT:
		return "commit";
	case TERM_ABORT:
		return "abort";
	}
	return "?";
}

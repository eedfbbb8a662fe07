/*
 * threepc.pml -- xact's three-phase commit (docs/protocols.md), for SPIN.
 *
 * One gid, N = 3 participants, the coordinator, and backup coordinators.
 * The design this model checks, before and while the code follows it:
 *
 *   - Each participant keeps durable: its vote, the highest ballot it has
 *     promised (prom), the ballot and value it last accepted (accb, accv:
 *     "pre-committed" is accv = COMMIT, "pre-aborted" accv = ABORT), and
 *     the decision (dec). Every change is logged before any reply.
 *   - The coordinator asks for votes; all YES -> PRE-COMMIT record
 *     (forced) -> PRE-COMMIT at ballot 1 to everyone; enough acks (all;
 *     a majority in quorum mode) -> COMMIT record -> DECIDE(COMMIT). Any
 *     NO or a vote timeout, before any PRE-COMMIT: DECIDE(ABORT).
 *   - A participant that voted YES and hears nothing runs the termination
 *     protocol as a backup, with a ballot of its own (> 1, unique):
 *       1. STATE(b) to all. A participant promises b if b > prom, and
 *          answers its state; one that never voted YES first becomes
 *          aborted for good (it will vote NO), so it answers ABORT.
 *       2. With the answers (from a majority in quorum mode; from whoever
 *          answered in plain mode): any decided -> that decision; else the
 *          value accepted at the highest ballot; none ("all uncertain")
 *          -> ABORT.
 *       3. PRE(b, v) to all: accepted if b >= prom. Enough acks (majority;
 *          plain: every participant that answered step 1) -> DECIDE(v).
 *     This is single-decree Paxos on commit/abort, with the coordinator's
 *     PRE-COMMIT as the proposal of ballot 1 (no ballot is lower, so it
 *     needs no phase 1), and COMMIT proposable only once everyone voted
 *     YES. Plain 3PC is the same with "majority" read as "whoever
 *     answers": safe when only crashes happen and a backup hears from
 *     every participant that is up, unsafe under partitions.
 *   - A recovering coordinator with a PRE-COMMIT record and no COMMIT
 *     record runs the termination protocol (ballot of its own) instead of
 *     deciding alone; with COMMIT, it resends DECIDE(COMMIT); with
 *     neither, it does nothing (presumed abort: nobody can be
 *     pre-committed).
 *
 * Switches (spin -DNAME):
 *   QUORUM     the quorum-safe mode (default: plain 3PC)
 *   RELIABLE   a proceeding proposer has heard from every participant
 *              that is up (a perfect failure detector: the assumption of
 *              plain 3PC), and participants crash and recover
 *   MAXCRASH   coordinator crashes (default 2); with RELIABLE,
 *              participant crashes too
 *   ROUNDS     termination rounds per proposer (default 1)
 *   BACKUPS    participants that may become backups: 0..BACKUPS-1
 *              (default N, all)
 *
 * Every step is atomic (a handler under its mutex, a log write before
 * the reply); crashes fall between steps and keep the durable state.
 * Timeouts fire at any moment. Nothing forces a message to be delivered:
 * one never delivered is a lost one, and the proposer may go on without
 * its reply (within its mode's rule), so the network loses, delays and
 * reorders without a process of its own. The messages of one proposer to
 * one participant share a slot: a newer one overwrites an older one still
 * on the wire (lost). A participant's crash outside RELIABLE would only
 * end its round early, which giving up a round already covers.
 */

#define N  3
#define C  N       /* the coordinator's proposer number */
#define NP (N + 1) /* proposers: the participants and the coordinator */
#define MAJ 2      /* a majority of N */

#ifndef MAXCRASH
#define MAXCRASH 2
#endif
#ifndef ROUNDS
#define ROUNDS 1
#endif
#ifndef BACKUPS
#define BACKUPS N
#endif

/* values (trail lines print them as numbers: 1 commit, 2 abort) */
#define NONE   0
#define COMMIT 1
#define ABORT  2

/* votes */
#define V_NONE 0
#define V_YES  1
#define V_NO   2

/* ---- participants, durable ---- */
byte vote[N];
byte prom[N];
byte accb[N];
byte accv[N];
byte dec[N];
bit down[N];

/* ---- coordinator ---- */
bit pre_rec, commit_rec; /* its decision log, durable */
bit cdown;

/*
 * Requests: slot s = proposer * N + participant. Types: */
#define M_NONE    0
#define M_STATE   2 /* termination phase 1, ballot mb */
#define M_PRE     3 /* PRE-COMMIT / PRE-ABORT: ballot mb, value mv */
#define M_DECIDE  4 /* value mv */
byte mt[NP * N], mb[NP * N], mv[NP * N];

/* Replies in the same slots. */
#define R_NONE  0
#define R_STATE 2 /* rb: ballot answered; rd, ra, rv: dec, accb, accv */
#define R_ACK   3 /* rb: ballot accepted */
byte rt[NP * N], rb[NP * N], rd[NP * N], ra[NP * N], rv[NP * N];

/* ---- proposers, volatile ---- */
#define P_IDLE  0
#define P_VOTES 1 /* coordinator: waiting for votes */
#define P_ONE   2 /* termination phase 1: waiting for states */
#define P_TWO   3 /* waiting for acks of PRE(b, v) */
#define P_DONE  4
byte ph[NP];
byte bal[NP];    /* the ballot of the current round */
byte val[NP];    /* the value proposed */
byte heard[NP];  /* bitmask: participants that answered phase 1 */
byte rounds[NP]; /* termination rounds started */

byte crashes;

/* Ballot of proposer p's k-th termination round: unique, above 1. */
#define BALLOT(p, k) (2 + (k) * NP + (p))

#define SEND(p, j, t, b, v) \
	mt[(p) * N + (j)] = t; mb[(p) * N + (j)] = b; mv[(p) * N + (j)] = v

/* Proposer p stops waiting: its replies are dead letters. */
inline forget_replies(p)
{
	rt[(p) * N + 0] = R_NONE; rb[(p) * N + 0] = 0; rd[(p) * N + 0] = 0;
	ra[(p) * N + 0] = 0; rv[(p) * N + 0] = 0;
	rt[(p) * N + 1] = R_NONE; rb[(p) * N + 1] = 0; rd[(p) * N + 1] = 0;
	ra[(p) * N + 1] = 0; rv[(p) * N + 1] = 0;
	rt[(p) * N + 2] = R_NONE; rb[(p) * N + 2] = 0; rd[(p) * N + 2] = 0;
	ra[(p) * N + 2] = 0; rv[(p) * N + 2] = 0
}

/* The round of p is over (phase P_DONE or P_IDLE): its volatile state
 * no longer matters, so it is reset, not kept to tell states apart. */
inline stop(p, phase)
{
	ph[p] = phase; bal[p] = 0; val[p] = NONE; heard[p] = 0;
	forget_replies(p)
}

inline send_all(p, t, b, v)
{
	SEND(p, 0, t, b, v);
	SEND(p, 1, t, b, v);
	SEND(p, 2, t, b, v);
	forget_replies(p)
}

#define BIT(j) (1 << (j))

/* ---- properties ---- */
#define anyc (dec[0] == COMMIT || dec[1] == COMMIT || dec[2] == COMMIT)
#define anya (dec[0] == ABORT || dec[1] == ABORT || dec[2] == ABORT)
#define allyes (vote[0] == V_YES && vote[1] == V_YES && vote[2] == V_YES)
ltl atomicity { [] !(anyc && anya) }
ltl commit_needs_yes { [] ((anyc || commit_rec) -> allyes) }
/* both at once: one pan run for CI */
ltl safety { [] (!(anyc && anya) && ((anyc || commit_rec) -> allyes)) }

/* ---- the participant's handlers ---- */

/* Proposer p still waits in phase ph for replies to ballot b. */
#define WAITS(p, b, phase) (ph[p] == phase && bal[p] == b)

/* Participant j handles the request in slot s = p * N + j from p. */
inline handle(s, p, j)
{
	if
	:: mt[s] == M_STATE && mb[s] > prom[j] ->
		prom[j] = mb[s];
		if /* never voted YES: it never will */
		:: vote[j] == V_NONE -> vote[j] = V_NO; dec[j] = ABORT
		:: else -> skip
		fi;
		printf("P%d: promises ballot %d (decided %d, accepted %d at %d)\n",
		       j, mb[s], dec[j], accv[j], accb[j]);
		if /* a reply nobody waits for is dropped (not stored) */
		:: WAITS(p, mb[s], P_ONE) ->
			rt[s] = R_STATE; rb[s] = mb[s];
			rd[s] = dec[j]; ra[s] = accb[j]; rv[s] = accv[j]
		:: else -> skip
		fi
	:: mt[s] == M_PRE && mb[s] >= prom[j] && dec[j] == NONE &&
	   vote[j] == V_YES ->
		prom[j] = mb[s]; accb[j] = mb[s]; accv[j] = mv[s];
		printf("P%d: accepts %d at ballot %d\n", j, mv[s], mb[s]);
		if
		:: WAITS(p, mb[s], P_TWO) -> rt[s] = R_ACK; rb[s] = mb[s]
		:: else -> skip
		fi
	:: mt[s] == M_PRE && vote[j] == V_NONE ->
		/* a PRE can only be PRE-ABORT here: COMMIT needs every YES */
		assert(mv[s] == ABORT);
		vote[j] = V_NO; dec[j] = ABORT
	:: mt[s] == M_DECIDE ->
		assert(mv[s] != COMMIT || vote[j] == V_YES);
		if
		:: dec[j] == NONE -> dec[j] = mv[s];
			printf("P%d: decides %d\n", j, mv[s])
		:: else -> skip /* a second, different one: see atomicity */
		fi
	:: else -> skip /* refused: stale ballot, already decided */
	fi;
	mt[s] = M_NONE
}

/* ---- proposers ---- */

/* Count the participants in slots p*N.. whose reply has type t, ballot b. */
#define REPLIED(p, j, t, b) (rt[(p) * N + (j)] == t && rb[(p) * N + (j)] == b)
#define NREPLIED(p, t, b) \
	(REPLIED(p, 0, t, b) + REPLIED(p, 1, t, b) + REPLIED(p, 2, t, b))

/* All participants that are up have answered: the perfect detector. */
#define HEARD_UP(p, t, b) \
	((down[0] || REPLIED(p, 0, t, b)) && (down[1] || REPLIED(p, 1, t, b)) && \
	 (down[2] || REPLIED(p, 2, t, b)))

#ifdef QUORUM
#define ENOUGH_STATES(p) (NREPLIED(p, R_STATE, bal[p]) >= MAJ)
#define ENOUGH_ACKS(p) (NREPLIED(p, R_ACK, bal[p]) >= MAJ)
#else
#ifdef RELIABLE
#define ENOUGH_STATES(p) \
	(NREPLIED(p, R_STATE, bal[p]) >= 1 && HEARD_UP(p, R_STATE, bal[p]))
#else
#define ENOUGH_STATES(p) (NREPLIED(p, R_STATE, bal[p]) >= 1)
#endif
/* plain: every participant heard in phase 1 has accepted */
#define ACKED(p, j) \
	((heard[p] & BIT(j)) == 0 || REPLIED(p, j, R_ACK, bal[p]))
#define ENOUGH_ACKS(p) (ACKED(p, 0) && ACKED(p, 1) && ACKED(p, 2))
#endif

/* The start of a trail line: who acts. */
inline who(p)
{
	if
	:: p == C -> printf("coord: ")
	:: else -> printf("P%d: ", p)
	fi
}

/* Phase 1 is over: choose the value from the states in p's slots. */
inline choose(p)
{
	byte ck, cbest, cdec;
	heard[p] = 0;
	val[p] = NONE;
	cbest = 0;
	cdec = NONE;
	ck = 0;
	do
	:: ck < N ->
		if
		:: REPLIED(p, ck, R_STATE, bal[p]) ->
			heard[p] = heard[p] | BIT(ck);
			if
			:: rd[p * N + ck] != NONE -> cdec = rd[p * N + ck]
			:: rd[p * N + ck] == NONE && ra[p * N + ck] > cbest ->
				cbest = ra[p * N + ck]; val[p] = rv[p * N + ck]
			:: else -> skip
			fi
		:: else -> skip
		fi;
		ck++
	:: else -> break
	od;
	if
	:: cdec != NONE -> /* someone decided: tell everyone */
		val[p] = cdec;
		who(p); printf("backup learns decision %d\n", cdec);
		send_all(p, M_DECIDE, 0, val[p]); stop(p, P_DONE)
	:: else ->
		if
		:: val[p] == NONE -> val[p] = ABORT /* all uncertain */
		:: else -> skip
		fi;
		who(p); printf("backup proposes %d at ballot %d\n", val[p],
		                bal[p]);
		send_all(p, M_PRE, bal[p], val[p]); ph[p] = P_TWO
	fi;
	ck = 0; cbest = 0; cdec = NONE /* keep the state vector small */
}

/* The steps of proposer p's termination round, as do-options. */
#define TERMINATE(up, p) \
	:: atomic { up && ph[p] == P_ONE && ENOUGH_STATES(p) -> choose(p) } \
	:: atomic { up && ph[p] == P_TWO && ENOUGH_ACKS(p) -> \
		who(p); printf("backup decides %d\n", val[p]); \
		send_all(p, M_DECIDE, 0, val[p]); stop(p, P_DONE) }

/* ---- processes ---- */

/*
 * The vote round is abstracted: a participant votes at any moment (the
 * PREPARE came, or its wait for it timed out: NO), and the coordinator
 * may act on the votes once all are YES (the replies came) or abort at
 * any moment before (a NO, a lost reply, the vote timeout).
 */
active proctype coordinator()
{
	ph[C] = P_VOTES;
end:
	do
	:: atomic { !cdown && ph[C] == P_VOTES && allyes ->
		pre_rec = 1; /* forced */
		printf("coord: all YES, PRE-COMMIT logged and sent\n");
		bal[C] = 1; val[C] = COMMIT; heard[C] = 7;
		send_all(C, M_PRE, 1, COMMIT); ph[C] = P_TWO }
	:: atomic { !cdown && ph[C] == P_VOTES -> /* a NO, or the timeout */
		printf("coord: aborts before PRE-COMMIT\n");
		send_all(C, M_DECIDE, 0, ABORT); stop(C, P_DONE) }
	:: atomic { !cdown && ph[C] == P_TWO && bal[C] == 1 &&
#ifdef QUORUM
	   NREPLIED(C, R_ACK, 1) >= MAJ ->
#else
	   NREPLIED(C, R_ACK, 1) == N ->
#endif
		commit_rec = 1; /* forced */
		printf("coord: enough acks, COMMIT logged and sent\n");
		send_all(C, M_DECIDE, 0, COMMIT); stop(C, P_DONE) }
	:: atomic { !cdown && ph[C] == P_TWO && bal[C] == 1 ->
		stop(C, P_IDLE) } /* acks time out: the backups finish */
	TERMINATE(!cdown && bal[C] > 1, C)
	:: atomic { !cdown && crashes < MAXCRASH ->
		crashes++; cdown = 1; stop(C, P_IDLE);
		printf("FAULT: coordinator crash\n") }
	:: atomic { cdown -> /* recovery from the log */
		cdown = 0;
		if
		:: commit_rec -> send_all(C, M_DECIDE, 0, COMMIT); stop(C, P_DONE)
		:: !commit_rec && pre_rec && rounds[C] < ROUNDS ->
			bal[C] = BALLOT(C, rounds[C]); rounds[C]++;
			printf("coord: recovers, terminates at ballot %d\n",
			       bal[C]);
			send_all(C, M_STATE, bal[C], 0); ph[C] = P_ONE
		:: else -> skip
		fi }
	od
}

proctype participant(byte j)
{
end:
	do
	/* a request from any proposer */
	:: atomic { !down[j] && mt[0 * N + j] != M_NONE ->
		handle(0 * N + j, 0, j) }
	:: atomic { !down[j] && mt[1 * N + j] != M_NONE ->
		handle(1 * N + j, 1, j) }
	:: atomic { !down[j] && mt[2 * N + j] != M_NONE ->
		handle(2 * N + j, 2, j) }
	:: atomic { !down[j] && mt[C * N + j] != M_NONE ->
		handle(C * N + j, C, j) }
	/* the vote: YES once prepared, NO on failure or a timeout */
	/* (an abort learned before the vote is a tombstone: no YES) */
	:: atomic { !down[j] && vote[j] == V_NONE && dec[j] == NONE ->
		vote[j] = V_YES;
		printf("P%d: votes YES\n", j) }
	:: atomic { !down[j] && vote[j] == V_NONE ->
		vote[j] = V_NO; dec[j] = ABORT;
		printf("P%d: votes NO\n", j) }
	/* voted YES, heard nothing: become a backup */
	:: atomic { j < BACKUPS && !down[j] && vote[j] == V_YES &&
	   dec[j] == NONE && ph[j] != P_ONE && ph[j] != P_TWO &&
	   rounds[j] < ROUNDS ->
		bal[j] = BALLOT(j, rounds[j]); rounds[j]++;
		printf("P%d: hears nothing, backup at ballot %d\n", j, bal[j]);
		send_all(j, M_STATE, bal[j], 0); ph[j] = P_ONE }
	TERMINATE(!down[j], j)
#if ROUNDS > 1
	/* a round given up, so that another can start */
	:: atomic { !down[j] && (ph[j] == P_ONE || ph[j] == P_TWO) ->
		stop(j, P_IDLE) }
#endif
#ifdef RELIABLE
	:: atomic { !down[j] && crashes < MAXCRASH ->
		crashes++; down[j] = 1; stop(j, P_IDLE);
		printf("FAULT: P%d crash\n", j) }
	:: atomic { down[j] -> down[j] = 0 }
#endif
	od
}

init
{
	atomic {
		run participant(0);
		run participant(1);
		run participant(2)
	}
}

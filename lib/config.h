/*
 * config: the YAML files of the coordinator and the participant.
 *
 * Each daemon's keys are one table in config.c (key, type, default, bounds,
 * help); loading, validation, defaults and `--check-config` all come from
 * it. Every error names the file, line and column and the key:
 *
 *   coord.yaml:7:12: timeouts.vote: "5x" is not a duration (e.g. 500ms, 5s, 2m)
 *
 * Durations are written as 250ms, 5s, 2m, 1h or a bare number of
 * milliseconds. Unknown keys are errors (a typo must not silently become
 * a default).
 */
#ifndef XACT_CONFIG_H
#define XACT_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "log.h"

#define CFG_NAME_MAX 32 /* node ids and participant names: [A-Za-z0-9-] */

struct cfg_endpoint {
	char *name; /* participant name or coordinator node id */
	char *url;  /* NNG URL, e.g. tcp://127.0.0.1:7611 */
};

enum cfg_protocol {
	CFG_2PC = 0,
	CFG_3PC = 1,
};

enum cfg_three_phase_mode {
	CFG_QUORUM = 0, /* a majority of participants decides */
	CFG_PLAIN = 1,  /* whoever answers decides: unsafe under partitions */
};

struct coord_config {
	char *node;    /* node: id in every gid, required */
	char *listen;  /* listen: URL for clients and inquiries, required */
	char *log_dir; /* log_dir: directory of the decision log, required */
	struct cfg_endpoint *participants; /* participants: list of name+url */
	size_t nparticipants;              /* at least 1, names unique */
	uint32_t vote_timeout_ms;          /* timeouts.vote, default 5s */
	uint32_t idle_timeout_ms;          /* timeouts.idle, default 60s */
	uint32_t request_timeout_ms;       /* timeouts.request, default 30s */
	uint32_t commit_wait_ms; /* timeouts.commit_wait, default 5s */
	uint32_t retry_max_ms;   /* timeouts.retry_max, default 5s */
	uint32_t protocol;       /* protocol: enum cfg_protocol, default 2pc */
	uint32_t one_phase;      /* one_phase: 1 (true, default) or 0 */
	uint32_t three_phase_mode;    /* three_phase.mode, default quorum */
	uint32_t contexts;            /* contexts, default 256 */
	uint64_t compact_bytes;       /* log_compact_bytes, default 64 MiB */
	enum xlog_level log_level;    /* log_level, default info */
	char *metrics_listen;         /* metrics.listen: http URL, optional */
	char *api_listen;             /* api.listen: http URL, optional */
	uint32_t api_workers;         /* api.workers, default 8 */
	uint32_t max_message_bytes;   /* limits.message_bytes, 16 MiB */
	uint32_t max_participants;    /* limits.participants_per_transaction */
	uint32_t max_statements;      /* limits.statements_per_branch */
	uint32_t max_open_per_client; /* limits.open_per_client */
	char *tls_ca, *tls_cert, *tls_key; /* tls.*: PEM files, optional */
};

struct part_config {
	char *name;     /* name: participant name, required */
	char *listen;   /* listen: URL, required */
	char *database; /* database: libpq conninfo, required */
	struct cfg_endpoint *coordinators; /* coordinators: node + url, >= 1 */
	size_t ncoordinators;
	uint32_t pool_size;            /* pool_size: connections, default 16 */
	uint32_t statement_timeout_ms; /* timeouts.statement, default 30s */
	uint32_t idle_timeout_ms;      /* timeouts.idle, default 120s */
	char *log_dir;                 /* log_dir: the 3PC log; optional */
	uint32_t termination_timeout_ms; /* timeouts.termination, 2s */
	uint32_t sweep_interval_ms;      /* sweep.interval, default 10s */
	uint32_t sweep_safety_ms;        /* sweep.safety, default 30s */
	uint32_t sweep_inquiry_ms;       /* sweep.inquiry_timeout, default 2s */
	uint32_t one_phase_retention_ms; /* one_phase.retention, 1h */
	uint32_t contexts;               /* contexts, default 256 */
	enum xlog_level log_level;       /* log_level, default info */
	char *metrics_listen;            /* metrics.listen: optional */
	char *tls_ca, *tls_cert, *tls_key; /* tls.*: PEM files, optional */
};

/* Load and validate. Returns 0, or -1 with "file:line:col: key: why". */
int cfg_load_coord(const char *path, struct coord_config *out, char *err,
                   size_t errlen);
int cfg_load_part(const char *path, struct part_config *out, char *err,
                  size_t errlen);

void cfg_free_coord(struct coord_config *c);
void cfg_free_part(struct part_config *c);

/* Look up an endpoint by name; NULL if absent. */
const struct cfg_endpoint *cfg_find(const struct cfg_endpoint *list, size_t n,
                                    const char *name);

/* Write the key tables as Markdown (the generated part of docs/config.md). */
void cfg_dump_docs(FILE *f);

#endif

/*
 * log: one line per event on stderr.
 *
 *   2026-11-23T11:07:00.123Z coordinator INFO gid=xact_c1_3_17 committed
 *
 * Thread-safe; each line is written with a single write(2) so that lines
 * from several threads never interleave.
 */
#ifndef XACT_LOG_H
#define XACT_LOG_H

enum xlog_level {
	XLOG_DEBUG, /* protocol detail, per message */
	XLOG_INFO,  /* lifecycle and per-transaction outcomes */
	XLOG_WARN,  /* something a peer or the OS did that we recovered from */
	XLOG_ERROR, /* something that needs an operator */
};

/* Set the component name printed on each line and the lowest level shown. */
void xlog_init(const char *component, enum xlog_level min_level);

/* "debug", "info", "warn" or "error". Returns 0, or -1 if unknown. */
int xlog_level_parse(const char *name, enum xlog_level *out);

void xlog(enum xlog_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define xlog_debug(...) xlog(XLOG_DEBUG, __VA_ARGS__)
#define xlog_info(...)  xlog(XLOG_INFO, __VA_ARGS__)
#define xlog_warn(...)  xlog(XLOG_WARN, __VA_ARGS__)
#define xlog_error(...) xlog(XLOG_ERROR, __VA_ARGS__)

/* Log at ERROR and terminate the process at once with _exit(code). */
_Noreturn void xlog_fatal(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif

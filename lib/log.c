#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static const char *component = "xact";
static enum xlog_level min_level = XLOG_INFO;

static const char *const level_names[] = {
    [XLOG_DEBUG] = "DEBUG",
    [XLOG_INFO] = "INFO",
    [XLOG_WARN] = "WARN",
    [XLOG_ERROR] = "ERROR",
};

void
xlog_init(const char *name, enum xlog_level level)
{
	component = name;
	min_level = level;
}

int
xlog_level_parse(const char *name, enum xlog_level *out)
{
	static const char *const lower[] = {"debug", "info", "warn", "error"};

	for (size_t i = 0; i < sizeof(lower) / sizeof(lower[0]); i++) {
		if (strcmp(name, lower[i]) == 0) {
			*out = (enum xlog_level)i;
			return 0;
		}
	}
	return -1;
}

static void
vlog(enum xlog_level level, const char *fmt, va_list ap)
{
	char line[2048];
	struct timeval tv;
	struct tm tm;
	size_t n;
	int k;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	k = snprintf(line + n, sizeof(line) - n, ".%03ldZ %s %s ",
	             (long)(tv.tv_usec / 1000), component, level_names[level]);
	n += (size_t)k;
	k = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	n = (k < 0 || (size_t)k >= sizeof(line) - n) ? sizeof(line) - 2
	                                             : n + (size_t)k;
	line[n++] = '\n';
	/* One write per line: lines of concurrent threads never interleave. */
	ssize_t rc = write(STDERR_FILENO, line, n);
	(void)rc;
}

void
xlog(enum xlog_level level, const char *fmt, ...)
{
	va_list ap;

	if (level < min_level)
		return;
	va_start(ap, fmt);
	vlog(level, fmt, ap);
	va_end(ap);
}

void
xlog_fatal(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(XLOG_ERROR, fmt, ap);
	va_end(ap);
	_exit(code);
}

/*
 * libFuzzer target: the decision-log reader. The input is the content of
 * decision.log; opening replays it (lib/wal: length, CRC, type; then every
 * record's payload, coordinator/dlog.c) and must refuse or accept it, never
 * crash.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dlog.h"
#include "log.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char dir[64], path[96];
	struct dlog *d;
	char err[256];
	FILE *f;

	if (dir[0] == '\0') {
		xlog_init("fuzz_dlog", XLOG_ERROR);
		snprintf(dir, sizeof(dir), "/dev/shm/xact-fuzz-dlog-%d",
		         (int)getpid());
		snprintf(path, sizeof(path), "%s/decision.log", dir);
		mkdir(dir, 0700);
	}
	if ((f = fopen(path, "wb")) == NULL)
		return 0;
	fwrite(data, 1, size, f);
	fclose(f);
	if (dlog_open(dir, "c1", 16, &d, err, sizeof(err)) == 0)
		dlog_close(d);
	unlink(path);
	return 0;
}

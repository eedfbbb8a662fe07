/*
 * libFuzzer target: the YAML config loader (lib/config.h), both shapes,
 * on any file content.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[64];
	struct coord_config c;
	struct part_config p;
	char err[512];
	FILE *f;

	if (path[0] == '\0') {
		xlog_init("fuzz_config", XLOG_ERROR);
		snprintf(path, sizeof(path),
		         "/dev/shm/xact-fuzz-config-%d.yaml", (int)getpid());
	}
	if ((f = fopen(path, "wb")) == NULL)
		return 0;
	fwrite(data, 1, size, f);
	fclose(f);
	if (cfg_load_coord(path, &c, err, sizeof(err)) == 0)
		cfg_free_coord(&c);
	if (cfg_load_part(path, &p, err, sizeof(err)) == 0)
		cfg_free_part(&p);
	unlink(path);
	return 0;
}

#include "clock.h"

#include <stddef.h>
#include <time.h>

static uint64_t (*_Atomic now_source)(void);

static uint64_t
ts_ms(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t
clock_now_ms(void)
{
	uint64_t (*src)(void) = now_source;

	return src != NULL ? src() : ts_ms(CLOCK_MONOTONIC);
}

uint64_t
clock_wall_ms(void)
{
	return ts_ms(CLOCK_REALTIME);
}

void
clock_set_source(uint64_t (*now_ms)(void))
{
	now_source = now_ms;
}

/*
 * clock: the one place xact reads time.
 *
 * Timeouts and backoff read clock_now_ms(), a monotonic millisecond clock
 * that never jumps with the wall clock. Tests replace its source with a
 * function they drive, so timeout logic is tested without sleeping.
 */
#ifndef XACT_CLOCK_H
#define XACT_CLOCK_H

#include <stdint.h>

/* Milliseconds on a monotonic clock (CLOCK_MONOTONIC unless replaced). */
uint64_t clock_now_ms(void);

/* Wall-clock milliseconds since the Unix epoch, for logs and records only. */
uint64_t clock_wall_ms(void);

/* Replace the monotonic source (NULL restores the real clock). Tests only. */
void clock_set_source(uint64_t (*now_ms)(void));

#endif

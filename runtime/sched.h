/* Restart scheduling: exponential backoff and crash-loop detection (pure logic, unit-tested). */
#ifndef PYCM_SCHED_H
#define PYCM_SCHED_H

#include <stdbool.h>

#define PC_CRASHLOOP_MAX 64
#define PC_CRASH_WINDOW_MAX 86400 /* seconds (one day): the manifest's and the device file's maximum */

/* Delay in ms before restart number `restarts` (1 = first restart): initial * 2^(restarts-1),
 * capped at max (both in seconds). */
long long pc_backoff_ms(int initial, int max, int restarts);

struct pc_crashloop {
	int limit;     /* N restarts ... */
	long long window_ms; /* ... within this window mark the container failed */
	int count;
	long long stamps[PC_CRASHLOOP_MAX]; /* ring of the last `limit` restart times */
};

void pc_crashloop_init(struct pc_crashloop *cl, int limit, int window_s);
/* Record a restart at now_ms; true when it makes `limit` restarts within the window. */
bool pc_crashloop_record(struct pc_crashloop *cl, long long now_ms);

#endif

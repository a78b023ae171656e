#include "sched.h"

#include <string.h>

long long pc_backoff_ms(int initial, int max, int restarts)
{
	long long d = (long long)initial * 1000;
	for (int i = 1; i < restarts && d < (long long)max * 1000; i++)
		d *= 2;
	return d > (long long)max * 1000 ? (long long)max * 1000 : d;
}

void pc_crashloop_init(struct pc_crashloop *cl, int limit, int window_s)
{
	memset(cl, 0, sizeof *cl);
	cl->limit = limit < 1 ? 1 : limit > PC_CRASHLOOP_MAX ? PC_CRASHLOOP_MAX : limit;
	cl->window_ms = (long long)window_s * 1000;
}

bool pc_crashloop_record(struct pc_crashloop *cl, long long now_ms)
{
	cl->stamps[cl->count % cl->limit] = now_ms;
	cl->count++;
	if (cl->count < cl->limit)
		return false;
	/* the oldest of the last `limit` restarts sits right after the newest in the ring */
	long long oldest = cl->stamps[cl->count % cl->limit];
	return now_ms - oldest <= cl->window_ms;
}

/* libFuzzer target: the manifest parser (manifest.c) on any bytes. Beyond the sanitizers'
 * findings: a manifest it accepts must keep its own limits. */
#include "manifest.h"
#include "sched.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct pc_manifest m;
	struct pc_err err;
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (pc_manifest_parse(text, &m, &err) == 0) {
		if (m.ncontainers > PC_MAX_CONTAINERS)
			__builtin_trap();
		for (int i = 0; i < m.ncontainers; i++) {
			const struct pc_container *c = &m.c[i];
			if (c->crash_window < 1 || c->crash_window > PC_CRASH_WINDOW_MAX || c->crash_restarts < 1 ||
			    c->crash_restarts > PC_CRASHLOOP_MAX || c->ndeps > PC_MAX_DEPS || c->nvolumes > PC_MAX_VOLUMES)
				__builtin_trap();
			for (int d = 0; d < c->ndeps; d++)
				if (c->deps[d] < 0 || c->deps[d] >= i)
					__builtin_trap();
			if (!c->service && c->bundle[0] != '/')
				__builtin_trap();
		}
	}
	free(text);
	return 0;
}

#include "netrun.h"
#include "pid1.h"

#include <stdio.h>
#include <string.h>

int pc_net_up(const struct pc_container *cfg)
{
	/* net_args and ports were checked by the manifest parser: words of [a-z0-9./:] */
	char words[PC_NET_ARGS_MAX + PC_PORTS_MAX + 2], *argv[3 + 3 + 32 + 1];
	int argc = 0;
	argv[argc++] = PC_NET_PROGRAM;
	argv[argc++] = "up";
	argv[argc++] = (char *)cfg->name;
	snprintf(words, sizeof words, "%s %s", cfg->net_args, cfg->ports);
	for (char *save = NULL, *w = strtok_r(words, " ", &save); w && argc < (int)(sizeof argv / sizeof *argv) - 1;
	     w = strtok_r(NULL, " ", &save))
		argv[argc++] = w;
	argv[argc] = NULL;
	return pc_run_wait(argv, false);
}

int pc_net_down(const struct pc_container *cfg)
{
	char *argv[] = {PC_NET_PROGRAM, "down", (char *)cfg->name, NULL};
	return pc_run_wait(argv, false);
}

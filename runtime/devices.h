/* Declared devices of an app container (docs/contract.md, "Declared devices"): resolved to their
 * numbers when the container starts, created in its /dev and allowed in its device cgroup by a
 * runtime copy of its config.json. */
#ifndef PYCM_DEVICES_H
#define PYCM_DEVICES_H

#include "err.h"
#include "manifest.h"

struct pc_devjson {
	char devs[PC_MAX_DEVICES * 384];  /* linux.devices entries */
	char rules[PC_MAX_DEVICES * 128]; /* linux.resources.devices allow rules */
};

/* Stat each declared device of cfg (a symlink is followed); -1 when one is missing or is not a
 * device node. The nodes belong to the container's user in its /dev, with the host's mode. */
int pc_devices_resolve(const struct pc_container *cfg, struct pc_devjson *j, struct pc_err *err);
/* Where pc_devices_config adds to a config's text: *at just after `"linux": {`, *last at the `]`
 * that closes linux.resources.devices, after which come only the braces that close resources,
 * linux and the file; -1 when the text is not so (the app policy checks that these are where the
 * parsed file has them: policy.c). */
int pc_devices_splice(const char *text, const char **at, const char **last);
/* Write OUT: BUNDLE/config.json with j's entries added to linux.devices and its rules appended to
 * linux.resources.devices, which the generator writes as the last item of the file. */
int pc_devices_config(const char *bundle, const char *out, const struct pc_devjson *j, struct pc_err *err);

#endif

/* The app policy (docs/contract.md, "App config policy"): what the config.json of an app container
 * of an app revision may be, so that a signed app bundle gives its containers no more than the
 * generator does. The generator writes the policy beside the slot's manifest
 * (/etc/pycontainers/app-policy.json, from the constants its configs are made of); the staging
 * child of an app update (appstage.c) checks every app container of a new revision against it.
 * Never run by PID 1. */
#ifndef PYCM_POLICY_H
#define PYCM_POLICY_H

#include "err.h"
#include "json.h"
#include "manifest.h"

#define PC_POLICY_NAME "app-policy.json" /* beside the slot manifest */
#define PC_CONFIG_MAX (1024 * 1024)      /* bytes of a config.json, and of the policy */

struct pc_policy {
	char *text;
	struct pc_json_doc doc;
	const struct pc_json *config;        /* the reference config */
	const struct pc_json *caps;          /* its process.capabilities.bounding: the app capabilities */
	const char *user_mount;              /* the mount whose options end with the user's uid= and gid= */
	const struct pc_json *volume_mounts; /* the forms of a volume's bind mount */
	const struct pc_json *dns_mount;     /* a bridge container's /etc/resolv.conf (source: NAME) */
};

/* DIR/app-policy.json for a slot manifest DIR/manifest. */
int pc_policy_path(const char *slot_manifest, char *buf, size_t size);
/* Parse a policy (name: for messages); -1 and "app policy NAME: ..." in err. */
int pc_policy_parse(const char *text, size_t len, const char *name, struct pc_policy *pol,
		    struct pc_err *err);
int pc_policy_load(const char *path, struct pc_policy *pol, struct pc_err *err);
void pc_policy_free(struct pc_policy *pol);
/* The config.json text of container c (its composed manifest section: user, volumes) against the
 * policy: the reference config where c may not differ from it, the rules where it may. On the
 * first problem -1 and "config.json: KEY: what" (or "config.json:LINE:COLUMN: what") in err. */
int pc_policy_check(const struct pc_policy *pol, const struct pc_container *c, const char *text, size_t len,
		    struct pc_err *err);
/* Every app container of m: BUNDLE/config.json a regular file the policy takes, BUNDLE/rootfs a
 * directory (no link followed); -1 and "container NAME: ..." in err. */
int pc_policy_check_manifest(const struct pc_policy *pol, const struct pc_manifest *m, struct pc_err *err);

#endif

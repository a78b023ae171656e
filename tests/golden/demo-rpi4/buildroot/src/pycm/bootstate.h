/* Boot acceptance: which slot booted, and committing the boot (docs/contract.md). */
#ifndef PYCM_BOOTSTATE_H
#define PYCM_BOOTSTATE_H

#include "err.h"
#include "manifest.h"

#include <stddef.h>

/* The slot name from rauc.slot= on the kernel command line, or 0 if there is none. */
char pc_booted_slot(const char *cmdline_path);
/* Commit the booted slot: BOOT_<slot>_LEFT = boot-confirmed (fw_setenv, only when it is not that
 * already, so a committed slot's boots write nothing), or run `rauc status mark-good`. */
int pc_mark_good(const struct pc_manifest *m, char slot, struct pc_err *err);
/* A boot of a committed slot that is not good: make it a trial slot again (boot-attempts tries),
 * so that repeated failures fall back to the other slot. Nothing for a slot on trial. */
void pc_demote(const struct pc_manifest *m, char slot);
/* fw_printenv -n NAME into buf; -1 if it cannot be read. */
int pc_env_get(const char *name, char *buf, size_t size);

#endif

/* Boot acceptance: which slot booted, and committing the boot (docs/contract.md). */
#ifndef PYCM_BOOTSTATE_H
#define PYCM_BOOTSTATE_H

#include "err.h"
#include "manifest.h"

/* The slot name from rauc.slot= on the kernel command line, or 0 if there is none. */
char pc_booted_slot(const char *cmdline_path);
/* Give the booted slot its tries back (fw_setenv) or run `rauc status mark-good`. */
int pc_mark_good(const struct pc_manifest *m, char slot, struct pc_err *err);

#endif

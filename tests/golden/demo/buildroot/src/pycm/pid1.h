/* PID 1 duties: early mounts, /dev/disk/by-partlabel links, /data, and the final shutdown. */
#ifndef PYCM_PID1_H
#define PYCM_PID1_H

#include "err.h"
#include "manifest.h"

#include <stdbool.h>

enum pc_action { ACTION_NONE, ACTION_POWEROFF, ACTION_REBOOT, ACTION_HALT };

void pc_early_mounts(void);
int pc_partlabel_links(const char *sysfs, const char *devdir, struct pc_err *err);
/* Mount the data partition (e2fsck -p once on failure). False if /data is not available. */
bool pc_mount_data(const struct pc_manifest *m);
/* Make dir and its parents (mode 0755). */
int pc_mkdirs(const char *dir, struct pc_err *err);
/* Kill what is left, sync, unmount /data and reboot(2): never returns. */
void pc_final_shutdown(enum pc_action action) __attribute__((noreturn));
/* In a forked child before exec: unblock every signal and reset the standard ones to their
 * default (an ignored signal, like pycm's SIGPIPE, would survive exec into crun and the containers). */
void pc_child_reset(void);
/* Run argv, wait for it; returns its exit status, or -1 if it could not run. */
int pc_run_wait(char *const argv[], bool quiet);

#endif

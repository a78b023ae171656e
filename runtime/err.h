/* Error reporting: functions return < 0 and fill a pc_err with errno and a message. */
#ifndef PYCM_ERR_H
#define PYCM_ERR_H

#include <stddef.h>
#include <sys/types.h>

struct pc_err {
	int code; /* errno, or 0 */
	char msg[512];
};

int pc_error(struct pc_err *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* snprintf for paths and messages that may be cut: returns -1 when it was cut (log.c). */
int pc_fmt(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* At most size - 1 bytes of the file at path into buf, NUL-terminated: the length, -1 (errno)
 * when it cannot be opened (log.c). */
ssize_t pc_read_path(const char *path, char *buf, size_t size);

#endif

/* Error reporting: functions return < 0 and fill a pc_err with errno and a message. */
#ifndef PYCM_ERR_H
#define PYCM_ERR_H

struct pc_err {
	int code; /* errno, or 0 */
	char msg[512];
};

int pc_error(struct pc_err *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif

/* Console logging: every line is prefixed "pycm: " (pc_log_name: "pycm-store" in the store
 * program) and written with one write(2). */
#ifndef PYCM_LOG_H
#define PYCM_LOG_H

extern const char *pc_log_name;
void pc_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define LOG(...)                                                                                   \
	do {                                                                                       \
		pc_log(__VA_ARGS__);                                                               \
	} while (0)

#endif

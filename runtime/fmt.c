/* A small vsnprintf for pycm's static musl build (runtime/Makefile links it into pycm only):
 * musl's printf core formats floating point with long double arithmetic, which on arm64 and
 * riscv64 is software quad precision: about 18 KB of PID 1 for conversions pycm never makes.
 *
 * Conversions: d i u x o c s p %, the flags '-' and '0', a width and a precision (numbers or
 * '*'), the lengths l, ll, z, h and hh. Anything else (a float) is written as it stands. The
 * unit tests compare it with the C library's on every format pycm uses (tests/test_units.c,
 * built with PC_FMT_PREFIX so that it does not replace the host's). */
#define _GNU_SOURCE
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#ifdef PC_FMT_PREFIX
#define FMT(name) pc_##name
#else
#define FMT(name) name
#endif

int FMT(vsnprintf)(char *restrict buf, size_t size, const char *restrict fmt, va_list ap);

struct out {
	char *buf;
	size_t size, n; /* n: the length of the whole output, written or not */
};

static void put(struct out *o, char c, size_t times)
{
	for (; times; times--, o->n++)
		if (o->n + 1 < o->size)
			o->buf[o->n] = c;
}

static void puts_n(struct out *o, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		put(o, s[i], 1);
}

int FMT(vsnprintf)(char *restrict buf, size_t size, const char *restrict fmt, va_list ap)
{
	struct out o = {buf, size, 0};
	for (const char *p = fmt; *p; p++) {
		if (*p != '%') {
			put(&o, *p, 1);
			continue;
		}
		const char *start = p++;
		bool left = false, zero = false;
		for (;; p++) {
			if (*p == '-')
				left = true;
			else if (*p == '0')
				zero = true;
			else
				break;
		}
		int width = 0, prec = -1;
		if (*p == '*') {
			width = va_arg(ap, int);
			if (width < 0) {
				left = true;
				width = -width;
			}
			p++;
		} else
			while (*p >= '0' && *p <= '9')
				width = width * 10 + (*p++ - '0');
		if (*p == '.') {
			p++;
			prec = 0;
			if (*p == '*') {
				prec = va_arg(ap, int);
				p++;
			} else
				while (*p >= '0' && *p <= '9')
					prec = prec * 10 + (*p++ - '0');
		}
		int longs = 0; /* 1: l, 2: ll, 3: z, -1: h, -2: hh */
		for (;; p++) {
			if (*p == 'l')
				longs++;
			else if (*p == 'z')
				longs = 3;
			else if (*p == 'h')
				longs--;
			else
				break;
		}
		char tmp[32], *digits = tmp + sizeof tmp, sign = 0;
		const char *s;
		size_t len;
		unsigned long long v;
		switch (*p) {
		case '%':
			put(&o, '%', 1);
			continue;
		case 'c':
			tmp[0] = (char)va_arg(ap, int);
			s = tmp;
			len = 1;
			break;
		case 's':
			s = va_arg(ap, const char *);
			if (!s)
				s = "(null)";
			len = prec >= 0 ? strnlen(s, (size_t)prec) : strlen(s);
			break;
		case 'd':
		case 'i': {
			long long sv = longs >= 2	 ? va_arg(ap, long long)
				       : longs == 1 ? va_arg(ap, long)
				       : longs == 3 ? (long long)va_arg(ap, ssize_t)
						    : va_arg(ap, int);
			if (longs == -1)
				sv = (short)sv;
			else if (longs == -2)
				sv = (signed char)sv;
			v = sv < 0 ? 0 - (unsigned long long)sv : (unsigned long long)sv;
			sign = sv < 0 ? '-' : 0;
			goto number;
		}
		case 'p':
		case 'u':
		case 'x':
		case 'o': {
			v = *p == 'p'		   ? (uintptr_t)va_arg(ap, void *)
			    : longs >= 2 ? va_arg(ap, unsigned long long)
			    : longs == 1 ? va_arg(ap, unsigned long)
			    : longs == 3 ? va_arg(ap, size_t)
					 : va_arg(ap, unsigned);
			if (longs == -1)
				v = (unsigned short)v;
			else if (longs == -2)
				v = (unsigned char)v;
		number:;
			unsigned base = *p == 'x' || *p == 'p' ? 16 : *p == 'o' ? 8 : 10;
			do
				*--digits = "0123456789abcdef"[v % base];
			while ((v /= base) != 0);
			if (*p == 'p') {
				*--digits = 'x';
				*--digits = '0';
			}
			while (prec >= 0 && tmp + sizeof tmp - digits < prec)
				*--digits = '0';
			if (prec == 0 && digits[0] == '0' && digits + 1 == tmp + sizeof tmp)
				digits++; /* "%.0d" of 0 is nothing */
			if (zero && !left && prec < 0) {
				while (tmp + sizeof tmp - digits < width - (sign != 0) && digits > tmp + 1)
					*--digits = '0';
			}
			if (sign)
				*--digits = sign;
			s = digits;
			len = (size_t)(tmp + sizeof tmp - digits);
			break;
		}
		default: /* not one of ours: as it stands */
			puts_n(&o, start, (size_t)(p - start) + (*p != 0));
			if (!*p)
				p--;
			continue;
		}
		size_t pad = width > 0 && (size_t)width > len ? (size_t)width - len : 0;
		if (!left)
			put(&o, ' ', pad);
		puts_n(&o, s, len);
		if (left)
			put(&o, ' ', pad);
	}
	if (size)
		buf[o.n < size ? o.n : size - 1] = '\0';
	return o.n > INT_MAX ? -1 : (int)o.n;
}

int FMT(snprintf)(char *restrict buf, size_t size, const char *restrict fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = FMT(vsnprintf)(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

int FMT(vdprintf)(int fd, const char *restrict fmt, va_list ap)
{
	char buf[1024];
	int n = FMT(vsnprintf)(buf, sizeof buf, fmt, ap);
	if (n < 0)
		return n;
	size_t len = (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1;
	return write(fd, buf, len) < 0 ? -1 : (int)len;
}

int FMT(dprintf)(int fd, const char *restrict fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = FMT(vdprintf)(fd, fmt, ap);
	va_end(ap);
	return n;
}

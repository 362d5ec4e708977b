/*
 * fortify.c: the one glibc-only symbol that Debian's libseccomp.a needs
 * when hull links it statically against musl (scripts/musl-sysroot.sh).
 *
 * libseccomp-dev is built with _FORTIFY_SOURCE, so its PFC exporter
 * (seccomp_export_pfc, which hull never calls) calls glibc's checked
 * __fprintf_chk. Every other symbol it needs is standard C that musl
 * provides with the same ABI (malloc, fdopen, ioctl, __errno_location,
 * __stack_chk_fail, __assert_fail...).
 */
#include <stdarg.h>
#include <stdio.h>

int __fprintf_chk(FILE *f, int flag, const char *fmt, ...)
{
	va_list ap;
	int r;

	(void)flag; /* the fortify level: nothing to check here */
	va_start(ap, fmt);
	r = vfprintf(f, fmt, ap);
	va_end(ap);
	return r;
}

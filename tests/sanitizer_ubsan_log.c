/* Linked into every program of the sanitizer build (CRYPTBLK_SANITIZE):
 * make UBSAN_OPTIONS=log_path=... work as documented.
 *
 * GCC links ASan and UBSan as two runtimes, libasan and libubsan, each with
 * its own report file. libubsan applies its log_path through the exported
 * __sanitizer_set_report_path, which the dynamic linker resolves to
 * libasan's copy (loaded first): ASan's reports move, UBSan's stay on
 * stderr. tests/sanitizer-run.sh relies on reports landing in files (a
 * background server's stderr is often not looked at), so this constructor
 * calls libubsan's own copy, found with dlsym on libubsan's handle. */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

__attribute__((constructor)) static void sanitizer_ubsan_log_path_apply(void)
{
	const char *opts = getenv("UBSAN_OPTIONS"), *p;
	void (*set_path)(const char *);
	char path[4096];
	void *lib;
	size_t n;

	if (!opts || !(p = strstr(opts, "log_path=")))
		return;
	p += strlen("log_path=");
	n = strcspn(p, ":");
	if (n == 0 || n >= sizeof(path))
		return;
	memcpy(path, p, n);
	path[n] = '\0';
	/* Already loaded as a dependency of the program; never load it. */
	lib = dlopen("libubsan.so.1", RTLD_NOW | RTLD_NOLOAD);
	if (!lib)
		return;
	*(void **)&set_path = dlsym(lib, "__sanitizer_set_report_path");
	if (set_path)
		set_path(path);
	dlclose(lib);
}

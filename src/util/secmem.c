/* Locked, non-dumpable memory for secrets. */
#include <cryptblk/secmem.h>

#include <errno.h>
#include <openssl/crypto.h>
#include <sys/mman.h>
#include <unistd.h>

static size_t secmem_round(size_t len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	return (len + page - 1) / page * page;
}

void *secmem_alloc(size_t len)
{
	size_t size;
	void *p;

	if (len == 0) {
		errno = EINVAL;
		return NULL;
	}
	size = secmem_round(len);
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	/* Never in a core image, and not inherited by a forked child (--run). */
	if (madvise(p, size, MADV_DONTDUMP) != 0 || madvise(p, size, MADV_DONTFORK) != 0 ||
	    mlock(p, size) != 0) {
		int err = errno;
		munmap(p, size);
		errno = err;
		return NULL;
	}
	return p;
}

void secmem_wipe(void *p, size_t len)
{
	if (p && len)
		OPENSSL_cleanse(p, len);
}

void secmem_free(void *p, size_t len)
{
	size_t size;

	if (!p)
		return;
	size = secmem_round(len);
	OPENSSL_cleanse(p, size);
	munlock(p, size);
	munmap(p, size);
}

/* The file backend and the fault decorator, through a real io_uring loop and
 * a real temporary file, checked against pread/pwrite of the same file. */
#include <cryptblk/backend.h>
#include <cryptblk/loop.h>

#include "helper_tmpfile.h"

#include "helper_check.h"
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define FILE_SIZE (1024u * 1024)
#define SEED	  7u

struct fixture {
	char path[HELPER_TMPFILE_PATH_MAX];
	struct loop *loop;
	struct backend *be;
};

struct io_wait {
	struct backend_io io;
	int res;
	bool done;
};

static void io_wait_done(struct backend_io *io, int res)
{
	struct io_wait *w = io->priv;

	ck_assert_msg(!w->done, "done() ran twice");
	w->res = res;
	w->done = true;
}

static void io_wait_submit(struct fixture *f, struct io_wait *w, uint8_t op, void *buf,
			   uint32_t len, uint64_t off)
{
	memset(w, 0, sizeof(*w));
	w->io.op = op;
	w->io.buf = buf;
	w->io.len = len;
	w->io.offset = off;
	w->io.done = io_wait_done;
	w->io.priv = w;
	backend_submit(f->be, f->loop, &w->io);
	/* Results, errors included, come from the loop, never from submit. */
	ck_assert(!w->done);
}

static void loop_wait(struct fixture *f, const bool *flag)
{
	while (!*flag)
		ck_assert_int_eq(loop_run_once(f->loop, true), 0);
}

static int io_run(struct fixture *f, uint8_t op, void *buf, uint32_t len, uint64_t off)
{
	struct io_wait w;

	io_wait_submit(f, &w, op, buf, len, off);
	loop_wait(f, &w.done);
	return w.res;
}

static void fixture_open(struct fixture *f, uint64_t size, unsigned flags)
{
	memset(f, 0, sizeof(*f));
	ck_assert_int_eq(helper_tmpfile_create(size, SEED, f->path), 0);
	ck_assert_int_eq(loop_create(64, &f->loop), 0);
	ck_assert_int_eq(backend_file_open(f->path, flags, &f->be), 0);
}

static void fixture_close(struct fixture *f)
{
	ck_assert_uint_eq(loop_inflight(f->loop), 0);
	backend_close(f->be);
	loop_destroy(f->loop);
	unlink(f->path);
}

static void assert_pattern(const uint8_t *buf, size_t len, uint64_t off)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i] != helper_pattern_byte(SEED, off + i))
			ck_abort_msg("byte %zu (offset %llu) differs from the pattern", i,
				     (unsigned long long)(off + i));
}

static bool all_zero(const uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i])
			return false;
	return true;
}

START_TEST(test_file_reports_size_and_block_size)
{
	struct fixture f;

	fixture_open(&f, FILE_SIZE, 0);
	ck_assert_uint_eq(f.be->size, FILE_SIZE);
	ck_assert_uint_eq(f.be->block_size, 512);
	ck_assert(!f.be->read_only);
	ck_assert(f.be->can_discard);
	fixture_close(&f);
}
END_TEST

START_TEST(test_file_read_returns_file_contents)
{
	struct fixture f;
	uint8_t *buf = malloc(65536);

	fixture_open(&f, FILE_SIZE, 0);
	ck_assert_int_eq(io_run(&f, BACKEND_READ, buf, 65536, 12345), 0);
	assert_pattern(buf, 65536, 12345);
	fixture_close(&f);
	free(buf);
}
END_TEST

START_TEST(test_file_write_lands_in_file)
{
	struct fixture f;
	uint8_t *data = malloc(65536), *check = malloc(65536);

	fixture_open(&f, FILE_SIZE, 0);
	for (size_t i = 0; i < 65536; i++)
		data[i] = (uint8_t)(i * 31 + 5);
	ck_assert_int_eq(io_run(&f, BACKEND_WRITE, data, 65536, 4096 + 17), 0);
	ck_assert_int_eq(helper_file_pread(f.path, check, 65536, 4096 + 17), 0);
	ck_assert_mem_eq(check, data, 65536);
	/* Neighbours untouched. */
	ck_assert_int_eq(helper_file_pread(f.path, check, 4096 + 17, 0), 0);
	assert_pattern(check, 4096 + 17, 0);
	ck_assert_int_eq(io_run(&f, BACKEND_READ, check, 65536, 4096 + 17), 0);
	ck_assert_mem_eq(check, data, 65536);
	fixture_close(&f);
	free(data);
	free(check);
}
END_TEST

START_TEST(test_file_flush_succeeds_after_writes)
{
	struct fixture f;
	uint8_t data[4096];

	fixture_open(&f, FILE_SIZE, 0);
	memset(data, 0xa5, sizeof(data));
	ck_assert_int_eq(io_run(&f, BACKEND_WRITE, data, sizeof(data), 0), 0);
	ck_assert_int_eq(io_run(&f, BACKEND_FLUSH, NULL, 0, 0), 0);
	fixture_close(&f);
}
END_TEST

START_TEST(test_file_discard_reads_back_zeros_and_keeps_size)
{
	struct fixture f;
	uint8_t *buf = malloc(65536);
	struct stat before, after;

	fixture_open(&f, FILE_SIZE, 0);
	ck_assert_int_eq(stat(f.path, &before), 0);
	ck_assert_int_eq(io_run(&f, BACKEND_DISCARD, NULL, 32768, 16384), 0);
	ck_assert_int_eq(io_run(&f, BACKEND_READ, buf, 65536, 0), 0);
	assert_pattern(buf, 16384, 0);
	ck_assert(all_zero(buf + 16384, 32768));
	assert_pattern(buf + 49152, 65536 - 49152, 49152);
	ck_assert_int_eq(stat(f.path, &after), 0);
	ck_assert_int_eq(after.st_size, before.st_size);
	/* A hole, not written zeros: fewer blocks allocated. */
	ck_assert_int_lt(after.st_blocks, before.st_blocks);
	fixture_close(&f);
	free(buf);
}
END_TEST

START_TEST(test_file_io_past_end_is_refused)
{
	struct fixture f;
	uint8_t buf[8192];

	fixture_open(&f, FILE_SIZE, 0);
	ck_assert_int_eq(io_run(&f, BACKEND_READ, buf, sizeof(buf), FILE_SIZE - 4096), -EINVAL);
	ck_assert_int_eq(io_run(&f, BACKEND_READ, buf, 512, FILE_SIZE), -EINVAL);
	ck_assert_int_eq(io_run(&f, BACKEND_WRITE, buf, sizeof(buf), FILE_SIZE - 4096), -ENOSPC);
	ck_assert_int_eq(io_run(&f, BACKEND_WRITE, buf, 512, UINT64_MAX - 100), -ENOSPC);
	ck_assert_int_eq(io_run(&f, BACKEND_DISCARD, NULL, 8192, FILE_SIZE - 4096), -EINVAL);
	/* The refused write did not reach the file. */
	ck_assert_int_eq(helper_file_pread(f.path, buf, 4096, FILE_SIZE - 4096), 0);
	assert_pattern(buf, 4096, FILE_SIZE - 4096);
	/* The last byte is still readable. */
	ck_assert_int_eq(io_run(&f, BACKEND_READ, buf, 4096, FILE_SIZE - 4096), 0);
	assert_pattern(buf, 4096, FILE_SIZE - 4096);
	fixture_close(&f);
}
END_TEST

START_TEST(test_file_read_only_refuses_write_and_discard)
{
	struct fixture f;
	uint8_t buf[4096];

	fixture_open(&f, FILE_SIZE, BACKEND_FILE_READONLY);
	ck_assert(f.be->read_only);
	ck_assert(!f.be->can_discard);
	memset(buf, 0, sizeof(buf));
	ck_assert_int_eq(io_run(&f, BACKEND_WRITE, buf, sizeof(buf), 0), -EPERM);
	ck_assert_int_eq(io_run(&f, BACKEND_DISCARD, NULL, sizeof(buf), 0), -EPERM);
	ck_assert_int_eq(io_run(&f, BACKEND_READ, buf, sizeof(buf), 0), 0);
	assert_pattern(buf, sizeof(buf), 0);
	ck_assert_int_eq(io_run(&f, BACKEND_FLUSH, NULL, 0, 0), 0);
	fixture_close(&f);
}
END_TEST

START_TEST(test_file_read_across_shrunk_eof_fails_with_eio)
{
	struct fixture f;
	uint8_t *buf = malloc(16384);

	/* The backend knows the size from open; the file shrinks behind its
	 * back, so the kernel returns a short read, then nothing. The part
	 * before the new end arrives; the request as a whole fails. */
	fixture_open(&f, 16384, 0);
	ck_assert_int_eq(truncate(f.path, 12288 + 100), 0);
	memset(buf, 0, 16384);
	ck_assert_int_eq(io_run(&f, BACKEND_READ, buf, 16384, 0), -EIO);
	assert_pattern(buf, 12288 + 100, 0);
	/* A read that ends before the new end of file still succeeds. */
	ck_assert_int_eq(io_run(&f, BACKEND_READ, buf, 12288, 0), 0);
	fixture_close(&f);
	free(buf);
}
END_TEST

START_TEST(test_file_many_ios_in_flight_beyond_ring_size)
{
	enum { N = 300, LEN = 4096 };
	struct fixture f;
	struct io_wait *w = calloc(N, sizeof(*w));
	uint8_t *bufs = malloc((size_t)N * LEN);
	unsigned done = 0;

	/* The ring holds 64 entries; the rest wait in the loop's FIFO. */
	fixture_open(&f, FILE_SIZE, 0);
	for (unsigned i = 0; i < N; i++)
		io_wait_submit(&f, &w[i], BACKEND_READ, bufs + (size_t)i * LEN, LEN,
			       (uint64_t)i * 3001 % (FILE_SIZE - LEN));
	while (done < N) {
		ck_assert_int_eq(loop_run_once(f.loop, true), 0);
		done = 0;
		for (unsigned i = 0; i < N; i++)
			done += w[i].done;
	}
	for (unsigned i = 0; i < N; i++) {
		ck_assert_int_eq(w[i].res, 0);
		assert_pattern(bufs + (size_t)i * LEN, LEN, w[i].io.offset);
	}
	fixture_close(&f);
	free(w);
	free(bufs);
}
END_TEST

/* Does this process hold an O_DIRECT descriptor on `path`? */
static bool process_has_direct_fd(const char *path)
{
	struct stat want;
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *de;
	bool found = false;

	ck_assert_ptr_nonnull(dir);
	ck_assert_int_eq(stat(path, &want), 0);
	while (!found && (de = readdir(dir))) {
		int fd = atoi(de->d_name);
		struct stat st;
		int fl;

		if (de->d_name[0] == '.' || fd == dirfd(dir))
			continue;
		fl = fcntl(fd, F_GETFL);
		if (fl < 0 || fstat(fd, &st) != 0)
			continue;
		found = st.st_dev == want.st_dev && st.st_ino == want.st_ino && (fl & O_DIRECT);
	}
	closedir(dir);
	return found;
}

/* How many pages of [off, off+len) of `path` are in the page cache. */
static unsigned pages_cached(const char *path, uint64_t off, size_t len)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t npages = len / (size_t)page;
	unsigned char *vec = malloc(npages);
	int fd = open(path, O_RDONLY);
	void *map;
	unsigned n = 0;

	ck_assert_int_ge(fd, 0);
	map = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, (off_t)off);
	ck_assert(map != MAP_FAILED);
	ck_assert_int_eq(mincore(map, len, vec), 0);
	for (size_t i = 0; i < npages; i++)
		n += vec[i] & 1;
	munmap(map, len);
	close(fd);
	free(vec);
	return n;
}

static void page_cache_drop(const char *path)
{
	int fd = open(path, O_RDONLY);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fdatasync(fd), 0);
	ck_assert_int_eq(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
	close(fd);
}

START_TEST(test_file_direct_serves_aligned_requests_past_page_cache)
{
	enum { LEN = 65536 };
	const uint64_t direct_off = 4u * 1024 * 1024;
	struct fixture f;
	uint8_t *aligned = aligned_alloc(4096, LEN);
	uint8_t *unaligned_base = malloc(LEN + 1), *check = malloc(LEN);
	bool direct_works;
	int probe;

	fixture_open(&f, 8u * 1024 * 1024, BACKEND_FILE_DIRECT);
	probe = open(f.path, O_RDWR | O_DIRECT);
	if (probe < 0)
		ck_assert_int_eq(errno, EINVAL); /* the filesystem refuses O_DIRECT */
	else
		close(probe);
	direct_works = probe >= 0;
	/* Either way the backend works, buffered or direct. */
	ck_assert_int_eq(process_has_direct_fd(f.path), direct_works);
	page_cache_drop(f.path);

	ck_assert_int_eq(io_run(&f, BACKEND_READ, aligned, LEN, direct_off), 0);
	assert_pattern(aligned, LEN, direct_off);
	ck_assert_int_eq(io_run(&f, BACKEND_READ, unaligned_base + 1, 4096, 512), 0);
	assert_pattern(unaligned_base + 1, 4096, 512);
	if (direct_works)
		ck_assert_uint_eq(pages_cached(f.path, direct_off, LEN), 0);

	for (size_t i = 0; i < LEN; i++)
		aligned[i] = (uint8_t)(i ^ 0x5a);
	ck_assert_int_eq(io_run(&f, BACKEND_WRITE, aligned, LEN, direct_off), 0);
	if (direct_works)
		ck_assert_uint_eq(pages_cached(f.path, direct_off, LEN), 0);
	ck_assert_int_eq(helper_file_pread(f.path, check, LEN, direct_off), 0);
	ck_assert_mem_eq(check, aligned, LEN);

	/* An unaligned write goes through the page cache and is read back
	 * through the direct descriptor consistently. */
	memset(unaligned_base + 1, 0x3c, 4096);
	ck_assert_int_eq(io_run(&f, BACKEND_WRITE, unaligned_base + 1, 4096, direct_off + 100), 0);
	ck_assert_int_eq(io_run(&f, BACKEND_READ, aligned, LEN, direct_off), 0);
	ck_assert_mem_eq(aligned + 100, unaligned_base + 1, 4096);
	ck_assert_int_eq(aligned[99], (uint8_t)(99 ^ 0x5a));
	fixture_close(&f);
	free(aligned);
	free(unaligned_base);
	free(check);
}
END_TEST

static void fault_open(struct fixture *f)
{
	struct backend *faulty;

	fixture_open(f, FILE_SIZE, 0);
	ck_assert_int_eq(backend_fault_wrap(f->be, &faulty), 0);
	f->be = faulty;
	ck_assert_uint_eq(f->be->size, FILE_SIZE);
	ck_assert(f->be->can_discard);
}

START_TEST(test_fault_fails_only_overlapping_ios_of_its_op)
{
	struct fixture f;
	uint8_t buf[8192];

	fault_open(&f);
	ck_assert_int_eq(backend_fault_add(f.be, BACKEND_READ, 8192, 4096, -EIO), 0);
	ck_assert_int_eq(backend_fault_add(f.be, BACKEND_WRITE, 65536, 512, -ENOSPC), 0);
	/* Reads: overlapping at either edge fail, touching neighbours pass. */
	ck_assert_int_eq(io_run(&f, BACKEND_READ, buf, 512, 8192), -EIO);
	ck_assert_int_eq(io_run(&f, BACKEND_READ, buf, 512, 12288 - 512), -EIO);
	ck_assert_int_eq(io_run(&f, BACKEND_READ, buf, 8192, 4096 + 512), -EIO);
	ck_assert_int_eq(io_run(&f, BACKEND_READ, buf, 4096, 4096), 0);
	assert_pattern(buf, 4096, 4096);
	ck_assert_int_eq(io_run(&f, BACKEND_READ, buf, 4096, 12288), 0);
	assert_pattern(buf, 4096, 12288);
	/* The write rule leaves reads of its range alone and vice versa. */
	ck_assert_int_eq(io_run(&f, BACKEND_READ, buf, 512, 65536), 0);
	memset(buf, 0xee, sizeof(buf));
	ck_assert_int_eq(io_run(&f, BACKEND_WRITE, buf, 8192, 65536 - 4096), -ENOSPC);
	ck_assert_int_eq(io_run(&f, BACKEND_WRITE, buf, 512, 8192), 0);
	ck_assert_int_eq(io_run(&f, BACKEND_WRITE, buf, 4096, 65536 + 512), 0);
	/* The failed write never reached the file. */
	ck_assert_int_eq(helper_file_pread(f.path, buf, 4096, 65536 - 4096), 0);
	assert_pattern(buf, 4096, 65536 - 4096);
	ck_assert_int_eq(helper_file_pread(f.path, buf, 512, 65536), 0);
	assert_pattern(buf, 512, 65536);
	fixture_close(&f);
}
END_TEST

START_TEST(test_fault_flush_and_discard_rules)
{
	struct fixture f;
	uint8_t buf[4096];

	fault_open(&f);
	ck_assert_int_eq(backend_fault_add(f.be, BACKEND_FLUSH, 0, 0, -EIO), 0);
	ck_assert_int_eq(backend_fault_add(f.be, BACKEND_DISCARD, 0, 4096, -EOPNOTSUPP), 0);
	ck_assert_int_eq(io_run(&f, BACKEND_FLUSH, NULL, 0, 0), -EIO);
	ck_assert_int_eq(io_run(&f, BACKEND_DISCARD, NULL, 4096, 0), -EOPNOTSUPP);
	ck_assert_int_eq(io_run(&f, BACKEND_DISCARD, NULL, 4096, 4096), 0);
	ck_assert_int_eq(helper_file_pread(f.path, buf, 4096, 0), 0);
	assert_pattern(buf, 4096, 0);
	fixture_close(&f);
}
END_TEST

START_TEST(test_fault_clear_restores_io)
{
	struct fixture f;
	uint8_t buf[4096];

	fault_open(&f);
	ck_assert_int_eq(backend_fault_add(f.be, BACKEND_READ, 0, FILE_SIZE, -EIO), 0);
	ck_assert_int_eq(io_run(&f, BACKEND_READ, buf, sizeof(buf), 0), -EIO);
	backend_fault_clear(f.be);
	ck_assert_int_eq(io_run(&f, BACKEND_READ, buf, sizeof(buf), 0), 0);
	assert_pattern(buf, sizeof(buf), 0);
	fixture_close(&f);
}
END_TEST

START_TEST(test_fault_short_read_fills_prefix_then_fails)
{
	struct fixture f;
	uint8_t buf[16384];

	fault_open(&f);
	ck_assert_int_eq(backend_fault_add_short(f.be, BACKEND_READ, 8192, 4096, -EIO), 0);
	memset(buf, 0xaa, sizeof(buf));
	ck_assert_int_eq(io_run(&f, BACKEND_READ, buf, sizeof(buf), 4096), -EIO);
	/* The 4 KiB before the fault arrived; nothing at or after it did. */
	assert_pattern(buf, 4096, 4096);
	for (size_t i = 4096; i < sizeof(buf); i++)
		ck_assert_uint_eq(buf[i], 0xaa);
	/* Starting inside the range: nothing transferred. */
	memset(buf, 0xaa, sizeof(buf));
	ck_assert_int_eq(io_run(&f, BACKEND_READ, buf, 512, 8192 + 512), -EIO);
	ck_assert_uint_eq(buf[0], 0xaa);
	/* Neighbours are untouched by the rule. */
	ck_assert_int_eq(io_run(&f, BACKEND_READ, buf, 4096, 12288), 0);
	assert_pattern(buf, 4096, 12288);
	fixture_close(&f);
}
END_TEST

START_TEST(test_fault_short_write_lands_prefix_then_fails)
{
	struct fixture f;
	uint8_t buf[16384], back[16384];

	fault_open(&f);
	/* Rules added later are tried first: the short one, then this. */
	ck_assert_int_eq(backend_fault_add(f.be, BACKEND_WRITE, 0, 512, -EIO), 0);
	ck_assert_int_eq(backend_fault_add_short(f.be, BACKEND_WRITE, 8192, 512, -ENOSPC), 0);
	memset(buf, 0x5c, sizeof(buf));
	ck_assert_int_eq(io_run(&f, BACKEND_WRITE, buf, sizeof(buf), 4096), -ENOSPC);
	ck_assert_int_eq(helper_file_pread(f.path, back, sizeof(back), 4096), 0);
	for (size_t i = 0; i < 4096; i++)
		ck_assert_uint_eq(back[i], 0x5c);
	assert_pattern(back + 4096, sizeof(back) - 4096, 8192);
	/* The prefix [0, 8192) meets the rule at 0, so nothing lands. */
	memset(buf, 0x77, sizeof(buf));
	ck_assert_int_eq(io_run(&f, BACKEND_WRITE, buf, 16384, 0), -EIO);
	ck_assert_int_eq(helper_file_pread(f.path, back, 8192, 0), 0);
	assert_pattern(back, 4096, 0);
	for (size_t i = 4096; i < 8192; i++)
		ck_assert_uint_eq(back[i], 0x5c);
	ck_assert_int_eq(backend_fault_add_short(f.be, BACKEND_FLUSH, 0, 0, -EIO), -EINVAL);
	fixture_close(&f);
}
END_TEST

START_TEST(test_fault_add_rejects_bad_rules)
{
	struct fixture f;

	fault_open(&f);
	ck_assert_int_eq(backend_fault_add(f.be, BACKEND_READ, 0, 0, -EIO), -EINVAL);
	ck_assert_int_eq(backend_fault_add(f.be, BACKEND_READ, 0, 512, 0), -EINVAL);
	ck_assert_int_eq(backend_fault_add(f.be, BACKEND_READ, UINT64_MAX, 2, -EIO), -EINVAL);
	fixture_close(&f);
}
END_TEST

static void add_tests(TCase *tc)
{
	tcase_add_test(tc, test_file_reports_size_and_block_size);
	tcase_add_test(tc, test_file_read_returns_file_contents);
	tcase_add_test(tc, test_file_write_lands_in_file);
	tcase_add_test(tc, test_file_flush_succeeds_after_writes);
	tcase_add_test(tc, test_file_discard_reads_back_zeros_and_keeps_size);
	tcase_add_test(tc, test_file_io_past_end_is_refused);
	tcase_add_test(tc, test_file_read_only_refuses_write_and_discard);
	tcase_add_test(tc, test_file_read_across_shrunk_eof_fails_with_eio);
	tcase_add_test(tc, test_file_many_ios_in_flight_beyond_ring_size);
	tcase_add_test(tc, test_file_direct_serves_aligned_requests_past_page_cache);
	tcase_add_test(tc, test_fault_fails_only_overlapping_ios_of_its_op);
	tcase_add_test(tc, test_fault_flush_and_discard_rules);
	tcase_add_test(tc, test_fault_clear_restores_io);
	tcase_add_test(tc, test_fault_short_read_fills_prefix_then_fails);
	tcase_add_test(tc, test_fault_short_write_lands_prefix_then_fails);
	tcase_add_test(tc, test_fault_add_rejects_bad_rules);
}

int main(void)
{
	return unit_run("backend_file", add_tests);
}

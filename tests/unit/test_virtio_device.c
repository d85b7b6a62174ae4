/* The "virtio:PCI_ADDR" engine on a real device, and its refusals.
 *
 * Anywhere: specs that are not PCI addresses, an address with no device,
 * and a PCI device that is not virtio-crypto are refused with -EINVAL or
 * -ENODEV and a message that says which.
 *
 * With CRYPTBLK_VIRTIO_ADDR set (tests/vm/test-vm-vfio-*.sh boots a guest
 * whose virtio-crypto-pci device is bound to vfio-pci): random jobs through
 * the device and a loop give the openssl engine's output; sessions are
 * destroyed (more set_key/clear_key rounds than the device has sessions); a
 * second open of the device is -EBUSY; a malformed request and a device
 * stopped behind the engine's back fail the jobs in flight with EIO, refuse
 * further jobs, and leave a device that the next open uses normally.
 */
#include "crypto/virtio/virtio_engine.h"

#include <cryptblk/crypto.h>
#include <cryptblk/loop.h>

#include <check.h>

#include "helper_check.h"
#include "helper_model.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <poll.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *device_addr; /* CRYPTBLK_VIRTIO_ADDR */
static char other_addr[256];	/* a PCI device that is not virtio-crypto */
static char device_spec[64];

static uint64_t rng_state = 0x13198a2e03707344ull;

/* crypto_engine_open with stderr caught in `msg`. */
static int open_caught(const char *spec, struct crypto_engine **e, char *msg, size_t len)
{
	FILE *tmp = tmpfile();
	int saved = dup(STDERR_FILENO), err;
	size_t n;

	ck_assert(tmp && saved >= 0);
	fflush(stderr);
	ck_assert_int_ge(dup2(fileno(tmp), STDERR_FILENO), 0);
	err = crypto_engine_open(spec, e);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	rewind(tmp);
	n = fread(msg, 1, len - 1, tmp);
	msg[n] = '\0';
	fclose(tmp);
	return err;
}

START_TEST(test_device_spec_that_is_not_a_pci_address_is_einval)
{
	static const char *const bad[] = {"virtio",
					  "virtio:",
					  "virtio:zz",
					  "virtio:00:20.0",
					  "virtio:0000:00:03.8",
					  "virtio:0000:00:03.0x"};
	struct crypto_engine *e = NULL;
	char msg[512];

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(open_caught(bad[i], &e, msg, sizeof(msg)), -EINVAL);
		ck_assert_ptr_null(e);
		ck_assert_msg(strstr(msg, "not a PCI address"), "%s: message '%s'", bad[i], msg);
	}
}
END_TEST

START_TEST(test_device_address_without_a_device_is_enodev)
{
	struct crypto_engine *e = NULL;
	char msg[512];

	ck_assert_int_eq(open_caught("virtio:fffe:ff:1f.7", &e, msg, sizeof(msg)), -ENODEV);
	ck_assert_ptr_null(e);
	ck_assert_msg(strstr(msg, "fffe:ff:1f.7: no such PCI device"), "message '%s'", msg);
}
END_TEST

START_TEST(test_device_that_is_not_virtio_crypto_is_enodev)
{
	struct crypto_engine *e = NULL;
	char spec[300], msg[512];

	snprintf(spec, sizeof(spec), "virtio:%s", other_addr);
	ck_assert_int_eq(open_caught(spec, &e, msg, sizeof(msg)), -ENODEV);
	ck_assert_ptr_null(e);
	ck_assert_msg(strstr(msg, "is not a virtio-crypto device"), "message '%s'", msg);
}
END_TEST

/* --- on the device --- */

struct run {
	unsigned done;
};

static void job_done(struct crypto_job *job)
{
	((struct run *)job->priv)->done++;
}

/* Submits every job through the backlog and turns the loop (which sleeps
 * on the engine's MSI-X eventfd) until all came back. */
static void run_jobs(struct crypto_engine *e, struct crypto_job *jobs, unsigned n)
{
	struct loop *loop;
	struct run run = {0};

	ck_assert_int_eq(loop_create(64, &loop), 0);
	ck_assert_int_eq(crypto_engine_attach(e, loop), 0);
	for (unsigned i = 0; i < n; i++) {
		jobs[i].done = job_done;
		jobs[i].priv = &run;
		jobs[i].result = 1;
		ck_assert_int_eq(crypto_submit(e, &jobs[i]), 0);
	}
	for (unsigned turns = 0; run.done < n; turns++) {
		ck_assert_msg(turns < 100000, "%u of %u jobs came back", run.done, n);
		ck_assert_int_eq(loop_run_once(loop, true), 0);
	}
	crypto_engine_detach(e);
	while (loop_inflight(loop))
		ck_assert_int_eq(loop_run_once(loop, true), 0);
	loop_destroy(loop);
}

static struct crypto_engine *open_keyed(const char *spec, const uint8_t *key, size_t key_len)
{
	struct crypto_engine *e;

	ck_assert_int_eq(crypto_engine_open(spec, &e), 0);
	ck_assert_int_eq(crypto_engine_set_key(e, 0, key, key_len), 0);
	return e;
}

/* Jobs through both engines; the device's ciphertext is OpenSSL's, and it
 * decrypts back. Buffers from the engine's pool and from the heap (bounce
 * copies), in place and out of place. */
static void device_matches_openssl(size_t key_len, uint32_t ss)
{
	enum { N = 48 };
	const uint32_t max = 128 * 1024 / ss;
	struct crypto_engine *dev, *ossl;
	struct crypto_job jobs[N], ref[N];
	uint8_t *plain[N], *src[N], *dst[N], *want[N], key[64];
	size_t len[N];

	tmodel_xts_key(&rng_state, key, key_len);
	dev = open_keyed(device_spec, key, key_len);
	ossl = open_keyed("openssl", key, key_len);
	for (unsigned i = 0; i < N; i++) {
		uint32_t nr = 1 + (uint32_t)(tmodel_rng_next(&rng_state) % max);
		bool pooled = i % 2, in_place = i % 4 >= 2;
		uint64_t iv = tmodel_rng_next(&rng_state) >> (tmodel_rng_next(&rng_state) % 64);

		len[i] = (size_t)nr * ss;
		plain[i] = malloc(len[i]);
		want[i] = malloc(len[i]);
		src[i] = pooled ? crypto_buf_alloc(dev, len[i]) : malloc(len[i]);
		dst[i] = in_place ? src[i]
			 : pooled ? crypto_buf_alloc(dev, len[i])
				  : malloc(len[i]);
		ck_assert(plain[i] && want[i] && src[i] && dst[i]);
		tmodel_rng_fill(&rng_state, plain[i], len[i]);
		memcpy(src[i], plain[i], len[i]);
		jobs[i] = (struct crypto_job){.src = src[i],
					      .dst = dst[i],
					      .iv = iv,
					      .sector_size = ss,
					      .nr_sectors = nr,
					      .dir = CRYPTO_ENCRYPT};
		ref[i] = jobs[i];
		ref[i].src = plain[i];
		ref[i].dst = want[i];
	}
	run_jobs(dev, jobs, N);
	run_jobs(ossl, ref, N);
	for (unsigned i = 0; i < N; i++) {
		ck_assert_int_eq(jobs[i].result, 0);
		ck_assert_int_eq(ref[i].result, 0);
		ck_assert_msg(memcmp(dst[i], want[i], len[i]) == 0,
			      "job %u: %zu bytes differ from openssl's", i, len[i]);
		jobs[i].src = jobs[i].dst = dst[i];
		jobs[i].dir = CRYPTO_DECRYPT;
	}
	run_jobs(dev, jobs, N);
	for (unsigned i = 0; i < N; i++) {
		ck_assert_int_eq(jobs[i].result, 0);
		ck_assert_mem_eq(dst[i], plain[i], len[i]);
		if (dst[i] != src[i])
			i % 2 ? crypto_buf_free(dev, dst[i], len[i]) : free(dst[i]);
		i % 2 ? crypto_buf_free(dev, src[i], len[i]) : free(src[i]);
		free(plain[i]);
		free(want[i]);
	}
	crypto_engine_close(dev);
	crypto_engine_close(ossl);
}

START_TEST(test_device_aes256_4096_byte_sectors_match_openssl)
{
	device_matches_openssl(64, 4096);
}
END_TEST

START_TEST(test_device_aes128_512_byte_sectors_match_openssl)
{
	device_matches_openssl(32, 512);
}
END_TEST

/* 140 set_key/clear_key rounds on two slots create 560 sessions; the device
 * has 256, so this passes only if every clear destroys them. */
START_TEST(test_device_sessions_are_destroyed)
{
	struct crypto_engine *e;
	uint8_t key[64];

	ck_assert_int_eq(crypto_engine_open(device_spec, &e), 0);
	for (unsigned i = 0; i < 140; i++) {
		for (unsigned slot = 0; slot < 2; slot++) {
			tmodel_xts_key(&rng_state, key, i % 2 ? 64 : 32);
			ck_assert_msg(crypto_engine_set_key(e, slot, key, i % 2 ? 64 : 32) == 0,
				      "round %u slot %u", i, slot);
		}
		for (unsigned slot = 0; slot < 2; slot++)
			crypto_engine_clear_key(e, slot);
	}
	ck_assert_uint_eq(vcrypto_sessions_live(virtio_engine_core(e)), 0);
	/* Re-keying a live slot and closing with keys set destroy them too. */
	for (unsigned i = 0; i < 70; i++) {
		crypto_engine_close(e);
		ck_assert_int_eq(crypto_engine_open(device_spec, &e), 0);
		for (unsigned slot = 0; slot < 2; slot++) {
			tmodel_xts_key(&rng_state, key, 64);
			ck_assert_int_eq(crypto_engine_set_key(e, slot, key, 64), 0);
			tmodel_xts_key(&rng_state, key, 32);
			ck_assert_int_eq(crypto_engine_set_key(e, slot, key, 32), 0);
		}
	}
	crypto_engine_close(e);
}
END_TEST

START_TEST(test_device_second_open_is_ebusy_and_says_why)
{
	struct crypto_engine *a, *b = NULL;
	char msg[512];

	ck_assert_int_eq(crypto_engine_open(device_spec, &a), 0);
	ck_assert_int_eq(open_caught(device_spec, &b, msg, sizeof(msg)), -EBUSY);
	ck_assert_ptr_null(b);
	ck_assert_msg(strstr(msg, "is in use"), "message '%s'", msg);
	crypto_engine_close(a);
	ck_assert_int_eq(crypto_engine_open(device_spec, &a), 0);
	crypto_engine_close(a);
}
END_TEST

/* After a failure the engine takes nothing; the next open resets the
 * device and works again. */
static void device_after_failure(struct crypto_engine *e, const uint8_t *key)
{
	uint8_t buf[512] = {0};
	struct crypto_job job = {
	    .src = buf, .dst = buf, .sector_size = 512, .nr_sectors = 1, .dir = CRYPTO_ENCRYPT};

	ck_assert_int_eq(virtio_engine_core(e)->state, VCRYPTO_FAILED);
	ck_assert_int_eq(e->ops->submit(e, &job), -EIO);
	ck_assert_int_eq(crypto_engine_set_key(e, 1, key, 64), -EIO);
	crypto_engine_close(e);
	e = open_keyed(device_spec, key, 64);
	run_jobs(e, &job, 1);
	ck_assert_int_eq(job.result, 0);
	crypto_engine_close(e);
}

/* A request claiming 16 more destination bytes than source bytes: the
 * device goes NEEDS_RESET; the jobs in flight fail with EIO. */
START_TEST(test_device_malformed_request_fails_jobs_with_eio)
{
	enum { N = 8 };
	struct crypto_engine *e;
	uint8_t key[64], buf[N][4096];
	struct crypto_job jobs[N];
	unsigned failed = 0;

	tmodel_xts_key(&rng_state, key, 64);
	e = open_keyed(device_spec, key, 64);
	for (unsigned i = 0; i < N; i++)
		jobs[i] = (struct crypto_job){.src = buf[i],
					      .dst = buf[i],
					      .iv = 8 * i,
					      .sector_size = 512,
					      .nr_sectors = 8,
					      .dir = CRYPTO_ENCRYPT};
	vcrypto_inject_malformed(virtio_engine_core(e));
	run_jobs(e, jobs, N);
	for (unsigned i = 0; i < N; i++)
		failed += jobs[i].result == -EIO;
	ck_assert_int_eq(jobs[0].result, -EIO);
	ck_assert_uint_eq(failed, N);
	device_after_failure(e, key);
}
END_TEST

/* Bus mastering cleared through sysfs (outside the engine): QEMU drops
 * DRIVER_OK; requests get no answer, the status tells the engine. */
START_TEST(test_device_stopped_behind_the_engines_back_fails_jobs_with_eio)
{
	struct crypto_engine *e;
	uint8_t key[64], buf[4096], cmd[2];
	struct crypto_job job = {
	    .src = buf, .dst = buf, .sector_size = 4096, .nr_sectors = 1, .dir = CRYPTO_ENCRYPT};
	char path[128];
	int fd;

	tmodel_xts_key(&rng_state, key, 64);
	e = open_keyed(device_spec, key, 64);
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/config", device_addr);
	fd = open(path, O_RDWR);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, cmd, 2, 4), 2);
	ck_assert(cmd[0] & 4);
	cmd[0] &= (uint8_t)~4;
	ck_assert_int_eq(pwrite(fd, cmd, 2, 4), 2);
	close(fd);
	run_jobs(e, &job, 1);
	ck_assert_int_eq(job.result, -EIO);
	device_after_failure(e, key);
}
END_TEST

/* A request published but not announced (no doorbell, so no interrupt
 * can come): only the watchdog makes the signal fd readable, within about
 * a second; complete() then rings the doorbell and the job comes back. */
START_TEST(test_device_watchdog_wakes_the_loop_while_requests_wait)
{
	struct crypto_engine *e;
	uint8_t key[32], buf[512] = {0};
	struct crypto_job job = {
	    .src = buf, .dst = buf, .sector_size = 512, .nr_sectors = 1, .dir = CRYPTO_ENCRYPT};
	struct pollfd p;
	struct timespec t0, t1;
	struct crypto_job *list = NULL;
	uint64_t count;
	double waited;

	tmodel_xts_key(&rng_state, key, 32);
	e = open_keyed(device_spec, key, 32);
	p = (struct pollfd){.fd = e->ops->signal_fd(e), .events = POLLIN};
	(void)!read(p.fd, &count, sizeof(count));
	virtio_engine_core(e)->batch = UINT32_MAX;
	ck_assert_int_eq(e->ops->submit(e, &job), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(poll(&p, 1, 5000), 1);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	waited = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	ck_assert_msg(waited < 3.0, "the watchdog took %.2f s", waited);
	for (unsigned i = 0; i < 1000 && !list; i++) {
		list = e->ops->complete(e);
		if (!list)
			ck_assert_int_eq(poll(&p, 1, 5000), 1);
		(void)!read(p.fd, &count, sizeof(count));
	}
	ck_assert_ptr_eq(list, &job);
	ck_assert_int_eq(job.result, 0);
	crypto_engine_close(e);
}
END_TEST

/* The first PCI device that is not virtio-crypto, for the refusal test. */
static void find_other_device(void)
{
	DIR *d = opendir("/sys/bus/pci/devices");
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d)) != NULL) {
		char path[512], ids[2][16] = {{0}};
		FILE *f;

		if (de->d_name[0] == '.')
			continue;
		for (unsigned i = 0; i < 2; i++) {
			snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/%s", de->d_name,
				 i ? "device" : "vendor");
			f = fopen(path, "r");
			if (f) {
				if (!fgets(ids[i], sizeof(ids[i]), f))
					ids[i][0] = '\0';
				fclose(f);
			}
		}
		if (ids[0][0] && ids[1][0] &&
		    !(strncmp(ids[0], "0x1af4", 6) == 0 && strncmp(ids[1], "0x1054", 6) == 0)) {
			snprintf(other_addr, sizeof(other_addr), "%s", de->d_name);
			break;
		}
	}
	closedir(d);
}

static void add_tests(TCase *tc)
{
	tcase_add_test(tc, test_device_spec_that_is_not_a_pci_address_is_einval);
	tcase_add_test(tc, test_device_address_without_a_device_is_enodev);
	if (other_addr[0])
		tcase_add_test(tc, test_device_that_is_not_virtio_crypto_is_enodev);
	else
		printf("virtio_device: no PCI device here to refuse; that test is left out\n");
	if (!device_addr) {
		printf("virtio_device: CRYPTBLK_VIRTIO_ADDR unset: the device tests run in "
		       "tests/vm/test-vm-vfio-*.sh\n");
		return;
	}
	tcase_add_test(tc, test_device_aes256_4096_byte_sectors_match_openssl);
	tcase_add_test(tc, test_device_aes128_512_byte_sectors_match_openssl);
	tcase_add_test(tc, test_device_sessions_are_destroyed);
	tcase_add_test(tc, test_device_second_open_is_ebusy_and_says_why);
	tcase_add_test(tc, test_device_watchdog_wakes_the_loop_while_requests_wait);
	tcase_add_test(tc, test_device_malformed_request_fails_jobs_with_eio);
	tcase_add_test(tc, test_device_stopped_behind_the_engines_back_fails_jobs_with_eio);
}

int main(void)
{
	device_addr = getenv("CRYPTBLK_VIRTIO_ADDR");
	if (device_addr && !*device_addr)
		device_addr = NULL;
	if (device_addr)
		snprintf(device_spec, sizeof(device_spec), "virtio:%s", device_addr);
	find_other_device();
	return unit_run("virtio_device", add_tests);
}

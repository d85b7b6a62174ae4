/* Test-only fault injection for the `cryptblk` command (testfaults.h):
 * storage errors under `serve`, and a self-inflicted SIGKILL in the middle
 * of add-key and remove-key. Nothing here runs unless its environment
 * variable is set. */
#include "testfaults.h"

#include "cli.h"
#include "cmd_luks.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TESTFAULTS_SPEC_MAX  4096
#define TESTFAULTS_RULES_MAX 64

struct testfaults_rule {
	enum backend_op op;
	uint64_t off, len;
	int err;
	bool short_io;
};

static const struct {
	const char *name;
	int err;
} testfaults_errnos[] = {{"EIO", -EIO}, {"ENOSPC", -ENOSPC}, {"EROFS", -EROFS}, {"EPERM", -EPERM}};

static int testfaults_errno(const char *name)
{
	for (size_t i = 0; i < sizeof(testfaults_errnos) / sizeof(testfaults_errnos[0]); i++)
		if (!strcmp(name, testfaults_errnos[i].name))
			return testfaults_errnos[i].err;
	return 0;
}

static int testfaults_op(const char *name, enum backend_op *op)
{
	static const char *const names[] = {"read", "write", "flush", "discard"};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!strcmp(name, names[i])) {
			*op = (enum backend_op)i;
			return 0;
		}
	}
	return -EINVAL;
}

/* One rule "OP:OFFSET:LEN:KIND[:ERRNO]", cut in place; checked here as the
 * decorator would, so that adding it can only run out of memory. */
static int testfaults_rule_parse(char *text, struct testfaults_rule *r)
{
	char *field[5] = {0}, *save = NULL;
	int n = 0;

	for (char *f = strtok_r(text, ":", &save); f; f = strtok_r(NULL, ":", &save)) {
		if (n == 5)
			return -EINVAL;
		field[n++] = f;
	}
	if (n < 4 || testfaults_op(field[0], &r->op) || luks_cli_parse_size(field[1], &r->off) ||
	    luks_cli_parse_size(field[2], &r->len))
		return -EINVAL;
	if (r->op != BACKEND_FLUSH && (r->len == 0 || r->off + r->len < r->off))
		return -EINVAL;
	r->short_io = !strcmp(field[3], "short");
	if (r->short_io && r->op != BACKEND_READ && r->op != BACKEND_WRITE)
		return -EINVAL;
	if (r->short_io && n == 4)
		r->err = r->op == BACKEND_WRITE ? -ENOSPC : -EIO;
	else
		r->err = testfaults_errno(field[r->short_io ? 4 : 3]);
	if (!r->short_io && n == 5)
		return -EINVAL;
	return r->err ? 0 : -EINVAL;
}

/* Every rule of the variable, checked before anything is built. */
static int testfaults_parse(const char *spec, struct testfaults_rule *rules, unsigned *count)
{
	char buf[TESTFAULTS_SPEC_MAX], *save = NULL;

	*count = 0;
	if (strlen(spec) >= sizeof(buf)) {
		cli_error("CRYPTBLK_TEST_FAULTS: longer than %d bytes", TESTFAULTS_SPEC_MAX - 1);
		return -EINVAL;
	}
	strcpy(buf, spec);
	for (char *r = strtok_r(buf, ",", &save); r; r = strtok_r(NULL, ",", &save)) {
		char text[TESTFAULTS_SPEC_MAX];

		if (*count == TESTFAULTS_RULES_MAX) {
			cli_error("CRYPTBLK_TEST_FAULTS: more than %d rules", TESTFAULTS_RULES_MAX);
			return -EINVAL;
		}
		strcpy(text, r);
		if (testfaults_rule_parse(text, &rules[*count]) < 0) {
			cli_error("CRYPTBLK_TEST_FAULTS: rule '%s': not OP:OFFSET:LEN:KIND "
				  "(OP read|write|flush|discard, KIND EIO|ENOSPC|EROFS|EPERM or "
				  "short[:ERRNO] for read and write)",
				  r);
			return -EINVAL;
		}
		(*count)++;
	}
	return 0;
}

int testfaults_backend_wrap(struct backend **be)
{
	const char *spec = getenv("CRYPTBLK_TEST_FAULTS");
	struct testfaults_rule rules[TESTFAULTS_RULES_MAX];
	struct backend *faulty = NULL;
	unsigned count;
	int ret;

	if (!spec || !spec[0])
		return 0;
	ret = testfaults_parse(spec, rules, &count);
	if (ret == 0)
		ret = backend_fault_wrap(*be, &faulty);
	if (ret < 0)
		goto out;
	/* From here the decorator owns *be. */
	*be = faulty;
	for (unsigned i = 0; i < count && ret == 0; i++) {
		const struct testfaults_rule *r = &rules[i];

		ret = r->short_io ? backend_fault_add_short(faulty, r->op, r->off, r->len, r->err)
				  : backend_fault_add(faulty, r->op, r->off, r->len, r->err);
	}
out:
	if (ret < 0)
		cli_error("CRYPTBLK_TEST_FAULTS: %s", strerror(-ret));
	else
		cli_error("CRYPTBLK_TEST_FAULTS: %u storage fault rule%s injected (test only)",
			  count, count == 1 ? "" : "s");
	return ret;
}

/* CRYPTBLK_TEST_CRASH_AT: the io being wrapped, and where to die. */
static struct {
	struct luks_io inner;
	unsigned long writes, crash_at;
	uint64_t torn_bytes;
} testfaults_crash;

static int testfaults_crash_write(void *priv, const void *buf, size_t len, uint64_t off)
{
	(void)priv;
	if (++testfaults_crash.writes == testfaults_crash.crash_at) {
		size_t n =
		    testfaults_crash.torn_bytes < len ? (size_t)testfaults_crash.torn_bytes : len;

		/* A torn write, then the end a kill -9 would bring. */
		if (n > 0)
			testfaults_crash.inner.write(testfaults_crash.inner.priv, buf, n, off);
		raise(SIGKILL);
		_exit(137); /* not reached */
	}
	return testfaults_crash.inner.write(testfaults_crash.inner.priv, buf, len, off);
}

static int testfaults_crash_sync(void *priv)
{
	(void)priv;
	return testfaults_crash.inner.sync(testfaults_crash.inner.priv);
}

int testfaults_luks_io_wrap(struct luks_io *io)
{
	const char *spec = getenv("CRYPTBLK_TEST_CRASH_AT");
	unsigned long n;
	uint64_t bytes = 0;
	char *end;

	if (!spec || !spec[0] || !io->write)
		return 0;
	errno = 0;
	n = strtoul(spec, &end, 10);
	if (!errno && end != spec && *end == ':')
		errno = luks_cli_parse_size(end + 1, &bytes) ? EINVAL : 0;
	else if (!errno && *end)
		errno = EINVAL;
	if (errno || end == spec || n == 0 || spec[0] == '-') {
		cli_error("CRYPTBLK_TEST_CRASH_AT: %s: not N[:BYTES] with N from 1", spec);
		return -EINVAL;
	}
	testfaults_crash.inner = *io;
	testfaults_crash.crash_at = n;
	testfaults_crash.torn_bytes = bytes;
	io->write = testfaults_crash_write;
	io->sync = testfaults_crash_sync;
	return 0;
}

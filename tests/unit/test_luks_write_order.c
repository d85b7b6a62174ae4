/* Interrupted writes never lose a passphrase that worked before: add-key and
 * remove-key are cut off after every possible write (the storage refuses
 * all later ones, as after a crash), and the passphrase that stays must
 * still open the volume, and every keyslot the header lists must open, for
 * LUKS2 and LUKS1. */
#include <cryptblk/luks.h>

#include <check.h>

#include "helper_check.h"
#include <json-c/json.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define IMG_SIZE (20u << 20)

struct mem_dev {
	uint8_t *data;
	int writes_left; /* -1: unlimited */
	int writes_done;
};

static int mem_read(void *priv, void *buf, size_t len, uint64_t off)
{
	struct mem_dev *m = priv;

	if (off > IMG_SIZE || len > IMG_SIZE - off)
		return -EIO;
	memcpy(buf, m->data + off, len);
	return 0;
}

static int mem_write(void *priv, const void *buf, size_t len, uint64_t off)
{
	struct mem_dev *m = priv;

	if (off > IMG_SIZE || len > IMG_SIZE - off)
		return -EIO;
	if (m->writes_left == 0)
		return -EIO;
	if (m->writes_left > 0)
		m->writes_left--;
	m->writes_done++;
	memcpy(m->data + off, buf, len);
	return 0;
}

static int mem_sync(void *priv)
{
	(void)priv;
	return 0;
}

static struct luks_io mem_io(struct mem_dev *m)
{
	struct luks_io io = {
	    .size = IMG_SIZE, .read = mem_read, .write = mem_write, .sync = mem_sync, .priv = m};
	return io;
}

static const struct luks_kdf_choice fast = {.type = LUKS_KDF_PBKDF2, .iterations = 1000};

/* Does `pass` open the image? 1 yes, 0 wrong passphrase; the header must load. */
static int opens(struct mem_dev *m, const char *pass)
{
	struct luks_io io = mem_io(m);
	struct luks_header *hdr = NULL;
	struct luks_key *key = NULL;
	struct luks_err err = {{0}};
	int slot, rc;

	rc = luks_load(&io, &hdr, &err);
	ck_assert_msg(rc == 0, "header lost: %s", err.msg);
	rc = luks_unlock(&io, hdr, pass, strlen(pass), &key, &slot, &err);
	ck_assert_msg(rc == 0 || rc == -ENOKEY, "unlock: %s", err.msg);
	luks_key_free(key);
	luks_free(hdr);
	return rc == 0;
}

/* Keyslots the loaded header lists. */
static int listed(struct mem_dev *m)
{
	struct luks_io io = mem_io(m);
	struct luks_header *hdr = NULL;
	struct luks_err err = {{0}};
	json_object *d, *slots;
	char *text = NULL;
	int n;

	ck_assert_int_eq(luks_load(&io, &hdr, &err), 0);
	ck_assert_int_eq(luks_describe(hdr, &text, &err), 0);
	d = json_tokener_parse(text);
	ck_assert(json_object_object_get_ex(d, "keyslots", &slots));
	n = (int)json_object_array_length(slots);
	json_object_put(d);
	free(text);
	luks_free(hdr);
	return n;
}

static void make_volume(struct mem_dev *m, int version, bool with_b)
{
	struct luks_format_params p = {.version = version, .key_size = 32, .kdf = fast};
	struct luks_io io;
	struct luks_header *hdr = NULL;
	struct luks_err err = {{0}};
	int slot;

	m->data = calloc(1, IMG_SIZE);
	ck_assert_ptr_nonnull(m->data);
	m->writes_left = -1;
	io = mem_io(m);
	ck_assert_int_eq(luks_format(&io, &p, "A", 1, &err), 0);
	if (with_b) {
		ck_assert_int_eq(luks_load(&io, &hdr, &err), 0);
		ck_assert_int_eq(luks_keyslot_add(&io, hdr, "A", 1, "B", 1, &fast, &slot, &err), 0);
		luks_free(hdr);
	}
}

/* Run the change with the storage cut off after `budget` writes; returns
 * the change's result. */
static int change(struct mem_dev *m, bool add, int budget)
{
	struct luks_io io = mem_io(m);
	struct luks_header *hdr = NULL;
	struct luks_err err = {{0}};
	int slot, rc;

	ck_assert_int_eq(luks_load(&io, &hdr, &err), 0);
	m->writes_left = budget;
	m->writes_done = 0;
	if (add)
		rc = luks_keyslot_add(&io, hdr, "A", 1, "B", 1, &fast, &slot, &err);
	else
		rc = luks_keyslot_remove(&io, hdr, "B", 1, &slot, &err);
	m->writes_left = -1;
	luks_free(hdr);
	return rc;
}

static void check_every_cut(int version, bool add)
{
	struct mem_dev base, m;
	int total;

	make_volume(&base, version, !add);
	m.data = malloc(IMG_SIZE);
	ck_assert_ptr_nonnull(m.data);
	memcpy(m.data, base.data, IMG_SIZE);
	ck_assert_int_eq(change(&m, add, -1), 0);
	total = m.writes_done;
	ck_assert_int_ge(total, 2);
	ck_assert_int_eq(opens(&m, "A"), 1);
	ck_assert_int_eq(opens(&m, "B"), add ? 1 : 0);
	for (int cut = 0; cut < total; cut++) {
		memcpy(m.data, base.data, IMG_SIZE);
		ck_assert_int_eq(change(&m, add, cut), -EIO);
		ck_assert_msg(opens(&m, "A"), "v%d %s cut after %d writes: A lost", version,
			      add ? "add" : "remove", cut);
		/* A keyslot the header lists always opens: material is in
		 * place before the header names it and wiped only after the
		 * header stopped naming it. */
		if (listed(&m) == 2)
			ck_assert_msg(opens(&m, "B"), "v%d %s cut after %d writes: B listed, dead",
				      version, add ? "add" : "remove", cut);
	}
	free(m.data);
	free(base.data);
}

START_TEST(test_luks2_add_key_cut_anywhere_keeps_the_old_passphrase)
{
	check_every_cut(2, true);
}
END_TEST

START_TEST(test_luks2_remove_key_cut_anywhere_keeps_the_other_passphrase)
{
	check_every_cut(2, false);
}
END_TEST

START_TEST(test_luks1_add_key_cut_anywhere_keeps_the_old_passphrase)
{
	check_every_cut(1, true);
}
END_TEST

START_TEST(test_luks1_remove_key_cut_anywhere_keeps_the_other_passphrase)
{
	check_every_cut(1, false);
}
END_TEST

START_TEST(test_luks2_removed_passphrase_is_gone_once_the_header_is_written)
{
	struct mem_dev m;

	/* Remove writes header copy 1, copy 2, then wipes the area: after
	 * both copies B must no longer open even though its material is
	 * still there. */
	make_volume(&m, 2, true);
	ck_assert_int_eq(change(&m, false, 2), -EIO);
	ck_assert_int_eq(opens(&m, "B"), 0);
	ck_assert_int_eq(opens(&m, "A"), 1);
	free(m.data);
}
END_TEST

static void add_tests(TCase *tc)
{
	tcase_add_test(tc, test_luks2_add_key_cut_anywhere_keeps_the_old_passphrase);
	tcase_add_test(tc, test_luks2_remove_key_cut_anywhere_keeps_the_other_passphrase);
	tcase_add_test(tc, test_luks1_add_key_cut_anywhere_keeps_the_old_passphrase);
	tcase_add_test(tc, test_luks1_remove_key_cut_anywhere_keeps_the_other_passphrase);
	tcase_add_test(tc, test_luks2_removed_passphrase_is_gone_once_the_header_is_written);
}

int main(void)
{
	return unit_run("luks_write_order", add_tests);
}

/* LUKS2 JSON validation: a cryptsetup-made metadata tree passes and gives
 * the expected meaning; each damaged variant is refused with an error that
 * names the field. */
#include "format/luks2_meta.h"

#include <check.h>

#include "helper_check.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define HDR_SIZE 16384
#define DEV_SIZE (20ull << 20)

/* Written by cryptsetup 2.6.1: luksFormat (argon2id, 4096-byte sectors),
 * then luksAddKey with pbkdf2. */
static const char base_json[] =
    "{\"keyslots\":{\"0\":{\"type\":\"luks2\",\"key_size\":64,\"af\":{\"type\":\"luks1\","
    "\"stripes\":4000,\"hash\":\"sha256\"},\"area\":{\"type\":\"raw\",\"offset\":\"32768\","
    "\"size\":\"258048\",\"encryption\":\"aes-xts-plain64\",\"key_size\":64},\"kdf\":{\"type\":"
    "\"argon2id\",\"time\":4,\"memory\":32,\"cpus\":1,\"salt\":"
    "\"Hu5+SkL1MVnRIBMgwTHZm9ovA2R+Dqh9vVF2QW4VzY8=\"}},\"1\":{\"type\":\"luks2\",\"key_size\":"
    "64,\"af\":{\"type\":\"luks1\",\"stripes\":4000,\"hash\":\"sha256\"},\"area\":{\"type\":"
    "\"raw\",\"offset\":\"290816\",\"size\":\"258048\",\"encryption\":\"aes-xts-plain64\","
    "\"key_size\":64},\"kdf\":{\"type\":\"pbkdf2\",\"hash\":\"sha256\",\"iterations\":1000,"
    "\"salt\":\"rgKFbARHhzFRwYY0PEc6smMoU7QgxKwHH8qYDfACrhM=\"}}},\"tokens\":{},\"segments\":{"
    "\"0\":{\"type\":\"crypt\",\"offset\":\"16777216\",\"size\":\"dynamic\",\"iv_tweak\":\"0\","
    "\"encryption\":\"aes-xts-plain64\",\"sector_size\":4096}},\"digests\":{\"0\":{\"type\":"
    "\"pbkdf2\",\"keyslots\":[\"0\",\"1\"],\"segments\":[\"0\"],\"hash\":\"sha256\","
    "\"iterations\":1000,\"salt\":\"z1P/TMSVlfmMPq6SpDG7L1z1YwM2wYaqjRdNSEG5iZ0=\",\"digest\":"
    "\"odFaioREXcNM34xOuti8TtcWqXrvNhys3cM9k2aRFdg=\"}},\"config\":{\"json_size\":\"12288\","
    "\"keyslots_size\":\"16744448\"}}";

/* Set (or delete, when value is NULL) the member at a slash path. */
static void mutate(json_object *root, const char *path, const char *value)
{
	char buf[128], *save = NULL, *part, *next;
	json_object *o = root;

	snprintf(buf, sizeof(buf), "%s", path);
	part = strtok_r(buf, "/", &save);
	while ((next = strtok_r(NULL, "/", &save))) {
		ck_assert_msg(json_object_object_get_ex(o, part, &o), "path %s", path);
		part = next;
	}
	if (value)
		json_object_object_add(o, part, json_tokener_parse(value));
	else
		json_object_object_del(o, part);
}

static int validate(json_object *root, struct luks2_meta *m, struct luks_err *err)
{
	return luks2_json_validate(root, HDR_SIZE, DEV_SIZE, m, err);
}

START_TEST(test_luks2_json_cryptsetup_metadata_validates)
{
	json_object *root = json_tokener_parse(base_json);
	struct luks2_meta *m = calloc(1, sizeof(*m));
	struct luks_err err = {{0}};

	ck_assert_int_eq(validate(root, m, &err), 0);
	ck_assert_uint_eq(m->segment.offset, 16777216);
	ck_assert(m->segment.dynamic);
	ck_assert_uint_eq(m->segment.sector_size, 4096);
	ck_assert_uint_eq(m->segment.key_size, 64);
	ck_assert_uint_eq(m->keyslots_size, 16744448);
	ck_assert(m->keyslots[0].present && m->keyslots[1].present && !m->keyslots[2].present);
	ck_assert_int_eq(m->keyslots[0].kdf.type, KDF_ARGON2ID);
	ck_assert_uint_eq(m->keyslots[0].kdf.iterations, 4);
	ck_assert_uint_eq(m->keyslots[0].kdf.memory_kib, 32);
	ck_assert_uint_eq(m->keyslots[0].kdf.salt_len, 32);
	ck_assert_int_eq(m->keyslots[1].kdf.type, KDF_PBKDF2);
	ck_assert_uint_eq(m->keyslots[1].area_offset, 290816);
	ck_assert_uint_eq(m->digests[0].keyslots, 3);
	ck_assert_uint_eq(m->digests[0].value_len, 32);
	ck_assert_int_eq(m->segment_digest, 0);
	ck_assert(!m->allow_discards);
	mutate(root, "config/flags", "[\"allow-discards\"]");
	ck_assert_int_eq(validate(root, m, &err), 0);
	ck_assert(m->allow_discards);
	json_object_put(root);
	free(m);
}
END_TEST

static const struct bad_case {
	const char *path;
	const char *value; /* NULL: delete */
	const char *message;
} bad[] = {
    {"keyslots/0/area/offset", "\"16777216\"", "luks2: keyslot 0: area outside the keyslots area"},
    {"keyslots/1/area/offset", "\"163840\"", "luks2: keyslot 1: area overlaps keyslot 0"},
    {"keyslots/0/area/size", "\"4096\"", "luks2: keyslot 0: area too small for its key material"},
    {"keyslots/0/area/offset", "\"32769\"", "luks2: keyslot 0: offset not sector aligned"},
    {"keyslots/0/area/encryption", "\"cipher_null\"",
     "luks2: keyslot 0: area: encryption 'cipher_null' unsupported"},
    {"segments/0/encryption", "\"cipher_null-ecb\"",
     "luks2: segment 0: encryption 'cipher_null-ecb' unsupported"},
    {"segments/0/encryption", "\"capi:xts(aes)-plain64\"",
     "luks2: segment 0: encryption 'capi:xts(aes)-plain64' unsupported"},
    {"segments/0/encryption", "\"serpent-xts-plain64\"",
     "luks2: segment 0: encryption 'serpent-xts-plain64' unsupported"},
    {"segments/0/offset", "\"16384\"", "luks2: segment 0: offset 16384 unaligned or inside"},
    {"segments/0/offset", "\"-1\"", "luks2: segment 0: offset '-1' not a decimal number"},
    {"segments/0/offset", "\"99999999999999999999\"",
     "luks2: segment 0: offset '99999999999999999999' not a decimal number"},
    {"segments/0/size", "\"1099511627776\"", "luks2: segment 0: data past the end of the device"},
    {"segments/0/size", "\"1000\"", "luks2: segment 0: size not a multiple of sector_size"},
    {"segments/0/sector_size", "1000", "luks2: segment 0: sector_size 1000 not a power of two"},
    {"segments/0/sector_size", "8192", "luks2: segment 0: sector_size 8192 outside 512..4096"},
    {"segments/0/flags", "[\"backup-previous\"]", "luks2: segment 0: flags unsupported"},
    {"segments/1", "{\"type\":\"crypt\"}", "luks2: segments: 2 segments; exactly one"},
    {"segments/0", NULL, "luks2: segments: 0 segments; exactly one"},
    {"config/json_size", "\"4096\"", "luks2: config: json_size 4096 does not match hdr_size 16384"},
    {"config/keyslots_size", "\"1099511627776\"",
     "luks2: config: keyslots_size 1099511627776 not a multiple"},
    {"config/keyslots_size", "\"20971520\"",
     "luks2: config: keyslots_size: metadata area ends past the device"},
    {"config/requirements", "{\"mandatory\":[\"online-reencrypt\"]}",
     "luks2: config: requirements.mandatory unsupported"},
    {"config", NULL, "luks2: metadata: config missing"},
    {"keyslots/0/kdf/memory", "99999999",
     "luks2: keyslot 0: kdf: memory 99999999 outside 8..4194304"},
    {"keyslots/0/kdf/cpus", "0", "luks2: keyslot 0: kdf: cpus 0 outside 1..16"},
    {"keyslots/0/kdf/type", "\"scrypt\"", "luks2: keyslot 0: kdf: type 'scrypt' unsupported"},
    {"keyslots/0/kdf/salt", "\"!!!!\"", "luks2: keyslot 0: kdf: salt not base64"},
    {"keyslots/1/kdf/iterations", "0", "luks2: keyslot 1: kdf: iterations 0 outside 1..2147483647"},
    {"keyslots/1/kdf/hash", "\"md5\"", "luks2: keyslot 1: kdf: hash 'md5' unsupported"},
    {"keyslots/0/af/stripes", "3999", "luks2: keyslot 0: af: stripes 3999 outside 4000..4000"},
    {"keyslots/0/key_size", "65", "luks2: keyslot 0: key_size 65 outside 1..64"},
    {"keyslots/0/key_size", "\"64\"", "luks2: keyslot 0: key_size has the wrong type"},
    {"keyslots/0/type", NULL, "luks2: keyslot 0: type missing"},
    {"keyslots/0/type", "\"reencrypt\"", "luks2: keyslot 0: type 'reencrypt' unsupported"},
    {"keyslots/abc", "{}", "luks2: keyslots: id 'abc' not a number below 32"},
    {"keyslots/32", "{}", "luks2: keyslots: id '32' not a number below 32"},
    {"digests/0/keyslots", "[\"5\"]", "luks2: digest 0: keyslot 5 missing"},
    {"digests/0/digest", "\"AAAA\"", "luks2: digest 0: digest length 3 is not sha256's"},
    {"digests/0/segments", "[]", "luks2: segment 0: no digest"},
    {"digests/1",
     "{\"type\":\"pbkdf2\",\"keyslots\":[\"1\"],\"segments\":[],\"hash\":\"sha256\","
     "\"iterations\":1000,\"salt\":\"AAAA\",\"digest\":"
     "\"odFaioREXcNM34xOuti8TtcWqXrvNhys3cM9k2aRFdg=\"}",
     "luks2: keyslot 1: bound to digests 0 and 1"},
    {"tokens/0", "{\"type\":\"x\",\"keyslots\":[\"9\"]}", "luks2: token 0: keyslot 9 missing"},
    {"tokens/0", "{\"keyslots\":[]}", "luks2: token 0: type missing"},
};

START_TEST(test_luks2_json_damaged_field_is_named)
{
	json_object *root = json_tokener_parse(base_json);
	struct luks2_meta *m = calloc(1, sizeof(*m));
	struct luks_err err = {{0}};
	int rc;

	mutate(root, bad[_i].path, bad[_i].value);
	rc = validate(root, m, &err);
	ck_assert_msg(rc < 0, "%s accepted", bad[_i].path);
	ck_assert_msg(!strncmp(err.msg, bad[_i].message, strlen(bad[_i].message)),
		      "%s: got '%s', want '%s'", bad[_i].path, err.msg, bad[_i].message);
	json_object_put(root);
	free(m);
}
END_TEST

START_TEST(test_luks2_json_metadata_area_must_fit_the_device)
{
	json_object *root = json_tokener_parse(base_json);
	struct luks2_meta *m = calloc(1, sizeof(*m));
	struct luks_err err = {{0}};

	ck_assert_int_eq(luks2_json_validate(root, HDR_SIZE, 8 << 20, m, &err), -EINVAL);
	ck_assert_str_eq(err.msg,
			 "luks2: config: keyslots_size: metadata area ends past the device");
	json_object_put(root);
	free(m);
}
END_TEST

START_TEST(test_luks2_json_decimal_strings_are_strict)
{
	uint64_t v;

	ck_assert_int_eq(luks2_json_u64_parse("0", &v), 0);
	ck_assert_uint_eq(v, 0);
	ck_assert_int_eq(luks2_json_u64_parse("18446744073709551615", &v), 0);
	ck_assert_uint_eq(v, UINT64_MAX);
	ck_assert_int_eq(luks2_json_u64_parse("18446744073709551616", &v), -ERANGE);
	ck_assert_int_eq(luks2_json_u64_parse("", &v), -EINVAL);
	ck_assert_int_eq(luks2_json_u64_parse("012", &v), -EINVAL);
	ck_assert_int_eq(luks2_json_u64_parse("+1", &v), -EINVAL);
	ck_assert_int_eq(luks2_json_u64_parse("1 ", &v), -EINVAL);
	ck_assert_int_eq(luks2_json_u64_parse("0x10", &v), -EINVAL);
}
END_TEST

static void add_tests(TCase *tc)
{
	tcase_add_test(tc, test_luks2_json_cryptsetup_metadata_validates);
	tcase_add_loop_test(tc, test_luks2_json_damaged_field_is_named, 0,
			    sizeof(bad) / sizeof(bad[0]));
	tcase_add_test(tc, test_luks2_json_metadata_area_must_fit_the_device);
	tcase_add_test(tc, test_luks2_json_decimal_strings_are_strict);
}

int main(void)
{
	return unit_run("luks2_json", add_tests);
}

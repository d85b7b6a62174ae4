/* IEEE 1619-2007 (XTS-AES) Annex B test vectors through both CPU engines.
 *
 * A vector's "data unit sequence number" is the XTS tweak, which is what a
 * job's IV is: sector i of a job uses crypto_job_sector_iv(job, i). Vectors
 * with 512-byte data units are one 512-byte sector whose IV is the DUSN.
 * Vectors 2 and 3 have 32-byte data units; XTS treats every 16-byte block
 * of a data unit on its own (tweak times alpha^j, no chaining, and no
 * ciphertext stealing for whole blocks), so they are the first 32 bytes of a
 * 512-byte sector with that IV. Every vector is checked in both directions.
 */
#include <cryptblk/crypto.h>

#include <check.h>

#include "helper_check.h"
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* CRYPTBLK_TEST_ENGINE adds one more spec (the VFIO kernel test runs the
 * vectors through "virtio:ADDR" that way). */
static const char *engine_specs[3] = {"openssl", "threads:2"};
static unsigned nr_engines = 2;
#define NR_ENGINES nr_engines

/* The AES-128 keys of vectors 4-9 and the AES-256 keys of vectors 10-14. */
static const char key128[] = "27182818284590452353602874713526"
			     "31415926535897932384626433832795";
static const char key256[] = "2718281828459045235360287471352662497757247093699959574966967627"
			     "3141592653589793238462643383279502884197169399375105820974944592";
static const char fill44[] = "4444444444444444444444444444444444444444444444444444444444444444";

/* Ciphertexts from Annex B, vectors 2-6 and 10-14. */
static const char vec02_ctx[] = "c454185e6a16936e39334038acef838bfb186fff7480adc4289382ecd6d394f0";

static const char vec03_ctx[] = "af85336b597afc1a900b2eb21ec949d292df4c047e0b21532186a5971a227a89";

static const char vec04_ctx[] = "27a7479befa1d476489f308cd4cfa6e2a96e4bbe3208ff25287dd3819616e89c"
				"c78cf7f5e543445f8333d8fa7f56000005279fa5d8b5e4ad40e736ddb4d35412"
				"328063fd2aab53e5ea1e0a9f332500a5df9487d07a5c92cc512c8866c7e860ce"
				"93fdf166a24912b422976146ae20ce846bb7dc9ba94a767aaef20c0d61ad0265"
				"5ea92dc4c4e41a8952c651d33174be51a10c421110e6d81588ede82103a252d8"
				"a750e8768defffed9122810aaeb99f9172af82b604dc4b8e51bcb08235a6f434"
				"1332e4ca60482a4ba1a03b3e65008fc5da76b70bf1690db4eae29c5f1badd03c"
				"5ccf2a55d705ddcd86d449511ceb7ec30bf12b1fa35b913f9f747a8afd1b130e"
				"94bff94effd01a91735ca1726acd0b197c4e5b03393697e126826fb6bbde8ecc"
				"1e08298516e2c9ed03ff3c1b7860f6de76d4cecd94c8119855ef5297ca67e9f3"
				"e7ff72b1e99785ca0a7e7720c5b36dc6d72cac9574c8cbbc2f801e23e56fd344"
				"b07f22154beba0f08ce8891e643ed995c94d9a69c9f1b5f499027a78572aeebd"
				"74d20cc39881c213ee770b1010e4bea718846977ae119f7a023ab58cca0ad752"
				"afe656bb3c17256a9f6e9bf19fdd5a38fc82bbe872c5539edb609ef4f79c203e"
				"bb140f2e583cb2ad15b4aa5b655016a8449277dbd477ef2c8d6c017db738b18d"
				"eb4a427d1923ce3ff262735779a418f20a282df920147beabe421ee5319d0568";

static const char vec05_ctx[] = "264d3ca8512194fec312c8c9891f279fefdd608d0c027b60483a3fa811d65ee5"
				"9d52d9e40ec5672d81532b38b6b089ce951f0f9c35590b8b978d175213f329bb"
				"1c2fd30f2f7f30492a61a532a79f51d36f5e31a7c9a12c286082ff7d2394d18f"
				"783e1a8e72c722caaaa52d8f065657d2631fd25bfd8e5baad6e527d763517501"
				"c68c5edc3cdd55435c532d7125c8614deed9adaa3acade5888b87bef641c4c99"
				"4c8091b5bcd387f3963fb5bc37aa922fbfe3df4e5b915e6eb514717bdd2a7407"
				"9a5073f5c4bfd46adf7d282e7a393a52579d11a028da4d9cd9c77124f9648ee3"
				"83b1ac763930e7162a8d37f350b2f74b8472cf09902063c6b32e8c2d9290cefb"
				"d7346d1c779a0df50edcde4531da07b099c638e83a755944df2aef1aa31752fd"
				"323dcb710fb4bfbb9d22b925bc3577e1b8949e729a90bbafeacf7f7879e7b114"
				"7e28ba0bae940db795a61b15ecf4df8db07b824bb062802cc98a9545bb2aaeed"
				"77cb3fc6db15dcd7d80d7d5bc406c4970a3478ada8899b329198eb61c193fb62"
				"75aa8ca340344a75a862aebe92eee1ce032fd950b47d7704a3876923b4ad6284"
				"4bf4a09c4dbe8b4397184b7471360c9564880aedddb9baa4af2e75394b08cd32"
				"ff479c57a07d3eab5d54de5f9738b8d27f27a9f0ab11799d7b7ffefb2704c95c"
				"6ad12c39f1e867a4b7b1d7818a4b753dfd2a89ccb45e001a03a867b187f225dd";

static const char vec06_ctx[] = "fa762a3680b76007928ed4a4f49a9456031b704782e65e16cecb54ed7d017b5e"
				"18abd67b338e81078f21edb7868d901ebe9c731a7c18b5e6dec1d6a72e078ac9"
				"a4262f860beefa14f4e821018272e411a951502b6e79066e84252c3346f3aa62"
				"344351a291d4bedc7a07618bdea2af63145cc7a4b8d4070691ae890cd65733e7"
				"946e9021a1dffc4c59f159425ee6d50ca9b135fa6162cea18a939838dc000fb3"
				"86fad086acce5ac07cb2ece7fd580b00cfa5e98589631dc25e8e2a3daf2ffdec"
				"26531659912c9d8f7a15e5865ea8fb5816d6207052bd7128cd743c12c8118791"
				"a4736811935eb982a532349e31dd401e0b660a568cb1a4711f552f55ded59f1f"
				"15bf7196b3ca12a91e488ef59d64f3a02bf45239499ac6176ae321c4a211ec54"
				"5365971c5d3f4f09d4eb139bfdf2073d33180b21002b65cc9865e76cb24cd92c"
				"874c24c18350399a936ab3637079295d76c417776b94efce3a0ef7206b151105"
				"19655c956cbd8b2489405ee2b09a6b6eebe0c53790a12a8998378b33a5b71159"
				"625f4ba49d2a2fdba59fbf0897bc7aabd8d707dc140a80f0f309f835d3da54ab"
				"584e501dfa0ee977fec543f74186a802b9a37adb3e8291eca04d66520d229e60"
				"401e7282bef486ae059aa70696e0e305d777140a7a883ecdcb69b9ff938e8a42"
				"31864c69ca2c2043bed007ff3e605e014bcf518138dc3a25c5e236171a2d01d6";

static const char vec10_ctx[] = "1c3b3a102f770386e4836c99e370cf9bea00803f5e482357a4ae12d414a3e63b"
				"5d31e276f8fe4a8d66b317f9ac683f44680a86ac35adfc3345befecb4bb188fd"
				"5776926c49a3095eb108fd1098baec70aaa66999a72a82f27d848b21d4a741b0"
				"c5cd4d5fff9dac89aeba122961d03a757123e9870f8acf1000020887891429ca"
				"2a3e7a7d7df7b10355165c8b9a6d0a7de8b062c4500dc4cd120c0f7418dae3d0"
				"b5781c34803fa75421c790dfe1de1834f280d7667b327f6c8cd7557e12ac3a0f"
				"93ec05c52e0493ef31a12d3d9260f79a289d6a379bc70c50841473d1a8cc81ec"
				"583e9645e07b8d9670655ba5bbcfecc6dc3966380ad8fecb17b6ba02469a020a"
				"84e18e8f84252070c13e9f1f289be54fbc481457778f616015e1327a02b140f1"
				"505eb309326d68378f8374595c849d84f4c333ec4423885143cb47bd71c5edae"
				"9be69a2ffeceb1bec9de244fbe15992b11b77c040f12bd8f6a975a44a0f90c29"
				"a9abc3d4d893927284c58754cce294529f8614dcd2aba991925fedc4ae74ffac"
				"6e333b93eb4aff0479da9a410e4450e0dd7ae4c6e2910900575da401fc07059f"
				"645e8b7e9bfdef33943054ff84011493c27b3429eaedb4ed5376441a77ed4385"
				"1ad77f16f541dfd269d50d6a5f14fb0aab1cbb4c1550be97f7ab4066193c4caa"
				"773dad38014bd2092fa755c824bb5e54c4f36ffda9fcea70b9c6e693e148c151";

static const char vec11_ctx[] = "77a31251618a15e6b92d1d66dffe7b50b50bad552305ba0217a610688eff7e11"
				"e1d0225438e093242d6db274fde801d4cae06f2092c728b2478559df58e837c2"
				"469ee4a4fa794e4bbc7f39bc026e3cb72c33b0888f25b4acf56a2a9804f1ce6d"
				"3d6e1dc6ca181d4b546179d55544aa7760c40d06741539c7e3cd9d2f6650b201"
				"3fd0eeb8c2b8e3d8d240ccae2d4c98320a7442e1c8d75a42d6e6cfa4c2eca179"
				"8d158c7aecdf82490f24bb9b38e108bcda12c3faf9a21141c3613b58367f922a"
				"aa26cd22f23d708dae699ad7cb40a8ad0b6e2784973dcb605684c08b8d6998c6"
				"9aac049921871ebb65301a4619ca80ecb485a31d744223ce8ddc2394828d6a80"
				"470c092f5ba413c3378fa6054255c6f9df4495862bbb3287681f931b687c888a"
				"bf844dfc8fc28331e579928cd12bd2390ae123cf03818d14dedde5c0c24c8ab0"
				"18bfca75ca096f2d531f3d1619e785f1ada437cab92e980558b3dce1474afb75"
				"bfedbf8ff54cb2618e0244c9ac0d3c66fb51598cd2db11f9be39791abe447c63"
				"094f7c453b7ff87cb5bb36b7c79efb0872d17058b83b15ab0866ad8a58656c5a"
				"7e20dbdf308b2461d97c0ec0024a2715055249cf3b478ddd4740de654f75ca68"
				"6e0d7345c69ed50cdc2a8b332b1f8824108ac937eb050585608ee734097fc090"
				"54fbff89eeaeea791f4a7ab1f9868294a4f9e27b42af8100cb9d59cef9645803";

static const char vec12_ctx[] = "e387aaa58ba483afa7e8eb469778317ecf4cf573aa9d4eac23f2cdf914e4e200"
				"a8b490e42ee646802dc6ee2b471b278195d60918ececb44bf79966f83faba049"
				"9298ebc699c0c8634715a320bb4f075d622e74c8c932004f25b41e361025b5a8"
				"7815391f6108fc4afa6a05d9303c6ba68a128a55705d415985832fdeaae6c8e1"
				"9110e84d1b1f199a2692119edc96132658f09da7c623efcec712537a3d94c0bf"
				"5d7e352ec94ae5797fdb377dc1551150721adf15bd26a8efc2fcaad56881fa9e"
				"62462c28f30ae1ceaca93c345cf243b73f542e2074a705bd2643bb9f7cc79bb6"
				"e7091ea6e232df0f9ad0d6cf502327876d82207abf2115cdacf6d5a48f6c1879"
				"a65b115f0f8b3cb3c59d15dd8c769bc014795a1837f3901b5845eb491adfefe0"
				"97b1fa30a12fc1f65ba22905031539971a10f2f36c321bb51331cdefb39e3964"
				"c7ef079994f5b69b2edd83a71ef549971ee93f44eac3938fcdd61d01fa71799d"
				"a3a8091c4c48aa9ed263ff0749df95d44fef6a0bb578ec69456aa5408ae32c7a"
				"f08ad7ba8921287e3bbee31b767be06a0e705c864a769137df28292283ea81a2"
				"480241b44d9921cdbec1bc28dc1fda114bd8e5217ac9d8ebafa720e9da4f9ace"
				"231cc949e5b96fe76ffc21063fddc83a6b8679c00d35e09576a875305bed5f36"
				"ed242c8900dd1fa965bc950dfce09b132263a1eef52dd6888c309f5a7d712826";

static const char vec13_ctx[] = "bf53d2dade78e822a4d949a9bc6766b01b06a8ef70d26748c6a7fc36d80ae4c5"
				"520f7c4ab0ac8544424fa405162fef5a6b7f229498063618d39f0003cb5fb8d1"
				"c86b643497da1ff945c8d3bedeca4f479702a7a735f043ddb1d6aaade3c4a0ac"
				"7ca7f3fa5279bef56f82cd7a2f38672e824814e10700300a055e1630b8f1cb0e"
				"919f5e942010a416e2bf48cb46993d3cb6a51c19bacf864785a00bc2ecff15d3"
				"50875b246ed53e68be6f55bd7e05cfc2b2ed6432198a6444b6d8c247fab941f5"
				"69768b5c429366f1d3f00f0345b96123d56204c01c63b22ce78baf116e525ed9"
				"0fdea39fa469494d3866c31e05f295ff21fea8d4e6e13d67e47ce722e9698a1c"
				"1048d68ebcde76b86fcf976eab8aa9790268b7068e017a8b9b749409514f1053"
				"027fd16c3786ea1bac5f15cb79711ee2abe82f5cf8b13ae73030ef5b9e4457e7"
				"5d1304f988d62dd6fc4b94ed38ba831da4b7634971b6cd8ec325d9c61c00f1df"
				"73627ed3745a5e8489f3a95c69639c32cd6e1d537a85f75cc844726e8a72fc00"
				"77ad22000f1d5078f6b866318c668f1ad03d5a5fced5219f2eabbd0aa5c0f460"
				"d183f04404a0d6f469558e81fab24a167905ab4c7878502ad3e38fdbe62a4155"
				"6cec37325759533ce8f25f367c87bb5578d667ae93f9e2fd99bcbc5f2fbba88c"
				"f6516139420fcff3b7361d86322c4bd84c82f335abb152c4a93411373aaa8220";

static const char vec14_ctx[] = "64497e5a831e4a932c09be3e5393376daa599548b816031d224bbf50a818ed23"
				"50eae7e96087c8a0db51ad290bd00c1ac1620857635bf246c176ab463be30b80"
				"8da548081ac847b158e1264be25bb0910bbc92647108089415d45fab1b3d2604"
				"e8a8eff1ae4020cfa39936b66827b23f371b92200be90251e6d73c5f86de5fd4"
				"a950781933d79a28272b782a2ec313efdfcc0628f43d744c2dc2ff3dcb66999b"
				"50c7ca895b0c64791eeaa5f29499fb1c026f84ce5b5c72ba1083cddb5ce45434"
				"631665c333b60b11593fb253c5179a2c8db813782a004856a1653011e93fb6d8"
				"76c18366dd8683f53412c0c180f9c848592d593f8609ca736317d356e13e2bff"
				"3a9f59cd9aeb19cd482593d8c46128bb32423b37a9adfb482b99453fbe25a41b"
				"f6feb4aa0bef5ed24bf73c762978025482c13115e4015aac992e5613a3b5c2f6"
				"85b84795cb6e9b2656d8c88157e52c42f978d8634c43d06fea928f2822e465aa"
				"6576e9bf419384506cc3ce3c54ac1a6f67dc66f3b30191e698380bc999b05abc"
				"e19dc0c6dcc2dd001ec535ba18deb2df1a101023108318c75dc98611a09dc48a"
				"0acdec676fabdf222f07e026f059b672b56e5cbc8e1d21bbd867dd9272120546"
				"81d70ea737134cdfce93b6f82ae22423274e58a0821cc5502e2d0ab4585e94de"
				"6975be5e0b4efce51cd3e70c25a1fbbbd609d273ad5b0d59631c531f6a0a57b9";

struct xts_vector {
	const char *key; /* Key1 || Key2 */
	uint64_t dusn;
	const char *ptx; /* NULL: bytes 00..ff twice, the 512-byte pattern */
	const char *ctx;
};

static const struct xts_vector vec02 = {"11111111111111111111111111111111"
					"22222222222222222222222222222222",
					0x3333333333, fill44, vec02_ctx};
static const struct xts_vector vec03 = {"fffefdfcfbfaf9f8f7f6f5f4f3f2f1f0"
					"22222222222222222222222222222222",
					0x3333333333, fill44, vec03_ctx};
static const struct xts_vector vec04 = {key128, 0, NULL, vec04_ctx};
static const struct xts_vector vec05 = {key128, 1, vec04_ctx, vec05_ctx};
static const struct xts_vector vec06 = {key128, 2, vec05_ctx, vec06_ctx};
static const struct xts_vector vec10 = {key256, 0xff, NULL, vec10_ctx};
static const struct xts_vector vec11 = {key256, 0xffff, NULL, vec11_ctx};
static const struct xts_vector vec12 = {key256, 0xffffff, NULL, vec12_ctx};
static const struct xts_vector vec13 = {key256, 0xffffffff, NULL, vec13_ctx};
static const struct xts_vector vec14 = {key256, 0xffffffffff, NULL, vec14_ctx};

static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
	size_t n = strlen(hex) / 2;

	ck_assert_uint_le(n, cap);
	for (size_t i = 0; i < n; i++) {
		char byte[3] = {hex[2 * i], hex[2 * i + 1], 0};
		out[i] = (uint8_t)strtoul(byte, NULL, 16);
	}
	return n;
}

static size_t vector_ptx(const struct xts_vector *v, uint8_t *out)
{
	if (v->ptx)
		return unhex(v->ptx, out, 512);
	for (unsigned i = 0; i < 512; i++)
		out[i] = (uint8_t)i;
	return 512;
}

static struct crypto_engine *engine_open_keyed(const char *spec, const char *key_hex)
{
	struct crypto_engine *e;
	uint8_t key[64];
	size_t key_len = unhex(key_hex, key, sizeof(key));

	ck_assert_int_eq(crypto_engine_open(spec, &e), 0);
	ck_assert_int_eq(crypto_engine_set_key(e, 0, key, key_len), 0);
	return e;
}

/* Runs one job through the engine's own submit and complete, waiting on its
 * signal fd (if it has one) instead of spinning. */
static void engine_run_job(struct crypto_engine *e, struct crypto_job *job)
{
	int fd = e->ops->signal_fd ? e->ops->signal_fd(e) : -1;
	struct crypto_job *list;

	job->result = 1;
	ck_assert_int_eq(e->ops->submit(e, job), 0);
	while ((list = e->ops->complete(e)) == NULL) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		uint64_t count;

		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(poll(&p, 1, 10000), 1);
		ck_assert_int_eq(read(fd, &count, sizeof(count)), (int)sizeof(count));
	}
	ck_assert_ptr_eq(list, job);
	ck_assert_ptr_null(list->next);
	ck_assert_int_eq(job->result, 0);
}

static void vector_check_on(const char *spec, const struct xts_vector *v)
{
	struct crypto_engine *e = engine_open_keyed(spec, v->key);
	uint8_t ptx[512], ctx[512], sector[512], out[512];
	size_t len = vector_ptx(v, ptx);
	struct crypto_job job = {.iv = v->dusn, .sector_size = 512, .nr_sectors = 1, .key_slot = 0};

	ck_assert_uint_eq(unhex(v->ctx, ctx, sizeof(ctx)), len);

	/* Encrypt out of place. */
	memset(sector, 0, sizeof(sector));
	memcpy(sector, ptx, len);
	memset(out, 0xa5, sizeof(out));
	job.src = sector;
	job.dst = out;
	job.dir = CRYPTO_ENCRYPT;
	engine_run_job(e, &job);
	ck_assert_msg(memcmp(out, ctx, len) == 0, "%s: ciphertext differs from the vector", spec);

	/* Decrypt in place. */
	memset(sector, 0x5a, sizeof(sector));
	memcpy(sector, ctx, len);
	job.src = job.dst = sector;
	job.dir = CRYPTO_DECRYPT;
	engine_run_job(e, &job);
	ck_assert_msg(memcmp(sector, ptx, len) == 0, "%s: plaintext differs from the vector", spec);

	crypto_engine_close(e);
}

static void vector_check(const struct xts_vector *v)
{
	for (unsigned i = 0; i < NR_ENGINES; i++)
		vector_check_on(engine_specs[i], v);
}

/* Vector 1 has Key1 == Key2 (all zero). XTS needs independent halves and
 * OpenSSL refuses to encrypt with equal ones, so the engines refuse the key
 * and the slot stays unkeyed. */
START_TEST(test_ieee1619_vector_01_equal_key_halves_refused)
{
	for (unsigned i = 0; i < NR_ENGINES; i++) {
		struct crypto_engine *e;
		uint8_t key[32] = {0}, buf[512] = {0};
		struct crypto_job job = {.src = buf,
					 .dst = buf,
					 .sector_size = 512,
					 .nr_sectors = 1,
					 .dir = CRYPTO_ENCRYPT};

		ck_assert_int_eq(crypto_engine_open(engine_specs[i], &e), 0);
		ck_assert_int_eq(crypto_engine_set_key(e, 0, key, sizeof(key)), -EINVAL);
		ck_assert_int_eq(e->ops->submit(e, &job), -ENOKEY);
		crypto_engine_close(e);
	}
}
END_TEST

START_TEST(test_ieee1619_vector_02_aes128_32_byte_unit)
{
	vector_check(&vec02);
}
END_TEST

START_TEST(test_ieee1619_vector_03_aes128_32_byte_unit)
{
	vector_check(&vec03);
}
END_TEST

START_TEST(test_ieee1619_vector_04_aes128_512_byte_unit)
{
	vector_check(&vec04);
}
END_TEST

START_TEST(test_ieee1619_vector_05_aes128_512_byte_unit)
{
	vector_check(&vec05);
}
END_TEST

START_TEST(test_ieee1619_vector_06_aes128_512_byte_unit)
{
	vector_check(&vec06);
}
END_TEST

START_TEST(test_ieee1619_vector_10_aes256_512_byte_unit)
{
	vector_check(&vec10);
}
END_TEST

START_TEST(test_ieee1619_vector_11_aes256_512_byte_unit)
{
	vector_check(&vec11);
}
END_TEST

START_TEST(test_ieee1619_vector_12_aes256_512_byte_unit)
{
	vector_check(&vec12);
}
END_TEST

START_TEST(test_ieee1619_vector_13_aes256_512_byte_unit)
{
	vector_check(&vec13);
}
END_TEST

START_TEST(test_ieee1619_vector_14_aes256_512_byte_unit)
{
	vector_check(&vec14);
}
END_TEST

/* Vectors 4, 5 and 6 are data units 0, 1 and 2 under one key: one job of
 * three 512-byte sectors starting at IV 0 must produce all three. */
START_TEST(test_ieee1619_vectors_04_to_06_as_one_three_sector_job)
{
	uint8_t ptx[3 * 512], ctx[3 * 512], out[3 * 512];

	vector_ptx(&vec04, ptx);
	unhex(vec04_ctx, ptx + 512, 512);
	unhex(vec05_ctx, ptx + 1024, 512);
	unhex(vec04_ctx, ctx, 512);
	unhex(vec05_ctx, ctx + 512, 512);
	unhex(vec06_ctx, ctx + 1024, 512);
	for (unsigned i = 0; i < NR_ENGINES; i++) {
		struct crypto_engine *e = engine_open_keyed(engine_specs[i], key128);
		struct crypto_job job = {.src = ptx,
					 .dst = out,
					 .iv = 0,
					 .sector_size = 512,
					 .nr_sectors = 3,
					 .dir = CRYPTO_ENCRYPT};

		engine_run_job(e, &job);
		ck_assert_mem_eq(out, ctx, sizeof(ctx));
		job.src = job.dst = out;
		job.dir = CRYPTO_DECRYPT;
		engine_run_job(e, &job);
		ck_assert_mem_eq(out, ptx, sizeof(ptx));
		crypto_engine_close(e);
	}
}
END_TEST

/* A 4096-byte sector is one XTS data unit whose first 512 bytes encrypt
 * like a 512-byte unit with the same tweak. With plain64 the IV of sector k
 * is iv + 8k, so vector 10 (DUSN 0xff) is the head of sector 2 of a job
 * starting at IV 0xef; with large sectors (iv + k) of one starting at 0xfd. */
static void vector10_in_4096_job(uint64_t first_iv, uint16_t flags)
{
	uint8_t *buf = malloc(3 * 4096), ctx[512];

	ck_assert_ptr_nonnull(buf);
	unhex(vec10_ctx, ctx, sizeof(ctx));
	for (unsigned i = 0; i < NR_ENGINES; i++) {
		struct crypto_engine *e = engine_open_keyed(engine_specs[i], key256);
		struct crypto_job job = {.src = buf,
					 .dst = buf,
					 .iv = first_iv,
					 .sector_size = 4096,
					 .nr_sectors = 3,
					 .flags = flags,
					 .dir = CRYPTO_ENCRYPT};

		memset(buf, 0x77, 3 * 4096);
		vector_ptx(&vec10, buf + 2 * 4096);
		engine_run_job(e, &job);
		ck_assert_msg(memcmp(buf + 2 * 4096, ctx, sizeof(ctx)) == 0,
			      "%s: sector 2 did not use IV 0xff", engine_specs[i]);
		crypto_engine_close(e);
	}
	free(buf);
}

START_TEST(test_ieee1619_vector_10_is_sector_2_of_a_4096_job_at_iv_ef)
{
	vector10_in_4096_job(0xef, 0);
}
END_TEST

START_TEST(test_ieee1619_vector_10_is_sector_2_of_a_large_sectors_job_at_iv_fd)
{
	vector10_in_4096_job(0xfd, CRYPTO_JOB_IV_LARGE_SECTORS);
}
END_TEST

static void add_tests(TCase *tc)
{
	tcase_add_test(tc, test_ieee1619_vector_01_equal_key_halves_refused);
	tcase_add_test(tc, test_ieee1619_vector_02_aes128_32_byte_unit);
	tcase_add_test(tc, test_ieee1619_vector_03_aes128_32_byte_unit);
	tcase_add_test(tc, test_ieee1619_vector_04_aes128_512_byte_unit);
	tcase_add_test(tc, test_ieee1619_vector_05_aes128_512_byte_unit);
	tcase_add_test(tc, test_ieee1619_vector_06_aes128_512_byte_unit);
	tcase_add_test(tc, test_ieee1619_vector_10_aes256_512_byte_unit);
	tcase_add_test(tc, test_ieee1619_vector_11_aes256_512_byte_unit);
	tcase_add_test(tc, test_ieee1619_vector_12_aes256_512_byte_unit);
	tcase_add_test(tc, test_ieee1619_vector_13_aes256_512_byte_unit);
	tcase_add_test(tc, test_ieee1619_vector_14_aes256_512_byte_unit);
	tcase_add_test(tc, test_ieee1619_vectors_04_to_06_as_one_three_sector_job);
	tcase_add_test(tc, test_ieee1619_vector_10_is_sector_2_of_a_4096_job_at_iv_ef);
	tcase_add_test(tc, test_ieee1619_vector_10_is_sector_2_of_a_large_sectors_job_at_iv_fd);
}

int main(void)
{
	const char *extra = getenv("CRYPTBLK_TEST_ENGINE");

	if (extra && *extra)
		engine_specs[nr_engines++] = extra;
	return unit_run("crypto_vectors", add_tests);
}

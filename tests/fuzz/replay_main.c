/* A plain main for the fuzz targets: run LLVMFuzzerTestOneInput once over
 * every file named, or found in the directories named. The normal builds
 * (gcc, with and without sanitizers) use it to replay the seed corpus and
 * the regression inputs; libFuzzer is not needed. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long len;
	int rc = -EIO;

	if (!f) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -errno;
	}
	if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
		buf = malloc(len ? (size_t)len : 1);
		if (buf && fread(buf, 1, (size_t)len, f) == (size_t)len) {
			LLVMFuzzerTestOneInput(buf, (size_t)len);
			rc = 0;
		}
	}
	if (rc)
		fprintf(stderr, "replay: %s: could not be read\n", path);
	free(buf);
	fclose(f);
	return rc;
}

/* Every regular file directly in `dir`; *count grows by the files run. */
static int replay_dir(const char *dir, unsigned *count)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[4096];
	struct stat st;
	int rc = 0;

	if (!d) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -errno;
	}
	while (rc == 0 && (e = readdir(d))) {
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (e->d_name[0] == '.' || stat(path, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		rc = replay_file(path);
		if (rc == 0)
			(*count)++;
	}
	closedir(d);
	return rc;
}

int main(int argc, char **argv)
{
	unsigned count = 0;
	struct stat st;
	int rc = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc && rc == 0; i++) {
		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
			rc = 1;
		} else if (S_ISDIR(st.st_mode)) {
			rc = replay_dir(argv[i], &count) ? 1 : 0;
		} else {
			rc = replay_file(argv[i]) ? 1 : 0;
			count += rc == 0;
		}
	}
	if (rc == 0 && count == 0) {
		fprintf(stderr, "replay: no inputs found\n");
		rc = 1;
	}
	if (rc == 0)
		printf("replay: %u inputs ran without a crash\n", count);
	return rc;
}

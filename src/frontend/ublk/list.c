/* The ublk devices of this host: /sys/class/ublk-char names them,
 * GET_DEV_INFO on /dev/ublk-control tells state, server pid, queues and
 * flags (for a privileged caller), sysfs the size of /dev/ublkbN. */
#include "ublk_int.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UBLK_CHAR_CLASS "/sys/class/ublk-char"

const char *ublk_state_name(int state)
{
	switch (state) {
	case UBLK_S_DEV_DEAD:
		return "dead";
	case UBLK_S_DEV_LIVE:
		return "live";
	case UBLK_S_DEV_QUIESCED:
		return "quiesced";
	case UBLK_S_DEV_FAIL_IO:
		return "fail-io";
	default:
		return "unknown";
	}
}

/* The first line of a small text file, without its newline. */
static int ublk_read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");
	int ret = 0;

	if (!f)
		return -errno;
	if (!fgets(buf, (int)len, f))
		ret = -EIO;
	else
		buf[strcspn(buf, "\n")] = '\0';
	fclose(f);
	return ret;
}

static void ublk_entry_fill_sysfs(struct ublk_dev_entry *e)
{
	char path[96], line[64];

	snprintf(path, sizeof(path), "/sys/block/ublkb%d/size", e->dev_id);
	if (ublk_read_line(path, line, sizeof(line)) == 0)
		e->size = strtoull(line, NULL, 10) * 512;
	snprintf(path, sizeof(path), "/sys/block/ublkb%d/queue/logical_block_size", e->dev_id);
	if (ublk_read_line(path, line, sizeof(line)) == 0)
		e->block_size = (uint32_t)strtoul(line, NULL, 10);
}

static void ublk_entry_fill_info(struct ublk_ctrl *ctrl, struct ublk_dev_entry *e)
{
	struct ublksrv_ctrl_dev_info info;
	char path[64];

	e->state = -1;
	e->pid = 0;
	if (!ctrl || ublk_ctrl_get_dev_info(ctrl, (uint32_t)e->dev_id, &info) < 0)
		return;
	e->info_known = true;
	e->state = info.state;
	e->pid = info.ublksrv_pid;
	e->queues = info.nr_hw_queues;
	e->depth = info.queue_depth;
	e->flags = info.flags;
	if (e->pid > 0) {
		snprintf(path, sizeof(path), "/proc/%d/comm", e->pid);
		if (ublk_read_line(path, e->comm, sizeof(e->comm)) < 0)
			e->comm[0] = '\0';
	}
}

static int ublk_entry_cmp(const void *a, const void *b)
{
	const struct ublk_dev_entry *x = a, *y = b;

	return (x->dev_id > y->dev_id) - (x->dev_id < y->dev_id);
}

/* Append one entry per "ublkcN" of the class directory. */
static int ublk_list_scan(DIR *dir, struct ublk_dev_entry **list, size_t *n)
{
	struct dirent *de;
	size_t cap = 0;

	while ((de = readdir(dir))) {
		struct ublk_dev_entry *e;
		char *end;
		long id;

		if (strncmp(de->d_name, "ublkc", 5) != 0)
			continue;
		id = strtol(de->d_name + 5, &end, 10);
		if (*end || end == de->d_name + 5 || id < 0 || id > INT32_MAX)
			continue;
		if (*n == cap) {
			size_t ncap = cap ? 2 * cap : 8;
			struct ublk_dev_entry *p = realloc(*list, ncap * sizeof(*p));

			if (!p)
				return -ENOMEM;
			*list = p;
			cap = ncap;
		}
		e = &(*list)[(*n)++];
		memset(e, 0, sizeof(*e));
		e->dev_id = (int)id;
	}
	return 0;
}

int ublk_list_devices(struct ublk_dev_entry **out, size_t *count)
{
	struct ublk_dev_entry *list = NULL;
	struct ublk_ctrl ctrl;
	bool have_ctrl;
	size_t n = 0;
	DIR *dir;
	int ret;

	*out = NULL;
	*count = 0;
	dir = opendir(UBLK_CHAR_CLASS);
	if (!dir)
		return errno == ENOENT ? 0 : -errno; /* no ublk_drv: no devices */
	ret = ublk_list_scan(dir, &list, &n);
	closedir(dir);
	if (ret) {
		free(list);
		return ret;
	}
	/* Without CAP_SYS_ADMIN the control device answers nothing: list the
	 * devices with what sysfs says. */
	have_ctrl = ublk_ctrl_open(&ctrl) == 0;
	for (size_t i = 0; i < n; i++) {
		ublk_entry_fill_info(have_ctrl ? &ctrl : NULL, &list[i]);
		ublk_entry_fill_sysfs(&list[i]);
	}
	if (have_ctrl)
		ublk_ctrl_close(&ctrl);
	qsort(list, n, sizeof(*list), ublk_entry_cmp);
	*out = list;
	*count = n;
	return 0;
}

/* Random (version 4) UUIDs for new volumes. */
#ifndef CRYPTBLK_FORMAT_UUID_H
#define CRYPTBLK_FORMAT_UUID_H

#define UUID_STR_LEN 36

/* out gets UUID_STR_LEN characters and a NUL. */
int uuid_generate_random_str(char out[UUID_STR_LEN + 1]);

#endif

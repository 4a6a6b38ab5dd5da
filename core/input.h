/*
 * input.h: reading a file that a user named (a workload, a suite member, a topology, a results
 * file, a baseline): a regular file of bounded size, read whole, never blocking.
 *
 * A FIFO, a device, a socket or a directory is refused before anything reads from it: the type
 * is checked with stat() and again with fstat() on a descriptor opened with O_NONBLOCK, so a
 * file swapped for a FIFO between the two cannot block the reader either.
 */
#ifndef POPBENCH_CORE_INPUT_H
#define POPBENCH_CORE_INPUT_H

#include <stddef.h>

/*
 * Reads `path` whole into a malloc'd buffer with a NUL after its *len bytes. Returns 0, or with
 * a message: -EISDIR for a directory, -EINVAL for any other file that is not regular or holds
 * more than max_bytes, -ENOMEM, or the errno of stat, open or read (as -errno). `kind` says what
 * the file should be ("workload file"). Messages name the path, `PATH: is a FIFO (expected a
 * workload file)`, or with a flag (NULL for none) the flag first, `--topology: 'PATH' is a FIFO
 * (expected a hwloc XML file)`.
 */
int pb_input_read(const char *path, size_t max_bytes, const char *flag, const char *kind,
                  char **buf, size_t *len, char *err, size_t errlen);

/* What a file of st_mode `mode` is called in messages: "a FIFO", "a directory", ... */
const char *pb_file_type_name(unsigned mode);

#endif

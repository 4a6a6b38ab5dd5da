#include "core/pb.h"

void pb_bug(const char *file, int line, const char *what)
{
    fprintf(stderr, "popbench: BUG at %s:%d: %s\n", file, line, what);
    fflush(stderr);
    abort();
}

#include "core/pb.h"

#include <stdarg.h>

void pb_bug(const char *file, int line, const char *what)
{
    fprintf(stderr, "popbench: BUG at %s:%d: %s\n", file, line, what);
    fflush(stderr);
    abort();
}

void pb_errf(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

#if POPBENCH_COUNT_SHARED
__thread uint64_t pb_shared_writes_tls;
#endif

uint64_t pb_shared_writes(void)
{
#if POPBENCH_COUNT_SHARED
    return pb_shared_writes_tls;
#else
    return 0;
#endif
}

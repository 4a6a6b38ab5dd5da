/*
 * test_clear: every pb_clear() method zeroes exactly the range it is given, bad arguments
 * change nothing, and the zero checks catch a dirty frame.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include <cmocka.h>

#include "core/clear.h"

#define FRAME  PB_CLEAR_FRAME_SIZE
#define GUARD  (2 * FRAME) /* untouched bytes expected on each side */
#define POISON 0xa5

/* A range of len bytes with GUARD poisoned bytes on each side. */
struct guarded {
    unsigned char *map;
    size_t map_len;
    unsigned char *range;
    size_t len;
};

static void guarded_init(struct guarded *g, size_t len)
{
    g->len = len;
    g->map_len = len + 2 * GUARD;
    g->map = mmap(NULL, g->map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(g->map != MAP_FAILED);
    g->range = g->map + GUARD;
    memset(g->map, POISON, g->map_len);
}

static void guarded_fini(struct guarded *g)
{
    munmap(g->map, g->map_len);
}

static void assert_all(const unsigned char *p, size_t len, unsigned char value)
{
    for (size_t i = 0; i < len; i++) {
        if (p[i] != value)
            fail_msg("byte %zu is 0x%02x, expected 0x%02x", i, p[i], value);
    }
}

static void assert_guards_intact(const struct guarded *g)
{
    assert_all(g->map, GUARD, POISON);
    assert_all(g->range + g->len, GUARD, POISON);
}

static void clear_exact_range(size_t len)
{
    for (unsigned m = 0; m < PB_CLEAR_NR_METHODS; m++) {
        struct guarded g;
        guarded_init(&g, len);
        assert_int_equal(pb_clear(g.range, len, (enum pb_clear_method)m), 0);
        assert_all(g.range, len, 0);
        assert_guards_intact(&g);
        for (size_t off = 0; off < len; off += FRAME)
            assert_true(pb_page_is_zero(g.range + off));
        guarded_fini(&g);
    }
}

static void test_clear_4k(void **state)
{
    (void)state;
    clear_exact_range(4096);
}

static void test_clear_8k(void **state)
{
    (void)state;
    clear_exact_range(8192);
}

static void test_clear_2m(void **state)
{
    (void)state;
    clear_exact_range(2u << 20);
}

static void test_clear_zero_len(void **state)
{
    (void)state;
    struct guarded g;
    guarded_init(&g, FRAME);
    for (unsigned m = 0; m < PB_CLEAR_NR_METHODS; m++)
        assert_int_equal(pb_clear(g.range, 0, (enum pb_clear_method)m), 0);
    assert_all(g.map, g.map_len, POISON);
    guarded_fini(&g);
}

static void test_clear_bad_args(void **state)
{
    (void)state;
    struct guarded g;
    guarded_init(&g, 2 * FRAME);

    assert_int_equal(pb_clear(NULL, FRAME, PB_CLEAR_MEMSET), -EINVAL);
    for (unsigned m = 0; m < PB_CLEAR_NR_METHODS; m++) {
        enum pb_clear_method method = (enum pb_clear_method)m;
        assert_int_equal(pb_clear(g.range + 64, FRAME, method), -EINVAL);
        assert_int_equal(pb_clear(g.range + 1, FRAME, method), -EINVAL);
        assert_int_equal(pb_clear(g.range, FRAME + 64, method), -EINVAL);
        assert_int_equal(pb_clear(g.range, 1, method), -EINVAL);
    }
    assert_int_equal(pb_clear(g.range, FRAME, PB_CLEAR_NR_METHODS), -EINVAL);
    assert_int_equal(pb_clear(g.range, FRAME, (enum pb_clear_method) - 1), -EINVAL);
    assert_all(g.map, g.map_len, POISON);
    guarded_fini(&g);
}

static void test_dirty_fill_then_clear(void **state)
{
    (void)state;
    for (unsigned m = 0; m < PB_CLEAR_NR_METHODS; m++) {
        struct guarded g;
        guarded_init(&g, 2 * FRAME);
        memset(g.range, 0, g.len);
        assert_true(pb_page_is_zero(g.range));

        pb_dirty_fill(g.range);
        assert_false(pb_page_is_zero(g.range));
        assert_true(pb_page_is_zero(g.range + FRAME)); /* the next frame stays clean */
        for (uint64_t seed = 0; seed < 1000; seed++)
            assert_false(pb_page_is_zero_sampled(g.range, seed));

        assert_int_equal(pb_clear(g.range, FRAME, (enum pb_clear_method)m), 0);
        assert_true(pb_page_is_zero(g.range));
        assert_guards_intact(&g);
        guarded_fini(&g);
    }
}

/* dirty_fill leaves most bytes zero, yet marks every line. */
static void test_dirty_fill_every_line(void **state)
{
    (void)state;
    static _Alignas(4096) unsigned char page[FRAME];
    memset(page, 0, sizeof(page));
    pb_dirty_fill(page);
    for (unsigned line = 0; line < FRAME / 64; line++) {
        static const unsigned char zero[64];
        assert_true(memcmp(page + line * 64, zero, 64) != 0);
    }
}

static void test_single_byte_caught(void **state)
{
    (void)state;
    static _Alignas(4096) unsigned char page[FRAME];
    memset(page, 0, sizeof(page));
    assert_true(pb_page_is_zero(page));
    for (size_t pos = 0; pos < FRAME; pos++) {
        for (unsigned bit = 0; bit < 8; bit += 7) {
            page[pos] = (unsigned char)(1u << bit);
            if (pb_page_is_zero(page))
                fail_msg("byte %zu = 0x%02x not caught", pos, page[pos]);
            page[pos] = 0;
        }
    }
    assert_true(pb_page_is_zero(page));
}

/* The check reads a frame at any alignment, and only that frame. */
static void test_is_zero_unaligned(void **state)
{
    (void)state;
    static _Alignas(4096) unsigned char buf[3 * FRAME];
    memset(buf, 0, sizeof(buf));
    buf[FRAME + 2] = 0xff;     /* just before the frame at FRAME + 3 */
    buf[2 * FRAME + 3] = 0xff; /* just after it */
    assert_true(pb_page_is_zero(buf + FRAME + 3));
    buf[FRAME + 3] = 1; /* its first byte */
    assert_false(pb_page_is_zero(buf + FRAME + 3));
    buf[FRAME + 3] = 0;
    buf[2 * FRAME + 2] = 1; /* its last byte */
    assert_false(pb_page_is_zero(buf + FRAME + 3));
}

/* Sampling never flags a clean frame, and over seeds reaches every line. */
static void test_sampled(void **state)
{
    (void)state;
    static _Alignas(4096) unsigned char page[FRAME];
    memset(page, 0, sizeof(page));
    for (uint64_t seed = 0; seed < 1000; seed++)
        assert_true(pb_page_is_zero_sampled(page, seed));

    for (unsigned line = 0; line < FRAME / 64; line++) {
        page[line * 64 + 63] = 1; /* last byte of the line */
        unsigned caught = 0, missed = 0;
        for (uint64_t seed = 0; seed < 1000; seed++) {
            if (pb_page_is_zero_sampled(page, seed))
                missed++;
            else
                caught++;
        }
        if (caught == 0)
            fail_msg("line %u never sampled in 1000 seeds", line);
        assert_true(missed > 0); /* a sample, not a full check */
        page[line * 64 + 63] = 0;
    }
}

static void test_method_names(void **state)
{
    (void)state;
    static const char *const names[] = {"auto", "memset", "stosb", "nt"};
    for (unsigned m = 0; m < PB_CLEAR_NR_METHODS; m++) {
        enum pb_clear_method parsed = PB_CLEAR_NR_METHODS;
        assert_string_equal(pb_clear_method_name((enum pb_clear_method)m), names[m]);
        assert_int_equal(pb_clear_method_parse(names[m], &parsed), 0);
        assert_int_equal(parsed, m);
    }
    assert_null(pb_clear_method_name(PB_CLEAR_NR_METHODS));

    static const char *const bad[] = {"", "MEMSET", "nt ", "stos", "memsetx", "none"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        enum pb_clear_method parsed = PB_CLEAR_STOSB;
        assert_int_equal(pb_clear_method_parse(bad[i], &parsed), -EINVAL);
        assert_int_equal(parsed, PB_CLEAR_STOSB);
    }
    enum pb_clear_method parsed = PB_CLEAR_STOSB;
    assert_int_equal(pb_clear_method_parse(NULL, &parsed), -EINVAL);
    assert_int_equal(parsed, PB_CLEAR_STOSB);
    assert_int_equal(pb_clear_method_parse("nt", NULL), -EINVAL);
}

static void test_auto_choice(void **state)
{
    (void)state;
    enum pb_clear_method small = pb_clear_auto_method(FRAME);
    enum pb_clear_method large = pb_clear_auto_method(2u << 20);
    assert_true(small != PB_CLEAR_AUTO && small < PB_CLEAR_NR_METHODS);
    assert_true(large != PB_CLEAR_AUTO && large < PB_CLEAR_NR_METHODS);
    assert_true(pb_clear_method_native(PB_CLEAR_MEMSET));
    assert_false(pb_clear_method_native(PB_CLEAR_NR_METHODS));
#if defined(__x86_64__)
    assert_true(pb_clear_method_native(PB_CLEAR_STOSB));
    assert_true(pb_clear_method_native(PB_CLEAR_NT));
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clear_4k),
        cmocka_unit_test(test_clear_8k),
        cmocka_unit_test(test_clear_2m),
        cmocka_unit_test(test_clear_zero_len),
        cmocka_unit_test(test_clear_bad_args),
        cmocka_unit_test(test_dirty_fill_then_clear),
        cmocka_unit_test(test_dirty_fill_every_line),
        cmocka_unit_test(test_single_byte_caught),
        cmocka_unit_test(test_is_zero_unaligned),
        cmocka_unit_test(test_sampled),
        cmocka_unit_test(test_method_names),
        cmocka_unit_test(test_auto_choice),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

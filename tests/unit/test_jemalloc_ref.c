/*
 * The jemalloc reference allocator: jemalloc is active, every size allocates aligned and frees,
 * one arena per node.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <jemalloc/jemalloc.h>

#include "core/jemalloc_ref.h"

static unsigned arena_of(void *p)
{
    unsigned a = UINT32_MAX;
    size_t len = sizeof(a);
    assert_int_equal(mallctl("arenas.lookup", &a, &len, &p, sizeof(p)), 0);
    return a;
}

static void test_jemalloc_is_active(void **state)
{
    (void)state;
    const char *v = pb_jemalloc_version();
    assert_non_null(v);
    assert_true(v[0] >= '5');
    assert_string_equal(pb_reference_names()[0], "jemalloc");
    assert_null(pb_reference_names()[1]);
}

static void test_each_size_aligned_from_its_nodes_arena(void **state)
{
    (void)state;
    struct pb_jemalloc_ref *r = NULL;
    assert_int_equal(pb_jemalloc_ref_create(2, &r), 0);
    unsigned a0 = pb_jemalloc_ref_arena(r, 0), a1 = pb_jemalloc_ref_arena(r, 1);
    assert_int_not_equal(a0, a1);
    assert_int_equal(pb_jemalloc_ref_arena(r, 2), UINT32_MAX);
    static const unsigned orders[] = {0, 9, 18};
    for (unsigned i = 0; i < 3; i++)
        for (unsigned node = 0; node < 2; node++) {
            void *p = NULL;
            size_t size = (size_t)4096 << orders[i];
            assert_int_equal(pb_jemalloc_ref_alloc(r, node, orders[i], &p), 0);
            assert_non_null(p);
            assert_int_equal((uintptr_t)p & (size - 1), 0);
            assert_int_equal(arena_of(p), node ? a1 : a0);
            assert_true(sallocx(p, 0) >= size);
            ((volatile char *)p)[0] = 1; /* usable memory */
            ((volatile char *)p)[size - 1] = 1;
            assert_int_equal(pb_jemalloc_ref_free(r, p, orders[i]), 0);
        }
    pb_jemalloc_ref_destroy(r);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    struct pb_jemalloc_ref *r = NULL;
    void *p = NULL;
    assert_int_equal(pb_jemalloc_ref_create(0, &r), -EINVAL);
    assert_int_equal(pb_jemalloc_ref_create(1, NULL), -EINVAL);
    assert_int_equal(pb_jemalloc_ref_create(1, &r), 0);
    assert_int_equal(pb_jemalloc_ref_alloc(r, 1, 0, &p), -EINVAL);
    assert_int_equal(pb_jemalloc_ref_alloc(r, 0, 1, &p), -EINVAL);
    assert_int_equal(pb_jemalloc_ref_alloc(r, 0, 0, NULL), -EINVAL);
    assert_null(p);
    assert_int_equal(pb_jemalloc_ref_free(r, NULL, 0), -EINVAL);
    pb_jemalloc_ref_destroy(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jemalloc_is_active),
        cmocka_unit_test(test_each_size_aligned_from_its_nodes_arena),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * run_slot.c: slots, one domain of the workload across its incarnations (runner_impl.h has the
 * states and who owns what): creating and destroying their domains, staking their claims,
 * their vNUMA ranges, and handing them on.
 */
#define _LGPL_SOURCE /* inline liburcu's read side */
#include "bench/runner_impl.h"

#include <errno.h>
#include <string.h>
#include <urcu/urcu-memb.h>

#include "core/tsan.h"

char run_rcu_tsan_sync;

bool slot_cas(struct slot *s, int from, int to)
{
    return atomic_compare_exchange_strong(&s->state, &from, to);
}

void slot_release(struct runner *rn, struct slot *s, enum slot_state state)
{
    atomic_store(&s->state, state);
    switch (state) {
    case SLOT_QUEUED:
    case SLOT_BUILDING:
        pb_event_signal(&rn->wake[PB_EV_BUILD]);
        break;
    case SLOT_IDLE:
        if (s->running)
            pb_event_signal(&rn->wake[PB_EV_BALLOON]);
        else if (builders_cycle(rn))
            pb_event_signal(&rn->wake[PB_EV_BUILD]);
        break;
    case SLOT_CREATING:
    case SLOT_BUSY:
    case SLOT_DONE:
        break; /* nobody waits for these */
    }
}

void stats_sub_into(struct pb_lock_stats *acc, const struct pb_lock_stats *now,
                    const struct pb_lock_stats *base)
{
    struct pb_lock_stats d = {
        .acquisitions = now->acquisitions - base->acquisitions,
        .contended = now->contended - base->contended,
        .wait_ns_total = now->wait_ns_total - base->wait_ns_total,
        .wait_ns_max = now->wait_ns_max,
        .hold_ns_total = now->hold_ns_total - base->hold_ns_total,
        .hold_ns_max = now->hold_ns_max,
        .hold_untimed = now->hold_untimed,
    };
    pb_lock_stats_add(acc, &d);
}

void slot_lock_stats(struct slot *s, struct pb_lock_stats *dom, struct pb_lock_stats *p2m)
{
    pb_lock_stats_read(pb_domain_lock(s->d), dom);
    p2m_lock_stats(pb_domain_p2m(s->d), p2m);
}

/*
 * The slot's claim as node claims over its own nodes. The workload's claim is the total the
 * domain claims, pages it holds included (XENMEM_claim_pages); node parts count only the
 * pages beyond those.
 */
static int stake_node_claim(struct runner *rn, struct slot *s)
{
    struct pb_wl_claim_part wp[PB_WL_MAX_NODES];
    struct pb_claim parts[PB_WL_MAX_NODES];
    uint64_t held = pb_domain_tot_pages(s->d);

    if (s->claim <= held)
        return -EINVAL; /* what XENMEM_claim_pages says to such a claim */
    int nr = pb_workload_claim_split(&rn->wl->groups[s->group], pb_heap_nr_nodes(rn->h),
                                     s->claim - held, wp);
    PB_BUG_ON(nr <= 0); /* setup gives node claims only to groups with nodes of their own */
    for (int i = 0; i < nr; i++)
        parts[i] = (struct pb_claim){.node = (int)wp[i].node, .pages = wp[i].pages};
    return pb_domain_claim_nodes(s->d, parts, (unsigned)nr);
}

/* Stakes the slot's claim, if it has one; w (NULL during setup) counts what went wrong. */
static void slot_claim(struct runner *rn, struct slot *s, struct worker *w)
{
    int rc;

    if (!s->claim)
        return;
    if (s->node_claim) {
        rc = stake_node_claim(rn, s);
        if (rc == -ENOMEM) {
            /* A node lacks the frames: the toolstack can still claim host-wide. */
            if (w)
                ctr_add(&w->rec.ctr.node_claim_fallbacks, 1);
            rc = pb_domain_claim_pages(s->d, s->claim);
        }
    } else {
        rc = pb_domain_claim_pages(s->d, s->claim);
    }
    if (rc && w)
        ctr_add(&w->rec.ctr.claim_failures, 1);
}

int slot_create(struct runner *rn, struct slot *s, struct worker *w)
{
    struct pb_domain *d;
    int rc =
        pb_memop_domain_create(rn->h, s->domid, &s->dcfg, s->gfn_space, rn->cfg->lock_kind, &d);
    if (rc)
        return rc;
    s->d = d;
    slot_claim(rn, s, w);
    memset(&s->dom_base, 0, sizeof(s->dom_base));
    memset(&s->p2m_base, 0, sizeof(s->p2m_base));
    pb_balloon_init(&s->balloon, &rn->wl->churn.balloon, s->memory);
    atomic_store_explicit(&s->p2m_pub, pb_domain_p2m(d), memory_order_release);
    atomic_fetch_add(&rn->published, 1);
    pb_event_signal(&rn->wake[PB_EV_P2M]);
    return 0;
}

void slot_destroy(struct runner *rn, struct slot *s)
{
    if (!s->d)
        return;
    atomic_store_explicit(&s->p2m_pub, NULL, memory_order_release);
    atomic_fetch_sub(&rn->published, 1);
#if PB_TSAN
    urcu_memb_synchronize_rcu(); /* p2m_destroy waits too; this one is for TSan's sake */
    PB_TSAN_GRACE_PASSED(&run_rcu_tsan_sync);
#endif
    if (measuring(rn)) {
        struct pb_lock_stats dom, p2m;
        slot_lock_stats(s, &dom, &p2m);
        stats_sub_into(&s->dom_acc, &dom, &s->dom_base);
        stats_sub_into(&s->p2m_acc, &p2m, &s->p2m_base);
    }
    /* Waits for a grace period: readers that saw the p2m are done with it afterwards. */
    pb_memop_domain_destroy(rn->h, s->d);
    s->d = NULL;
}

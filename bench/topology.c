/*
 * topology.c: loading the real and virtual topologies, the vCPU -> real PU map, binding.
 */
#include "bench/topology.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/pb.h"
#include "core/input.h"

/* A synthetic string of the topology, or a count summary when hwloc cannot express it. */
static void describe(hwloc_topology_t topo, char *buf, size_t len)
{
    if (hwloc_topology_export_synthetic(topo, buf, len, 0) > 0)
        return;
    snprintf(buf, len, "%d packages, %d cores, %d PUs, %d NUMA nodes",
             hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PACKAGE),
             hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE),
             hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU),
             hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE));
}

static int load_real(hwloc_topology_t *out, char *err, size_t errlen)
{
    hwloc_topology_t topo;

    /* These would make hwloc describe another machine while we bind on this one. */
    unsetenv("HWLOC_SYNTHETIC");
    unsetenv("HWLOC_XMLFILE");
    unsetenv("HWLOC_FSROOT");
    if (hwloc_topology_init(&topo) != 0)
        return -ENOMEM;
    if (hwloc_topology_load(topo) != 0) {
        hwloc_topology_destroy(topo);
        pb_errf(err, errlen, "cannot load this machine's topology with hwloc");
        return -EIO;
    }
    if (!hwloc_topology_is_thissystem(topo)) {
        hwloc_topology_destroy(topo);
        pb_errf(err, errlen, "hwloc's topology is not this system's: cannot bind threads");
        return -EIO;
    }
    *out = topo;
    return 0;
}

static bool looks_like_file(const char *spec)
{
    struct stat st;
    size_t n = strlen(spec);

    if (n > 4 && strcmp(spec + n - 4, ".xml") == 0)
        return true;
    return strchr(spec, '/') != NULL || stat(spec, &st) == 0;
}

/* Multiplies without passing `cap` (the counts are only compared with small limits). */
static uint64_t mul_capped(uint64_t a, uint64_t b, uint64_t cap)
{
    return b && a > cap / b ? cap : a * b;
}

/* From p at '(' or '[', past the matching `close`; NULL when there is none. */
static const char *skip_group(const char *p, char close)
{
    const char *end = strchr(p, close);

    return end ? end + 1 : NULL;
}

/*
 * The PUs and NUMA nodes a synthetic description makes, counted as hwloc's parser reads it
 * (levels "[type:]count[(attributes)]" whose counts multiply, memory children "[numa...]" that
 * attach one node to each object of the level above), before hwloc builds them: hwloc allocates
 * every object of a description, so 10^6 PUs would take all memory. False when the string is
 * not one of levels, which hwloc refuses too.
 */
static bool synthetic_counts(const char *spec, uint64_t *pus, uint64_t *nodes)
{
    const uint64_t cap = UINT64_C(1) << 40;
    uint64_t width = 1;
    const char *p = spec;

    *nodes = 0;
    if (*p == '(' && !(p = skip_group(p, ')'))) /* the machine's attributes */
        return false;
    while (*p) {
        bool numa = false;
        unsigned long long count;
        char *end;

        if (*p == ' ') {
            p++;
            continue;
        }
        if (*p == '[') {
            if (!(p = skip_group(p, ']')))
                return false;
            *nodes = *nodes + width > cap ? cap : *nodes + width;
            continue;
        }
        if (!isdigit((unsigned char)*p)) {
            const char *colon = strchr(p, ':');
            if (!colon)
                return false;
            numa = strncasecmp(p, "numa", 4) == 0 || strncasecmp(p, "node", 4) == 0;
            p = colon + 1;
        }
        errno = 0;
        count = strtoull(p, &end, 0); /* as hwloc reads it: 0x10 and 010 are counts too */
        if (end == p || *p == '-')
            return false;
        width = mul_capped(width, errno == ERANGE ? cap : (uint64_t)count, cap);
        if (numa)
            *nodes = width;
        p = end;
        if (*p == '(' && !(p = skip_group(p, ')')))
            return false;
        if (*p && *p != ' ' && *p != '[')
            return false;
    }
    *pus = width;
    return true;
}

/* The size limits of a virtual topology: what the runner can pin and the model can hold. */
static int check_size(const char *spec, uint64_t pus, uint64_t nodes, char *err, size_t errlen)
{
    if (pus > PB_TOPO_MAX_PUS) {
        char count[32];
        if (pus >= UINT64_C(1) << 40)
            snprintf(count, sizeof(count), "more than 2^40");
        else
            snprintf(count, sizeof(count), "%" PRIu64, pus);
        pb_errf(err, errlen, "--topology: '%s' has %s PUs (expected at most %d)", spec, count,
                PB_TOPO_MAX_PUS);
        return -EINVAL;
    }
    if (nodes > PB_TOPO_MAX_NODES) {
        pb_errf(err, errlen, "--topology: '%s' has %" PRIu64 " NUMA nodes (expected at most %d)",
                spec, nodes, PB_TOPO_MAX_NODES);
        return -EINVAL;
    }
    return 0;
}

static int load_virtual(const char *spec, hwloc_topology_t *out, char *err, size_t errlen)
{
    const bool file = looks_like_file(spec);
    hwloc_topology_t topo;
    uint64_t pus, nodes;
    char *xml = NULL;
    size_t len = 0;
    int rc;

    if (file) {
        rc = pb_input_read(spec, PB_TOPO_MAX_XML_BYTES, "--topology", "hwloc XML file", &xml, &len,
                           err, errlen);
        if (rc)
            return rc == -ENOMEM ? rc : -EINVAL;
        if (len == 0) {
            free(xml);
            pb_errf(err, errlen,
                    "--topology: '%s' is empty (expected a hwloc XML file, the output of lstopo "
                    "--of xml)",
                    spec);
            return -EINVAL;
        }
    } else if (!synthetic_counts(spec, &pus, &nodes)) {
        pus = nodes = 0; /* hwloc refuses it below, with the same message as any bad string */
    } else if ((rc = check_size(spec, pus, nodes, err, errlen))) {
        return rc;
    }
    if (hwloc_topology_init(&topo) != 0) {
        free(xml);
        return -ENOMEM;
    }
    /* The XML is parsed from what was read: nothing opens the path a second time. */
    rc = file ? hwloc_topology_set_xmlbuffer(topo, xml, (int)len + 1)
              : hwloc_topology_set_synthetic(topo, spec);
    if (rc == 0)
        rc = hwloc_topology_load(topo);
    free(xml);
    if (rc != 0) {
        hwloc_topology_destroy(topo);
        pb_errf(err, errlen, "--topology: '%s' is not a hwloc %s topology (expected %s)", spec,
                file ? "XML" : "synthetic",
                file ? "the output of lstopo --of xml"
                     : "'real', an XML file, or levels such as \"pack:4 [numa(memory=1GB)] "
                       "core:2 pu:1\"");
        return -EINVAL;
    }
    *out = topo;
    return 0;
}

/* Fills nodes and vCPUs from t->virt, and the real PU list from t->real. */
static int build_maps(struct pb_topology *t, char *err, size_t errlen)
{
    int nn = hwloc_get_nbobjs_by_type(t->virt, HWLOC_OBJ_NUMANODE);
    int npu = hwloc_get_nbobjs_by_type(t->virt, HWLOC_OBJ_PU);
    int nreal = hwloc_get_nbobjs_by_type(t->real, HWLOC_OBJ_PU);

    if (npu <= 0 || nreal <= 0) {
        pb_errf(err, errlen, "--topology: '%s' has no PU (expected at least one CPU)", t->spec);
        return -EINVAL;
    }
    if (t->is_virtual && check_size(t->spec, (uint64_t)npu, nn > 0 ? (uint64_t)nn : 1, err, errlen))
        return -EINVAL;
    t->nr_nodes = nn > 0 ? (unsigned)nn : 1;
    t->nr_vcpus = (unsigned)npu;
    t->nr_real_pus = (unsigned)nreal;
    t->cpus = calloc(t->nr_vcpus, sizeof(*t->cpus));
    t->real_pus = calloc(t->nr_real_pus, sizeof(*t->real_pus));
    bool *taken = calloc(t->nr_vcpus, sizeof(*taken));
    if (!t->cpus || !t->real_pus || !taken) {
        free(taken);
        return -ENOMEM;
    }
    for (unsigned i = 0; i < t->nr_real_pus; i++)
        t->real_pus[i] = hwloc_get_obj_by_type(t->real, HWLOC_OBJ_PU, i);

    /* Node by node: the PUs inside each node's cpuset not already given to an earlier node. */
    unsigned v = 0;
    for (unsigned n = 0; n < t->nr_nodes; n++) {
        hwloc_obj_t node = nn > 0 ? hwloc_get_obj_by_type(t->virt, HWLOC_OBJ_NUMANODE, n) : NULL;
        hwloc_const_cpuset_t set =
            node ? node->cpuset : hwloc_topology_get_topology_cpuset(t->virt);
        t->node_first[n] = v;
        t->node_memory[n] = node ? node->attr->numanode.local_memory : 0;
        for (unsigned p = 0; p < t->nr_vcpus; p++) {
            hwloc_obj_t pu = hwloc_get_obj_by_type(t->virt, HWLOC_OBJ_PU, p);
            if (taken[p] || !pu->cpuset || !hwloc_bitmap_isincluded(pu->cpuset, set))
                continue;
            taken[p] = true;
            t->cpus[v++].node = n;
        }
        t->node_cpus[n] = v - t->node_first[n];
    }
    /* PUs outside every node (unusual XML) join the last node. */
    for (unsigned p = 0; p < t->nr_vcpus; p++)
        if (!taken[p]) {
            t->cpus[v++].node = t->nr_nodes - 1;
            t->node_cpus[t->nr_nodes - 1]++;
        }
    free(taken);
    PB_BUG_ON(v != t->nr_vcpus);
    for (v = 0; v < t->nr_vcpus; v++) {
        t->cpus[v].real_pu = v % t->nr_real_pus;
        t->cpus[v].real_os = t->real_pus[t->cpus[v].real_pu]->os_index;
    }
    return 0;
}

int pb_topology_load(const char *spec, struct pb_topology *t, char *err, size_t errlen)
{
    int rc;

    if (!spec || !t)
        return -EINVAL;
    memset(t, 0, sizeof(*t));
    if (strlen(spec) >= sizeof(t->spec)) {
        pb_errf(err, errlen, "--topology: the description is longer than %zu bytes",
                sizeof(t->spec) - 1);
        return -EINVAL;
    }
    if (*spec == '\0') {
        pb_errf(err, errlen,
                "--topology: empty (expected 'real', a synthetic string or an XML file)");
        return -EINVAL;
    }
    snprintf(t->spec, sizeof(t->spec), "%s", spec);
    rc = load_real(&t->real, err, errlen);
    if (rc)
        return rc;
    if (strcmp(spec, "real") == 0) {
        t->virt = t->real;
    } else {
        rc = load_virtual(spec, &t->virt, err, errlen);
        if (rc) {
            hwloc_topology_destroy(t->real);
            memset(t, 0, sizeof(*t));
            return rc;
        }
        t->is_virtual = true;
    }
    describe(t->real, t->real_desc, sizeof(t->real_desc));
    if (t->is_virtual)
        describe(t->virt, t->virt_desc, sizeof(t->virt_desc));
    else
        snprintf(t->virt_desc, sizeof(t->virt_desc), "%s", t->real_desc);
    rc = build_maps(t, err, errlen);
    if (rc)
        pb_topology_free(t);
    return rc;
}

void pb_topology_free(struct pb_topology *t)
{
    if (!t)
        return;
    if (t->virt && t->virt != t->real)
        hwloc_topology_destroy(t->virt);
    if (t->real)
        hwloc_topology_destroy(t->real);
    free(t->cpus);
    free(t->real_pus);
    memset(t, 0, sizeof(*t));
}

bool pb_topology_oversubscribed(const struct pb_topology *t)
{
    return t->nr_vcpus > t->nr_real_pus;
}

unsigned pb_topology_node_cpu(const struct pb_topology *t, unsigned node, unsigned k)
{
    node %= t->nr_nodes;
    if (t->node_cpus[node] == 0)
        return k % t->nr_vcpus;
    return t->node_first[node] + k % t->node_cpus[node];
}

unsigned pb_topology_node_cpu_from_end(const struct pb_topology *t, unsigned node, unsigned k)
{
    node %= t->nr_nodes;
    if (t->node_cpus[node] == 0)
        return t->nr_vcpus - 1 - k % t->nr_vcpus;
    return t->node_first[node] + t->node_cpus[node] - 1 - k % t->node_cpus[node];
}

unsigned pb_topology_place(const struct pb_topology *t, enum pb_placement p, unsigned i)
{
    if (p == PB_PLACE_COMPACT)
        return i % t->nr_vcpus;
    /* Scatter over the nodes that have CPUs. */
    unsigned with_cpus = 0;
    for (unsigned n = 0; n < t->nr_nodes; n++)
        with_cpus += t->node_cpus[n] > 0;
    unsigned slot = i % with_cpus, round = i / with_cpus;
    for (unsigned n = 0; n < t->nr_nodes; n++) {
        if (t->node_cpus[n] == 0)
            continue;
        if (slot-- == 0)
            return pb_topology_node_cpu(t, n, round);
    }
    PB_BUG_ON(1);
}

int pb_topology_bind(const struct pb_topology *t, unsigned vcpu)
{
    if (!t || vcpu >= t->nr_vcpus)
        return -EINVAL;
    hwloc_obj_t pu = t->real_pus[t->cpus[vcpu].real_pu];
    if (hwloc_set_cpubind(t->real, pu->cpuset, HWLOC_CPUBIND_THREAD) != 0)
        return errno ? -errno : -EIO;
    return 0;
}

int pb_placement_parse(const char *s, enum pb_placement *out)
{
    if (s && strcmp(s, "compact") == 0)
        *out = PB_PLACE_COMPACT;
    else if (s && strcmp(s, "scatter") == 0)
        *out = PB_PLACE_SCATTER;
    else
        return -EINVAL;
    return 0;
}

const char *pb_placement_name(enum pb_placement p)
{
    return p == PB_PLACE_SCATTER ? "scatter" : "compact";
}

void pb_topology_print(const struct pb_topology *t, FILE *out)
{
    fprintf(out, "real:     %s (%u PUs)\n", t->real_desc, t->nr_real_pus);
    if (t->is_virtual)
        fprintf(out, "virtual:  %s (%s)\n", t->virt_desc, t->spec);
    else
        fprintf(out, "virtual:  the real machine\n");
    fprintf(out, "nodes:    %u\n", t->nr_nodes);
    for (unsigned n = 0; n < t->nr_nodes; n++) {
        fprintf(out, "  node %u: ", n);
        if (t->node_memory[n])
            fprintf(out, "%.1f MiB, ", (double)t->node_memory[n] / (1 << 20));
        if (t->node_cpus[n] == 0)
            fprintf(out, "no CPUs\n");
        else
            fprintf(out, "vCPUs %u-%u\n", t->node_first[n], t->node_first[n] + t->node_cpus[n] - 1);
    }
    fprintf(out, "map:      vCPU -> real PU (OS index)\n");
    for (unsigned v = 0; v < t->nr_vcpus; v++)
        fprintf(out, "  vCPU %u (node %u) -> PU L#%u (P#%u)\n", v, t->cpus[v].node,
                t->cpus[v].real_pu, t->cpus[v].real_os);
    if (pb_topology_oversubscribed(t))
        fprintf(out,
                "oversubscribed: %u vCPUs on %u real PUs (up to %u per PU); runs use the mutex "
                "lock unless --lock says otherwise\n",
                t->nr_vcpus, t->nr_real_pus, (t->nr_vcpus + t->nr_real_pus - 1) / t->nr_real_pus);
    else
        fprintf(out, "oversubscribed: no (%u vCPUs on %u real PUs)\n", t->nr_vcpus, t->nr_real_pus);
}

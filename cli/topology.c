/*
 * topology.c: `popbench topology`: the topology a run would use, its virtual-to-real CPU map,
 * whether it is oversubscribed, and where N workers would be placed.
 */
#include "cli/cli.h"

#include <getopt.h>
#include <stdio.h>

#include "bench/topology.h"

#define ERR_LEN 2048

enum { OPT_TOPOLOGY = 256, OPT_PLACEMENT, OPT_THREADS, OPT_HELP };

int pb_cmd_topology(int argc, char **argv)
{
    static const struct option opts[] = {
        {"topology", required_argument, NULL, OPT_TOPOLOGY},
        {"placement", required_argument, NULL, OPT_PLACEMENT},
        {"threads", required_argument, NULL, OPT_THREADS},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    const char *spec = "real";
    enum pb_placement place = PB_PLACE_COMPACT;
    unsigned threads[PB_CLI_MAX_THREAD_COUNTS], nthreads = 0;
    char err[ERR_LEN];
    int c;

    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (c) {
        case OPT_TOPOLOGY:
            spec = optarg;
            break;
        case OPT_PLACEMENT:
            if (pb_placement_parse(optarg, &place))
                return pb_cli_error(
                    "topology",
                    "--placement: '%s' is not a placement (expected compact or scatter)", optarg);
            break;
        case OPT_THREADS:
            if (pb_cli_parse_threads(optarg, threads, &nthreads))
                return pb_cli_error(
                    "topology",
                    "--threads: '%s' is not a list of thread counts (expected N, N-M or 1,2,4)",
                    optarg);
            break;
        case OPT_HELP:
            puts("usage: popbench topology [--topology SPEC] [--placement P] [--threads N]\n"
                 "Shows the topology a run would use (real, a hwloc synthetic string or an XML\n"
                 "file), the virtual-to-real CPU map, whether it is oversubscribed, and with\n"
                 "--threads where N workers would be placed.");
            return 0;
        default:
            return pb_cli_option_error("topology", c, argc, argv);
        }
    }
    if (optind < argc)
        return pb_cli_error("topology", "unexpected argument '%s' (expected options only)",
                            argv[optind]);
    struct pb_topology t;
    if (pb_topology_load(spec, &t, err, sizeof(err)) != 0)
        return pb_cli_error("topology", "%s", err);
    pb_topology_print(&t, stdout);
    if (nthreads) {
        unsigned n = threads[nthreads - 1];
        printf("placement (%s) of %u workers:\n", pb_placement_name(place), n);
        for (unsigned i = 0; i < n; i++) {
            unsigned v = pb_topology_place(&t, place, i);
            printf("  worker %u -> vCPU %u (node %u) -> real PU P#%u\n", i, v, t.cpus[v].node,
                   t.cpus[v].real_os);
        }
        if (n > t.nr_real_pus)
            printf("oversubscribed: %u workers on %u real PUs\n", n, t.nr_real_pus);
    }
    pb_topology_free(&t);
    return 0;
}

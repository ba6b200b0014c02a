#!/usr/bin/python3
"""Ratios of every peer to the raw epoll server, from the peer harness's raw.txt.

For each scenario: the median run's throughput (echo: MB/s, lines and churn: operations/s), p99
and, with several connections, fairness (the fewest operations one connection completed over the
most); and throughput and server CPU per operation as ratios to raw-epoll. A ratio is the median,
over the repetitions, of a run against the baseline's run of the same repetition: the machine's
speed drifts by tens of percent within minutes, and runs of one repetition are the ones closest
in time (tools/peers.sh runs every peer of a scenario before the next scenario). With --plot, a
PNG of the throughput ratios, one group of bars per scenario and one bar per peer.

Then, for each gust peer, the same pairing against the other libraries (--rivals, by default
libuv-epoll and asio-epoll): in how many repetitions it was ahead of each on throughput, and in
how many its p99 was at or under the best of theirs. A median ratio a few percent either side of
1 says little on a machine this noisy; a count of 5 of 5 or 0 of 5 says which side it is on.
"""

import argparse
import collections
import statistics


def parse(path):
    runs = collections.defaultdict(list)
    order = []
    for line in open(path):
        fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
        if "error" in fields or fields.get("rc") != "0" or "rps" not in fields:
            continue
        key = (fields["peer"], fields["scenario"])
        runs[key].append(fields)
        order.append(key)
    peers = list(dict.fromkeys(k[0] for k in order))
    scenarios = list(dict.fromkeys(k[1] for k in order))
    medians = {}
    for key, rows in runs.items():
        median = sorted(rows, key=lambda r: float(r["rps"]))[(len(rows) - 1) // 2]
        fair = None
        if int(median.get("conns", "1")) > 1 and float(median.get("conn_max", "0")) > 0:
            fair = float(median["conn_min"]) / float(median["conn_max"])
        medians[key] = (throughput(median), float(median["p99_us"]), fair)
    return peers, scenarios, runs, medians


def throughput(row):
    return float(row["mbps"] if row["mode"] == "echo" else row["rps"])


def cpu_us(row):
    return 1e6 * float(row.get("srv_cpu_s", "nan")) / float(row["total_requests"])


def paired_ratios(rows, base_rows):
    """Median throughput and CPU ratios of `rows` to `base_rows`, run by run of one repetition."""
    base = {r.get("rep"): r for r in base_rows}
    pairs = [(r, base[r.get("rep")]) for r in rows if r.get("rep") in base]
    if not pairs:
        return None
    return (statistics.median(throughput(r) / throughput(b) for r, b in pairs),
            statistics.median(cpu_us(r) / cpu_us(b) for r, b in pairs))


def rival_counts(rows, rival_rows):
    """Per rival: (runs where `rows` had more throughput, runs paired); and (runs where its p99 was
    at or under every rival's, runs paired with all of them)."""
    by_rep = [{r.get("rep"): r for r in rows_of} for rows_of in rival_rows]
    ahead = []
    for rival in by_rep:
        pairs = [(r, rival[r.get("rep")]) for r in rows if r.get("rep") in rival]
        ahead.append((sum(throughput(r) > throughput(b) for r, b in pairs), len(pairs)))
    full = [r for r in rows if all(r.get("rep") in rival for rival in by_rep)]
    p99_best = sum(
        float(r["p99_us"]) <= min(float(rival[r.get("rep")]["p99_us"]) for rival in by_rep)
        for r in full)
    return ahead, (p99_best, len(full))


def print_rivals(peers, scenarios, runs, rivals):
    rivals = [p for p in rivals if p in peers]
    if not rivals:
        return
    gusts = [p for p in peers if p.startswith("gust-")]
    print(f"\nEach gust peer against {', '.join(rivals)}, run by run of one repetition: in how "
          "many runs it was ahead of each on throughput, and (p99) in how many its p99 was at or "
          "under the best of theirs\n")
    print("| scenario | " + " | ".join(gusts) + " |")
    print("|---|" + "---|" * len(gusts))
    for s in scenarios:
        cells = []
        for p in gusts:
            if (p, s) not in runs or any((r, s) not in runs for r in rivals):
                cells.append("")
                continue
            ahead, (best, n) = rival_counts(runs[(p, s)], [runs[(r, s)] for r in rivals])
            parts = [f"{r.split('-')[0]} {k}/{m}" for r, (k, m) in zip(rivals, ahead)]
            cells.append(", ".join(parts) + f", p99 {best}/{n}")
        print(f"| {s} | " + " | ".join(cells) + " |")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("raw")
    parser.add_argument("--baseline", default="raw-epoll")
    parser.add_argument("--plot")
    parser.add_argument("--title", default="")
    parser.add_argument("--rivals", default="libuv-epoll asio-epoll",
                        help="peers each gust peer is counted against, space-separated")
    args = parser.parse_args()
    peers, scenarios, runs, medians = parse(args.raw)
    base = args.baseline
    ratios = {}
    for (p, s), rows in runs.items():
        if (base, s) in runs:
            ratios[(p, s)] = paired_ratios(rows, runs[(base, s)])
    print(f"Throughput (median run), throughput and server CPU per operation as ratios to {base} "
          "(median of the runs paired by repetition), p99 and fairness (median run)\n")
    print("| scenario | " + " | ".join(p for p in peers) + " |")
    print("|---|" + "---:|" * len(peers))
    for s in scenarios:
        cells = []
        for p in peers:
            if ratios.get((p, s)) is None:
                cells.append("")
                continue
            t, p99, fair = medians[(p, s)]
            t_ratio, cpu_ratio = ratios[(p, s)]
            fairness = "" if fair is None else f", fair {fair:.2f}"
            cells.append(f"{t:,.0f} ({t_ratio:.2f}x, CPU {cpu_ratio:.2f}x, p99 {p99:,.0f} us{fairness})")
        print(f"| {s} | " + " | ".join(cells) + " |")
    print_rivals(peers, scenarios, runs, args.rivals.split())
    if args.plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        width = 0.8 / max(len(peers), 1)
        fig, ax = plt.subplots(figsize=(11, 4.5))
        for i, p in enumerate(peers):
            xs, ys = [], []
            for j, s in enumerate(scenarios):
                if ratios.get((p, s)) is not None:
                    xs.append(j + (i - (len(peers) - 1) / 2) * width)
                    ys.append(ratios[(p, s)][0])
            ax.bar(xs, ys, width, label=p)
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.axhline(0.9, color="gray", linewidth=0.8, linestyle="--")
        ax.set_xticks(range(len(scenarios)))
        ax.set_xticklabels(scenarios)
        ax.set_ylabel(f"throughput / {base}")
        ax.set_title(f"gust beside its peers ({args.title})", fontsize=10)
        ax.legend(fontsize=8, ncol=len(peers), loc="upper center", bbox_to_anchor=(0.5, -0.08))
        fig.tight_layout()
        fig.savefig(args.plot, dpi=90)
        print(f"\nplot: {args.plot}")


if __name__ == "__main__":
    main()

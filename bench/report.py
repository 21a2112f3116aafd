#!/usr/bin/env python3
"""Turn the raw figures of bench/lab.sh (build/lab/bench/raw.tsv) into a
dated Markdown report in bench/results/ and print its summary table.

    bench/report.py RAW_TSV RESULTS_DIR
"""
import collections
import datetime
import os
import platform
import statistics
import sys

PATHS = ["routed", "nft", "krelay", "krelay_kernel", "haproxy", "socat"]
NAMES = {"routed": "routed", "nft": "nftables DNAT", "krelay": "krelay (tcp_relay)",
         "krelay_kernel": "krelay (kernel)", "haproxy": "HAProxy", "socat": "socat"}
KEEPS = {"routed": "yes", "nft": "yes", "krelay": "yes", "krelay_kernel": "yes",
         "haproxy": "no", "socat": "no"}
# krelay's two TCP modes; UDP has one.
KRELAY = ["krelay", "krelay_kernel"]


def name(p, metric):
    return "krelay" if p == "krelay" and metric.startswith("udp") else NAMES[p]


def load(path):
    runs = collections.defaultdict(list)
    for line in open(path):
        key, _, val = line.rstrip("\n").partition(" ")
        runs[key].append(val.strip('"'))
    return runs


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def median(runs, key):
    vals = [x for x in (num(v) for v in runs.get(key, [])) if x is not None]
    return statistics.median(vals) if vals else None


def fmt(v, unit=""):
    if v is None:
        return "-"
    if abs(v) >= 100:
        s = "%.0f" % v
    elif abs(v) >= 10:
        s = "%.1f" % v
    else:
        s = "%.2f" % v
    return s + unit


def ifmt(v):
    """A count: a whole number."""
    return "-" if v is None else "%.0f" % v


def runs_fmt(runs, key):
    return ", ".join(fmt(num(v)) for v in runs.get(key, []))


def ratio(a, b):
    return None if a is None or not b else a / b


def rows(runs):
    """(work, unit, higher_is_better, {path: median}) per line."""
    out = []
    for work, unit, metric, paths in [
        ("UDP DNS queries/s", "q/s", "udp.%s.qps", ["routed", "nft", "krelay"]),
        ("TCP bulk, 1 stream", "Mbit/s", "bulk1.%s.mbps", PATHS),
        ("TCP bulk, 8 streams", "Mbit/s", "bulk8.%s.mbps", PATHS),
        ("HTTP conn/s, 32 concurrent", "conn/s", "conn32.%s.cps", PATHS),
        ("HTTP conn/s, 256 concurrent", "conn/s", "conn256.%s.cps", PATHS),
    ]:
        out.append((work, unit, metric,
                    {p: median(runs, metric % p) for p in paths}))
    return out


def summary(runs):
    """Each krelay mode against routed and against the best alternative
    (for UDP, krelay's one mode in the tcp_relay columns)."""
    lines = ["| work | routed | krelay (tcp_relay) | / routed | / best alt. "
             "| krelay (kernel) | / routed | / best alt. | best alternative |",
             "|---|---|---|---|---|---|---|---|---|"]
    for work, unit, metric, vals in rows(runs):
        if all(v is None for v in vals.values()):
            continue
        alts = {p: v for p, v in vals.items()
                if p != "routed" and p not in KRELAY and v is not None}
        best = max(alts, key=alts.get) if alts else None
        cells = []
        for p in KRELAY:
            v = vals.get(p)
            cells += [fmt(v), fmt(ratio(v, vals.get("routed"))),
                      fmt(ratio(v, alts.get(best)))]
        lines.append("| %s (%s) | %s | %s | %s |" % (
            work, unit, fmt(vals.get("routed")), " | ".join(cells),
            "%s %s" % (name(best, metric), fmt(alts[best])) if best else "-"))
    return "\n".join(lines) if len(lines) > 2 else ""


def detail(runs):
    out = []
    for work, unit, metric, vals in rows(runs):
        out.append("### %s (%s, median of %d)\n" % (
            work, unit, len(runs.get(metric % "routed", []))))
        lat = metric.rsplit(".", 1)[0]
        haslat = not metric.startswith("bulk")
        head = "| path | client address kept | %s | ratio to routed | runs |" % unit
        sep = "|---|---|---|---|---|"
        if haslat:
            head += " p50 ms | p99 ms |"
            sep += "---|---|"
        if metric.startswith("conn"):
            head += " requests / accepts at the server |"
            sep += "---|"
        out += [head, sep]
        for p, v in vals.items():
            line = "| %s | %s | %s | %s | %s |" % (
                name(p, metric), KEEPS[p], fmt(v), fmt(ratio(v, vals.get("routed"))),
                ", ".join(runs.get(metric % p, [])))
            if haslat:
                line += " %s | %s |" % (fmt(median(runs, (lat % p) + ".p50_ms")),
                                         fmt(median(runs, (lat % p) + ".p99_ms")))
            if metric.startswith("conn"):
                rq = sum(num(x) or 0 for x in runs.get((lat % p) + ".requests", []))
                ac = sum(num(x) or 0 for x in runs.get((lat % p) + ".accepts", []))
                line += " %d / %d%s |" % (rq, ac, "" if ac >= rq else
                                           " **fewer accepts than requests: "
                                           "connections were reused**")
            out.append(line)
        out.append("")
    return "\n".join(out)


def memory(runs):
    g = lambda k: runs.get(k, ["-"])[-1]
    return "\n".join([
        "| what | bytes |", "|---|---|",
        "| krelay NAT entry (slab object, `krelay_flow`) | %s |" % g("mem.krelay.flow_objsize"),
        "| conntrack entry (slab object, `nf_conntrack`) | %s |" % g("mem.nft.conntrack_objsize"),
        "| tcp_relay private memory per relayed connection (children) | %s |" % g("mem.tcp_relay.private_bytes_per_conn"),
        "| tcp_relay parent, private | %s |" % fmt((num(g("mem.tcp_relay.parent_private_kb")) or 0) * 1024),
        "| HAProxy private memory per connection | %s |" % g("mem.haproxy.private_bytes_per_conn"),
        "", "The whole guest's memory per held idle connection (MemTotal - "
        "MemAvailable: slab, sockets and processes; client and server ends "
        "included), %s connections held per path (socat, a process each: "
        "200), measured once all are established at the server:" % g("mem.held"), "",
        "| path | bytes per connection | ratio to HAProxy | opened / at the server |",
        "|---|---|---|---|"] + [
        "| %s | %s | %s | %s / %s |" % (
            NAMES[p], g("mem.%s.system_bytes_per_conn" % p),
            fmt(ratio(num(g("mem.%s.system_bytes_per_conn" % p)),
                      num(g("mem.haproxy.system_bytes_per_conn")))),
            g("mem.%s.opened" % p), g("mem.%s.at_server" % p)) for p in PATHS])


def scale(runs):
    lines = ["| NAT entries | entries present | krelay UDP q/s | p50 ms | p99 ms |",
             "|---|---|---|---|---|"]
    for n in (1000, 60000):
        k = "scale.entries%d" % n
        lines.append("| %d | %s | %s | %s | %s |" % (
            n, runs.get(k + ".entries", ["-"])[-1], fmt(median(runs, k + ".qps")),
            fmt(median(runs, k + ".p50_ms")), fmt(median(runs, k + ".p99_ms"))))
    g = lambda k: runs.get("scale.conn1000." + k, ["-"])[-1]
    lines += ["", "1,000 concurrent relayed connections: %s opened, %s established "
              "at the server, %s TCP NAT entries, %s tcp_relay children." % (
                  g("opened"), g("at_server"), g("nat_tcp"), g("children"))]
    return "\n".join(lines)


def profile(runs):
    """krelay conn/s with an earlier tcp_relay and the current one."""
    if not any(k.startswith("profile.") for k in runs):
        return ""
    lines = ["## tcp_relay before and after", "",
             "| tcp_relay | conn/s, 32 | conn/s, 256 | p50 ms, 32 | p99 ms, 32 "
             "| forks per 1,000 connections (32) |", "|---|---|---|---|---|---|"]
    for v in ("before", "after", "next"):
        if not runs.get("profile.%s.conn32.cps" % v):
            continue
        k = "profile.%s.conn" % v
        cps = median(runs, k + "32.cps")
        forks = median(runs, k + "32.forks")
        reqs = median(runs, k + "32.requests")
        lines.append("| %s | %s | %s | %s | %s | %s |" % (
            v, fmt(cps), fmt(median(runs, k + "256.cps")),
            fmt(median(runs, k + "32.p50_ms")), fmt(median(runs, k + "32.p99_ms")),
            fmt(1000 * forks / reqs if forks is not None and reqs else None)))
    return "\n".join(lines) + "\n"


def has(runs, prefix):
    return any(k.startswith(prefix) for k in runs)


FLOODS = [("none", "no flood"), ("syn", "spoofed SYN flood"),
          ("dns", "spoofed DNS flood")]
FLOOD_WORKS = [("conn", "HTTP conn/s, 32 concurrent", "conn/s", "cps"),
               ("dns", "UDP DNS queries/s", "q/s", "qps")]


def flood_summary(runs):
    """krelay's figures under each flood, as a ratio to no flood."""
    lines = ["| krelay, table full of spoofed flows | no flood | SYN flood "
             "| ratio | DNS flood | ratio |", "|---|---|---|---|---|---|"]
    for work, name, unit, metric in FLOOD_WORKS:
        base = median(runs, "flood.none.%s.%s" % (work, metric))
        cells = []
        for kind in ("syn", "dns"):
            v = median(runs, "flood.%s.%s.%s" % (kind, work, metric))
            cells += [fmt(v), fmt(ratio(v, base))]
        lines.append("| %s (%s) | %s | %s |" % (name, unit, fmt(base),
                                                 " | ".join(cells)))
    return "\n".join(lines)


def flood_detail(runs):
    g = lambda k: runs.get(k, ["-"])[-1]
    lines = [
        "max_entries %s; each flood at a fixed %s packets/s from the client's "
        "namespace (benchtool flood: raw socket, spoofed sources %s, a new "
        "tuple per packet); SYNs go to krelay's HTTP port (the relay's own "
        "stack answers them), DNS queries to its DNS port (the server "
        "answers them); the answers go to a MAC nobody has. The table is "
        "full (90 %% of max_entries) before each measure starts; the figures "
        "with no flood are taken with the same max_entries, in the same "
        "rounds. Goal: HTTP conn/s under a flood at least 0.5 of no flood." % (
            g("flood.max_entries"), g("flood.rate_pps"), "10.0.0.100-250"), "",
        "| work, flood | median | runs | entries at start | evicted | "
        "refused (table full) | wrk errors | guest CPU busy % | generator "
        "pps | generator CPU %, all (user) | behind |",
        "|---|---|---|---|---|---|---|---|---|---|---|"]
    for work, name, unit, metric in FLOOD_WORKS:
        for kind, kname in FLOODS:
            k = "flood.%s.%s" % (kind, work)
            if not runs.get(k + "." + metric):
                continue
            errs = [e for e in runs.get(k + ".errors", []) if e != "0"]
            lines.append("| %s, %s | %s %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                name, kname, fmt(median(runs, k + "." + metric)), unit,
                runs_fmt(runs, k + "." + metric),
                ifmt(median(runs, k + ".entries_before")),
                ifmt(median(runs, k + ".evicted")),
                ifmt(median(runs, k + ".drop_table_full")),
                "; ".join(errs).replace("_", " ") if errs else ("0" if work == "conn" else "-"),
                ifmt(median(runs, k + ".cpu_busy_pct")),
                ifmt(median(runs, k + ".flood_pps")),
                "%s (%s)" % (fmt(median(runs, k + ".flood_cpu_pct")),
                             fmt(median(runs, k + ".flood_user_pct"))),
                ifmt(median(runs, k + ".flood_behind"))))
    lines += ["", "The generator's CPU is its process time in the guest: the "
              "system part holds the relay's own work on its packets, which "
              "the kernel does on the way out of the sending socket (veth); "
              "building the packets is the user part. The flood, the client, "
              "the relay and the server share the guest's 2 vCPUs: part of "
              "the drop under a flood is that CPU, which a real relay would "
              "not share with the attacker and the server."]
    return "\n".join(lines)


def lookup_sizes(runs):
    sizes = sorted({int(k.split(".")[1][1:]) for k in runs
                    if k.startswith("lookup.e") and k.endswith(".qps")
                    and k.split(".")[1][1:].isdigit()})
    return [n for n in sizes if n]


def lookup_base(runs):
    """The empty table's median, every cycle pooled."""
    vals = [num(v) for v in runs.get("lookup.e0.qps", []) +
            runs.get("lookup.e0after.qps", [])]
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def by_cycle(runs, key, value):
    """{cycle: median of value(run)} for the runs of lookup.KEY, where
    value reads one run's figures (index i of each list)."""
    cycles = runs.get("lookup.%s.cycle" % key, [])
    groups = collections.defaultdict(list)
    for i, c in enumerate(cycles):
        v = value("lookup." + key, i)
        if v is not None:
            groups[c].append(v)
    return {c: statistics.median(v) for c, v in groups.items() if v}


def cycle_ratios(runs, n, per_query_cpu=False):
    """Size n against the empty table of the same cycle, one ratio a cycle:
    q/s, or (per_query_cpu) the guest's CPU busy per query."""
    def at(k, i, m):
        vals = runs.get("%s.%s" % (k, m), [])
        return num(vals[i]) if i < len(vals) else None

    def value(k, i):
        q = at(k, i, "qps")
        if not per_query_cpu:
            return q
        b = at(k, i, "busy_pct")
        return b / q if b is not None and q else None
    full = by_cycle(runs, "e%d" % n, value)
    empty = by_cycle(runs, "e0", value)
    return [full[c] / empty[c] for c in sorted(full, key=int)
            if c in empty and empty[c]]


def ratios_fmt(rs):
    """The median of per-cycle ratios, and each."""
    if not rs:
        return "-"
    return "%s (%s)" % (fmt(statistics.median(rs)), ", ".join(fmt(r) for r in rs))


def lookup_summary(runs):
    base = lookup_base(runs)
    lines = ["| krelay UDP DNS q/s, other flows in the table | empty | %s |" %
             " | ".join("%s" % "{:,}".format(n) for n in lookup_sizes(runs)),
             "|---|---|" + "---|" * len(lookup_sizes(runs))]
    lines.append("| q/s (ratio to empty) | %s | %s |" % (fmt(base), " | ".join(
        "%s (%s)" % (fmt(median(runs, "lookup.e%d.qps" % n)),
                     fmt(ratio(median(runs, "lookup.e%d.qps" % n), base)))
        for n in lookup_sizes(runs))))
    if has(runs, "lookup.e0.cycle"):
        lines.append("| q/s, ratio to empty within a cycle: median (each cycle) | 1 | %s |" % (
            " | ".join(ratios_fmt(cycle_ratios(runs, n)) for n in lookup_sizes(runs))))
        lines.append("| CPU per query, ratio to empty within a cycle: median (each cycle) | 1 | %s |" % (
            " | ".join(ratios_fmt(cycle_ratios(runs, n, True)) for n in lookup_sizes(runs))))
    page0 = median(runs, "lookup.e1000.page_us")
    if has(runs, "lookup.e1000.page_us"):
        lines.append("| a page of 1000 (TABLE_PAGE), µs (ratio to 1,000 entries) | %s | %s |" % (
            fmt(median(runs, "lookup.e0.page_us")), " | ".join(
                "%s (%s)" % (fmt(median(runs, "lookup.e%d.page_us" % n)),
                             fmt(ratio(median(runs, "lookup.e%d.page_us" % n), page0)))
                for n in lookup_sizes(runs))))
    return "\n".join(lines)


def lookup_detail(runs):
    base = lookup_base(runs)
    lines = ["The table filled with UDP flows from spoofed sources "
             "(10.0.0.100-250, benchtool flood; the server drops them), "
             "udp_timeout 900 s and max_entries raised; krelay's DNS q/s "
             "(dnsperf, runs of %s s) against the empty table; hash buckets "
             "(hashsize): %s. The part runs in cycles: a flushed table, its "
             "runs, then each size in turn; a cycle's ratio compares a size "
             "with the empty table of the same cycle, minutes apart at most, "
             "so the drift of a shared host's speed over the whole part "
             "weighs less. CPU per query: the guest's CPU busy during a run "
             "over its q/s (dnsperf, the echo server and every packet's way "
             "through the kernel: the whole cost of a query, of which the "
             "table lookup is part). Idle CPU: the guest's, 2 s without "
             "traffic (the GC's share). Goal: 1M entries cost at most 10 %%, "
             "a q/s ratio of at least 0.9. dnsperf keeps %s queries "
             "outstanding." %
             (runs.get("meta.lookup_dur", [runs.get("meta.dur", ["?"])[-1]])[-1],
              runs.get("meta.hashsize", ["?"])[-1],
              runs.get("meta.lookup_q", ["32"])[-1]), "",
             "| other flows | entries present | q/s | ratio to empty | runs "
             "| p50 ms | p99 ms | CPU busy % | idle CPU % | memory in use | fill rate pps |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    mem0 = median(runs, "lookup.e0.mem_used_kb")
    for key, label in [("e0", "none (flushed)")] + [
            ("e%d" % n, "{:,}".format(n)) for n in lookup_sizes(runs)] + [
            ("e0after", "none (after a flush)")]:
        k = "lookup." + key
        if not runs.get(k + ".qps"):
            continue
        memkb = median(runs, k + ".mem_used_kb")
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            label, runs.get(k + ".entries", ["0" if key.startswith("e0") else "-"])[-1],
            fmt(median(runs, k + ".qps")),
            fmt(ratio(median(runs, k + ".qps"), base)),
            runs_fmt(runs, k + ".qps"),
            fmt(median(runs, k + ".p50_ms")), fmt(median(runs, k + ".p99_ms")),
            ifmt(median(runs, k + ".busy_pct")),
            ifmt(median(runs, k + ".idle_cpu_pct")),
            "%s MB (%+.0f)" % (ifmt(memkb / 1024), (memkb - mem0) / 1024)
            if memkb is not None and mem0 is not None else "-",
            runs.get(k + ".fill_pps", ["-"])[-1]))
    return "\n".join(lines)


LOSSY_PATHS = ["routed", "nft", "haproxy", "krelay", "krelay_bbr", "krelay_kernel"]
LOSSY_NAMES = dict(NAMES, krelay_bbr="krelay (tcp_relay), client_cc bbr")


def lossy_summary(runs):
    """Goodput and fetch times on the long paths, each path's median with
    its ratio to routed's."""
    lines = ["| long paths: %s | %s |" % (
        "netem on every link, %s" % runs.get("meta.lossy_rate", ["?"])[-1],
        " | ".join(LOSSY_NAMES[p] for p in LOSSY_PATHS)),
        "|---|" + "---|" * len(LOSSY_PATHS)]
    for cond, work, metric in [
            ("lossy", "lossy: download, 1 stream, Mbit/s", "down1.mbps"),
            ("lossy", "lossy: download, 4 streams, Mbit/s", "down4.mbps"),
            ("lossy", "lossy: upload, 1 stream, Mbit/s", "up1.mbps"),
            ("lossy", "lossy: upload, 4 streams, Mbit/s", "up4.mbps"),
            ("lossy", "lossy: fetch 1 MB, ms (lower is better)", "fetch_ms"),
            ("clean", "clean: download, 1 stream, Mbit/s", "down1.mbps"),
            ("clean", "clean: fetch 1 MB, ms (lower is better)", "fetch_ms")]:
        key = lambda p: "lossy.%s.%s.%s" % (cond, p, metric)
        if not has(runs, "lossy.%s." % cond):
            continue
        base = median(runs, key("routed"))
        lines.append("| %s | %s |" % (work, " | ".join(
            "%s (%s)" % (fmt(median(runs, key(p))), fmt(ratio(median(runs, key(p)), base)))
            for p in LOSSY_PATHS)))
    return "\n".join(lines)


def lossy_detail(runs):
    seen = lambda p: ", ".join(
        "%s x%d" % (cc, n) for cc, n in sorted(collections.Counter(
            runs.get("lossy.lossy.%s.cc" % p, []) +
            runs.get("lossy.clean.%s.cc" % p, [])).items()))
    return "\n".join([
        "netem on both ends of each veth link (each way); GSO, TSO and GRO "
        "off on them and gso_max_segs %s, so that netem sees one segment a "
        "packet (TCP's software GSO included); bulk: iperf3 for %s s after "
        "1 s left out, download "
        "= server to client (-R), the median of the runs; fetch: curl's "
        "total time for a 1 MB object from python's http.server, three "
        "fetches a run. The relay's side of the client leg is what "
        "client_cc sets: it sends the downloads. Lossy:" % (
            runs.get("lossy.gso_max_segs", ["?"])[-1],
            runs.get("meta.lossy_dur", ["?"])[-1]), "",
        "- the relay's side of the client leg | of the server leg: %s" %
        runs.get("lossy.netem.lossy", ["?"])[-1],
        "- clean: %s" % runs.get("lossy.netem.clean", ["?"])[-1], "",
        "Congestion control on the client leg, as ss showed it during the "
        "downloads: krelay %s; krelay with client_cc bbr %s; krelay in "
        "kernel mode %s." % (seen("krelay") or "-", seen("krelay_bbr") or "-",
                             seen("krelay_kernel") or "-"), "",
        "| path | lossy down 1 (runs) | lossy down 4 (runs) | clean down 1 (runs) |",
        "|---|---|---|---|"] + [
        "| %s | %s | %s | %s |" % (LOSSY_NAMES[p],
                                   runs_fmt(runs, "lossy.lossy.%s.down1.mbps" % p),
                                   runs_fmt(runs, "lossy.lossy.%s.down4.mbps" % p),
                                   runs_fmt(runs, "lossy.clean.%s.down1.mbps" % p))
        for p in LOSSY_PATHS])


def main():
    raw, resdir = sys.argv[1], sys.argv[2]
    runs = load(raw)
    now = datetime.datetime.utcnow()
    meta = lambda k: runs.get("meta." + k, ["?"])[-1]
    table = "\n\n".join(t for t in [
        summary(runs),
        flood_summary(runs) if has(runs, "flood.") else "",
        lookup_summary(runs) if has(runs, "lookup.") else "",
        lossy_summary(runs) if has(runs, "lossy.") else ""] if t)
    rep = ["# krelay bench, %s UTC" % now.strftime("%Y-%m-%d %H:%M"), "",
           "Guest kernel %s under QEMU TCG (software emulation, %s vCPUs, "
           "slub_debug %s) on %s (%s); host kernel %s. Each figure is the median "
           "of %s runs of %s s. Under emulation absolute numbers mean little: "
           "read the ratios, all taken in the same boot on the same topology." % (
               meta("kernel"), meta("ncpu"), meta("slub_debug"), platform.node(), meta("cpu"),
               platform.release(), meta("reps"), meta("dur")), "",
           "Client address seen by the server: kept by routing, nftables DNAT "
           "and krelay; HAProxy and socat connect from the relay's own address.",
           "", "## Summary", "", table, ""]
    if any(has(runs, w + ".") for w in ("udp", "bulk1", "bulk8", "conn32", "conn256")):
        rep += ["## Details", "", detail(runs)]
    if has(runs, "mem."):
        rep += ["## Memory", "", memory(runs), ""]
    if has(runs, "scale."):
        rep += ["## Scale", "", scale(runs), ""]
    if has(runs, "flood."):
        rep += ["## Under a flood that fills the table", "", flood_detail(runs), ""]
    if has(runs, "lookup."):
        rep += ["## Lookup cost: q/s with the table full of other flows", "",
                lookup_detail(runs), ""]
    if has(runs, "lossy."):
        rep += ["## Long and lossy paths", "", lossy_detail(runs), ""]
    rep += [profile(runs)]
    os.makedirs(resdir, exist_ok=True)
    path = os.path.join(resdir, now.strftime("%Y-%m-%d-%H%M") + ".md")
    with open(path, "w") as f:
        f.write("\n".join(rep))
    print(table)
    print("\nbench: report in %s" % path)


if __name__ == "__main__":
    main()

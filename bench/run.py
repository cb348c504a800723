#!/usr/bin/env python3
"""Side-by-side benchmark of byok-server against a direct mock upstream and a
plain nginx reverse proxy (and, with --with-litellm, LiteLLM proxy; with
--with-portkey, Portkey's open-source gateway), in one run on one machine.
Everything binds to 127.0.0.1, runs for bounded time, and stops only the
processes it started.

    bench/run                       # direct, nginx proxy, the floor (byok's stack, no gateway work), byok
    bench/run --with-litellm        # + LiteLLM (installed from PyPI into bench/.venv-litellm)
    bench/run --with-portkey        # + Portkey's gateway (installed from npm into bench/.portkey)
    bench/run --scaling             # byok chat at c=1, 32, 256, 1024: SQLite stores and PostgreSQL stores
    bench/run --duration 5          # seconds per wrk run (default 10)
    bench/run --pairs 5             # + the two throughput ratios as 5 interleaved nginx/byok pairs (median)
    bench/run --serve 600           # keep mock + nginx + byok up for profiling (prints URLs, pid, key)
    bench/run --serve 600 --server-wrapper "valgrind --tool=callgrind"   # byok under a profiler
    bench/run --callgrind 2000      # instructions per request of each byok target (and the floor), under callgrind
    bench/run --no-build --bin-dir /other/target/release   # another build (e.g. a before/after pair)
    bench/run --no-build --server-bin target/pgo/use/release/byok-server   # the PGO build (scripts/pgo-build)
    bench/run --train 40            # drive a varied workload through byok, then stop it (scripts/pgo-build's profile run)

Targets: chat completions (OpenAI dialect, the verbatim fast path), and the
pass-through routes /api/v1/messages (Anthropic) and /api/v1/responses
(OpenAI Responses), each non-streamed (wrk) and streamed; a route the
server does not have (an older build) is reported as skipped.

Needs: nginx and wrk (Debian packages), a release build of byok-server and
the mock_upstream example (the script builds them); --with-portkey needs
Node.js and npm, the byok-pg target and --scaling's PostgreSQL half need
PostgreSQL (scripts/postgres). Load generator: wrk (a C event loop: it is never the bottleneck at these rates and reports
latency percentiles with HdrHistogram), for streams too (c=32, each streamed
answer read whole: the streaming throughput); streaming time-to-first/last-byte
and the 1,000-open-streams memory test use a small asyncio client in this file
(it tops out near the mock's own rate, so its streams/s are not a throughput).
"""
import argparse
import asyncio
import json
import os
import platform
import re
import resource
import shutil
import statistics
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port}")


def cpu_ticks(pid):
    return sum(cpu_split(pid))


def cpu_split(pid):
    """A process's CPU ticks so far, all threads: (user, kernel)."""
    with open(f"/proc/{pid}/stat") as f:
        return stat_ticks(f.read())


def stat_ticks(stat):
    """(user, kernel) CPU ticks of a /proc `stat` line."""
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[11]), int(fields[12])


def task_files(pid, name):
    """The `name` file (`status`, `stat`) of each live thread of a process;
    a thread that ends meanwhile is skipped."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/{name}") as f:
                yield f.read()
        except FileNotFoundError:
            pass


def preemptions(pid):
    """Involuntary context switches of a process's live threads so far: how
    often the scheduler took a core from it while it could still run. A
    thread that exits takes its count with it, so a difference of two
    readings can undercount when threads come and go (byok's workers, ledger
    and vault threads live as long as the process; blocking-pool threads,
    which settle an answer without reported usage, may not)."""
    return sum(int(line.split()[1]) for status in task_files(pid, "status")
               for line in status.splitlines() if line.startswith("nonvoluntary_ctxt_switches:"))


def thread_ticks(pid, name):
    """CPU ticks so far (user + kernel) of a process's live threads named
    `name` (byok's ledger writer is `byok-ledger`; its sweeper,
    `byok-ledger-sweeper`, is not counted)."""
    return sum(sum(stat_ticks(stat)) for stat in task_files(pid, "stat")
               if stat[stat.index("(") + 1:stat.rindex(")")] == name)


def rss_kib(pid, field="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def children_pids(pid):
    try:
        out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
        return [int(p) for p in out]
    except Exception:
        return []


def raise_nofile(want=65536):
    """c=1024 needs that many sockets in wrk, twice as many in a gateway
    (client and upstream side), and more in the mock: raise the soft limit
    of open files (inherited by everything started here) up to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def mock_requests(port):
    """Requests the nginx mock has answered so far (its stub_status), this one included."""
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/nginx-status")
        text = conn.getresponse().read().decode()
    finally:
        conn.close()
    # "Active connections: N \nserver accepts handled requests\n A H R \n..."
    return int(text.splitlines()[2].split()[2])


def settle(port, timeout=15):
    """Waits until the mock has seen no request for 0.3 s (a gateway may still
    be working through requests a load run left queued, which would land in
    the next run); returns the mock's count."""
    end = time.time() + timeout
    last = mock_requests(port)
    while time.time() < end:
        time.sleep(0.3)
        now = mock_requests(port)
        if now == last + 1:  # only this count's own request
            return now
        last = now
    return last


class Procs:
    def __init__(self):
        self.started = []

    def start(self, args, **kw):
        p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, **kw)
        self.started.append(p)
        return p

    def stop_all(self):
        for p in reversed(self.started):
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for p in self.started:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)


def nginx_conf(tmp, name, body):
    path = os.path.join(tmp, f"{name}.conf")
    with open(path, "w") as f:
        f.write(f"""worker_processes 1;
daemon off;
pid {tmp}/{name}.pid;
error_log {tmp}/{name}.err warn;
events {{ worker_connections 16384; }}
http {{
  access_log off;
  {body}
}}
""")
    return path


def parse_wrk(out):
    res = {"rps": 0.0, "p50_ms": None, "p90_ms": None, "p99_ms": None, "errors": 0, "requests": 0}
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if m:
        res["rps"] = float(m.group(1))
    m = re.search(r"(\d+) requests in", out)
    if m:
        res["requests"] = int(m.group(1))
    for pct, key in (("50", "p50_ms"), ("90", "p90_ms"), ("99", "p99_ms")):
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if m:
            v = float(m.group(1))
            res[key] = {"us": v / 1000, "ms": v, "s": v * 1000}[m.group(2)]
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        res["errors"] += int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        res["errors"] += sum(int(x) for x in m.groups())
    return res


def wrk(url, script, conc, duration, pid, timeout_s=None):
    threads = min(conc, 2)  # wrk wants at least one connection per thread
    before = cpu_split(pid) if pid else (0, 0)
    switched = preemptions(pid) if pid else 0
    ledger = thread_ticks(pid, "byok-ledger") if pid else 0
    extra = ["--timeout", f"{timeout_s}s"] if timeout_s else []
    out = subprocess.run(["wrk", "-t", str(threads), "-c", str(conc), "-d", f"{duration}s", "--latency", *extra, "-s", script, url],
                         capture_output=True, text=True, timeout=duration + 60 + (timeout_s or 0)).stdout
    res = parse_wrk(out)
    if pid and res["requests"]:
        user, kernel = (after - b for after, b in zip(cpu_split(pid), before))
        res["cpu_us_per_req"] = round((user + kernel) / CLK * 1e6 / res["requests"], 1)
        res["kernel_us_per_req"] = round(kernel / CLK * 1e6 / res["requests"], 1)
        res["preempted_per_req"] = round(max(preemptions(pid) - switched, 0) / res["requests"], 2)
        # The durable ledger's share, measured: its writer thread's CPU.
        res["ledger_us_per_req"] = round((thread_ticks(pid, "byok-ledger") - ledger) / CLK * 1e6 / res["requests"], 1)
    return res


def lua(path, body, headers):
    hdr = "".join(f'wrk.headers["{k}"] = "{v}"\n' for k, v in headers.items())
    with open(path, "w") as f:
        f.write(f'wrk.method = "POST"\nwrk.body = [[{body}]]\nwrk.headers["Content-Type"] = "application/json"\n{hdr}')
    return path


STREAM_TIMEOUT_S = 60


async def one_stream(host, port, path, body, headers, done=b"[DONE]"):
    reader, writer = await asyncio.open_connection(host, port)
    hdr = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    req = (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n{hdr}"
           f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n{body}").encode()
    t0 = time.perf_counter()
    writer.write(req)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    first = await reader.read(1)
    t_first = time.perf_counter() - t0
    # The body ends at the connection's end, or at its framing's: a server
    # may keep the connection open despite "Connection: close" (Portkey's
    # gateway copies the upstream's "connection: keep-alive" into its answer).
    lower = head.lower()
    chunked = b"transfer-encoding: chunked" in lower
    m = re.search(rb"content-length:\s*(\d+)", lower)
    length = int(m.group(1)) if m and not chunked else None
    body = first
    while not ((chunked and body.endswith(b"\r\n0\r\n\r\n")) or (length is not None and len(body) >= length)):
        data = await reader.read(65536)
        if not data:
            break
        body += data
    t_last = time.perf_counter() - t0
    writer.close()
    ok = head.startswith(b"HTTP/1.1 200") and (done in body)
    return t_first, t_last, ok


async def streams(host, port, path, body, headers, conc, total, pid=None, done=b"[DONE]"):
    sem = asyncio.Semaphore(conc)
    before = cpu_ticks(pid) if pid else 0
    results = []

    async def run():
        async with sem:
            t = time.perf_counter()
            try:
                results.append(await asyncio.wait_for(one_stream(host, port, path, body, headers, done), STREAM_TIMEOUT_S))
            except asyncio.TimeoutError:  # an error, not a hung run
                results.append((time.perf_counter() - t, time.perf_counter() - t, False))

    t0 = time.perf_counter()
    await asyncio.gather(*(run() for _ in range(total)))
    elapsed = time.perf_counter() - t0
    firsts = sorted(r[0] * 1000 for r in results)
    lasts = sorted(r[1] * 1000 for r in results)
    pct = lambda xs, p: round(xs[min(len(xs) - 1, int(len(xs) * p))], 3)
    res = {"rps": round(total / elapsed, 1), "ttfb_p50_ms": pct(firsts, 0.5), "ttfb_p99_ms": pct(firsts, 0.99),
           "ttlb_p50_ms": pct(lasts, 0.5), "ttlb_p99_ms": pct(lasts, 0.99), "errors": sum(1 for r in results if not r[2])}
    if pid:
        res["cpu_us_per_stream"] = round((cpu_ticks(pid) - before) / CLK * 1e6 / total, 1)
    return res


async def open_streams(host, port, path, body, headers, n, pid):
    """Holds n streams open against a slow upstream; returns the peak RSS seen."""
    peak = 0

    async def sampler(stop):
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, rss_kib(pid))
            await asyncio.sleep(0.05)

    stop = asyncio.Event()
    task = asyncio.create_task(sampler(stop))
    results = await asyncio.gather(*(one_stream(host, port, path, body, headers) for _ in range(n)), return_exceptions=True)
    stop.set()
    await task
    ok = sum(1 for r in results if not isinstance(r, Exception) and r[2])
    return peak, ok


def machine():
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "")
    except OSError:
        pass
    mem = rss = 0
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1])
    return {"cpus": os.cpu_count(), "cpu": cpu, "mem_gib": round(mem / 1024 / 1024, 1), "kernel": platform.release(),
            "wrk": subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()[0] if shutil.which("wrk") else "",
            "nginx": subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip()}


# The byok targets: route path, the request's headers beyond the key, the
# streamed request's end marker (the last event of the protocol's stream).
BYOK_TARGETS = ("byok", "byok-messages", "byok-responses")
# byok-pg: the chat route of a second gateway whose stores are in PostgreSQL
# (a throwaway server from scripts/postgres), next to the SQLite one.
# floor: the same HTTP stack as byok (actix-web, its upstream client) doing
# none of a gateway's work (examples/floor_proxy.rs): what the stack alone
# costs, against nginx; what the gateway's work costs, byok against it.
ALL_TARGETS = ("direct", "nginx", "floor") + BYOK_TARGETS + ("byok-pg",)
# --scaling: the chat target on each store, at these wrk connection counts.
SCALING_TARGETS = ("byok", "byok-pg")
SCALING_CONCS = (1, 32, 256, 1024)
# --with-portkey: Portkey's open-source gateway from npm, pinned so that runs
# compare. Its 1.15.2 build mutates the headers of the response it streams
# back, which @hono/node-server 1.14.2 and later hand over as fetch()'s
# immutable Headers: every streamed request fails with "TypeError: immutable"
# (Portkey-AI/gateway issues 1389 and 1550; seen here with 1.14.2 and with
# 1.19.19, npm's pick in November 2026). With 1.14.1 (and 1.13.8) it streams;
# the non-streamed path works with either.
PORTKEY_VERSION = "1.15.2"
PORTKEY_HONO_NODE_SERVER = "1.14.1"


def request_bodies():
    content = "Summarise the following text. " + ("lorem ipsum dolor sit amet " * 34)
    msgs = [{"role": "user", "content": content}]
    return content, {
        # chat completions, OpenAI dialect: non-streamed to openai, streamed to groq (both verbatim fast paths)
        "byok": (json.dumps({"model": "gpt-4o-mini", "max_tokens": 256, "messages": msgs}),
                 json.dumps({"model": "llama-3.1-8b-instant", "stream": True, "max_tokens": 256, "messages": msgs})),
        # Anthropic Messages, passed through to anthropic (a claude-* model routes there)
        "byok-messages": (json.dumps({"model": "claude-sonnet-4-5", "max_tokens": 256, "messages": msgs}),
                          json.dumps({"model": "claude-sonnet-4-5", "max_tokens": 256, "stream": True, "messages": msgs})),
        # OpenAI Responses, passed through to openai-responses
        "byok-responses": (json.dumps({"model": "gpt-4.1", "max_output_tokens": 256, "input": content}),
                           json.dumps({"model": "gpt-4.1", "max_output_tokens": 256, "stream": True, "input": content})),
        # Portkey's gateway, OpenAI provider with a custom host (the mock): the same chat request
        "portkey": (json.dumps({"model": "gpt-4o-mini", "max_tokens": 256, "messages": msgs}),
                    json.dumps({"model": "gpt-4o-mini", "stream": True, "max_tokens": 256, "messages": msgs})),
    }


def byok_routes(auth):
    """name -> (path, headers for the non-streamed request, for the streamed one, the stream's end marker)."""
    return {
        "byok": ("/api/v1/chat/completions", {**auth, "x-byok-provider": "openai"}, {**auth, "x-byok-provider": "groq"}, b"[DONE]"),
        "byok-messages": ("/api/v1/messages", {**auth, "anthropic-version": "2023-06-01"},
                          {**auth, "anthropic-version": "2023-06-01"}, b"message_stop"),
        "byok-responses": ("/api/v1/responses", {**auth, "x-byok-provider": "openai-responses"},
                           {**auth, "x-byok-provider": "openai-responses"}, b"response.completed"),
    }


def probe(port, path, body, headers, limit=300):
    """The status of one request (a route an older build lacks is a 404) and its body's first `limit` bytes (None: all)."""
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json", **headers})
        r = conn.getresponse()
        return r.status, r.read()[:limit]
    finally:
        conn.close()


def sequential(port, path, body, headers, n):
    """n non-streamed requests one after another on one keep-alive connection."""
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    bad = 0
    try:
        for _ in range(n):
            conn.request("POST", path, body=body, headers={"Content-Type": "application/json", **headers})
            r = conn.getresponse()
            r.read()
            bad += r.status != 200
    finally:
        conn.close()
    return bad


def callgrind_total(path):
    with open(path) as f:
        for line in f:
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    raise RuntimeError(f"no totals in {path}")


def callgrind_counts(args, byok, byok_port, bodies, routes, out_file, floor=None):
    """Instructions per request (and per stream) of each byok target: the
    counters zeroed after a warm-up, n requests, then dumped. The ledger
    writer's amortised commits are included (all threads are counted).
    `floor`: (process, port, its callgrind file) of the floor proxy under
    callgrind, measured the same way on the mock's own paths."""
    n = args.callgrind
    results = {}
    dumps = {}

    def measure(label, run, proc=byok, out=out_file):
        subprocess.run(["callgrind_control", "-z", str(proc.pid)], check=True, capture_output=True)
        bad = run()
        time.sleep(0.3)  # the ledger's commit window (10 ms), then the dump
        subprocess.run(["callgrind_control", "-d", label, str(proc.pid)], check=True, capture_output=True)
        dumps[out] = dumps.get(out, 0) + 1
        path = f"{out}.{dumps[out]}"
        for _ in range(100):
            if os.path.exists(path):
                break
            time.sleep(0.1)
        time.sleep(0.5)
        total = callgrind_total(path)
        os.makedirs(args.out, exist_ok=True)
        shutil.copy(path, os.path.join(args.out, f"callgrind.{label}.out"))
        return total, bad

    for name in args.targets:
        if name not in routes:
            continue
        path, hdrs, shdrs, done = routes[name]
        plain, stream = bodies[name]
        status, head = probe(byok_port, path, plain, hdrs)
        if status != 200:
            results[name] = {"skipped": f"HTTP {status}: {head.decode(errors='replace')[:120]}"}
            continue
        sequential(byok_port, path, plain, hdrs, 20)
        total, bad = measure(f"{name}-plain", lambda: sequential(byok_port, path, plain, hdrs, n))
        r = {"plain_requests": n, "plain_instr_per_req": round(total / n), "plain_errors": bad}
        ns = max(n // 4, 1)
        asyncio.run(streams("127.0.0.1", byok_port, path, stream, shdrs, 1, 10, done=done))
        total, bad = measure(f"{name}-stream",
                           lambda: asyncio.run(streams("127.0.0.1", byok_port, path, stream, shdrs, 1, ns, done=done))["errors"])
        r.update({"streams": ns, "stream_instr_per_stream": round(total / ns), "stream_errors": bad})
        results[name] = r
    if floor:
        proc, port, out = floor
        plain = bodies["byok"][0]
        path = "/plain/v1/chat/completions"
        sequential(port, path, plain, {}, 20)
        total, bad = measure("floor-plain", lambda: sequential(port, path, plain, {}, n), proc, out)
        r = {"plain_requests": n, "plain_instr_per_req": round(total / n), "plain_errors": bad}
        ns = max(n // 4, 1)
        asyncio.run(streams("127.0.0.1", port, "/sse/v1/chat/completions", "{}", {}, 1, 10))
        total, bad = measure("floor-stream", lambda: asyncio.run(
            streams("127.0.0.1", port, "/sse/v1/chat/completions", "{}", {}, 1, ns))["errors"], proc, out)
        r.update({"streams": ns, "stream_instr_per_stream": round(total / ns), "stream_errors": bad})
        results["floor"] = r
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--with-litellm", action="store_true")
    ap.add_argument("--with-portkey", action="store_true",
                    help=f"add Portkey's gateway (@portkey-ai/gateway {PORTKEY_VERSION} from npm, installed into bench/.portkey)")
    ap.add_argument("--scaling", action="store_true",
                    help="instead of the side-by-side run: byok's chat target (non-streamed) at c="
                         + ", ".join(map(str, SCALING_CONCS)) + " with the SQLite stores (byok) and the PostgreSQL stores (byok-pg)")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results"))
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--bin-dir", default=os.path.join(os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target"), "release"),
                    help="where byok-server and examples/mock_upstream are (default: the cargo target dir's release/)")
    ap.add_argument("--targets", default=",".join(ALL_TARGETS),
                    help=f"comma-separated subset of {','.join(ALL_TARGETS)} (direct is the baseline of 'added' latency)")
    ap.add_argument("--callgrind", type=int, metavar="N", default=0,
                    help="run byok under valgrind --tool=callgrind and report instructions per request "
                         "(N sequential requests and N/4 streams per target) instead of wrk timings")
    ap.add_argument("--serve", type=int, metavar="SECONDS", default=0,
                    help="set up mock + byok, print how to reach them, keep them up for SECONDS (for profiling), then stop")
    ap.add_argument("--pairs", type=int, metavar="N", default=0,
                    help="after the side-by-side run, measure the two throughput ratios (non-streamed c=32, streams "
                         "through wrk) again as N interleaved nginx/byok pairs, the order alternating, and report their median")
    ap.add_argument("--server-bin", default="",
                    help="the byok-server to run (default: BIN_DIR/byok-server), e.g. the PGO build of scripts/pgo-build")
    ap.add_argument("--train", type=int, metavar="SECONDS", default=0,
                    help="set up mock + byok, drive a varied workload (every route, streamed and not, errors, c=1 and "
                         "c=32) through byok for about SECONDS, then stop it: the profile run of scripts/pgo-build")
    ap.add_argument("--server-wrapper", default="",
                    help="command prefix for byok-server, e.g. 'valgrind --tool=callgrind' (profiling)")
    args = ap.parse_args()
    args.targets = [t for t in args.targets.split(",") if t]
    unknown = [t for t in args.targets if t not in ALL_TARGETS]
    if unknown:
        sys.exit(f"unknown targets: {unknown}")
    if sum(map(bool, (args.scaling, args.callgrind, args.serve, args.train))) > 1:
        sys.exit("--scaling, --callgrind, --serve and --train are runs of their own: one at a time")
    if args.scaling:
        args.targets = [t for t in args.targets if t in SCALING_TARGETS]
        if not args.targets:
            sys.exit(f"--scaling measures {' and '.join(SCALING_TARGETS)}: name at least one in --targets")
    for tool in ("nginx", "wrk") + (("valgrind", "callgrind_control") if args.callgrind else ()):
        if not shutil.which(tool):
            sys.exit(f"{tool} is missing: apt-get install nginx wrk valgrind")
    if args.with_portkey:
        for tool in ("node", "npm"):
            if not shutil.which(tool):
                sys.exit(f"{tool} is missing (--with-portkey needs Node.js 18 or newer and npm)")
    nofile = raise_nofile()
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "-p", "byok-server"], cwd=ROOT, check=True)
        subprocess.run(["cargo", "build", "--release", "-p", "byok-examples", "--example", "mock_upstream",
                        "--example", "floor_proxy"], cwd=ROOT, check=True)
    server_bin = args.server_bin or os.path.join(args.bin_dir, "byok-server")
    slow_bin = os.path.join(args.bin_dir, "examples", "mock_upstream")
    floor_bin = os.path.join(args.bin_dir, "examples", "floor_proxy")

    # A SIGTERM (e.g. ending a --serve run) still stops what was started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    tmp = tempfile.mkdtemp(prefix="byok-bench-")
    os.chmod(tmp, 0o755)  # nginx workers run as an unprivileged user
    procs = Procs()
    try:
        www = os.path.join(tmp, "www")
        subprocess.run([sys.executable, os.path.join(ROOT, "bench", "gen_bodies.py"), os.path.join(tmp, "bodies")], check=True, capture_output=True)
        for kind, ext, ctype in (("plain", "json", "application/json"), ("sse", "sse", "text/event-stream")):
            os.makedirs(os.path.join(www, kind, "v1", "chat"), exist_ok=True)
            for src, dst in (("completion.json" if kind == "plain" else "stream.sse", "chat/completions"),
                             (f"message.{ext}", "messages"), (f"response.{ext}", "responses")):
                shutil.copy(os.path.join(tmp, "bodies", src), os.path.join(www, kind, "v1", dst))
        mock_port, proxy_port, byok_port, slow_port = free_port(), free_port(), free_port(), free_port()
        # /auto/ answers a streamed request (Accept: text/event-stream, as the
        # pass-through sends it) from sse/, any other from plain/: one base URL
        # for the Messages and Responses providers, streamed and not. ($kind is
        # read before the rewrite: the map's regex would reset the rewrite's $1.)
        mock = procs.start(["nginx", "-p", tmp, "-c", nginx_conf(tmp, "mock", f"""map $http_accept $kind {{ default plain; "~event-stream" sse; }}
  server {{
    listen 127.0.0.1:{mock_port} backlog=4096; keepalive_requests 10000000; root {www}; error_page 405 =200 $uri;
    location /plain/ {{ default_type application/json; }}
    location /sse/ {{ default_type text/event-stream; }}
    location /auto/ {{ set $k $kind; rewrite ^/auto/(.*)$ /$k/$1 last; }}
    location = /nginx-status {{ stub_status; }}
  }}""")])
        proxy = procs.start(["nginx", "-p", tmp, "-c", nginx_conf(tmp, "proxy", f"""upstream mock {{ server 127.0.0.1:{mock_port}; keepalive 256; }}
  server {{
    listen 127.0.0.1:{proxy_port} backlog=4096; keepalive_requests 10000000;
    location / {{ proxy_pass http://mock; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_buffering off; }}
  }}""")])
        slow = procs.start([slow_bin, f"127.0.0.1:{slow_port}", "slow"])
        for p in (mock_port, proxy_port, slow_port):
            wait_port(p)
        data = os.path.join(tmp, "byok-data")
        env = dict(os.environ, BYOK_DATA_DIR=data, BYOK_LISTEN=f"127.0.0.1:{byok_port}", BYOK_ALLOW_INSECURE_UPSTREAMS="1",
                   BYOK_UPSTREAM_OPENAI=f"http://127.0.0.1:{mock_port}/plain/v1", BYOK_UPSTREAM_GROQ=f"http://127.0.0.1:{mock_port}/sse/v1",
                   BYOK_UPSTREAM_ANTHROPIC=f"http://127.0.0.1:{mock_port}/auto",
                   BYOK_UPSTREAM_OPENAI_RESPONSES=f"http://127.0.0.1:{mock_port}/auto/v1",
                   BYOK_UPSTREAM_CEREBRAS=f"http://127.0.0.1:{slow_port}/v1", BYOK_RATE_LIMIT_RPM="0", BYOK_LOG="warn")
        user = json.loads(subprocess.run([server_bin, "user", "create", "--name", "bench", "--credit-usd", "1000000"], env=env, capture_output=True, text=True, check=True).stdout)
        key = user["api_key"]
        out_file = os.path.join(tmp, "cg.out")
        wrapper = (["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_file}"] if args.callgrind
                   else args.server_wrapper.split())
        byok = procs.start(wrapper + [server_bin], env=env)
        wait_port(byok_port, timeout=300 if wrapper else 120)
        time.sleep(0.5)
        idle_rss = rss_kib(byok.pid)
        import urllib.error
        import urllib.request
        for provider in ("openai", "groq", "cerebras", "anthropic", "openai-responses"):
            req = urllib.request.Request(f"http://127.0.0.1:{byok_port}/api/byok/credentials/{provider}", method="PUT",
                                         data=json.dumps({"key": "sk-bench-0123456789abcdef"}).encode(),
                                         headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
            try:
                urllib.request.urlopen(req).read()
            except urllib.error.HTTPError as e:  # an older build without the provider: its target is skipped
                print(f"credential for {provider}: HTTP {e.code}", file=sys.stderr)

        content, bodies = request_bodies()
        plain_body, stream_body = bodies["byok"]
        auth = {"Authorization": f"Bearer {key}"}
        routes = byok_routes(auth)
        if args.callgrind:
            floor = None
            if "floor" in args.targets and os.path.exists(floor_bin):
                floor_port, floor_out = free_port(), os.path.join(tmp, "cg-floor.out")
                floor_proc = procs.start(["valgrind", "--tool=callgrind", f"--callgrind-out-file={floor_out}",
                                          floor_bin, f"127.0.0.1:{floor_port}", f"http://127.0.0.1:{mock_port}"])
                wait_port(floor_port, timeout=300)
                floor = (floor_proc, floor_port, floor_out)
            report = {"machine": machine(), "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "server": server_bin,
                      "callgrind": callgrind_counts(args, byok, byok_port, bodies, routes, out_file, floor)}
            os.makedirs(args.out, exist_ok=True)
            with open(os.path.join(args.out, "callgrind.json"), "w") as f:
                json.dump(report, f, indent=1)
            md = callgrind_table(report)
            with open(os.path.join(args.out, "callgrind.md"), "w") as f:
                f.write(md)
            print(md)
            return
        scripts = {
            "plain": lua(os.path.join(tmp, "plain.lua"), plain_body, {}),
            "plain_auth": lua(os.path.join(tmp, "plain_auth.lua"), plain_body, {**auth, "x-byok-provider": "openai"}),
        }
        if args.scaling:
            targets = {}
            if "byok" in args.targets:
                targets["byok"] = (f"http://127.0.0.1:{byok_port}/api/v1/chat/completions", scripts["plain_auth"], byok.pid)
            if "byok-pg" in args.targets:
                targets["byok-pg"] = start_byok_pg(procs, tmp, server_bin, env, plain_body)[:3]
            report = {"machine": machine(), "duration_s": args.duration, "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                      "server": server_bin, "mode": "scaling", "open_files_limit": nofile,
                      "server_workers": server_workers(),
                      "scaling": scaling(targets, args.duration, mock_port)}
            write_report(args.out, report, scaling_table(report))
            return
        if args.train:
            train(byok_port, auth, tmp, args.train)
            # An instrumented build writes its profile as it exits: a server
            # that did not exit cleanly left none (or only the CLI's).
            os.killpg(byok.pid, signal.SIGTERM)
            code = byok.wait(timeout=60)
            if code != 0:
                sys.exit(f"byok-server exited with {code} after the profile run: no profile to trust")
            return
        if args.serve:
            with open(os.path.join(tmp, "stream.json"), "w") as f:
                f.write(stream_body)
            print(json.dumps({"byok": f"http://127.0.0.1:{byok_port}/api/v1/chat/completions", "pid": byok.pid,
                              "direct": f"http://127.0.0.1:{mock_port}/plain/v1/chat/completions",
                              "proxy": f"http://127.0.0.1:{proxy_port}/plain/v1/chat/completions",
                              "wrk_script": scripts["plain_auth"], "stream_body": os.path.join(tmp, "stream.json"),
                              "api_key": key}), flush=True)
            time.sleep(args.serve)
            return
        skipped = {}
        targets = {
            "direct": (f"http://127.0.0.1:{mock_port}/plain/v1/chat/completions", scripts["plain"], mock.pid, ("127.0.0.1", mock_port, "/sse/v1/chat/completions", {})),
            "nginx": (f"http://127.0.0.1:{proxy_port}/plain/v1/chat/completions", scripts["plain"], proxy.pid, ("127.0.0.1", proxy_port, "/sse/v1/chat/completions", {})),
        }
        if "floor" in args.targets:
            if os.path.exists(floor_bin):
                floor_port = free_port()
                floor = procs.start([floor_bin, f"127.0.0.1:{floor_port}", f"http://127.0.0.1:{mock_port}"])
                wait_port(floor_port)
                targets["floor"] = (f"http://127.0.0.1:{floor_port}/plain/v1/chat/completions", scripts["plain"], floor.pid,
                                    ("127.0.0.1", floor_port, "/sse/v1/chat/completions", {}))
            else:  # an older build without the example
                skipped["floor"] = f"{floor_bin} not built"
        for name in BYOK_TARGETS:
            path, hdrs, shdrs, _ = routes[name]
            status, head = probe(byok_port, path, bodies[name][0], hdrs)
            if status != 200:
                skipped[name] = f"HTTP {status}: {head.decode(errors='replace')[:120]}"
                continue
            script = lua(os.path.join(tmp, f"{name}.lua"), bodies[name][0], hdrs)
            targets[name] = (f"http://127.0.0.1:{byok_port}{path}", script, byok.pid, ("127.0.0.1", byok_port, path, shdrs))
        if "byok-pg" in args.targets:
            targets["byok-pg"] = start_byok_pg(procs, tmp, server_bin, env, plain_body)
        targets = {k: v for k, v in targets.items() if k in args.targets}
        peers = {}
        if args.with_litellm:
            targets["litellm"] = start_litellm(procs, tmp, mock_port, plain_body)
            peers["litellm"] = litellm_version()
        if args.with_portkey:
            targets["portkey"], peers["portkey"] = start_portkey(procs, tmp, mock_port, plain_body, bodies["portkey"][1])

        results = {}
        for name, (url, script, pid, sse) in targets.items():
            r = {}
            mock_before = settle(mock_port)
            concs = (1, 32, 256) if name == "byok" else (1, 32)
            worker_pid = pid
            if name in ("direct", "nginx"):  # nginx's one worker, not its master
                kids = children_pids(pid)
                worker_pid = kids[0] if kids else pid
            for c in concs:
                r[f"plain_c{c}"] = wrk(url, script, c, args.duration, worker_pid)
            host, port, path, hdrs = sse
            body = {n: bodies[n][1] for n in BYOK_TARGETS}
            body["byok-pg"] = bodies["byok"][1]
            body["litellm"] = json.dumps({"model": "gpt-4o-mini-stream", "stream": True, "messages": [{"role": "user", "content": content}]})
            body["portkey"] = bodies["portkey"][1]
            body = body.get(name, "{}")
            done = routes[name][3] if name in routes else b"[DONE]"
            slow_target = name == "litellm"
            # Enough streams that p99 is not the second-worst sample.
            r["stream_c1"] = asyncio.run(streams(host, port, path, body, hdrs, 1, 50 if slow_target else 1000, worker_pid, done))
            r["stream_c32"] = asyncio.run(streams(host, port, path, body, hdrs, 32, 300 if slow_target else 3000, worker_pid, done))
            # Streams through wrk too: the asyncio client tops out near the
            # mock's own rate, so it cannot show a gateway's streaming
            # throughput; wrk reads each whole streamed answer and can.
            stream_script = lua(stream_lua(tmp, name), body, hdrs)
            r["stream_wrk_c32"] = wrk(f"http://{host}:{port}{path}", stream_script, 32, args.duration, worker_pid)
            # What reached the mock meanwhile (a proxy's requests, counted by the mock; minus this count's own request).
            r["mock_requests"] = mock_requests(mock_port) - mock_before - 1
            r["client_requests"] = sum(x["requests"] for k, x in r.items() if k.startswith("plain_c") or k == "stream_wrk_c32") + \
                (50 + 300 if slow_target else 1000 + 3000)
            results[name] = r

        if "byok" in results:
            slow_body = json.dumps({"model": "llama3.1-8b", "stream": True, "messages": [{"role": "user", "content": "hi"}]})
            peak, ok = asyncio.run(open_streams("127.0.0.1", byok_port, "/api/v1/chat/completions", slow_body,
                                                {**auth, "x-byok-provider": "cerebras"}, 1000, byok.pid))
            results["byok"]["rss_idle_mib"] = round(idle_rss / 1024, 1)
            results["byok"]["rss_1000_streams_mib"] = round(peak / 1024, 1)
            results["byok"]["streams_completed_of_1000"] = ok

        report = {"machine": machine(), "duration_s": args.duration, "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                  "server": server_bin, "results": results, "skipped": skipped, "peers": peers}
        if args.pairs and "nginx" in targets and "byok" in targets:
            report["pairs"] = pairs(targets, tmp, args.pairs, args.duration)
        write_report(args.out, report, table(report))
    finally:
        procs.stop_all()
        if os.path.exists(os.path.join(tmp, "pg.state")):
            subprocess.run([os.path.join(ROOT, "scripts", "postgres"), "stop"], env=pg_env(tmp), check=False)
        shutil.rmtree(tmp, ignore_errors=True)


def train_workload(auth):
    """The profile run's requests: (name, path, body, headers). Not the
    measured runs' bodies (request_bodies): other prompts, a system message
    and earlier turns, tools, sampling settings; every route, streamed and
    not, and its translators (a claude-* model through chat completions goes
    through the Anthropic translator)."""
    turns = [{"role": "system", "content": "You are a careful assistant. Answer in two sentences."},
             {"role": "user", "content": "What is a reverse proxy? " + "Explain the idea of forwarding. " * 12},
             {"role": "assistant", "content": "A reverse proxy forwards requests to servers behind it."},
             {"role": "user", "content": "And a gateway? " + "Compare the two, with an example of each. " * 30}]
    tools = [{"type": "function", "function": {"name": "lookup", "description": "Looks a term up",
                                               "parameters": {"type": "object", "properties": {"term": {"type": "string"}},
                                                              "required": ["term"]}}}]
    short = [{"role": "user", "content": "Say hello."}]
    chat, msgs, resp = "/api/v1/chat/completions", "/api/v1/messages", "/api/v1/responses"
    openai, groq = {**auth, "x-byok-provider": "openai"}, {**auth, "x-byok-provider": "groq"}
    anthropic = {**auth, "anthropic-version": "2023-06-01"}
    responses = {**auth, "x-byok-provider": "openai-responses"}
    out = []
    for name, messages in (("turns", turns), ("short", short)):
        dialogue = [m for m in messages if m["role"] != "system"]  # Messages takes `system` apart
        out += [
            (f"chat-{name}", chat, {"model": "gpt-4o-mini", "max_tokens": 512, "temperature": 0.2, "messages": messages, "tools": tools}, openai),
            (f"chat-{name}-stream", chat, {"model": "llama-3.3-70b-versatile", "stream": True, "max_completion_tokens": 300,
                                           "messages": messages}, groq),
            (f"chat-claude-{name}", chat, {"model": "claude-sonnet-4-5", "max_tokens": 400, "messages": messages}, auth),
            (f"chat-claude-{name}-stream", chat, {"model": "claude-sonnet-4-5", "max_tokens": 400, "stream": True,
                                                  "stream_options": {"include_usage": True}, "messages": messages}, auth),
            (f"messages-{name}", msgs, {"model": "claude-sonnet-4-5", "max_tokens": 400, "system": "Be brief.",
                                        "messages": dialogue}, anthropic),
            (f"messages-{name}-stream", msgs, {"model": "claude-sonnet-4-5", "max_tokens": 400, "stream": True,
                                               "messages": dialogue}, anthropic),
            (f"responses-{name}", resp, {"model": "gpt-4.1", "max_output_tokens": 300, "instructions": "Be brief.",
                                         "input": messages[-1]["content"]}, responses),
            (f"responses-{name}-stream", resp, {"model": "gpt-4.1", "max_output_tokens": 300, "stream": True,
                                                "input": messages[-1]["content"]}, responses),
        ]
    return out


def train(port, auth, tmp, seconds):
    """Drives `train_workload` through byok (each request at c=32 and at
    c=1, wrk), then refusals (malformed JSON, no messages, an unknown
    model, a wrong key), for about `seconds` in all; the caller then stops
    byok with SIGTERM, and an instrumented build writes its profile as it
    exits."""
    work = train_workload(auth)
    each = max(seconds / (len(work) * 1.5), 1.0)
    for name, path, body, headers in work:
        status, head = probe(port, path, json.dumps(body), headers)
        if status != 200:
            sys.exit(f"training request {name}: HTTP {status}: {head.decode(errors='replace')[:200]}")
        script = lua(os.path.join(tmp, f"train-{name}.lua"), json.dumps(body), headers)
        url = f"http://127.0.0.1:{port}{path}"
        for conc, secs in ((32, each), (1, each / 2)):
            res = wrk(url, script, conc, max(round(secs), 1), None)
            if res["errors"] or not res["requests"]:
                sys.exit(f"training request {name} at c={conc}: {res['errors']} errors of {res['requests']}")
        print(f"trained {name}", file=sys.stderr)
    refusals = [("/api/v1/chat/completions", b"{not json", auth, 400),
                ("/api/v1/chat/completions", json.dumps({"model": "gpt-4o-mini", "messages": []}).encode(), auth, 400),
                ("/api/v1/chat/completions", json.dumps({"model": "no-such-model", "messages": [{"role": "user", "content": "x"}]}).encode(), auth, None),
                ("/api/v1/chat/completions", b"{}", {"Authorization": "Bearer byok_wrong"}, 401)]
    for path, body, headers, want in refusals * 50:
        status, _ = probe(port, path, body, headers)
        if status < 400 or (want and status != want):
            sys.exit(f"training refusal {path} {body[:40]!r}: HTTP {status}, wanted {want or 'an error'}")


def stream_lua(tmp, name):
    """Where the side-by-side run writes a target's wrk script for streams."""
    return os.path.join(tmp, f"{name}-stream.lua")


def pairs(targets, tmp, rounds, duration):
    """The two throughput ratios again, as `rounds` pairs measured back to
    back (nginx then byok, then byok then nginx, ...): a host whose speed
    drifts over the minute between the side-by-side run's nginx and byok
    rows moves both halves of a pair alike. Each ratio's list, in order."""
    out = {"plain_c32": [], "stream_wrk_c32": []}
    for i in range(rounds):
        order = ("nginx", "byok") if i % 2 == 0 else ("byok", "nginx")
        for key in out:
            rps = {}
            for name in order:
                url, script, _, (host, port, path, _) = targets[name]
                if key == "stream_wrk_c32":
                    url, script = f"http://{host}:{port}{path}", stream_lua(tmp, name)
                rps[name] = wrk(url, script, 32, duration, None)["rps"]  # no pid: only the rate is kept
            out[key].append(round(rps["byok"] / max(rps["nginx"], 1e-9), 3))
    return out


def pg_env(tmp):
    return dict(os.environ, BYOK_POSTGRES_STATE=os.path.join(tmp, "pg.state"))


def start_byok_pg(procs, tmp, server_bin, env, body):
    """A second gateway on the same upstreams with BYOK_DATABASE_URL: vault,
    ledger, accounts, key health and limits in a throwaway PostgreSQL
    (scripts/postgres: loopback, fsync=off), a user and its credentials;
    the chat target's (url, wrk script, pid, stream target)."""
    url = subprocess.run([os.path.join(ROOT, "scripts", "postgres"), "start"], env=pg_env(tmp),
                         capture_output=True, text=True, check=True).stdout.strip()
    port = free_port()
    env = dict(env, BYOK_DATA_DIR=os.path.join(tmp, "byok-pg-data"), BYOK_LISTEN=f"127.0.0.1:{port}", BYOK_DATABASE_URL=url)
    user = json.loads(subprocess.run([server_bin, "user", "create", "--name", "bench-pg", "--credit-usd", "1000000"],
                                     env=env, capture_output=True, text=True, check=True).stdout)
    key = user["api_key"]
    p = procs.start([server_bin], env=env)
    wait_port(port, timeout=120)
    import urllib.request
    for provider in ("openai", "groq"):
        req = urllib.request.Request(f"http://127.0.0.1:{port}/api/byok/credentials/{provider}", method="PUT",
                                     data=json.dumps({"key": "sk-bench-0123456789abcdef"}).encode(),
                                     headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
        urllib.request.urlopen(req).read()
    auth = {"Authorization": f"Bearer {key}"}
    script = lua(os.path.join(tmp, "byok-pg.lua"), body, {**auth, "x-byok-provider": "openai"})
    return (f"http://127.0.0.1:{port}/api/v1/chat/completions", script, p.pid,
            ("127.0.0.1", port, "/api/v1/chat/completions", {**auth, "x-byok-provider": "groq"}))


def callgrind_table(report):
    lines = ["| target | instructions / request (non-streamed) | instructions / stream | requests, streams | errors |",
             "|---|---|---|---|---|"]
    for name, r in report["callgrind"].items():
        if "skipped" in r:
            lines.append(f"| {name} | skipped ({r['skipped']}) | | | |")
            continue
        lines.append(f"| {name} | {r['plain_instr_per_req']:,} | {r['stream_instr_per_stream']:,} | "
                     f"{r['plain_requests']}, {r['streams']} | {r['plain_errors'] + r['stream_errors']} |")
    return "\n".join(lines) + "\n"


def start_litellm(procs, tmp, mock_port, body):
    venv = os.path.join(ROOT, "bench", ".venv-litellm")
    if not os.path.exists(os.path.join(venv, "bin", "litellm")):
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        subprocess.run([os.path.join(venv, "bin", "pip"), "install", "--quiet", "litellm[proxy]"], check=True)
    cfg = os.path.join(tmp, "litellm.yaml")
    with open(cfg, "w") as f:
        f.write(f"""model_list:
  - model_name: gpt-4o-mini
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: http://127.0.0.1:{mock_port}/plain/v1
      api_key: sk-bench
  - model_name: gpt-4o-mini-stream
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: http://127.0.0.1:{mock_port}/sse/v1
      api_key: sk-bench
""")
    port = free_port()
    master = "sk-bench-master-" + os.urandom(16).hex()
    env = dict(os.environ, LITELLM_LOCAL_MODEL_COST_MAP="True", LITELLM_LOG="ERROR", LITELLM_MASTER_KEY=master)
    p = procs.start([os.path.join(venv, "bin", "litellm"), "--config", cfg, "--host", "127.0.0.1", "--port", str(port)], env=env)
    wait_port(port, timeout=300)
    auth = {"Authorization": f"Bearer {master}"}
    script = lua(os.path.join(tmp, "litellm.lua"), body, auth)
    return (f"http://127.0.0.1:{port}/v1/chat/completions", script, p.pid, ("127.0.0.1", port, "/v1/chat/completions", auth))


def litellm_version():
    venv = os.path.join(ROOT, "bench", ".venv-litellm")
    out = subprocess.run([os.path.join(venv, "bin", "python"), "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
                         capture_output=True, text=True)
    return f"litellm {out.stdout.strip() or '?'} (PyPI)"


def start_portkey(procs, tmp, mock_port, body, stream_body):
    """Portkey's gateway (Node), installed from npm into bench/.portkey on
    first use, on a free loopback port. Requests name the OpenAI provider
    and the mock as its custom host (x-portkey-provider, x-portkey-custom-host:
    Portkey appends the provider's path, /chat/completions); the client's
    bearer is passed upstream as the provider key. Checks that a request
    and a stream come back with the mock's answer (so they went through
    the mock) before anything is measured. Returns the target and the
    installed versions."""
    folder = os.path.join(ROOT, "bench", ".portkey")
    os.makedirs(folder, exist_ok=True)
    manifest = {"private": True, "dependencies": {"@portkey-ai/gateway": PORTKEY_VERSION},
                "overrides": {"@hono/node-server": PORTKEY_HONO_NODE_SERVER}}
    modules = os.path.join(folder, "node_modules")

    def installed(pkg):
        try:
            with open(os.path.join(modules, pkg, "package.json")) as f:
                return json.load(f)["version"]
        except (OSError, ValueError, KeyError):
            return None

    if installed("@portkey-ai/gateway") != PORTKEY_VERSION or installed("@hono/node-server") != PORTKEY_HONO_NODE_SERVER:
        with open(os.path.join(folder, "package.json"), "w") as f:
            json.dump(manifest, f, indent=1)
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"], cwd=folder, check=True)
    port = free_port()
    # production + --headless: no log-viewer UI; stdout and stderr to a file under tmp (read on failure).
    log = open(os.path.join(tmp, "portkey.log"), "w")
    p = subprocess.Popen(["node", os.path.join(modules, "@portkey-ai", "gateway", "build", "start-server.js"), f"--port={port}", "--headless"],
                         cwd=folder, env=dict(os.environ, NODE_ENV="production"), stdout=log, stderr=log, start_new_session=True)
    procs.started.append(p)
    wait_port(port, timeout=120)

    def headers(kind):
        return {"Authorization": "Bearer sk-bench-0123456789abcdef", "x-portkey-provider": "openai",
                "x-portkey-custom-host": f"http://127.0.0.1:{mock_port}/{kind}/v1"}

    def fail(why):
        log.flush()
        with open(log.name, errors="replace") as f:
            sys.exit(f"portkey: {why}; its log ends:\n{f.read()[-2000:]}")

    with open(os.path.join(tmp, "bodies", "completion.json")) as f:
        expected = json.load(f)
    before = mock_requests(mock_port)
    status, answer = probe(port, "/v1/chat/completions", body, headers("plain"), limit=None)
    try:
        answer = json.loads(answer) if status == 200 else answer
    except ValueError:
        pass
    if status != 200 or not isinstance(answer, dict) or answer.get("id") != expected["id"] \
            or answer["choices"][0]["message"]["content"] != expected["choices"][0]["message"]["content"]:
        fail(f"HTTP {status}, not the mock's answer: {str(answer)[:200]}")
    try:
        ok = asyncio.run(asyncio.wait_for(one_stream("127.0.0.1", port, "/v1/chat/completions", stream_body, headers("sse")), 30))[2]
    except asyncio.TimeoutError:
        ok = False
    reached = mock_requests(mock_port) - before - 1
    if not ok or reached != 2:
        fail(f"stream complete: {ok}; {reached} of 2 requests reached the mock")
    script = lua(os.path.join(tmp, "portkey.lua"), body, headers("plain"))
    target = (f"http://127.0.0.1:{port}/v1/chat/completions", script, p.pid, ("127.0.0.1", port, "/v1/chat/completions", headers("sse")))
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    return target, (f"@portkey-ai/gateway {installed('@portkey-ai/gateway')} (npm; @hono/node-server "
                    f"{installed('@hono/node-server')}), node {node}")


def server_workers():
    """byok-server has no workers setting: actix-web starts one worker per
    CPU it may run on (std::thread::available_parallelism)."""
    return len(os.sched_getaffinity(0))


def scaling(targets, duration, mock_port):
    """Non-streamed chat at each connection count (wrk, 2 threads, or 1 at
    c=1), on each store; a 10 s request timeout, so that slow answers at
    c=1024 are measured rather than dropped as wrk's 2 s timeouts."""
    rows = []
    for name, (url, script, pid) in targets.items():
        for c in SCALING_CONCS:
            before = settle(mock_port)
            r = wrk(url, script, c, duration, pid, timeout_s=10)
            rows.append({"target": name, "store": "PostgreSQL" if name == "byok-pg" else "SQLite", "c": c,
                         "wrk_threads": min(c, 2), **r, "mock_requests": mock_requests(mock_port) - before - 1})
    return rows


def scaling_table(report):
    m = report["machine"]
    lines = [f"Machine: {m['cpus']} CPUs, {m['cpu']}, {m['mem_gib']} GiB; {m['nginx']}; {m['wrk']}; {report['duration_s']} s per wrk run.\n",
             f"Scaling: byok chat completions, non-streamed (wrk, 2 threads; 1 at c=1; 10 s request timeout). "
             f"Server workers: {report['server_workers']} (byok-server has no workers setting: actix-web starts one per CPU). "
             f"Open files limit: {report['open_files_limit']}.\n",
             "| target | stores | c | req/s | p50 ms | p99 ms | errors | CPU µs/req |",
             "|---|---|---|---|---|---|---|---|"]
    for x in report["scaling"]:
        lines.append(f"| {x['target']} | {x['store']} | {x['c']} | {x['rps']:.0f} | {x['p50_ms']} | {x['p99_ms']} | {x['errors']} | "
                     f"{x.get('cpu_us_per_req', '')} |")
    return "\n".join(lines) + "\n"


def write_report(out, report, md):
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "latest.json"), "w") as f:
        json.dump(report, f, indent=1)
    with open(os.path.join(out, "latest.md"), "w") as f:
        f.write(md)
    print(md)


def table(report):
    res = report["results"]
    direct = res.get("direct", {})
    nginx = res.get("nginx", {})
    floor = res.get("floor", {})
    lines = [f"Machine: {report['machine']['cpus']} CPUs, {report['machine']['cpu']}, {report['machine']['mem_gib']} GiB; "
             f"{report['machine']['nginx']}; {report['machine']['wrk']}; {report['duration_s']} s per wrk run.\n",
             "| target | c | req/s | p50 ms | p90 ms | p99 ms | errors | CPU µs/req | added p50 ms | vs direct | vs nginx | vs floor |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    ratio = lambda a, b: f"{a / b:.2f}" if b else ""
    for name, r in res.items():
        for key in sorted(k for k in r if k.startswith("plain_c")):
            x = r[key]
            c = key[len("plain_c"):]
            d = direct.get(key) or direct.get("plain_c32") or {}
            n = nginx.get(key) or nginx.get("plain_c32") or {}
            fl = floor.get(key) or floor.get("plain_c32") or {}
            added = (x["p50_ms"] - d["p50_ms"]) if x["p50_ms"] is not None and d.get("p50_ms") is not None else None
            lines.append(f"| {name} | {c} | {x['rps']:.0f} | {x['p50_ms']} | {x['p90_ms']} | {x['p99_ms']} | {x['errors']} | "
                         f"{x.get('cpu_us_per_req', '')} | {'' if added is None else f'{added:.3f}'} | "
                         f"{ratio(x['rps'], d.get('rps'))} | {ratio(x['rps'], n.get('rps'))} | {ratio(x['rps'], fl.get('rps'))} |")
    lines += ["", "| target | stream c | req/s | TTFB p50 ms | TTFB p99 ms | last byte p50 ms | last byte p99 ms | errors | CPU µs/stream |",
              "|---|---|---|---|---|---|---|---|---|"]
    for name, r in res.items():
        for key in ("stream_c1", "stream_c32"):
            x = r[key]
            lines.append(f"| {name} | {key[len('stream_c'):]} | {x['rps']} | {x['ttfb_p50_ms']} | {x['ttfb_p99_ms']} | {x['ttlb_p50_ms']} | "
                         f"{x['ttlb_p99_ms']} | {x['errors']} | {x.get('cpu_us_per_stream', '')} |")
    if any("stream_wrk_c32" in r for r in res.values()):
        lines += ["", "Streams through wrk (c=32, each 23-event answer read whole):", "",
                  "| target | streams/s | p50 ms | p99 ms | errors | CPU µs/stream | vs direct | vs nginx | vs floor |", "|---|---|---|---|---|---|---|---|---|"]
        for name, r in res.items():
            x = r.get("stream_wrk_c32")
            if x:
                lines.append(f"| {name} | {x['rps']:.0f} | {x['p50_ms']} | {x['p99_ms']} | {x['errors']} | {x.get('cpu_us_per_req', '')} | "
                             f"{ratio(x['rps'], direct.get('stream_wrk_c32', {}).get('rps'))} | "
                             f"{ratio(x['rps'], nginx.get('stream_wrk_c32', {}).get('rps'))} | "
                             f"{ratio(x['rps'], floor.get('stream_wrk_c32', {}).get('rps'))} |")
    for name, why in report.get("skipped", {}).items():
        lines.append(f"\n{name}: skipped ({why}).")
    lines += ["", "Requests that reached the mock during each target's runs (nginx's count) / answered to the client (wrk and streams): "
              + "; ".join(f"{name} {r['mock_requests']} / {r['client_requests']}" for name, r in res.items() if "mock_requests" in r) + "."]
    for name, version in report.get("peers", {}).items():
        lines.append(f"{name}: {version}.")
    b = res.get("byok")
    if b and "rss_idle_mib" in b:
        lines += ["", f"byok RSS: {b['rss_idle_mib']} MiB idle, {b['rss_1000_streams_mib']} MiB peak with 1,000 concurrent streams "
                  f"({b['streams_completed_of_1000']} of 1000 completed).", ""]
    if b and direct and nginx and "rss_idle_mib" in b:
        lines += targets(res, report["machine"]["cpus"])
    if report.get("pairs"):
        lines += ["", f"The throughput ratios as {len(report['pairs']['plain_c32'])} interleaved pairs (nginx and byok back to back, "
                  "the order alternating; `--pairs`):", "",
                  "| measure | goal | byok vs nginx, pair by pair | median | met in |", "|---|---|---|---|---|"]
        for label, key, goal in (("non-streaming c=32", "plain_c32", 0.75), ("streams through wrk c=32", "stream_wrk_c32", 0.60)):
            got = report["pairs"][key]
            lines.append(f"| {label} | ≥ {goal:.2f} | {', '.join(f'{x:.3f}' for x in got)} | {statistics.median(got):.3f} | "
                         f"{sum(x >= goal for x in got)} of {len(got)} |")
    return "\n".join(lines) + "\n"


def targets(res, cpus):
    """The performance issue's targets, judged from this run."""
    b, d, n, l, pk = res["byok"], res["direct"], res["nginx"], res.get("litellm"), res.get("portkey")
    rows = [
        ("non-streaming c=32 throughput vs nginx proxy", "≥ 0.75", b["plain_c32"]["rps"] / n["plain_c32"]["rps"], lambda v: v >= 0.75, "{:.2f}"),
        ("added latency c=1, p50", "< 0.1 ms", b["plain_c1"]["p50_ms"] - d["plain_c1"]["p50_ms"], lambda v: v < 0.1, "{:.3f} ms",
         n["plain_c1"]["p50_ms"] - d["plain_c1"]["p50_ms"]),
        ("added latency c=1, p99", "< 0.3 ms", b["plain_c1"]["p99_ms"] - d["plain_c1"]["p99_ms"], lambda v: v < 0.3, "{:.3f} ms",
         n["plain_c1"]["p99_ms"] - d["plain_c1"]["p99_ms"]),
        ("streaming c=1, added TTFB p99", "< 0.5 ms", b["stream_c1"]["ttfb_p99_ms"] - d["stream_c1"]["ttfb_p99_ms"], lambda v: v < 0.5, "{:.3f} ms",
         n["stream_c1"]["ttfb_p99_ms"] - d["stream_c1"]["ttfb_p99_ms"]),
        ("streaming c=32 throughput vs nginx proxy (wrk)", "≥ 0.60", b["stream_wrk_c32"]["rps"] / n["stream_wrk_c32"]["rps"], lambda v: v >= 0.6, "{:.2f}"),
        ("RSS idle", "< 30 MB", b["rss_idle_mib"], lambda v: v < 30, "{} MiB"),
        ("RSS with 1,000 streams", "< 100 MB", b["rss_1000_streams_mib"], lambda v: v < 100, "{} MiB"),
    ]
    def times(x, peer):
        """`x`'s c=32 rate as a multiple of the peer's."""
        return x["plain_c32"]["rps"] / max(peer["plain_c32"]["rps"], 1e-9)

    peers = [(name, run, goal, fmt) for name, run, goal, fmt in (("LiteLLM", l, 100, "{:.0f}×"), ("Portkey", pk, 40, "{:.1f}×")) if run]
    for i, (name, run, goal, fmt) in enumerate(peers, start=1):
        rows.insert(i, (f"non-streaming c=32 throughput vs {name}", f"≥ {goal}×", times(b, run), lambda v, goal=goal: v >= goal, fmt,
                        times(n, run)))
    # The latency and peer rows also give the nginx proxy's own figure: where
    # the reference proxy misses a target too, the host is what misses.
    out = ["| target | goal | this run | the nginx proxy's own | status |", "|---|---|---|---|---|"]
    for name, goal, value, ok, fmt, *own in rows:
        mark = f"{fmt.format(own[0])} ({'met' if ok(own[0]) else 'missed'})" if own else ""
        out.append(f"| {name} | {goal} | {fmt.format(value)} | {mark} | {'met' if ok(value) else 'missed'} |")
    for name, run, goal, _ in peers:
        # A peer ratio no proxy can reach: the mock served with no proxy at
        # all is under it (a peer that is fast on this host).
        if times(d, run) < goal:
            out += ["", f"No proxy can meet the {name} target on this host: the mock served directly, with no proxy at all, "
                    f"is {times(d, run):.1f}× {name} ({d['plain_c32']['rps']:.0f} against {run['plain_c32']['rps']:.0f} req/s)."]
    f = res.get("floor")
    if f:
        # Not targets: where the distance from nginx lies.
        out += ["", "The distance from nginx, split at the floor (the same stack, no gateway work):", "",
                "| measure | floor vs nginx | byok vs floor |", "|---|---|---|",
                f"| non-streaming c=32 | {f['plain_c32']['rps'] / n['plain_c32']['rps']:.2f} | {b['plain_c32']['rps'] / f['plain_c32']['rps']:.2f} |",
                f"| streams through wrk c=32 | {f['stream_wrk_c32']['rps'] / n['stream_wrk_c32']['rps']:.2f} | "
                f"{b['stream_wrk_c32']['rps'] / f['stream_wrk_c32']['rps']:.2f} |"]
        out += budget(res, cpus)
    return out


def budget(res, cpus):
    """byok's CPU budget at the throughput targets: at saturation the cores'
    time is shared by the proxy and the rest (wrk, the mock, the kernel);
    the rest's share of a request is read from the nginx and floor rows
    (cores / rate, less their own CPU a request; the smaller is taken), and
    what is left at the target's rate is what byok may use a request."""
    b, n, f = res["byok"], res["nginx"], res["floor"]
    out = ["", f"CPU budget at the throughput targets ({cpus} cores shared; the rest's share of a request read from the nginx and "
           "floor rows, which can understate it beside byok; see docs/performance.md, rounds eight to eleven):", "",
           "| measure | target vs nginx | rest's share µs | byok's budget µs | byok µs (kernel; preempted a request) | byok's ledger thread µs | "
           "floor µs (kernel; preempted) | nginx µs (kernel; preempted) |", "|---|---|---|---|---|---|---|---|"]
    for label, key, goal in (("non-streaming c=32", "plain_c32", 0.75), ("streams through wrk c=32", "stream_wrk_c32", 0.60)):
        if not all(key in x and x[key].get("cpu_us_per_req") for x in (b, n, f)):
            continue
        rest = min(cpus * 1e6 / x[key]["rps"] - x[key]["cpu_us_per_req"] for x in (n, f))
        room = cpus * 1e6 / (goal * n[key]["rps"]) - rest
        cells = [f"{x[key]['cpu_us_per_req']} ({x[key]['kernel_us_per_req']}; {x[key]['preempted_per_req']:.2f})" for x in (b, f, n)]
        cells.insert(1, str(b[key].get("ledger_us_per_req", "")))
        out.append(f"| {label} | {goal:.2f} | {rest:.1f} | {room:.1f} | {' | '.join(cells)} |")
    return out


if __name__ == "__main__":
    main()

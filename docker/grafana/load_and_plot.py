"""Starts an upstream and the proxy, drives mTLS load through it, scrapes /metrics over time and plots the figures."""
import argparse, http.client, http.server, os, random, re, shlex, socket, ssl, subprocess, threading, time
from collections import defaultdict

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

ap = argparse.ArgumentParser()
ap.add_argument("--work"); ap.add_argument("--proxy"); ap.add_argument("--out")
ap.add_argument("--seconds", type=int, default=60); ap.add_argument("--concurrency", type=int, default=8)
args = ap.parse_args()

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]

class Upstream(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        time.sleep(random.uniform(0.001, 0.004))  # a little work, so upstream time is visible next to overhead
        body = b'{"ok":true}'
        self.send_response(200); self.send_header("content-type", "application/json"); self.send_header("content-length", str(len(body)))
        self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass

up_port, px_port, ad_port = free_port(), free_port(), free_port()
upstream = http.server.ThreadingHTTPServer(("127.0.0.1", up_port), Upstream)
threading.Thread(target=upstream.serve_forever, daemon=True).start()

w = args.work
open(f"{w}/config.yaml", "w").write(f"""
listeners:
  - {{ name: mtls, url: "https://127.0.0.1:{px_port}", certificate: {{ cert: certs/server.pem, key: certs/server.key }}, trustBundles: {{ example.org: certs/ca.pem }} }}
  - {{ name: admin, role: admin, url: "http://127.0.0.1:{ad_port}" }}
identities:
  payments: {{ spiffeId: spiffe://example.org/ns/payments/sa/api }}
credentials:
  api-key: {{ provider: file, path: token.txt }}
  minted: {{ provider: jwt, signingKey: jwt.key, issuer: https://secretless.example, audience: reports, ttl: "00:00:10", refreshFraction: 0.5 }}
policies:
  - {{ name: payments-uses-api, allow: [payments], routes: [api], methods: [GET] }}
  - {{ name: payments-reads-reports, allow: [payments], routes: [reports] }}
decisionLog: {{ sink: file, path: audit.jsonl }}
ReverseProxy:
  Routes:
    api: {{ ClusterId: up, Match: {{ Path: "/api/{{**rest}}" }}, Metadata: {{ Credential: api-key }} }}
    reports: {{ ClusterId: up, Match: {{ Path: "/reports/{{**rest}}" }}, Metadata: {{ Credential: minted }} }}
    admin: {{ ClusterId: up, Match: {{ Path: "/admin/{{**rest}}" }} }}
  Clusters:
    up: {{ Destinations: {{ d1: {{ Address: "http://127.0.0.1:{up_port}/" }} }} }}
""")
proc = subprocess.Popen(shlex.split(args.proxy) + ["run", "--config", f"{w}/config.yaml"], stdout=subprocess.DEVNULL, stderr=open(f"{w}/proxy.log", "w"))
for _ in range(300):
    try:
        c = http.client.HTTPConnection("127.0.0.1", ad_port, timeout=1); c.request("GET", "/readyz")
        if c.getresponse().status == 200: break
    except OSError: pass
    time.sleep(0.1)
else:
    raise SystemExit("the proxy did not become ready; see " + w + "/proxy.log")

def context(who):
    ctx = ssl.create_default_context(cafile=f"{w}/certs/ca.pem")
    ctx.load_cert_chain(f"{w}/{who}/svid.pem", f"{w}/{who}/svid.key")
    return ctx

stop = time.time() + args.seconds
def worker(n):
    who = "billing" if n == 0 else "payments"
    ctx = context(who)
    conn = None
    while time.time() < stop:
        r = random.random()
        path = "/api/orders" if r < 0.75 else "/reports/daily" if r < 0.95 else "/admin/users"
        try:
            if conn is None:
                conn = http.client.HTTPSConnection("127.0.0.1", px_port, context=ctx, timeout=10)
            conn.request("GET", path); conn.getresponse().read()
        except (OSError, http.client.HTTPException):
            conn = None
threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(args.concurrency)]
for t in threads: t.start()

sample = re.compile(r'^(\w+)(?:\{(.*)\})? (\S+)$')
def scrape():
    c = http.client.HTTPConnection("127.0.0.1", ad_port, timeout=5); c.request("GET", "/metrics")
    out = {}
    for line in c.getresponse().read().decode().splitlines():
        m = sample.match(line)
        if m: out[(m.group(1), m.group(2) or "")] = float(m.group(3))
    return out

snapshots = []
t0 = time.time()
while time.time() < stop + 1:
    snapshots.append((time.time() - t0, scrape())); time.sleep(2)
for t in threads: t.join()
proc.terminate(); proc.wait(10); upstream.shutdown()

def labels(text): return dict(re.findall(r'(\w+)="([^"]*)"', text))
def quantile(q, prev, cur, name, match):
    """Prometheus-style histogram_quantile over the increase between two scrapes."""
    buckets = defaultdict(float)
    for (metric, lab), v in cur.items():
        if metric != name + "_bucket": continue
        l = labels(lab)
        if any(l.get(k) != v2 for k, v2 in match.items()): continue
        buckets[float(l["le"])] += v - prev.get((metric, lab), 0.0)
    les = sorted(buckets); total = buckets[les[-1]] if les else 0
    if total <= 0: return None
    rank, lower, below = q * total, 0.0, 0.0
    for le in les:
        if buckets[le] >= rank:
            if le == float("inf"): return lower
            return lower + (le - lower) * (rank - below) / max(buckets[le] - below, 1e-12)
        lower, below = le, buckets[le]
def rate(prev, cur, name, match, dt):
    s = 0.0
    for (metric, lab), v in cur.items():
        if metric == name and all(labels(lab).get(k) == v2 for k, v2 in match.items()):
            s += v - prev.get((metric, lab), 0.0)
    return s / dt

series = defaultdict(list)
for (ta, a), (tb, b) in zip(snapshots, snapshots[1:]):
    dt = tb - ta; series["t"].append(tb)
    for stage in ["identity", "policy", "credential", "injection", "total"]:
        for q in (0.5, 0.99):
            v = quantile(q, a, b, "secretless_proxy_overhead_seconds", {"stage": stage})
            series[f"{stage} p{int(q*100)}"].append(None if v is None else v * 1e6)
    for q in (0.5, 0.99):
        v = quantile(q, a, b, "secretless_upstream_latency_seconds", {})
        series[f"upstream p{int(q*100)}"].append(None if v is None else v * 1e3)
    for outcome in ["allow", "deny", "error"]:
        series[f"rps {outcome}"].append(rate(a, b, "secretless_request_duration_seconds_count", {"outcome": outcome}, dt))
    hits = rate(a, b, "secretless_credential_cache_lookups_total", {"layer": "l1", "result": "hit"}, dt)
    misses = rate(a, b, "secretless_credential_cache_lookups_total", {"layer": "l1", "result": "miss"}, dt)
    series["l1 hit ratio"].append(100 * hits / (hits + misses) if hits + misses else None)
    series["jwt fetches"].append(rate(a, b, "secretless_token_fetches_total", {"provider": "jwt"}, dt) * dt)
last = snapshots[-1][1]
fetch_count = sum(v for (m, l), v in last.items() if m == "secretless_token_fetch_duration_seconds_count" and 'provider="jwt"' in l)
fetch_sum = sum(v for (m, l), v in last.items() if m == "secretless_token_fetch_duration_seconds_sum" and 'provider="jwt"' in l)

os.makedirs(args.out, exist_ok=True)
t = series["t"]
fig, ax = plt.subplots(figsize=(9, 4.2))
for stage, color in [("total", "black"), ("credential", "tab:blue"), ("policy", "tab:green"), ("identity", "tab:orange"), ("injection", "tab:purple")]:
    ax.plot(t, series[f"{stage} p50"], color=color, label=f"{stage} p50")
    ax.plot(t, series[f"{stage} p99"], color=color, linestyle="--", alpha=0.7, label=f"{stage} p99")
ax.set_yscale("log"); ax.set_ylabel("µs (log)"); ax.set_xlabel("seconds into the run")
ax.set_title("Proxy-added overhead by stage (before the request leaves for the upstream)")
ax.legend(ncol=5, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.15)); fig.tight_layout()
fig.savefig(f"{args.out}/overhead.png", dpi=110); plt.close(fig)

fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.8))
for outcome, color in [("allow", "tab:green"), ("deny", "tab:red"), ("error", "black")]:
    a1.plot(t, series[f"rps {outcome}"], color=color, label=outcome)
a1.set_title("Requests per second by outcome"); a1.set_xlabel("seconds"); a1.legend()
a2.plot(t, series["upstream p50"], label="upstream p50"); a2.plot(t, series["upstream p99"], linestyle="--", label="upstream p99")
a2.set_title("Upstream latency (ms)"); a2.set_xlabel("seconds"); a2.legend(); fig.tight_layout()
fig.savefig(f"{args.out}/traffic.png", dpi=110); plt.close(fig)

fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.8))
a1.plot(t, series["l1 hit ratio"], color="tab:blue"); a1.set_ylim(0, 101); a1.set_title("In-memory credential cache hit ratio (%)"); a1.set_xlabel("seconds")
a2.bar(t, series["jwt fetches"], width=1.5, color="tab:orange")
a2.set_title(f"jwt issuances per scrape (mean {1000 * fetch_sum / max(fetch_count, 1):.2f} ms each)"); a2.set_xlabel("seconds"); fig.tight_layout()
fig.savefig(f"{args.out}/credentials.png", dpi=110); plt.close(fig)

total = sum(v for (m, l), v in last.items() if m == "secretless_request_duration_seconds_count")
def mean(name): return [v for v in series[name] if v is not None]
med = lambda xs: sorted(xs)[len(xs) // 2] if xs else float("nan")
print(f"requests: {int(total)} in {args.seconds} s ({total / args.seconds:.0f}/s) at concurrency {args.concurrency}")
print(f"overhead total p50 (median over scrapes): {med(mean('total p50')):.0f} µs; p99: {med(mean('total p99')):.0f} µs")
print(f"L1 hit ratio (median): {med(mean('l1 hit ratio')):.2f} %; jwt issuances: {int(fetch_count)}, mean {1000 * fetch_sum / max(fetch_count, 1):.2f} ms")
print(f"figures written to {args.out}/overhead.png, traffic.png, credentials.png")

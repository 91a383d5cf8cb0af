"""Figures for the mail and recovery features (run by scripts/bench, not a test).

1. `forgot` with a known vs an unknown address: median over N requests each, and the difference.
2. Outbox throughput into a real SMTP capture server (mails/s), and recovery after an outage.

Usage: bench_mail.py BINARY WORKDIR
"""
import http.client, json, os, shutil, signal, socket, sqlite3, statistics, subprocess, sys, time, uuid

BIN, WORK = sys.argv[1], sys.argv[2]
ROUNDS = int(os.environ.get("BENCH_FORGOT_ROUNDS", "200"))
MAILS = int(os.environ.get("BENCH_MAILS", "300"))
HERE = os.path.dirname(os.path.abspath(__file__))


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def wait_port(port, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close(); return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port}")


def post(port, path, body, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    h = {"content-type": "application/json"}; h.update(headers or {})
    c.request("POST", path, json.dumps(body), h)
    r = c.getresponse(); data = r.read(); c.close()
    return r.status, data


def start_capture(port, outdir):
    return subprocess.Popen([sys.executable, "-W", "ignore", os.path.join(HERE, "..", "tests", "peers", "smtp_capture.py"), str(port), outdir],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def count(outdir):
    return len([f for f in os.listdir(outdir) if f.endswith(".eml")]) if os.path.isdir(outdir) else 0


smtp_port, http_port = free_port(), free_port()
data_dir, capture = os.path.join(WORK, "mail-data"), os.path.join(WORK, "captured")
env = dict(os.environ, GATEHOUSE_LOG="warn", GATEHOUSE_CAPTCHA__ENABLED="false",
           GATEHOUSE_SMTP__HOST="127.0.0.1", GATEHOUSE_SMTP__PORT=str(smtp_port), GATEHOUSE_SMTP__TLS="none",
           GATEHOUSE_PUBLIC_BASE_URL=f"http://127.0.0.1:{http_port}", GATEHOUSE_TRUSTED_PROXIES='["127.0.0.1/32"]')
cap = start_capture(smtp_port, capture)
wait_port(smtp_port)
server = subprocess.Popen([BIN, "serve", "--data-dir", data_dir, "--listen", f"127.0.0.1:{http_port}"], env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    wait_port(http_port)
    known = "known@example.com"
    post(http_port, "/api/v1/auth/register", {"email": known, "password": "violet tugboat harmonica", "nickname": "K"})
    times = {"known": [], "unknown": []}
    for i in range(ROUNDS * 2):
        kind = "known" if i % 2 == 0 else "unknown"
        email = known if kind == "known" else f"nobody{i}@example.com"
        ip = f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"
        t = time.perf_counter()
        status, _ = post(http_port, "/api/v1/auth/password/forgot", {"email": email}, {"x-forwarded-for": ip})
        times[kind].append(time.perf_counter() - t)
        assert status == 202, status
    mk, mu = statistics.median(times["known"]) * 1000, statistics.median(times["unknown"]) * 1000
    print(f"forgot, known address        median {mk:8.2f} ms over {ROUNDS}")
    print(f"forgot, unknown address      median {mu:8.2f} ms over {ROUNDS}   difference {abs(mk - mu) / mu * 100:.2f} %")

    # Throughput: queue MAILS rows at once (as a broadcast would) and time their delivery.
    def queue(n, tag):
        db = sqlite3.connect(os.path.join(data_dir, "gatehouse.db"), timeout=30)
        now = int(time.time())
        db.executemany("INSERT INTO mail_outbox (id, kind, recipient, subject, body_text, body_html, status, attempts, created_at, next_attempt_at) "
                       "VALUES (?, 'broadcast', ?, 'Bench', 'Hello', '<p>Hello</p>', 'pending', 0, ?, ?)",
                       [(str(uuid.uuid4()), f"{tag}{k}@example.com", now, now) for k in range(n)])
        db.commit(); db.close()

    before = count(capture)
    queue(MAILS, "bench")
    t = time.perf_counter()
    while count(capture) < before + MAILS and time.perf_counter() - t < 300:
        time.sleep(0.05)
    elapsed = time.perf_counter() - t
    print(f"outbox throughput            {MAILS / elapsed:8.1f} mails/s ({MAILS} mails in {elapsed:.1f} s, one worker)")

    # Outage: the SMTP server stops, mails are queued, it comes back.
    # (The capture server numbers its files from 1 per run, so the second run writes elsewhere.)
    cap.send_signal(signal.SIGTERM); cap.wait()
    queue(20, "outage")
    time.sleep(3)
    capture = os.path.join(WORK, "captured-after-outage")
    cap = start_capture(smtp_port, capture)
    wait_port(smtp_port)
    back = time.perf_counter()
    while count(capture) < 20 and time.perf_counter() - back < 120:
        time.sleep(0.1)
    print(f"after a 3 s SMTP outage      {count(capture)}/20 queued mails delivered {time.perf_counter() - back:.1f} s after the server came back (retry backoff starts at 5 s)")
finally:
    server.send_signal(signal.SIGTERM); server.wait()
    cap.send_signal(signal.SIGTERM); cap.wait()

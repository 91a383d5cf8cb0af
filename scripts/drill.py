"""Outage drills against a real `gatehouse serve` on PostgreSQL + Redis (run by scripts/drill).

Each backing service is reached through a TCP proxy this script owns, so an outage is a cut of
the proxy (refused connections, open ones reset) rather than a stop of the shared servers.

  postgres  the database is cut for OUTAGE s under a loop of requests: /readyz and the API must
            answer 503 (never 500), and both must come back without a restart.
  redis     the same for Redis.
  smtp      MAILS mails are queued (team broadcasts) while the SMTP server is down; the server is
            killed with SIGKILL while it retries and started again; the SMTP server comes back
            after SMTP_OUTAGE s; every mail must arrive (losses 0; duplicates are counted).

Usage: drill.py BINARY WORKDIR DATABASE_URL REDIS_URL DRILL[,DRILL…]
Env: DRILL_OUTAGE (10), DRILL_SMTP_OUTAGE (60), DRILL_MAILS (1000), DRILL_KILL_WHILE_DELIVERING (0).
Exits 1 when a drill's promise does not hold.
"""
import asyncio, concurrent.futures, email, email.policy, http.client, json, os, random, signal, socket, subprocess, sys
import threading, time, urllib.parse

BIN, WORK, DB_URL, REDIS_URL, WHICH = sys.argv[1:6]
OUTAGE = float(os.environ.get("DRILL_OUTAGE", "10"))
SMTP_OUTAGE = float(os.environ.get("DRILL_SMTP_OUTAGE", "60"))
MAILS = int(os.environ.get("DRILL_MAILS", "1000"))
KILL_WHILE_DELIVERING = os.environ.get("DRILL_KILL_WHILE_DELIVERING", "0") == "1"
HERE = os.path.dirname(os.path.abspath(__file__))
PASSWORD = "violet tugboat harmonica"
failures = []


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def wait_port(port, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close(); return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"drill: nothing listens on {port}")


def check(ok, what):
    print(f"  {'ok  ' if ok else 'FAIL'} {what}", flush=True)
    if not ok:
        failures.append(what)


class Proxy:
    """A TCP proxy on 127.0.0.1:port to host:target_port that can be cut and restored."""

    def __init__(self, name, host, target_port):
        self.name, self.host, self.target_port = name, host, target_port
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.server, self.links = None, set()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.restore()

    async def _pipe(self, reader, writer):
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _handle(self, c_reader, c_writer):
        try:
            s_reader, s_writer = await asyncio.open_connection(self.host, self.target_port)
        except OSError:
            c_writer.transport.abort(); return
        pair = (c_writer, s_writer)
        self.links.add(pair)
        try:
            await asyncio.gather(self._pipe(c_reader, s_writer), self._pipe(s_reader, c_writer))
        finally:
            self.links.discard(pair)

    async def _start(self):
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", self.port, reuse_address=True)

    async def _cut(self):
        self.server.close()
        await self.server.wait_closed()
        for c, s in list(self.links):
            c.transport.abort(); s.transport.abort()
        self.links.clear()

    def restore(self):
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10)

    def cut(self):
        asyncio.run_coroutine_threadsafe(self._cut(), self.loop).result(10)


def via(url, proxy):
    u = urllib.parse.urlsplit(url)
    netloc = (u.netloc.rsplit("@", 1)[0] + "@" if "@" in u.netloc else "") + f"127.0.0.1:{proxy.port}"
    return urllib.parse.urlunsplit((u.scheme, netloc, u.path, u.query, u.fragment))


def host_port(url, default):
    u = urllib.parse.urlsplit(url)
    return u.hostname or "127.0.0.1", u.port or default


pg = Proxy("postgres", *host_port(DB_URL, 5432))
redis = Proxy("redis", *host_port(REDIS_URL, 6379))
SMTP_PORT, HTTP_PORT = free_port(), free_port()
BASE = ("127.0.0.1", HTTP_PORT)
ENV = dict(os.environ, GATEHOUSE_LOG="warn,gatehouse=info", GATEHOUSE_DATABASE_URL=via(DB_URL, pg),
           GATEHOUSE_REDIS_URL=via(REDIS_URL, redis), GATEHOUSE_SMTP__HOST="127.0.0.1",
           GATEHOUSE_SMTP__PORT=str(SMTP_PORT), GATEHOUSE_SMTP__TLS="none",
           GATEHOUSE_PUBLIC_BASE_URL=f"http://127.0.0.1:{HTTP_PORT}",
           GATEHOUSE_TRUSTED_PROXIES='["127.0.0.1/32"]')
server, server_logs = None, []


def start_server():
    global server
    log = os.path.join(WORK, f"server-{len(server_logs) + 1}.log")
    server_logs.append(log)
    server = subprocess.Popen([BIN, "serve", "--data-dir", os.path.join(WORK, "data"), "--listen", f"127.0.0.1:{HTTP_PORT}"],
                              env=ENV, stdout=subprocess.DEVNULL, stderr=open(log, "wb"))
    wait_port(HTTP_PORT, 60)


def call(method, path, body=None, token=None, timeout=20):
    """(status, parsed body) — status 0 when the connection itself failed."""
    c = http.client.HTTPConnection(*BASE, timeout=timeout)
    h = {"x-forwarded-for": f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"}
    if body is not None:
        h["content-type"] = "application/json"
    if token:
        h["authorization"] = f"Bearer {token}"
    try:
        c.request(method, path, json.dumps(body) if body is not None else None, h)
        r = c.getresponse(); data = r.read()
        try:
            return r.status, json.loads(data or b"null")
        except ValueError:
            return r.status, None
    except OSError:
        return 0, None
    finally:
        c.close()


def register(tag):
    status, body = call("POST", "/api/v1/auth/register",
                        {"email": f"{tag}-{random.getrandbits(40):x}@example.com", "password": PASSWORD, "nickname": "Drill"})
    if status != 201:
        raise SystemExit(f"drill: register answered {status} {body}")
    return body["session"]["token"]


def load(probes, stop, log):
    """Each probe (label, method, path, body, token, needs_service) in a loop of its own until
    `stop` is set."""
    def worker(label, method, path, body, token, _needs_service):
        while not stop.is_set():
            t0 = time.monotonic()
            status, reply = call(method, path, body, token)
            code = reply.get("error", {}).get("code") if isinstance(reply, dict) and isinstance(reply.get("error"), dict) else None
            log.append((t0, time.monotonic(), label, status, code))
            time.sleep(0.05)
    threads = [threading.Thread(target=worker, args=p, daemon=True) for p in probes]
    for t in threads:
        t.start()
    return threads


def panics():
    n = 0
    for path in server_logs:
        with open(path, errors="replace") as f:
            n += sum(1 for line in f if "panicked" in line)
    return n


def outage_drill(name, proxy, probes):
    print(f"\n== drill {name}: {OUTAGE:g} s outage under load", flush=True)
    stop, log = threading.Event(), []
    threads = load(probes, stop, log)
    time.sleep(3)
    cut_at = time.monotonic()
    proxy.cut()
    time.sleep(OUTAGE)
    back_at = time.monotonic()
    proxy.restore()
    labels = [p[0] for p in probes]
    deadline = back_at + 60
    # Recovered: every probe has answered 200 to a request sent after the service came back.
    while time.monotonic() < deadline:
        seen = {l for (t0, _, l, s, _) in list(log) if t0 >= back_at and s in (200, 201)}
        if seen == set(labels):
            break
        time.sleep(0.1)
    time.sleep(3)
    stop.set()
    for t in threads:
        t.join(30)
    during = [e for e in log if e[1] >= cut_at and e[0] <= back_at]
    print(f"  {len(log)} requests, {len(during)} answered during the outage; server pid {server.pid} "
          f"{'still running' if server.poll() is None else 'EXITED'}")
    for label in labels:
        mine = [e for e in log if e[2] == label]
        by_status = {}
        for e in mine:
            key = f"{e[3]}" + (f" {e[4]}" if e[4] else "")
            by_status[key] = by_status.get(key, 0) + 1
        firsts = [e[1] for e in mine if e[0] >= back_at and e[3] in (200, 201)]
        rec = f"{min(firsts) - back_at:.1f} s" if firsts else "never"
        stuck = [e for e in mine if firsts and e[0] > min(firsts) and e[3] not in (200, 201, 429)]
        print(f"  {label:<28} {len(mine):4} requests  {json.dumps(by_status, sort_keys=True)}  "
              f"recovered {rec} after the service came back")
        check(not any(e[3] == 500 for e in mine), f"{name}: {label} never answered 500")
        check(not any(e[3] == 0 for e in mine), f"{name}: {label} never dropped the connection")
        check(bool(firsts), f"{name}: {label} recovered without a restart")
        check(not stuck, f"{name}: {label} stayed healthy once recovered ({len(stuck)} failures after)")
    outage_503 = {l: sum(1 for e in during if e[2] == l and e[3] == 503) for l in labels}
    for label, *_, needs_service in probes:
        if not needs_service:
            continue
        check(outage_503[label] > 0, f"{name}: {label} answered 503 during the outage ({outage_503[label]})")
    check(server.poll() is None, f"{name}: the server kept running")
    check(panics() == 0, f"{name}: no panic in the server log")
    total_503 = sum(1 for e in log if e[3] == 503)
    total_500 = sum(1 for e in log if e[3] == 500)
    recovered = max(firsts_per(log, labels, back_at))
    print(f"  FIGURES drill {name}: {OUTAGE:g} s outage, {len(log)} requests, 503 x {total_503}, "
          f"500 x {total_500}, recovered {recovered:.1f} s after start", flush=True)


def firsts_per(log, labels, back_at):
    out = []
    for label in labels:
        t = [e[1] for e in log if e[2] == label and e[0] >= back_at and e[3] in (200, 201)]
        out.append(min(t) - back_at if t else float("inf"))
    return out


_parsed = {}


def mails_received(outdir):
    """{marker: [message-id, …]} of the captured mails, and the number of files (each file is
    parsed once: the drill polls while the server delivers, on the same cores)."""
    got, files = {}, 0
    if not os.path.isdir(outdir):
        return got, files
    for name in os.listdir(outdir):
        if not name.endswith(".eml"):
            continue
        files += 1
        path = os.path.join(outdir, name)
        if path not in _parsed:
            with open(path, "rb") as f:
                msg = email.message_from_binary_file(f, policy=email.policy.default)
            subject = str(msg.get("subject", ""))
            marker = next((w for w in subject.split() if w.startswith("drill-")), None)
            if marker is None:  # still being written: read it again next time
                got.setdefault(None, []).append("")
                continue
            _parsed[path] = (marker, str(msg.get("message-id", "")))
        marker, message_id = _parsed[path]
        got.setdefault(marker, []).append(message_id)
    return got, files


def start_capture(outdir):
    return subprocess.Popen([sys.executable, "-W", "ignore", os.path.join(HERE, "..", "tests", "peers", "smtp_capture.py"),
                             str(SMTP_PORT), outdir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def outbox_status():
    out = subprocess.run(["psql", DB_URL, "-Atc",
                          "SELECT status || '=' || count(*) || ' (' || count(*) FILTER (WHERE attempts > 0) || ' tried)' "
                          "FROM mail_outbox WHERE kind = 'broadcast' GROUP BY status ORDER BY status"],
                         capture_output=True, text=True)
    return out.stdout.strip().replace("\n", ", ")


def kill_and_restart(why):
    server.send_signal(signal.SIGKILL)
    server.wait()
    t = time.monotonic()
    start_server()
    print(f"  kill -9 {why}; started again in {time.monotonic() - t:.1f} s (outbox: {outbox_status()})", flush=True)


def smtp_drill():
    print(f"\n== drill smtp: {MAILS} mails queued, SMTP down for {SMTP_OUTAGE:g} s, kill -9 while retrying", flush=True)
    token = register("mailer")
    down_at = time.monotonic()

    def team(n):  # a team of one member broadcasts up to 5 times (its hourly allowance)
        status, body = call("POST", "/api/v1/tenants", {"name": f"Drill {n}"}, token)
        if status != 201:
            raise RuntimeError(f"creating a team answered {status} {body}")
        tenant = body["id"]
        for i in range(n * 5, min(n * 5 + 5, MAILS)):
            marker = f"drill-{i:05d}"
            status, body = call("POST", f"/api/v1/tenants/{tenant}/broadcast",
                                {"subject": f"Notice {marker}", "body": f"Body of {marker}."}, token)
            if status != 202 or body.get("queued") != 1:
                raise RuntimeError(f"broadcast answered {status} {body}")

    teams = (MAILS + 4) // 5
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        list(pool.map(team, range(teams)))
    print(f"  {MAILS} mails queued through {teams} teams in {time.monotonic() - down_at:.1f} s", flush=True)
    # Kill while the worker is retrying: after the first backoff, half-way through the outage.
    time.sleep(max(0.0, down_at + max(SMTP_OUTAGE / 2, 8) - time.monotonic()))
    kill_and_restart("while the worker retries against the closed SMTP port")
    time.sleep(max(0.0, down_at + SMTP_OUTAGE - time.monotonic()))
    outdir = os.path.join(WORK, "captured")
    cap = start_capture(outdir)
    wait_port(SMTP_PORT)
    back_at = time.monotonic()
    print(f"  SMTP server back after {back_at - down_at:.0f} s", flush=True)
    killed_again = False
    deadline = back_at + 900
    try:
        while time.monotonic() < deadline:
            got, _ = mails_received(outdir)
            if KILL_WHILE_DELIVERING and not killed_again and len(got) >= MAILS // 3:
                kill_and_restart(f"again while delivering ({len(got)} received)")
                killed_again = True
            if len([m for m in got if m]) >= MAILS:
                break
            time.sleep(0.5)
        done_at = time.monotonic()
        time.sleep(2)  # anything sent twice would arrive now
        got, files = mails_received(outdir)
        stamps = sorted(os.path.getmtime(os.path.join(outdir, f)) for f in os.listdir(outdir))
    finally:
        cap.send_signal(signal.SIGTERM); cap.wait()
    expected = {f"drill-{i:05d}" for i in range(MAILS)}
    delivered = expected & set(got)
    lost = len(expected - delivered)
    dup_markers = sum(len(v) - 1 for k, v in got.items() if k in expected)
    dup_ids = sum(len(v) - len(set(v)) for v in got.values())
    rate = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 and stamps[-1] > stamps[0] else 0
    first = stamps[0] - (time.time() - (time.monotonic() - back_at)) if stamps else float("nan")
    print(f"  {files} messages received, {len(delivered)} of {MAILS} distinct: the first {first:.1f} s and the last "
          f"{done_at - back_at:.1f} s after the SMTP server came back ({rate:.0f} mails/s meanwhile)")
    print(f"  outbox: {outbox_status()}")
    check(lost == 0, f"smtp: every queued mail delivered ({lost} lost)")
    check(server.poll() is None and panics() == 0, "smtp: the server ran without a panic")
    print(f"  FIGURES drill smtp: {SMTP_OUTAGE:g} s SMTP outage, kill -9 x {2 if killed_again else 1}, "
          f"mails queued {MAILS} / delivered {len(delivered)} / lost {lost} / duplicated {dup_markers} "
          f"(same Message-ID twice: {dup_ids}), all delivered {done_at - back_at:.1f} s after SMTP came back", flush=True)


try:
    start_server()
    drills = WHICH.split(",")
    token = register("drill")
    if "postgres" in drills:
        outage_drill("postgres", pg, [
            ("GET /readyz", "GET", "/readyz", None, None, True),
            ("GET /api/v1/users/me", "GET", "/api/v1/users/me", None, token, True),
            ("GET /api/v1/tenants", "GET", "/api/v1/tenants", None, token, True),
        ])
    if "redis" in drills:
        # Sessions live in the database: /users/me needs no Redis and must stay 200.
        outage_drill("redis", redis, [
            ("GET /readyz", "GET", "/readyz", None, None, True),
            ("POST /api/v1/captcha", "POST", "/api/v1/captcha", {}, None, True),
            ("GET /api/v1/users/me", "GET", "/api/v1/users/me", None, token, False),
        ])
    if "smtp" in drills:
        smtp_drill()
finally:
    if server and server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
    print(f"\n  server logs: {' '.join(server_logs)}")

if failures:
    print(f"\ndrill: {len(failures)} promise(s) broken:\n  " + "\n  ".join(failures))
    sys.exit(1)
print("\ndrill: every promise held")

"""Mail client latency against a local Dovecot: folder listing and message fetch (median, p99)
through gatehouse's API, and GET /users/me p99 while 50 users read mail at the same time.
Usage: bench_mailbox.py GATEHOUSE_BIN WORKDIR. Starts Dovecot and gatehouse itself and stops
both by PID. Not a test: the figures depend on the machine."""
import http.client, json, multiprocessing, os, socket, statistics, subprocess, sys, time

BIN, WORK = sys.argv[1], sys.argv[2]
MAIL_USER, MAIL_PASS = "bench@mail.test", "mailbox-pass-4711"
READERS = 50
# Each reader opens a page of its inbox, reads it for this long, then opens the next: people
# reading mail, not a flood (50 readers ≈ up to 250 mail requests per second).
READER_PAUSE = float(os.environ.get("BENCH_READER_PAUSE", "0.2"))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, what):
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"{what} did not start")


def start_dovecot():
    d = os.path.join(WORK, "dovecot")
    for sub in ("run", "state", "mail"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    os.chmod(WORK, 0o755)
    os.chmod(d, 0o755)
    os.chown(os.path.join(d, "mail"), 65534, 65534)
    with open(os.path.join(d, "users"), "w") as f:
        f.write(f"{MAIL_USER}:{{PLAIN}}{MAIL_PASS}\n")
    port = free_port()
    with open(os.path.join(d, "dovecot.conf"), "w") as f:
        f.write(f"""protocols = imap
listen = 127.0.0.1
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
ssl = no
auth_failure_delay = 0
disable_plaintext_auth = no
mail_location = maildir:{d}/mail/%u
mail_max_userip_connections = 1000
default_process_limit = 500
default_client_limit = 2000
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d}/users
}}
userdb {{
  driver = static
  args = uid=65534 gid=65534 home={d}/mail/%u
}}
namespace inbox {{
  inbox = yes
  mailbox Sent {{
    special_use = \\Sent
    auto = subscribe
  }}
  mailbox Trash {{
    special_use = \\Trash
    auto = subscribe
  }}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
""")
    proc = subprocess.Popen(["dovecot", "-F", "-c", os.path.join(d, "dovecot.conf")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port, "dovecot")
    import imaplib
    m = imaplib.IMAP4("127.0.0.1", port)
    m.login(MAIL_USER, MAIL_PASS)
    for i in range(200):
        body = f"From: Sender {i} <s{i}@example.test>\r\nTo: {MAIL_USER}\r\nSubject: message {i}\r\n\r\n" + ("line of text\r\n" * 40)
        m.append("INBOX", None, None, body.encode())
    m.logout()
    return proc, port


def request(conn, method, path, token, body=None):
    headers = {"Authorization": f"Bearer {token}"}
    if body is not None:
        headers["Content-Type"] = "application/json"
        body = json.dumps(body)
    start = time.perf_counter()
    conn.request(method, path, body=body, headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    return resp.status, data, (time.perf_counter() - start) * 1000


def reader(port, token, account, stop_at):
    conn = http.client.HTTPConnection("127.0.0.1", port)
    n = 0
    while time.time() < stop_at:
        request(conn, "GET", f"/api/v1/mail/accounts/{account}/messages?per_page=20&page={1 + n % 5}", token)
        n += 1
        time.sleep(READER_PAUSE)


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def main():
    dovecot, imap_port = start_dovecot()
    gh_port = free_port()
    env = dict(os.environ, GATEHOUSE_LOG="warn", GATEHOUSE_CAPTCHA__ENABLED="false",
               GATEHOUSE_MAIL_ACCOUNTS__ALLOW_PRIVATE_HOSTS="true")
    server = subprocess.Popen([BIN, "serve", "--data-dir", os.path.join(WORK, "mbdata"),
                               "--listen", f"127.0.0.1:{gh_port}"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(gh_port, "gatehouse")
        conn = http.client.HTTPConnection("127.0.0.1", gh_port)
        status, data, _ = request(conn, "POST", "/api/v1/auth/register", "", {
            "email": "reader@example.com", "password": "violet tugboat harmonica", "nickname": "Reader"})
        token = json.loads(data)["session"]["token"]
        status, data, _ = request(conn, "POST", "/api/v1/mail/accounts", token, {
            "email": MAIL_USER, "imap_host": "127.0.0.1", "imap_port": imap_port, "imap_tls": "none",
            "smtp_host": "127.0.0.1", "smtp_port": 25, "smtp_tls": "none", "username": MAIL_USER,
            "password": MAIL_PASS, "verify": False})
        assert status == 201, data
        account = json.loads(data)["id"]
        base = f"/api/v1/mail/accounts/{account}"
        folders = [request(conn, "GET", f"{base}/folders", token)[2] for _ in range(200)]
        uids = [m["uid"] for m in json.loads(request(conn, "GET", f"{base}/messages?per_page=200", token)[1])["items"]]
        fetches = []
        for uid in uids:
            status, _, ms = request(conn, "GET", f"{base}/messages/{uid}", token)
            assert status == 200
            fetches.append(ms)
        lists = [request(conn, "GET", f"{base}/messages?per_page=50", token)[2] for _ in range(100)]

        stop_at = time.time() + 12
        procs = [multiprocessing.Process(target=reader, args=(gh_port, token, account, stop_at))
                 for _ in range(READERS)]
        for p in procs:
            p.start()
        time.sleep(2)
        me = []
        while time.time() < stop_at - 1:
            me.append(request(conn, "GET", "/api/v1/users/me", token)[2])
            time.sleep(0.005)
        for p in procs:
            p.join()
        idle_me = [request(conn, "GET", "/api/v1/users/me", token)[2] for _ in range(300)]
        print(f"mail folder listing          median {statistics.median(folders):7.2f} ms   p99 {pct(folders, .99):7.2f} ms   (n={len(folders)})")
        print(f"mail message fetch           median {statistics.median(fetches):7.2f} ms   p99 {pct(fetches, .99):7.2f} ms   (n={len(fetches)})")
        print(f"mail list (50 per page)      median {statistics.median(lists):7.2f} ms   p99 {pct(lists, .99):7.2f} ms   (n={len(lists)})")
        print(f"p99 /users/me, idle          {pct(idle_me, .99):7.2f} ms")
        print(f"p99 /users/me, {READERS} readers    {pct(me, .99):7.2f} ms   (n={len(me)}; readers pause {READER_PAUSE}s; target <= 10 ms)")
    finally:
        server.terminate()
        server.wait()
        dovecot.terminate()
        dovecot.wait()


if __name__ == "__main__":
    main()

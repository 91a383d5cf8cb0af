"""SMTP capture peer (aiosmtpd 1.4.6). Usage: smtp_capture.py PORT OUTDIR [USER:PASS]; env SMTP_TLS_CERT/SMTP_TLS_KEY for STARTTLS,
plus SMTP_IMPLICIT_TLS=1 for implicit TLS (the socket is wrapped from the first byte, as on port 465)."""
import asyncio, itertools, os, ssl, sys
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

port, outdir = int(sys.argv[1]), sys.argv[2]
cred = sys.argv[3].split(":", 1) if len(sys.argv) > 3 else None
os.makedirs(outdir, exist_ok=True)
counter = itertools.count(1)

class Saver:
    async def handle_DATA(self, server, session, envelope):
        n = next(counter)
        head = f"X-Env-From: {envelope.mail_from}\r\nX-Env-To: {','.join(envelope.rcpt_tos)}\r\n"
        if session.authenticated and session.auth_data:
            head += f"X-Env-Auth: {session.auth_data.login.decode()}\r\n"
        with open(os.path.join(outdir, f"{n}.eml"), "wb") as f:
            f.write(head.encode() + envelope.original_content)
        return "250 OK saved"

def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and cred is not None and \
        auth_data.login.decode() == cred[0] and auth_data.password.decode() == cred[1]
    return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

tls = None
if os.environ.get("SMTP_TLS_CERT"):
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(os.environ["SMTP_TLS_CERT"], os.environ["SMTP_TLS_KEY"])
if tls is not None and os.environ.get("SMTP_IMPLICIT_TLS") == "1":
    kw = dict(hostname="127.0.0.1", port=port, ssl_context=tls)
else:
    kw = dict(hostname="127.0.0.1", port=port, tls_context=tls, require_starttls=False)
if cred:
    kw.update(authenticator=authenticator, auth_required=True, auth_require_tls=False)
ctl = Controller(Saver(), **kw)
ctl.start()
print(f"smtp capture on 127.0.0.1:{port} -> {outdir}", flush=True)
try:
    asyncio.get_event_loop().run_forever()
finally:
    ctl.stop()

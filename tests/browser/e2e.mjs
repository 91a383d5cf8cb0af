// End-to-end tests of the gatehouse pages in a real Chromium, driven by playwright-core.
// Starts its own gatehouse (E2E_GATEHOUSE_BIN) on a free port with a temporary data dir, delivering
// mail to the SMTP capture peer (tests/peers/smtp_capture.py), whose saved messages give the codes
// and links, and signing in through the OpenID provider peer; checks every page with axe-core
// (no serious or critical violations) and saves screenshots under test-artifacts/.
import { chromium } from 'playwright-core';
import { spawn, execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const require = createRequire(import.meta.url);
const AXE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const BIN = process.env.E2E_GATEHOUSE_BIN || path.join(process.env.HOME, '.cache/gatehouse-target/debug/gatehouse');
const ARTIFACTS = path.join(ROOT, 'test-artifacts');
const PASSWORD = 'violet tugboat harmonica';
const NEW_PASSWORD = 'quiet lantern meadow';
const ADMIN = { email: 'admin@example.com', password: 'amber kestrel lighthouse' };
const USER = { email: `walker-${Date.now()}@example.com`, nickname: 'Walker' };

const failures = [];
const check = (ok, what) => { if (!ok) { failures.push(what); console.error(`FAIL ${what}`); } else console.log(`ok   ${what}`); };

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
    s.on('error', reject);
  });
}

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-e2e-'));
const port = await freePort();
// Passkeys need a domain as their relying party: browsers visit `localhost` (the server still
// listens on 127.0.0.1, which node's own requests use).
const BASE = `http://localhost:${port}`;
const DIRECT = `http://127.0.0.1:${port}`;

// Every process started here is stopped when this script exits, however it exits.
const children = [];
const stop = () => { for (const child of children) if (child.exitCode === null) child.kill('SIGTERM'); };
process.on('exit', stop);

/// A peer process, and the first line of its stdout that matches `ready`.
function startPeer(command, args, options, ready) {
  const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  const line = new Promise((resolve, reject) => {
    let seen = '';
    child.stdout.on('data', (chunk) => {
      seen += chunk;
      const m = seen.match(ready);
      if (m) resolve(m);
    });
    child.on('exit', () => reject(new Error(`${command} ${args.join(' ')} did not start`)));
  });
  return { child, line };
}

// The SMTP capture peer: every delivered message lands in mailDir as N.eml.
const mailDir = path.join(dataDir, 'captured');
const smtpPort = await freePort();
const smtp = startPeer('python3', [path.join(ROOT, 'tests/peers/smtp_capture.py'), String(smtpPort), mailDir], {}, /smtp capture on/);
await smtp.line;

// The OpenID provider peer (tests/peers/oidc-op): signs `login_hint`'s account in without a form.
const oidc = startPeer('node', ['op.mjs'], {
  cwd: path.join(ROOT, 'tests/peers/oidc-op'),
  env: { ...process.env, PORT: '0', RP_REDIRECTS: `${BASE}/api/v1/auth/providers/corp/callback` },
}, /OP listening on (\S+)/);
const ISSUER = (await oidc.line)[1];
// Dovecot for the mail client (a config written here, SPECIAL-USE folders, plain IMAP on
// loopback) and a second capture peer that requires the mailbox's SMTP login.
const MAILBOX = { user: `reader-${Date.now()}@mail.test`, password: 'mailbox-pass-4711' };
const doveDir = path.join(dataDir, 'dovecot');
for (const sub of ['run', 'state', 'mail']) fs.mkdirSync(path.join(doveDir, sub), { recursive: true });
fs.chmodSync(dataDir, 0o755);
fs.chmodSync(doveDir, 0o755);
fs.chownSync(path.join(doveDir, 'mail'), 65534, 65534);
fs.writeFileSync(path.join(doveDir, 'users'), `${MAILBOX.user}:{PLAIN}${MAILBOX.password}\n`);
const imapPort = await freePort();
fs.writeFileSync(path.join(doveDir, 'dovecot.conf'), `protocols = imap
listen = 127.0.0.1
base_dir = ${doveDir}/run
state_dir = ${doveDir}/state
log_path = ${doveDir}/dovecot.log
ssl = no
auth_failure_delay = 0
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:${doveDir}/mail/%u
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u ${doveDir}/users
}
userdb {
  driver = static
  args = uid=65534 gid=65534 home=${doveDir}/mail/%u
}
namespace inbox {
  inbox = yes
  separator = /
  mailbox Drafts {
    special_use = \\Drafts
    auto = subscribe
  }
  mailbox Sent {
    special_use = \\Sent
    auto = subscribe
  }
  mailbox Trash {
    special_use = \\Trash
    auto = subscribe
  }
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = ${imapPort}
  }
  inet_listener imaps {
    port = 0
  }
}
`);
const dovecot = spawn('/usr/sbin/dovecot', ['-F', '-c', path.join(doveDir, 'dovecot.conf')], { stdio: ['ignore', 'ignore', 'inherit'] });
children.push(dovecot);
for (let i = 0; ; i++) {
  const up = await new Promise((resolve) => {
    const sock = net.connect(imapPort, '127.0.0.1', () => { sock.destroy(); resolve(true); });
    sock.on('error', () => resolve(false));
  });
  if (up) break;
  if (i > 100) throw new Error('dovecot did not start');
  await new Promise((r) => setTimeout(r, 100));
}
/// Python's imaplib against the test Dovecot: `append` a message or `count` a folder.
const imap = (op, folder, message = '') => execFileSync('python3', ['-c', `
import imaplib, sys
m = imaplib.IMAP4('127.0.0.1', ${imapPort}); m.login(sys.argv[1], sys.argv[2])
if sys.argv[3] == 'append':
    m.append(sys.argv[4], None, None, sys.argv[5].replace('\\n', '\\r\\n').encode())
else:
    typ, data = m.select(sys.argv[4], readonly=True); print(int(data[0]))
m.logout()`, MAILBOX.user, MAILBOX.password, op, folder, message]).toString().trim();
imap('append', 'INBOX', 'From: Bob <bob@example.test>\nTo: reader@mail.test\nSubject: Lunch on Friday?\nMessage-ID: <lunch-1@example.test>\nContent-Type: text/html; charset=utf-8\n\n<p>Shall we meet at <b>noon</b>?</p><script>alert(1)</script>\n');
const userMailDir = path.join(dataDir, 'captured-user');
const userSmtpPort = await freePort();
const userSmtp = startPeer('python3', [path.join(ROOT, 'tests/peers/smtp_capture.py'), String(userSmtpPort), userMailDir,
  `${MAILBOX.user}:${MAILBOX.password}`], {}, /smtp capture on/);
await userSmtp.line;

const configFile = path.join(dataDir, 'gatehouse.toml');
fs.writeFileSync(configFile, `listen = "127.0.0.1:${port}"
data_dir = "${dataDir}"
public_base_url = "${BASE}"
secret_key = "e2e-secret-key-0123456789abcdef0123456789"
email_verification_required = true

[captcha]
enabled = false

[smtp]
host = "127.0.0.1"
port = ${smtpPort}
tls = "none"

[mail_accounts]
allow_private_hosts = true

[providers.corp]
type = "oidc"
name = "Corp SSO"
issuer = "${ISSUER}"
client_id = "authsvc"
client_secret = "authsvc-secret"
`);
fs.mkdirSync(ARTIFACTS, { recursive: true });

execFileSync(BIN, ['--config', configFile, 'admin', 'create-user', '--email', ADMIN.email, '--nickname', 'Admin', '--superuser'],
  { env: { ...process.env, GATEHOUSE_NEW_PASSWORD: ADMIN.password }, stdio: 'inherit' });
const server = spawn(BIN, ['--config', configFile, 'serve'], { stdio: ['ignore', 'inherit', 'inherit'] });
children.push(server);

for (let i = 0; ; i++) {
  try { if ((await fetch(`${DIRECT}/healthz`)).ok) break; } catch {}
  if (i > 100) throw new Error('gatehouse did not start');
  await new Promise((r) => setTimeout(r, 100));
}

/// The newest mail to `to` that mentions `needle`, quoted-printable and base64 parts decoded.
async function mailTo(to, needle) {
  const dir = mailDir;
  for (let i = 0; i < 100; i++) {
    // The capture peer numbers its files 1.eml, 2.eml, …: newest last in number order.
    const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.eml'))
      .sort((a, b) => parseInt(a, 10) - parseInt(b, 10)) : [];
    for (const f of files.reverse()) {
      const raw = fs.readFileSync(path.join(dir, f), 'utf8');
      if (!raw.toLowerCase().includes(to.toLowerCase())) continue;
      let text = raw.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, h) => String.fromCharCode(parseInt(h, 16)));
      for (const block of raw.split(/\r?\n\r?\n/)) {
        const compact = block.replace(/\s+/g, '');
        if (/^[A-Za-z0-9+/=]{40,}$/.test(compact)) text += '\n' + Buffer.from(compact, 'base64').toString('utf8');
      }
      if (text.includes(needle)) return text;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`no mail to ${to} with ${needle}`);
}
const linkIn = (text, route) => {
  const m = text.match(new RegExp(`${route}\\?token=[A-Za-z0-9_\\-]+`));
  if (!m) throw new Error(`no ${route} link in mail`);
  return m[0];
};

/// RFC 6238 code for `secretB32` at the step `offset` steps from now (SHA-1, 6 digits, 30 s).
function totp(secretB32, offset) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const ch of secretB32.replace(/=+$/, '')) bits += alphabet.indexOf(ch).toString(2).padStart(5, '0');
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 30000) + offset));
  const mac = crypto.createHmac('sha1', key).update(counter).digest();
  const at = mac[mac.length - 1] & 0xf;
  return String((mac.readUInt32BE(at) & 0x7fffffff) % 1000000).padStart(6, '0');
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  // playwright-core gives every launch a fresh temporary --user-data-dir of its own.
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run'],
});
const newContext = (locale = 'en-US') => browser.newContext({ locale, bypassCSP: true, viewport: { width: 1100, height: 900 } });

async function axe(page, label) {
  await page.addScriptTag({ content: AXE });
  const result = await page.evaluate(async () => await window.axe.run(document, { resultTypes: ['violations'] }));
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  check(bad.length === 0, `axe ${label}: ${bad.map((v) => `${v.id} (${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join(', ')})`).join('; ') || 'clean'}`);
}

async function shoot(page, name) {
  for (const scheme of ['light', 'dark']) {
    await page.emulateMedia({ colorScheme: scheme });
    await page.screenshot({ path: path.join(ARTIFACTS, `${name}-${scheme}.png`), fullPage: true });
    await axe(page, `${name} ${scheme}`);
  }
  await page.emulateMedia({ colorScheme: 'light' });
}

try {
  // Every public page, in both languages, light and dark.
  for (const [locale, lang] of [['en-US', 'en'], ['zh-CN', 'zh-CN']]) {
    const ctx = await newContext(locale);
    const page = await ctx.newPage();
    for (const [name, url] of [['login', '/login'], ['register', '/register'], ['forgot', '/forgot-password'],
      ['reset-code', '/reset-password'], ['reset-link', '/reset-password?token=example'], ['verify', '/verify-email'],
      ['verify-link', '/verify-email?token=example']]) {
      await page.goto(BASE + url);
      check(await page.getAttribute('html', 'lang') === lang, `${url} has lang=${lang}`);
      if (lang === 'zh-CN') check(/[\u4e00-\u9fff]{2}/.test(await page.textContent('h1')), `${url} heading is Chinese`);
      await shoot(page, `${name}-${lang}`);
    }
    await ctx.close();
  }

  // register → verification mail → verify by the link → sign in → sign out → sign in.
  const a = await newContext();
  const pa = await a.newPage();
  await pa.goto(`${BASE}/register`);
  await pa.fill('#register-email', USER.email);
  await pa.fill('#register-nickname', USER.nickname);
  await pa.fill('#register-password', 'short');
  await pa.click('button.primary');
  check(await pa.isVisible('#register-password-error'), 'a too short password is shown beside its field');
  await shoot(pa, 'register-error-en');
  await pa.fill('#register-password', PASSWORD);
  await pa.click('button.primary');
  check((await pa.textContent('.notice')).includes('Check your inbox'), 'registration asks to check the inbox');
  const verifyLink = linkIn(await mailTo(USER.email, 'verify-email?token='), '/verify-email');
  await pa.goto(BASE + verifyLink);
  await pa.click('button.primary');
  check((await pa.textContent('h1')).includes('verified'), 'the link verifies the address');

  const signIn = async (page, email, password) => {
    await page.goto(`${BASE}/login`);
    await page.fill('#login-email', email);
    await page.fill('#login-password', password);
    await page.click('form[action="/login"] button.primary');
  };
  await signIn(pa, USER.email, 'wrong password here');
  check(await pa.isVisible('.alert[role=alert]'), 'a wrong password is reported');
  await shoot(pa, 'login-error-en');
  await signIn(pa, USER.email, PASSWORD);
  check(pa.url() === `${BASE}/account`, 'sign-in lands on /account');
  await shoot(pa, 'account-en');
  await pa.click('header form[action="/logout"] button');
  check(pa.url().startsWith(`${BASE}/login`), 'sign-out returns to /login');
  await signIn(pa, USER.email, PASSWORD);
  check(pa.url() === `${BASE}/account`, 'signed in again');

  // A second browser signs in; the first revokes it from the account page.
  const b = await newContext();
  const pb = await b.newPage();
  await signIn(pb, USER.email, PASSWORD);
  check(pb.url() === `${BASE}/account`, 'second session signed in');
  await pa.reload();
  const revokeButtons = pa.locator('#sessions form button');
  check(await revokeButtons.count() === 1, 'the account page offers to revoke the other session');
  await revokeButtons.first().click();
  check((await pa.textContent('.notice')).includes('signed out'), 'revocation confirmed');
  await pb.goto(`${BASE}/account`);
  check(pb.url().startsWith(`${BASE}/login`), 'the revoked session is signed out');

  // An API key is shown once.
  await pa.fill('#keys-name', 'ci');
  await pa.click('#keys form.row button');
  check((await pa.inputValue('#new-key')).startsWith('ghk_'), 'the new API key is shown once');
  await pa.click('#keys table button:has-text("Revoke")');
  check((await pa.textContent('#keys')).includes('No API keys yet.'), 'the key is revoked with its Revoke button');

  // An invitation from the account page; its link's page in both languages, signed out.
  const GUEST = `guest-${Date.now()}@example.com`;
  await pa.fill('#invite-1-email', GUEST);
  await pa.click('form[action$="/invitations"] button');
  check((await pa.textContent('.notice')).length > 0, 'the invitation is sent from the account page');
  check((await pa.textContent('#teams')).includes(GUEST), 'the pending invitation is listed');
  await shoot(pa, 'account-invited-en');
  const invitation = (await mailTo(GUEST, '/invitations/')).match(/\/invitations\/[A-Za-z0-9_-]+/);
  check(invitation !== null, 'the invitation mail carries its link');
  for (const [locale, lang] of [['en-US', 'en'], ['zh-CN', 'zh-CN']]) {
    const ctx = await newContext(locale);
    const page = await ctx.newPage();
    await page.goto(BASE + invitation[0]);
    check(await page.getAttribute('html', 'lang') === lang, `the invitation page has lang=${lang}`);
    await shoot(page, `invitation-${lang}`);
    await ctx.close();
  }
  await pa.click('header form[action="/logout"] button');

  // forgot password → reset by the emailed link → sign in with the new password.
  await pa.goto(`${BASE}/forgot-password`);
  await pa.fill('#forgot-email', USER.email);
  await pa.click('button.primary');
  check(await pa.isVisible('.notice'), 'forgot-password answers that a mail is on its way');
  const resetLink = linkIn(await mailTo(USER.email, 'reset-password?token='), '/reset-password');
  await pa.goto(BASE + resetLink);
  await pa.fill('#reset-new_password', NEW_PASSWORD);
  await pa.click('button.primary');
  check((await pa.textContent('h1')).includes('Password changed'), 'the emailed link resets the password');
  await signIn(pa, USER.email, PASSWORD);
  check(pa.url().startsWith(`${BASE}/login`), 'the old password no longer works');
  await signIn(pa, USER.email, NEW_PASSWORD);
  check(pa.url() === `${BASE}/account`, 'the new password signs in');

  // Sign-in through the OpenID provider: the button on /login, the provider, back signed in.
  const o = await newContext();
  const po = await o.newPage();
  await po.goto(`${BASE}/login`);
  await shoot(po, 'login-providers-en');
  await po.click('.providers a');
  check(po.url() === `${BASE}/account`, 'the OpenID provider signs a new user in and lands on /account');
  check((await po.textContent('#profile')).includes('alice@example.test'), 'the account page shows the provider\'s address');
  await shoot(po, 'account-oidc-en');
  // Signed in, a provider start asks on a page before it links anything.
  await po.goto(`${BASE}/api/v1/auth/providers/corp/authorize`);
  check(po.url() === `${BASE}/account/link?provider=corp`, 'a signed-in start goes to the link page');
  check((await po.textContent('h1')).includes('Link a sign-in method'), 'the link page asks first');
  await shoot(po, 'link-en');
  await o.close();

  // Mail: add an account against Dovecot, read the seeded message, reply; the reply reaches
  // the capture server and its copy lands in Sent.
  const mctx = await newContext();
  const pm = await mctx.newPage();
  await signIn(pm, ADMIN.email, ADMIN.password);
  await pm.goto(`${BASE}/account/mail`);
  await pm.fill('#add-email', MAILBOX.user);
  await pm.fill('#add-password', MAILBOX.password);
  await pm.fill('#add-imap_host', '127.0.0.1');
  await pm.fill('#add-imap_port', String(imapPort));
  await pm.selectOption('#add-imap_tls', 'none');
  await pm.fill('#add-smtp_host', '127.0.0.1');
  await pm.fill('#add-smtp_port', String(userSmtpPort));
  await pm.selectOption('#add-smtp_tls', 'none');
  await pm.click('form[action="/account/mail"] button.primary');
  check((await pm.textContent('.notice')).includes('Mail account added'), 'a mail account is added after both logins');
  await shoot(pm, 'account-mail-en');
  await pm.goto(`${BASE}/mail`);
  check((await pm.textContent('.mail-list')).includes('Lunch on Friday?'), 'the mail client lists the seeded message');
  await pm.click('.messages a');
  const frame = pm.frameLocator('iframe.mail-body');
  check((await frame.locator('b').textContent()) === 'noon', 'the reading pane shows the HTML');
  check(await pm.getAttribute('iframe.mail-body', 'sandbox') === '', 'the reading pane is a sandboxed iframe');
  check(!(await pm.content()).includes('<script>alert'), 'the reading pane carries no script');
  await shoot(pm, 'mail-read-en');
  await pm.click('a:has-text("Reply")');
  check((await pm.inputValue('#compose-subject')) === 'Re: Lunch on Friday?', 'reply fills the subject');
  await pm.fill('#compose-text', 'Noon works for me.');
  await shoot(pm, 'mail-reply-en');
  await pm.click('button[value=send]');
  check((await pm.textContent('.notice')).includes('Message sent'), 'the reply is sent');
  const reply = await (async () => {
    for (let i = 0; i < 50; i++) {
      const files = fs.existsSync(userMailDir) ? fs.readdirSync(userMailDir) : [];
      if (files.length) return fs.readFileSync(path.join(userMailDir, files[0]), 'utf8');
      await new Promise((r) => setTimeout(r, 100));
    }
    return '';
  })();
  check(reply.includes('In-Reply-To: <lunch-1@example.test>') && reply.includes('Noon works for me.'), 'the reply reached the SMTP server, threaded');
  check(imap('count', 'Sent') === '1', 'a copy of the reply is in Sent');
  await pm.goto(`${BASE}/mail?folder=Sent`);
  await shoot(pm, 'mail-sent-en');
  await mctx.close();

  // The administrator disables the user; the user's session ends.
  const c = await newContext();
  const pc = await c.newPage();
  await signIn(pc, ADMIN.email, ADMIN.password);
  await pc.goto(`${BASE}/admin`);
  await shoot(pc, 'admin-overview-en');
  await pc.goto(`${BASE}/admin/users?query=${encodeURIComponent(USER.email)}`);
  await shoot(pc, 'admin-users-en');
  await pc.click(`text=${USER.email}`);
  const userPage = new URL(pc.url()).pathname;
  await shoot(pc, 'admin-user-en');
  await pc.click('form[action$="/disable"] button');
  check((await pc.textContent('.notice')).includes('updated'), 'the administrator disabled the user');
  await pa.goto(`${BASE}/account`);
  check(pa.url().startsWith(`${BASE}/login`), 'the disabled user is signed out');
  await pc.goto(`${BASE}/admin/audit`);
  await shoot(pc, 'admin-audit-en');
  await pc.goto(`${BASE}/admin/outbox`);
  await shoot(pc, 'admin-outbox-en');
  // The language switch changes the administrator's own setting: the same pages in Chinese.
  await pc.click('header button[name=language]');
  check(await pc.getAttribute('html', 'lang') === 'zh-CN', 'the language switch turns the pages Chinese');
  for (const [name, url] of [['account', '/account'], ['admin-overview', '/admin'], ['admin-users', '/admin/users'], ['admin-user', userPage],
    ['admin-audit', '/admin/audit'], ['admin-outbox', '/admin/outbox'], ['account-mail', '/account/mail'],
    ['mail', '/mail']]) {
    await pc.goto(BASE + url);
    // A user's page is headed by their name; its section heading is the page's own text.
    const heading = name === 'admin-user' ? 'main h2' : 'h1';
    check(/[\u4e00-\u9fff]/.test(await pc.textContent(heading)), `${url} heading is Chinese`);
    await shoot(pc, `${name}-zh-CN`);
  }
  // Two-factor authentication: TOTP set up on the security page with codes computed here, then
  // sign out and in with the password and a code; a passkey added through Chromium's virtual
  // authenticator then signs in on its own, without an email or a password.
  const MFA_USER = { email: `second-${Date.now()}@example.com`, password: 'copper heron windmill' };
  execFileSync(BIN, ['--config', configFile, 'admin', 'create-user', '--email', MFA_USER.email, '--nickname', 'Second'],
    { env: { ...process.env, GATEHOUSE_NEW_PASSWORD: MFA_USER.password }, stdio: 'inherit' });
  const m = await newContext();
  const sp = await m.newPage();
  await signIn(sp, MFA_USER.email, MFA_USER.password);
  check(sp.url() === `${BASE}/account`, 'the second-factor user signs in');
  await sp.click('a[href="/account/security"]');
  check(sp.url() === `${BASE}/account/security`, 'the account page links to the security page');
  await shoot(sp, 'security-en');
  await sp.fill('#totp-on-password', MFA_USER.password);
  await sp.click('form[action="/account/security/totp"] button');
  check(await sp.isVisible('.qr svg'), 'the QR code is shown');
  await shoot(sp, 'security-totp-en');
  const secret = (await sp.textContent('#totp-secret')).trim();
  await sp.fill('#totp-confirm-code', totp(secret, 0));
  await sp.click('form[action="/account/security/totp/confirm"] button');
  check(await sp.locator('#recovery-codes li').count() === 10, 'ten recovery codes are shown once');
  await shoot(sp, 'security-codes-en');
  await sp.click('header form[action="/logout"] button');
  await signIn(sp, MFA_USER.email, MFA_USER.password);
  check(await sp.isVisible('#mfa-code'), 'the password alone leads to the second step');
  await shoot(sp, 'login-mfa-en');
  // The next time step's code: the confirmation spent this one (one step of drift is allowed).
  await sp.fill('#mfa-code', totp(secret, 1));
  await sp.click('form[action="/login/mfa"] button.primary');
  check(sp.url() === `${BASE}/account`, 'password and TOTP code sign in');

  const cdp = await m.newCDPSession(sp);
  await cdp.send('WebAuthn.enable');
  await cdp.send('WebAuthn.addVirtualAuthenticator', { options: {
    protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true,
  } });
  await sp.goto(`${BASE}/account/security`);
  await sp.fill('#passkey-name', 'Virtual laptop');
  await sp.fill('#passkey-password', MFA_USER.password);
  await sp.click('#passkey-add button.primary');
  await sp.waitForURL(`${BASE}/account/security?done=passkey_added`, { timeout: 10000 });
  check((await sp.textContent('#passkey-list')).includes('Virtual laptop'), 'the passkey is added and listed');
  await shoot(sp, 'security-passkey-en');
  await sp.click('header form[action="/logout"] button');
  await sp.goto(`${BASE}/login`);
  check(await sp.isVisible('#passkey-sign-in'), 'the sign-in page offers a passkey');
  await sp.click('#passkey-sign-in');
  await sp.waitForURL(`${BASE}/account`, { timeout: 10000 });
  check(sp.url() === `${BASE}/account`, 'the passkey signs in without email, password or second step');
  const sessions = await sp.evaluate(async () => (await fetch('/api/v1/users/me/sessions')).json());
  check(JSON.stringify(sessions.find((s) => s.current).amr) === '["hwk"]', 'the passkey session records amr ["hwk"]');
  for (const [locale, lang] of [['zh-CN', 'zh-CN']]) {
    const ctx = await newContext(locale);
    const page = await ctx.newPage();
    await signIn(page, MFA_USER.email, MFA_USER.password);
    check(/[\u4e00-\u9fff]/.test(await page.textContent('h1')), 'the second step page is Chinese');
    await shoot(page, `login-mfa-${lang}`);
    await ctx.close();
  }
  await m.close();
} catch (e) {
  failures.push(String(e && e.stack || e));
  console.error(e);
} finally {
  await browser.close();
  stop();
}
if (failures.length) {
  console.error(`\n${failures.length} browser check(s) failed`);
  process.exit(1);
}
console.log(`\nall browser checks passed; screenshots in ${ARTIFACTS}`);

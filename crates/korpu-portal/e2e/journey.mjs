// The citizen's journey through myGov in headless Chromium (Playwright), with an axe-core
// accessibility audit of every portal page (WCAG 2.0/2.1/2.2 A and AA; any serious or
// critical violation fails the run) and a screenshot of each step.
// Usage: node journey.mjs --portal URL --consent URL --out DIR [--chromium PATH] [--tracker required|optional]
// Exits 0 when every step passed; prints each step and each failure.
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import AxeBuilder from '@axe-core/playwright';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
const portal = args.portal;
const out = args.out || 'target/portal-e2e';
const chromiumPath = args.chromium || '/usr/bin/chromium';
if (!portal || !args.consent) {
  console.error('usage: node journey.mjs --portal URL --consent URL --out DIR');
  process.exit(2);
}
fs.mkdirSync(out, { recursive: true });
// Screenshots from an earlier run would mix with this run's numbering.
for (const f of fs.readdirSync(out)) if (f.endsWith('.png')) fs.rmSync(path.join(out, f));

const failures = [];
const audited = [];
let step = 0;

function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
}

async function shot(page, name) {
  step += 1;
  const file = path.join(out, `${String(step).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`  screenshot ${file}`);
}

// axe on the current page: serious and critical violations fail the journey.
async function audit(page, name) {
  const result = await new AxeBuilder({ page })
    .withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'])
    .analyze();
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  audited.push({ page: name, url: page.url(), violations: result.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length })) });
  for (const v of bad) {
    failures.push(`axe ${v.impact} on ${name}: ${v.id} — ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join('; ')})`);
  }
  console.log(`  axe ${name}: ${result.violations.length} violation(s), ${bad.length} serious/critical`);
}

async function run(name, fn) {
  console.log(`step: ${name}`);
  try {
    await fn();
  } catch (e) {
    failures.push(`${name}: ${e.message}`);
    console.log(`  FAILED: ${e.message}`);
    throw e;
  }
}

// The identity provider's sign-in: korpu demo's development provider (a personal id) or
// oidc-provider's development interactions (login, password, consent).
async function providerSignIn(p, id) {
  await p.waitForSelector('input[name=login], input#pin');
  if (await p.locator('input#pin').count()) {
    await p.fill('#pin', id);
    await p.click('button[type=submit]');
  } else {
    await p.fill('input[name=login]', id);
    await p.fill('input[name=password]', 'any');
    await p.click('button[type=submit]');
    const consent = p.locator('button:has-text("Continue")');
    await p.waitForLoadState();
    if (await consent.count()) await consent.click();
  }
}

const portalOrigin = new URL(portal).origin;

const browser = await chromium.launch({
  executablePath: chromiumPath,
  headless: true,
  args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1100, height: 900 } });
const page = await context.newPage();
page.setDefaultTimeout(20000);

try {
  await run('home page in Azerbaijani by default', async () => {
    await page.goto(`${portal}/`);
    check((await page.getAttribute('html', 'lang')) === 'az', 'html lang is az');
    check((await page.textContent('h1')).includes('Dövlət xidmətlərindən'), 'Azerbaijani heading');
    const headers = (await page.request.get(`${portal}/`)).headers();
    check(headers['content-security-policy'].includes("frame-ancestors 'none'"), 'CSP header');
    check(headers['x-content-type-options'] === 'nosniff', 'nosniff');
    await audit(page, 'home');
    await shot(page, 'home-az');
  });

  await run('switch language to English', async () => {
    await page.click('nav.langs a[lang=en]');
    check((await page.getAttribute('html', 'lang')) === 'en', 'html lang is en');
    check((await page.textContent('h1')).includes('Use government services online'), 'English heading');
    await shot(page, 'home-en');
  });

  await run('catalogue search', async () => {
    await page.click('text=Browse services');
    await audit(page, 'catalogue');
    await page.fill('#q', 'benefit');
    await page.click('form.search button[type=submit]');
    const names = await page.locator('ul.cards h2').allTextContents();
    check(names.length === 1 && names[0].includes('Child benefit'), `search finds only the child benefit, got ${JSON.stringify(names)}`);
    await page.fill('#q', 'müavinət');
    await page.click('form.search button[type=submit]');
    check((await page.locator('ul.cards h2').count()) === 1, 'search in Azerbaijani finds it too');
    await page.fill('#q', 'nothing-like-this');
    await page.click('form.search button[type=submit]');
    check((await page.locator('ul.cards h2').count()) === 0, 'no results for nonsense');
    await page.fill('#q', 'benefit');
    await page.click('form.search button[type=submit]');
    await shot(page, 'catalogue-search');
  });

  await run('service page', async () => {
    await page.click('ul.cards h2 a');
    check((await page.textContent('h1')).includes('Child benefit'), 'service heading');
    check((await page.textContent('main')).includes('Ministry of Labour and Social Protection'), 'owning agency');
    check((await page.textContent('main')).includes('birth certificate') || (await page.textContent('main')).includes('IBAN'), 'what you need');
    await audit(page, 'service');
    await shot(page, 'service');
  });

  await run('sign in through the OpenID provider', async () => {
    await page.click('text=Sign in to apply');
    // The provider's own pages (oidc-provider's development interactions).
    await page.waitForSelector('input[name=login], input#pin');
    await shot(page, 'provider-login');
    if (await page.locator('input#pin').count()) {
      // korpu demo's development identity provider.
      check((await page.textContent('header')).includes('not for production'), 'the development provider says so');
      await page.fill('#pin', 'AZ1234567');
      await page.click('button[type=submit]');
    } else {
      await page.fill('input[name=login]', 'AZ1234567');
      await page.fill('input[name=password]', 'any');
      await page.click('button[type=submit]');
      const consent = page.locator('button:has-text("Continue")');
      await page.waitForLoadState();
      if (await consent.count()) await consent.click();
    }
    await page.waitForURL(`${portal}/**/apply`);
    check((await page.textContent('.phase')).includes('Aysel Məmmədova'), 'signed in as the demo citizen');
    const cookies = await context.cookies(portal);
    const session = cookies.find((c) => c.name === 'mygov' || c.name === '__Host-mygov');
    check(session && session.httpOnly && session.sameSite === 'Lax', 'session cookie is HttpOnly and SameSite=Lax');
  });

  await run('a form error is shown next to the field', async () => {
    await audit(page, 'apply-form');
    await shot(page, 'apply-form');
    await page.fill('#f-child_pin', 'abc');
    await page.click('main form button[type=submit]');
    await page.waitForSelector('.error-summary');
    check((await page.textContent('.error-summary')).includes('There is a problem'), 'error summary');
    check((await page.textContent('#f-child_pin-error')).includes('correct format'), 'pattern error next to the child id');
    check((await page.textContent('#f-iban-error')).includes('Fill in this field'), 'required error next to the IBAN');
    check((await page.getAttribute('#f-child_pin', 'aria-invalid')) === 'true', 'aria-invalid');
    check((await page.inputValue('#f-child_pin')) === 'abc', 'the value entered is kept');
    await audit(page, 'apply-form-errors');
    await shot(page, 'apply-form-errors');
  });

  await run('apply for the child benefit', async () => {
    await page.fill('#f-child_pin', '5ABC12D');
    await page.fill('#f-child_birth_date', '2026-11-20');
    await page.fill('#f-iban', 'AZ21NABZ00000000137010001944');
    await page.selectOption('#f-payment', 'monthly');
    await page.check('#f-consent');
    await page.click('main form button[type=submit]');
    await page.waitForURL(`${portal}/applications/**`);
    check((await page.textContent('main')).includes('Your application was sent'), 'confirmation');
    await audit(page, 'application-submitted');
    await shot(page, 'application-submitted');
  });

  const appUrl = page.url().split('?')[0];

  await run('watch the status change to decided', async () => {
    let status = '';
    for (let i = 0; i < 60; i += 1) {
      await page.goto(appUrl);
      status = (await page.textContent('#status')).trim();
      if (status === 'Decided') break;
      if (i === 0 || status === 'In review') await shot(page, `status-${status.toLowerCase().replace(/ /g, '-')}`);
      await page.waitForTimeout(1000);
    }
    check(status === 'Decided', `status became Decided (last seen: ${status})`);
    const history = await page.locator('main table tbody tr').count();
    check(history >= 3, `history has submitted, in review and decided (${history} rows)`);
    check((await page.textContent('main')).includes('Decision: child benefit granted'), 'message from the agency');
    await audit(page, 'application-decided');
    await shot(page, 'application-decided');
  });

  await run('download and verify the signed decision', async () => {
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.click('a[download]'),
    ]);
    const file = path.join(out, 'decision.pdf');
    await download.saveAs(file);
    const pdf = fs.readFileSync(file);
    check(pdf.subarray(0, 5).toString() === '%PDF-', 'a PDF');
    check(pdf.includes('/ByteRange') && pdf.includes('ETSI.CAdES.detached'), 'a PAdES signature');
    await page.click('text=Verify the signature');
    const verdict = await page.textContent('#verdict');
    check(verdict.includes('Verified: signed by') && verdict.includes('AZ/GOV/1400003'), `verified as the ministry's signature: ${verdict}`);
    await audit(page, 'verify');
    await shot(page, 'verify');
  });

  await run('data tracker shows the population registry access', async () => {
    // An access is listed once its gateway's ledger has checkpointed it (a few seconds).
    const isHit = (r) => r.includes('Ministry of Labour') && r.includes('benefit-eligibility') && r.includes('Family composition');
    let rows = [];
    for (let i = 0; i < 30; i += 1) {
      await page.goto(`${portal}/tracker`);
      rows = await page.locator('#accesses tbody tr').allTextContents();
      if (rows.some(isHit)) break;
      await page.waitForTimeout(1000);
    }
    await audit(page, 'tracker');
    await shot(page, 'tracker');
    const text = await page.textContent('main');
    // Every agency's ledger answered, and every entry's inclusion proof and checkpoint
    // signature verifies.
    check((await page.locator('main .notice.warn').count()) === 0, `every ledger answered: ${text.replace(/\s+/g, ' ').slice(0, 400)}`);
    check(rows.every((r) => r.includes('Verified')), `every proof verifies: ${JSON.stringify(rows)}`);
    const hit = rows.find(isHit);
    if (args.tracker === 'optional' && !hit) {
      console.log('  the ministry\'s family-composition query is not listed (its gateway does not index declared data subjects yet; reported, not required)');
      return;
    }
    check(hit, `an entry for the ministry's family-composition query: ${JSON.stringify(rows)}`);
    check(hit.includes('Verified'), `its inclusion proof verifies: ${hit}`);
  });

  await run('grant consent to a company', async () => {
    await page.goto(args.consent);
    const main = await page.textContent('main');
    check(main.includes('Kapital Bank'), 'the consent page names the company');
    check(main.includes('Checking a loan application'), 'and its purpose');
    check(main.includes('My personal record') && main.includes('Income statement'), 'and each data item');
    await audit(page, 'consent-request');
    await shot(page, 'consent-request');
    await page.check('#days-90');
    await page.click('main form button[type=submit]');
    await page.waitForURL(`${portal}/consents`);
    check((await page.textContent('main .tag')).includes('Granted'), 'granted');
    await audit(page, 'consents');
    await shot(page, 'consent-granted');
  });

  await run('revoke the consent', async () => {
    await page.click('main form button.warning');
    await page.waitForURL(`${portal}/consents`);
    check((await page.textContent('main .tag')).includes('Withdrawn'), 'withdrawn');
    const history = await page.locator('main section dd ul li').allTextContents();
    check(history.some((h) => h.includes('Granted')) && history.some((h) => h.includes('Withdrawn')), `history keeps both: ${JSON.stringify(history)}`);
    await shot(page, 'consent-revoked');
  });

  await run('notifications', async () => {
    await page.click('nav.main a[href="/notifications"]');
    const items = await page.locator('ul.cards li').allTextContents();
    check(items.some((t) => t.includes('Decided')), `a status notification: ${JSON.stringify(items)}`);
    check(items.some((t) => t.includes('withdrew consent')), 'a consent notification');
    await audit(page, 'notifications');
    await shot(page, 'notifications');
  });

  await run('switch language to Russian', async () => {
    await page.click('nav.langs a[lang=ru]');
    check((await page.getAttribute('html', 'lang')) === 'ru', 'html lang is ru');
    check((await page.textContent('h1')).includes('Уведомления'), 'Russian heading');
    await page.goto(`${portal}/applications`);
    check((await page.textContent('h1')).includes('Мои заявления'), 'the choice is remembered');
    await audit(page, 'applications-ru');
    await shot(page, 'applications-ru');
  });

  await run('a form without its CSRF token is refused', async () => {
    const r = await page.request.post(`${portal}/logout`, { form: { csrf: 'forged' }, maxRedirects: 0 });
    check(r.status() === 403, `forged logout is refused (${r.status()})`);
  });

  await run('a callback link made for another browser signs nobody in', async () => {
    // The attacker starts a sign-in as themself and stops at the provider's redirect back to
    // the portal: that callback link is what a login-CSRF attack sends to a victim.
    const attacker = await browser.newContext();
    const a = await attacker.newPage();
    // Playwright routes only the first request of a redirect chain the browser follows by
    // itself, so redirects are followed here, hop by hop with the context's own cookies,
    // until one leads to /callback (kept, not followed); otherwise the browser is sent to
    // where the chain ended.
    let captured;
    const isCallback = (u) => u.origin === portalOrigin && u.pathname === '/callback';
    const everything = () => true;
    await attacker.route(everything, async (route) => {
      const req = route.request();
      if (!req.isNavigationRequest()) return route.continue();
      let resp = await attacker.request.fetch(req, { maxRedirects: 0 });
      let url = req.url();
      let hops = 0;
      while (hops < 10 && resp.status() >= 300 && resp.status() < 400 && resp.headers().location) {
        const next = new URL(resp.headers().location, url);
        if (isCallback(next)) {
          captured = next.href;
          return route.abort();
        }
        url = next.href;
        hops += 1;
        resp = await attacker.request.get(url, { maxRedirects: 0 });
      }
      if (hops === 0) return route.fulfill({ response: resp });
      return route.fulfill({ status: 303, headers: { location: url } });
    });
    await a.goto(`${portal}/login?next=/tracker`);
    // The attacker signs in as themself (a demo account both providers know).
    await providerSignIn(a, 'AZ7654321').catch(() => {});
    const consent = a.locator('button:has-text("Continue")');
    for (let i = 0; i < 150 && !captured; i += 1) {
      if (await consent.count().catch(() => 0)) await consent.click().catch(() => {});
      await a.waitForTimeout(100);
    }
    check(captured && captured.includes('state='), `the provider redirected to the callback (${captured})`);
    const victim = await browser.newContext();
    const v = await victim.newPage();
    const r = await v.goto(captured);
    check(r.status() === 400, `the victim's browser is refused (${r.status()})`);
    const sessions = (await victim.cookies(portal)).filter((ck) => ck.name.endsWith('mygov'));
    check(sessions.length === 0, `no session cookie in the victim's browser: ${JSON.stringify(sessions)}`);
    check(!(await v.textContent('body')).includes('AZ7654321'), 'the victim is not signed in as the attacker');
    // The same link in the browser it was made for does sign in: the refusal above is the
    // browser binding, not a broken link.
    await attacker.unroute(everything);
    const own = await a.goto(captured);
    check(own.status() === 200 && new URL(a.url()).pathname === '/tracker', `the attacker's own browser signs in (${own.status()} ${a.url()})`);
    const pre = (await attacker.cookies(portal)).filter((ck) => ck.name.includes('login'));
    check(pre.length === 0, 'the pre-login cookie is spent after the callback');
    await attacker.close();
    await victim.close();
  });

  await run('sign-in never redirects off-site (next=/%09/evil.example/)', async () => {
    // The old portal redirected to `/\t/evil.example/`, which the WHATWG URL parser reads
    // as `//evil.example/`; Chromium aborts that redirect (and stays on the provider's page)
    // where other browsers follow it off-site. Now the browser lands on the portal's home
    // page and never asks another origin.
    const ctx = await browser.newContext();
    const p = await ctx.newPage();
    let leaked = null;
    // Off-site navigations are the failure; other off-site requests (a provider page's web
    // fonts) are only cut, as there is no internet here.
    await ctx.route((u) => u.origin !== portalOrigin && !/^https?:\/\/(127\.0\.0\.1|localhost)[:/]/.test(u.href), (route) => {
      if (route.request().isNavigationRequest()) leaked = route.request().url();
      route.abort();
    });
    await p.goto(`${portal}/login?next=/%09/evil.example/`);
    await providerSignIn(p, 'AZ1234567');
    await p.waitForURL((u) => u.origin !== portalOrigin || !(u.pathname.startsWith('/dev-idp') || u.pathname === '/callback'), { timeout: 15000 });
    check(leaked === null, `Chromium was sent off-site to ${leaked}`);
    check(new URL(p.url()).origin === portalOrigin && new URL(p.url()).pathname === '/', `signed in and on the portal's home page: ${p.url()}`);
    await ctx.close();
  });

  await run('the 404 page links only to its own origin (GET //evil.example/x)', async () => {
    const r = await page.request.get(`${portal}//evil.example/x`);
    check(r.status() === 404, `404 (${r.status()})`);
    const body = await r.text();
    check(!/href="\/\//.test(body) && !body.includes('evil.example/x?lang'), `no link to another origin: ${body.match(/<nav class="langs".*?<\/nav>/s)}`);
  });

  await run('sign out', async () => {
    await page.click('header form button[type=submit]');
    await page.waitForURL(`${portal}/`);
    const r = await page.request.get(`${portal}/applications`, { maxRedirects: 0 });
    check(r.status() === 303 && r.headers().location.startsWith('/login'), `signed out: /applications now asks to sign in (${r.status()})`);
  });
} catch (e) {
  // already recorded
} finally {
  fs.writeFileSync(path.join(out, 'axe.json'), JSON.stringify(audited, null, 2));
  await browser.close();
}

if (failures.length) {
  console.log(`\n${failures.length} failure(s):`);
  for (const f of failures) console.log(`  - ${f}`);
  process.exit(1);
}
console.log(`\njourney passed; ${audited.length} pages audited with axe, no serious or critical violations`);

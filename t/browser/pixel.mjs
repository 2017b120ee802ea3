// Drives Debian's chromium (headless) on the demo shop page served by the
// same nginx, and prints what the Pixel sent as one JSON line.
//   node t/browser/pixel.mjs BASE_URL PIXEL_KEY SCENARIO

import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [base, key, scenario] = process.argv.slice(2);
const profile = mkdtempSync(join(tmpdir(), 'omni-chromium-'));

const context = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu',
         '--disable-background-networking', '--disable-component-update',
         '--no-first-run', '--disable-sync'],
});

const beacons = [];

function isBeacon(req) {
  return /\/omni\/px\/[^/]+$/.test(new URL(req.url()).pathname)
      && !req.url().endsWith('/omni.js');
}

async function page(path, init) {
  const p = await context.newPage();
  if (init) {
    await p.addInitScript(init);
  }
  p.on('request', (req) => {
    if (isBeacon(req)) {
      beacons.push({ method: req.method(), url: req.url(),
                     body: req.postData() || '' });
    }
  });
  await p.goto(`${base}/shop/${path}?key=${key}`);
  return p;
}

function waitFor(pred, what, ms = 5000) {
  return new Promise((resolve, reject) => {
    const start = Date.now();
    (function poll() {
      if (pred()) return resolve();
      if (Date.now() - start > ms) return reject(new Error(`no ${what}`));
      setTimeout(poll, 20);
    })();
  });
}

const sent = (text) => beacons.some((b) => (b.body + b.url).includes(text));

// whether the page left a visitor id on the device (cookie or storage)
const vidKept = () => /(^|; )_omni_vid=/.test(document.cookie)
  || localStorage.getItem('_omni_vid') !== null;

async function signup(p) {
  await p.fill('#name', 'Mei');
  await p.fill('#phone', '+65 8123 4567');
  await p.fill('#email', 'Shopper@Example.com');
  await p.fill('#password', 'hunter2-secret');
  await p.fill('#gift_phone', '+852 6000 0000');
  await p.click('#submit');
}

const out = { scenario };

try {
  if (scenario === 'signup') {
    const p = await page('index.html');
    await waitFor(() => sent('pageview'), 'pageview beacon');
    await signup(p);
    await waitFor(() => sent('form_submit'), 'form beacon');
    await p.click('#add');
    await waitFor(() => sent('add_to_cart'), 'custom event');
    out.vid = await p.evaluate(() =>
      document.cookie.match(/_omni_vid=([^;]+)/)[1]);
  } else if (scenario === 'consent') {
    const p = await page('consent.html');
    await p.waitForFunction(() => window.omni && window.omni.loaded);
    await signup(p);
    await p.evaluate(() => omni('flush'));
    out.before_consent = beacons.length;
    out.vid_kept_before_consent = await p.evaluate(vidKept);
    await p.evaluate(() => omni('consent', 'granted'));
    await waitFor(() => sent('form_submit') && sent('pageview'),
      'beacons after consent');
    out.after_consent = beacons.length;
    out.vid = await p.evaluate(() =>
      document.cookie.match(/_omni_vid=([^;]+)/)[1]);
    await p.close();
    beacons.length = 0;
    const q = await page('consent.html');
    await q.waitForFunction(() => window.omni && window.omni.loaded);
    await signup(q);
    await q.evaluate(() => omni('consent', 'denied'));
    await q.evaluate(() => omni('track', 'after_denied', {}));
    await q.evaluate(() => omni('flush'));
    // absence can't be awaited: give the page one more task turn
    await q.evaluate(() => new Promise((r) => setTimeout(r, 50)));
    out.after_denied = beacons.length;
    out.vid_kept_after_denied = await q.evaluate(vidKept);
  } else if (scenario === 'ignore') {
    const p = await page('index.html');
    await waitFor(() => sent('pageview'), 'pageview beacon');
    await p.fill('#staff_phone', '+852 5555 0000');
    await p.click('#private_submit');
    await signup(p);
    await waitFor(() => sent('form_submit'), 'form beacon');
  } else if (scenario === 'fallback') {
    const p = await page('index.html', () => {
      Object.defineProperty(navigator, 'sendBeacon', { value: undefined });
    });
    await waitFor(() => sent('pageview'), 'pageview gif');
    await signup(p);
    await waitFor(() => sent('form_submit'), 'form gif');
    out.vid = await p.evaluate(() =>
      document.cookie.match(/_omni_vid=([^;]+)/)[1]);
  } else {
    throw new Error(`unknown scenario ${scenario}`);
  }
  out.beacons = beacons;
  console.log(JSON.stringify(out));
} catch (e) {
  out.error = String(e && e.message || e);
  out.beacons = beacons;
  console.log(JSON.stringify(out));
  process.exitCode = 1;
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}

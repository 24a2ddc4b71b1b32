// Opens an exit's dashboard in headless Chromium while a transfer runs: the session appears, its bytes grow, and
// after the test stops the entry (it prints "bytes-grew" and waits for that) the session vanishes.
// Usage: node dashboard-check.mjs <dashboard url> <user> <password> <screenshot folder>
// Prints progress lines; exits 0 when everything was seen, 1 with the reason otherwise.
import { chromium } from 'playwright-core';

const [url, user, password, shots] = process.argv.slice(2);
const origin = new URL(url).origin;
const WAIT = 60_000;

function fail(message) {
  console.log('FAIL ' + message);
  process.exitCode = 1;
  throw new Error(message);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
});
try {
  const context = await browser.newContext({
    httpCredentials: { username: user, password },
    viewport: { width: 1400, height: 500 },
  });
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', e => problems.push('page error: ' + e.message));
  page.on('console', m => { if (m.type() === 'error') problems.push('console error: ' + m.text()); });
  // The pages must work offline: anything not from the node itself is refused and reported.
  await page.route('**/*', route => {
    const target = route.request().url();
    if (new URL(target).origin === origin) return route.continue();
    problems.push('request outside the node: ' + target);
    return route.abort();
  });

  await page.goto(url);
  await page.waitForSelector('#live:not(.off)', { timeout: WAIT });
  const row = page.locator('#sessions tbody tr[data-session]').first();
  await row.waitFor({ timeout: WAIT });
  const id = await row.getAttribute('data-session');
  console.log('session-seen ' + id);
  const down = () => page.locator(`tr[data-session="${id}"] td.bytes-down`).getAttribute('data-value').then(Number);
  const first = await down();
  const deadline = Date.now() + WAIT;
  let later = first;
  while (later <= first && Date.now() < deadline) {
    await page.waitForTimeout(500);
    later = await down();
  }
  if (later <= first) fail(`bytes down did not grow (${first})`);
  // let the throughput chart collect a few points before the picture
  await page.waitForTimeout(5000);
  const transport = await page.locator(`tr[data-session="${id}"] td:nth-child(4)`).textContent();
  const canvases = await page.locator(`tr[data-session="${id}"] canvas.spark`).count();
  if (canvases !== 1) fail('no throughput chart for the session');
  await page.screenshot({ path: `${shots}/dashboard-sessions.png`, fullPage: true });
  const grown = await down();

  // the agent the entry runs, with its service on a public port
  await page.goto(origin + '/dashboard/agents');
  const agentRow = page.locator('#agents tbody tr[data-agent]').first();
  await agentRow.waitFor({ timeout: WAIT });
  const agentCells = await agentRow.locator('td').allTextContents();
  console.log(`agent ${agentCells[0]} ${agentCells[2]} ${agentCells[4]}`);
  await page.screenshot({ path: `${shots}/dashboard-agents.png`, fullPage: true });

  await page.goto(url);
  await page.locator(`tr[data-session="${id}"]`).waitFor({ timeout: WAIT });
  console.log(`bytes-grew ${first} ${grown} transport=${transport}`);

  // the test stops the entry now; its session must leave the page
  await page.locator(`tr[data-session="${id}"]`).waitFor({ state: 'detached', timeout: 90_000 });
  await page.waitForSelector('#sessions-empty:not(.hidden)', { timeout: WAIT });
  await page.screenshot({ path: `${shots}/dashboard-after-entry-stopped.png`, fullPage: true });
  console.log('session-gone ' + id);

  await page.goto(origin + '/dashboard/agents');
  await page.waitForSelector('#live:not(.off)', { timeout: WAIT });
  await page.waitForTimeout(1500);
  const after = await page.locator('#agents tbody tr[data-agent]').first().locator('td').allTextContents()
    .catch(() => []);
  console.log(`agent-after ${after.join(' | ') || 'none'}`);
  await page.screenshot({ path: `${shots}/dashboard-agents-after.png`, fullPage: true });

  await page.goto(origin + '/dashboard/refusals');
  await page.waitForSelector('#live:not(.off)', { timeout: WAIT });
  await page.waitForSelector('#refusals tbody tr', { timeout: WAIT });
  const reasons = await page.locator('#refusals tbody td.bad').allTextContents();
  console.log('refusals ' + reasons.join(','));
  await page.screenshot({ path: `${shots}/dashboard-refusals.png`, fullPage: true });

  if (problems.length) fail(problems.join('; '));
  console.log('OK');
} catch (e) {
  if (!process.exitCode) {
    console.log('FAIL ' + e.message);
    process.exitCode = 1;
  }
} finally {
  await browser.close();
}

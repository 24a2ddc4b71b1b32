// Opens an exit's dashboard on its HTTP requests page in headless Chromium after real route requests (curl through
// /_token/<t>/...) to two agents, and filters them by agent and status class as a user would, with the page's own
// select boxes. Usage: node requests-check.mjs <dashboard url> <user> <password> <screenshot folder> <agent> <total>
// (<agent>: the agent to filter by; <total>: how many requests the test made in all). Prints one line per view
// ("view <agent|all> <status|all> <rows>", then "  row <cells joined>") and one per refusal on the refusals page
// ("refusal <kind> <reason> | <detail>"); exits 0 when the pages worked, 1 otherwise.
import { chromium } from 'playwright-core';
import { writeFileSync } from 'node:fs';

const [url, user, password, shots, agent, total] = process.argv.slice(2);
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
    viewport: { width: 1400, height: 700 },
  });
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', e => problems.push('page error: ' + e.message));
  page.on('console', m => { if (m.type() === 'error') problems.push('console error: ' + m.text()); });
  await page.route('**/*', route => {
    const target = route.request().url();
    if (new URL(target).origin === origin) return route.continue();
    problems.push('request outside the node: ' + target);
    return route.abort();
  });

  await page.goto(origin + '/dashboard/requests');
  await page.waitForSelector('#live:not(.off)', { timeout: WAIT });
  const rows = page.locator('#requests tbody tr');
  const deadline = Date.now() + WAIT;
  while ((await rows.count()) < Number(total) && Date.now() < deadline) {
    await page.waitForTimeout(250);
  }
  // the agent filter learns agents from the log itself
  await page.locator(`#filter-agent option[value="${agent}"]`).waitFor({ state: 'attached', timeout: WAIT });

  async function view(agentValue, statusValue, shot) {
    await page.selectOption('#filter-agent', agentValue);
    await page.selectOption('#filter-status', statusValue);
    // the change handler renders from the last snapshot at once; the next snapshot renders the same filter
    await page.waitForTimeout(1200);
    const shown = await rows.evaluateAll(trs => trs.map(tr => [...tr.cells].slice(1).map(td => td.textContent).join(' | ')));
    console.log(`view ${agentValue || 'all'} ${statusValue ? statusValue + 'xx' : 'all'} ${shown.length}`);
    shown.forEach(r => console.log('  row ' + r));
    if (shot) await page.screenshot({ path: `${shots}/${shot}`, fullPage: true });
    return shown;
  }

  await view('', '', 'dashboard-requests-all.png');
  await view(agent, '', null);
  await view(agent, '4', 'dashboard-requests-filtered.png');
  await view('', '2', null);
  writeFileSync(`${shots}/requests-page.txt`, await page.locator('body').innerText());

  // the refusals page lists the newer kinds too (the test made the exit close connections of one source)
  await page.goto(origin + '/dashboard/refusals');
  await page.waitForSelector('#live:not(.off)', { timeout: WAIT });
  await page.waitForSelector('#refusals tbody tr', { timeout: WAIT });
  const refusals = await page.locator('#refusals tbody tr').evaluateAll(
    trs => trs.map(tr => tr.cells[1].textContent + ' ' + tr.cells[2].textContent + ' | ' + tr.cells[3].textContent));
  refusals.forEach(r => console.log('refusal ' + r));
  await page.screenshot({ path: `${shots}/dashboard-refusals-connections.png`, fullPage: true });

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

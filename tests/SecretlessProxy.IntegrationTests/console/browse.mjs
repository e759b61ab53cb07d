// Drives Debian's Chromium with Playwright (playwright-core) through the console, as a person would: one JSON
// argument { base, cert?, key?, steps: [...] }, where a step is one of
//   { goto: "/console/requests" }           -> records the answer's status as "status:<path>"
//   { fill: "css selector", value: "..." }
//   { click: "css selector" }               -> waits for the navigation the click starts, records "status:click"
//   { text: "css selector", as: "name" }    -> records the element's text (or null when there is none)
//   { html: "name" }                        -> records the page's HTML
//   { screenshot: "file.png" }              -> a full-page screenshot
// and prints one JSON line: { "values": { name: value, ... } }. The client certificate (the admin's SVID) is
// presented to the console's origin only.
import { chromium } from 'playwright-core';

const input = JSON.parse(process.argv[2]);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const values = {};
try {
  const origin = new URL(input.base).origin;
  const context = await browser.newContext({
    ignoreHTTPSErrors: true,
    viewport: { width: 1280, height: 800 },
    clientCertificates: input.cert ? [{ origin, certPath: input.cert, keyPath: input.key }] : [],
  });
  const page = await context.newPage();
  for (const step of input.steps) {
    if (step.goto) {
      const response = await page.goto(new URL(step.goto, input.base).toString());
      values['status:' + step.goto] = response ? response.status() : null;
    } else if (step.fill) {
      await page.fill(step.fill, step.value);
    } else if (step.click) {
      const [response] = await Promise.all([page.waitForNavigation(), page.click(step.click)]);
      values['status:click'] = response ? response.status() : null;
      values['url:click'] = page.url();
    } else if (step.text) {
      const element = await page.$(step.text);
      values[step.as] = element ? (await element.innerText()).trim() : null;
    } else if (step.html) {
      values[step.html] = await page.content();
    } else if (step.screenshot) {
      await page.screenshot({ path: step.screenshot, fullPage: true });
    }
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify({ values }));

// The page: two inputs, a Run button, a results table. All decisions come from the
// module (audit_sieve_playground.run); this file only renders them.
import init, { run } from './audit_sieve_playground.js';

const $ = (id) => document.getElementById(id);
const EXAMPLES = {
  default: { config: 'example.yaml', events: 'sample.ndjson' },
  error: { config: 'example-error.yaml', events: 'sample.ndjson' },
};

async function loadExample(name) {
  const ex = EXAMPLES[name] || EXAMPLES.default;
  const [config, events] = await Promise.all([ex.config, ex.events].map((f) => fetch(f).then((r) => r.text())));
  $('config').value = config;
  $('events').value = events;
  $('example').value = name in EXAMPLES ? name : 'default';
}

function cell(row, text, cls) {
  const td = row.insertCell();
  if (cls) td.className = cls;
  td.textContent = text;
  return td;
}

function pretty(text) {
  try { return JSON.stringify(JSON.parse(text), null, 2); } catch { return String(text); }
}

function render(report) {
  const error = report.config.ok ? null : report.config.error;
  $('error').textContent = error
    ? `Configuration error at ${error.file}${error.line ? ':' + error.line : ''}: ${error.message}\n`
      + 'The module would pass every record through unchanged.'
    : '';
  if (error && error.line) $('error').dataset.line = error.line;
  else delete $('error').dataset.line;
  const log = [];
  log.push(error ? `ERROR: invalid configuration: ${error.text}` : 'configuration loaded');
  for (const w of report.warnings) log.push(`warning: ${w}`);
  $('log').value = log.join('\n');

  const body = $('results').tBodies[0];
  body.replaceChildren();
  for (const r of report.results) {
    const row = body.insertRow();
    row.className = r.decision === 'passed through' ? 'passed' : r.decision;
    row.dataset.line = r.line;
    row.dataset.decision = r.decision;
    cell(row, r.line);
    let decision = r.decision;
    if (r.decision === 'kept' && r.modified) decision += ' (modified)';
    if (r.reason) decision += ` (${r.reason})`;
    cell(row, decision, 'decision');
    const rule = r.rule
      ? (r.rule.number ? `rule ${r.rule.number} (${r.rule.level}): ${r.rule.description}` : `no rule matched (${r.rule.level})`)
      : '';
    const ruleCell = cell(row, rule, 'rule');
    if (r.rule && r.rule.number) row.dataset.rule = r.rule.number;
    ruleCell.title = r.rule ? r.rule.description : '';
    const out = row.insertCell();
    out.className = 'output';
    if (r.output !== null) {
      const pre = document.createElement('pre');
      pre.textContent = pretty(r.output);
      out.appendChild(pre);
    } else {
      out.textContent = '(dropped)';
    }
  }
  const counts = report.results.reduce((a, r) => ({ ...a, [r.decision]: (a[r.decision] || 0) + 1 }), {});
  $('status').textContent = Object.entries(counts).map(([k, v]) => `${v} ${k}`).join(', ');
  document.body.dataset.state = 'done';
}

function runNow() {
  const report = JSON.parse(run($('config').value, $('events').value, Math.floor(Date.now() / 1000)));
  render(report);
}

async function main() {
  await init();
  const params = new URLSearchParams(location.search);
  await loadExample(params.get('example') || 'default');
  $('run').addEventListener('click', runNow);
  $('example').addEventListener('change', (e) => loadExample(e.target.value).then(runNow));
  document.body.dataset.state = 'ready';
  if (params.get('autorun') === '1') runNow();
}

main().catch((e) => {
  $('error').textContent = `The playground failed to start: ${e}`;
  document.body.dataset.state = 'failed';
});

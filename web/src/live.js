// The live run page: follows the run's event stream (server-sent events: every event of its
// log from the first, then each new one as it is logged) and folds the events into the header,
// the pass-rate chart, the lineage, the weaknesses and the event feed. `?until=SEQ` stops
// following after event SEQ (the run as it was then). For tests, <html> carries data-status,
// data-events, data-last-seq, data-proposals, data-chart-points and data-ready.
(function () {
  'use strict';
  const root = document.documentElement;
  const run = root.dataset.run;
  const live = root.dataset.live === 'true';
  const known = Number(root.dataset.lastSeq) || 0;
  const until = Number(new URLSearchParams(location.search).get('until')) || Infinity;
  const $ = (id) => document.getElementById(id);
  const NS = 'http://www.w3.org/2000/svg';
  const KINDS = ['run_started', 'evaluated', 'generation_started', 'mined', 'proposed', 'decided',
    'composed', 'advanced', 'no_advance', 'stage_failed', 'stopped', 'scored', 'ablated', 'finished'];

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v; else e.setAttribute(k, String(v));
    }
    for (const k of kids) if (k !== null && k !== undefined) e.append(k);
    return e;
  }
  function svg(tag, attrs, text) {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = text;
    return e;
  }
  const rate = (s) => s.passed / Math.max(s.total, 1);
  const pct = (s) => (s && s.total ? (100 * rate(s)).toFixed(1) + ' %' : '–');
  const frac = (s) => (s ? `${s.passed}/${s.total}` : '');
  const short = (id) => (id || '').slice(0, 10);
  const fmtP = (p) => (p < 0.0001 ? p.toExponential(1) : p.toFixed(4));
  const num = (n) => n.toLocaleString('en');

  // The run as folded so far.
  const S = {
    config: null, model: '', baseline: '', gens: [], stopped: null, scores: [], ablations: [],
    finished: null, evals: 0, passedEvals: 0, tokens: 0, events: 0, lastSeq: 0,
    stage: 'waiting for the first event',
    outcomes: new Map(), // harness id → Map(task + trial → outcome) on the validation split
    phase: 'train', // which split a generation is evaluating: train until it proposes
    evaluated: new Map(), // harness id → evaluations logged
  };
  let status = 'connecting';
  const current = () => S.gens[S.gens.length - 1];

  function fold(e) {
    const g = current();
    switch (e.type) {
      case 'run_started':
        S.config = e.config; S.model = e.model_id; S.stage = 'starting';
        break;
      case 'evaluated': {
        const v = e.evaluation;
        S.evals++;
        if (v.status === 'passed') S.passedEvals++;
        S.tokens += v.usage.prompt_tokens + v.usage.completion_tokens;
        S.evaluated.set(v.harness_id, (S.evaluated.get(v.harness_id) || 0) + 1);
        // A generation evaluates its champion on train, mines, proposes, then evaluates on
        // validation only, until the stop opens the test split.
        if (S.phase === 'validation' && !S.stopped) {
          let m = S.outcomes.get(v.harness_id);
          if (!m) { m = new Map(); S.outcomes.set(v.harness_id, m); }
          m.set(v.task_id + '\u0000' + v.trial, {
            task: v.task_id, trial: v.trial, passed: v.status === 'passed',
            scored: v.reward !== null && v.reward !== undefined,
          });
        }
        break;
      }
      case 'generation_started':
        if (!S.baseline) S.baseline = e.champion;
        S.phase = 'train';
        S.gens.push({ n: e.generation, champion: e.champion, weaknesses: null, proposals: [],
          rejected: [], decisions: {}, composed: null, advanced: null, noAdvance: false, failed: null });
        S.stage = `generation ${e.generation}: evaluating the champion on the train split`;
        break;
      case 'mined':
        if (g) g.weaknesses = e.weaknesses;
        S.stage = `generation ${e.generation}: ${e.weaknesses.length} weaknesses mined, proposing edits`;
        break;
      case 'proposed':
        if (g) { g.proposals = e.proposals; g.rejected = e.rejected; }
        S.phase = 'validation';
        S.stage = e.proposals.length
          ? `generation ${e.generation}: validating ${e.proposals.length} proposals against the champion`
          : `generation ${e.generation}: nothing left to propose`;
        break;
      case 'decided':
        if (g) {
          g.decisions[e.proposal] = e.decision;
          const n = Object.keys(g.decisions).length;
          S.stage = `generation ${e.generation}: ${n} of ${g.proposals.length} proposals decided`;
        }
        break;
      case 'composed':
        if (g) g.composed = e;
        S.stage = `generation ${e.generation}: scoring the new champion on the validation split`;
        break;
      case 'advanced':
        if (g) g.advanced = e;
        S.stage = `generation ${e.generation}: advanced with ${e.accepted.length} accepted edit(s)`;
        break;
      case 'no_advance':
        if (g) g.noAdvance = true;
        S.stage = `generation ${e.generation}: no edit accepted, champion kept`;
        break;
      case 'stage_failed':
        if (g) g.failed = e;
        S.stage = `generation ${e.generation}: the ${e.stage} failed: ${e.error}`;
        break;
      case 'stopped':
        S.stopped = e.reason;
        S.stage = `stopped (${e.reason}): scoring baseline and champion on the sealed test split`;
        break;
      case 'scored':
        S.scores.push(e.score);
        break;
      case 'ablated':
        S.ablations.push(e);
        S.stage = 'ablation: the final champion minus each accepted edit';
        break;
      case 'finished':
        S.finished = e; S.stage = `finished: ${e.reason}`;
        break;
      default:
        break;
    }
  }

  const scored = (id, split) => S.scores.find((s) => s.harness_id === id && s.split === split);
  function championId() {
    if (S.finished) return S.finished.champion;
    for (let i = S.gens.length - 1; i >= 0; i--) {
      const g = S.gens[i];
      if (g.advanced && g.composed) return g.composed.harness_id;
    }
    return S.baseline;
  }
  // Like the report: the final score, else the score it advanced with, else counted from its
  // validation evaluations so far.
  function validation(id) {
    if (!id) return null;
    const f = scored(id, 'validation');
    if (f) return f;
    for (const g of S.gens) if (g.advanced && g.composed && g.composed.harness_id === id) return g.advanced.validation;
    const mine = S.outcomes.get(id);
    if (!mine) return null;
    const trials = S.config ? S.config.val_trials : Infinity;
    let passed = 0, total = 0;
    for (const o of mine.values()) {
      if (o.scored && o.trial < trials) { total++; if (o.passed) passed++; }
    }
    return total ? { passed, total } : null;
  }
  function curve() {
    const pts = [{ g: 0, s: validation(S.baseline), kept: false }];
    for (const g of S.gens) {
      let s = null;
      if (g.advanced) s = g.advanced.validation;
      else if (g.noAdvance) s = pts[pts.length - 1].s;
      pts.push({ g: g.n, s, kept: !g.advanced && g.noAdvance });
    }
    return pts;
  }

  // The pass-rate chart: validation line on the left, the sealed test split on the right.
  function drawChart() {
    const c = $('chart');
    c.replaceChildren();
    const W = 640, H = 270, L = 46, T = 18, B = 40, right = 470;
    const G = Math.max(S.config ? S.config.generations : 1, S.gens.length, 1);
    const y = (r) => T + (H - T - B) * (1 - r);
    const x = (i) => L + 24 + (right - L - 48) * i / G;
    c.append(svg('title', {}, 'Pass rate per generation'));
    for (const t of [0, 0.25, 0.5, 0.75, 1]) {
      c.append(svg('line', { class: 'grid', x1: L, x2: W - 8, y1: y(t), y2: y(t) }));
      c.append(svg('text', { class: 'axis', x: L - 6, y: y(t) + 4, 'text-anchor': 'end' }, `${t * 100}%`));
    }
    if (S.gens.length && !S.stopped) {
      const i = S.gens.length;
      c.append(svg('rect', { class: 'now', x: x(i) - 16, y: T, width: 32, height: H - T - B, rx: 4 }));
    }
    for (let i = 0; i <= G; i++) {
      c.append(svg('text', { class: 'axis', x: x(i), y: H - B + 16, 'text-anchor': 'middle' }, i === 0 ? 'base' : `g${i}`));
    }
    c.append(svg('text', { class: 'axis', x: (L + right) / 2, y: H - 6, 'text-anchor': 'middle' }, 'validation: champion after each generation'));
    const pts = curve();
    let d = '';
    pts.forEach((p, i) => {
      if (p.s) d += `${d ? 'L' : 'M'}${x(i).toFixed(1)} ${y(rate(p.s)).toFixed(1)}`;
    });
    if (d) c.append(svg('path', { class: 'line', d }));
    let points = 0;
    pts.forEach((p, i) => {
      if (!p.s) return;
      points++;
      const circle = svg('circle', { class: `pt${p.kept ? ' kept' : ''}`, cx: x(i), cy: y(rate(p.s)), r: 5, 'data-generation': p.g });
      circle.append(svg('title', {}, `${p.g ? `generation ${p.g}` : 'baseline'}: validation ${pct(p.s)} (${frac(p.s)})`));
      c.append(circle);
      c.append(svg('text', { class: 'value', x: x(i), y: y(rate(p.s)) - 11, 'text-anchor': 'middle' }, pct(p.s)));
    });
    if (!points) {
      c.append(svg('text', { class: 'empty', x: L + 14, y: T + 18 },
        S.gens.length ? 'the baseline is being evaluated…' : 'waiting for the first generation…'));
    }
    c.append(svg('line', { class: 'sep', x1: right + 14, x2: right + 14, y1: T, y2: H - B }));
    const bars = [['baseline', scored(S.baseline, 'test')], ['final', scored(championId(), 'test')]];
    bars.forEach(([who, s], i) => {
      const bx = right + 36 + i * 62, bw = 36;
      c.append(svg('text', { class: 'axis', x: bx + bw / 2, y: H - B + 16, 'text-anchor': 'middle' }, who));
      if (!s) return;
      const bar = svg('rect', { class: `bar ${who}`, x: bx, y: y(rate(s)), width: bw, height: Math.max(H - B - y(rate(s)), 0.5), rx: 3 });
      bar.append(svg('title', {}, `${who} on the sealed test split: ${pct(s)} (${frac(s)})`));
      c.append(bar);
      c.append(svg('text', { class: 'value', x: bx + bw / 2, y: y(rate(s)) - 6, 'text-anchor': 'middle' }, pct(s)));
    });
    c.append(svg('text', { class: 'axis', x: right + 36 + 67, y: H - 6, 'text-anchor': 'middle' }, 'sealed test split'));
    return points;
  }

  // `append wrappers ← timeout_guard`, `set limits.max_turns = 20`.
  function editText(x) {
    const v = x.value;
    if (v && typeof v === 'object' && typeof v.kind === 'string') return `${x.op} ${x.path} ← ${v.kind}`;
    if (v === undefined || v === null) return `${x.op} ${x.path}`;
    const text = JSON.stringify(v);
    return `${x.op} ${x.path} = ${text.length > 48 ? `${text.slice(0, 47)}…` : text}`;
  }

  function champion(n, id, score, what) {
    return el('div', { class: `node champion ${what}`, 'data-harness': id, title: id },
      el('div', {}, el('span', { class: 'gen-badge' }, n === 0 ? 'base' : `g${n}`)),
      el('code', {}, short(id)),
      el('div', { class: 'stat' }, score ? `${pct(score)} (${frac(score)})` : '–'),
      el('div', { class: 'muted small' }, what === 'kept' ? 'champion kept' : n === 0 ? 'baseline' : 'new champion'));
  }

  // The lineage: baseline, then per generation its proposals and the champion it led to.
  function drawLineage() {
    const box = $('lineage');
    box.replaceChildren();
    if (!S.baseline) {
      box.append(el('p', { class: 'muted' }, 'No generation yet.'));
      return 0;
    }
    let proposals = 0;
    box.append(champion(0, S.baseline, validation(S.baseline), 'baseline'));
    for (const g of S.gens) {
      const col = el('div', { class: 'gen-col', 'data-generation': g.n }, el('div', { class: 'gen-title' }, `generation ${g.n}`));
      col.append(el('div', { class: 'gen-note' }, g.weaknesses
        ? `${g.weaknesses.length} weaknesses mined · ${g.proposals.length} proposed${g.rejected.length ? ` · ${g.rejected.length} ideas dropped` : ''}`
        : 'evaluating the champion on the train split…'));
      if (g.failed) col.append(el('div', { class: 'gen-note bad' }, `the ${g.failed.stage} failed: ${g.failed.error}`));
      const used = g.advanced ? g.advanced.accepted : [];
      for (const p of g.proposals) {
        proposals++;
        const d = g.decisions[p.id];
        const state = d ? (d.accepted ? 'accepted' : 'rejected') : 'pending';
        const edits = p.patch.edits.map(editText).join('; ');
        col.append(el('div', {
          class: `node proposal ${state}${used.includes(p.id) ? ' used' : ''}`, 'data-proposal': p.id,
          title: `${p.patch.rationale}${d ? ` — ${d.reason}` : ''}`,
        },
        el('div', { class: 'node-head' }, el('code', {}, p.id),
          el('span', { class: `badge ${state}` }, d ? (d.accepted ? 'ACCEPT' : 'reject') : 'validating')),
        el('div', { class: 'edit' }, edits),
        el('div', { class: 'stat' }, d
          ? `p = ${fmtP(d.p_value)} · b=${d.b} c=${d.c} · ${d.pairs_evaluated}/${d.pairs_planned} pairs`
          : `${S.evaluated.get(p.harness_id) || 0} pairs evaluated so far`)));
      }
      if (g.composed && g.composed.decision) {
        const cd = g.composed.decision;
        col.append(el('div', { class: 'gen-note' }, `composition of ${g.composed.proposals.length}: ${cd.accepted ? 'accepted' : 'rejected'}, p = ${fmtP(cd.p_value)}`));
      }
      box.append(el('div', { class: 'arrow' }, '→'), col);
      if (g.advanced) {
        box.append(el('div', { class: 'arrow good' }, '→'), champion(g.n, g.composed ? g.composed.harness_id : '', g.advanced.validation, 'champion'));
      } else if (g.noAdvance || g.failed) {
        box.append(el('div', { class: 'arrow' }, '→'), champion(g.n, g.champion, validation(g.champion), 'kept'));
      }
    }
    return proposals;
  }

  function drawWeaknesses() {
    const g = [...S.gens].reverse().find((x) => x.weaknesses);
    if (!g) return;
    $('weaknesses-title').textContent = `Weaknesses of generation ${g.n}`;
    const body = $('weaknesses').tBodies[0];
    body.replaceChildren();
    if (!g.weaknesses.length) body.append(el('tr', {}, el('td', { colspan: 5, class: 'muted' }, 'No weakness left in the champion\'s train traces.')));
    for (const w of g.weaknesses) {
      body.append(el('tr', { 'data-weakness': w.id },
        el('td', { title: w.error }, w.name), el('td', {}, el('code', {}, w.kind)), el('td', {}, w.tool),
        el('td', { class: 'num' }, String(w.failures)), el('td', { class: 'num' }, String(w.tasks))));
    }
  }

  function drawHeader() {
    const G = S.config ? S.config.generations : 0;
    const n = S.gens.length;
    $('generation').textContent = G ? `${n} of ${G}` : '–';
    $('generation-detail').textContent = S.config ? `k = ${S.config.k} · seed ${S.config.seed} · ${S.model}` : '';
    $('evaluations').textContent = num(S.evals);
    $('evaluation-detail').textContent = S.evals
      ? `${(100 * S.passedEvals / S.evals).toFixed(0)} % passed · ${num(S.tokens)} tokens` : '';
    const base = validation(S.baseline), champ = validation(championId());
    $('pass-rate').textContent = champ ? pct(champ) : '–';
    $('pass-rate-detail').textContent = base ? `baseline ${pct(base)} → champion ${pct(champ)}` : 'baseline → champion';
    $('stage').textContent = S.stage;
    $('subtitle').textContent = S.config
      ? `model ${S.model} · up to ${G} generations × ${S.config.k} proposals · trials: train ${S.config.train_trials}, validation ${S.config.val_trials}, test ${S.config.test_trials}`
      : 'waiting for the run\'s first event';
    const badge = $('status');
    badge.textContent = status;
    badge.className = `badge ${status}`;
    // Generations done, plus how far the current one is (train, mining, validation).
    let done = 0;
    for (const g of S.gens) {
      if (g.advanced || g.noAdvance || g.failed) { done += 1; continue; }
      const decided = Object.keys(g.decisions).length / Math.max(g.proposals.length, 1);
      done += g.composed ? 0.9 : g.weaknesses ? 0.3 + 0.5 * decided : 0.1;
    }
    const share = S.finished ? 1 : S.stopped ? 0.95 : G ? 0.9 * done / G : 0;
    $('progress-bar').style.width = `${(100 * share).toFixed(1)}%`;
    $('report-link').hidden = !S.finished;
    $('event-count').textContent = S.events ? `${num(S.events)}${S.finished ? '' : ' so far'}` : '';
  }

  function render() {
    drawHeader();
    const points = drawChart();
    const proposals = drawLineage();
    drawWeaknesses();
    Object.assign(root.dataset, {
      status, events: S.events, lastSeq: S.lastSeq, proposals, chartPoints: points, ready: 'true',
    });
  }
  let timer = 0;
  function schedule() {
    if (!timer) timer = setTimeout(() => { timer = 0; render(); }, 120);
  }

  function describe(e) {
    switch (e.type) {
      case 'evaluated': {
        const v = e.evaluation;
        return `${v.task_id} #${v.trial} · ${short(v.harness_id)} · ${v.status}${v.end ? ` (${v.end})` : ''} · ${(v.wall_ms / 1000).toFixed(1)} s`;
      }
      case 'run_started': return `model ${e.model_id} · seed ${e.config.seed} · up to ${e.config.generations} generations × ${e.config.k}`;
      case 'generation_started': return `generation ${e.generation}: champion ${short(e.champion)}`;
      case 'mined': return `${e.weaknesses.length} weaknesses${e.weaknesses.length ? `; top: ${e.weaknesses.slice(0, 3).map((w) => w.kind).join(', ')}` : ''}`;
      case 'proposed': return `${e.proposals.length} edits proposed, ${e.rejected.length} ideas dropped`;
      case 'decided': return `${e.decision.accepted ? 'ACCEPT' : 'reject'} ${e.proposal}: p = ${fmtP(e.decision.p_value)}, b=${e.decision.b} c=${e.decision.c}`;
      case 'composed': return `composed ${e.proposals.join(' + ')} → ${short(e.harness_id)}`;
      case 'advanced': return `new champion: validation ${frac(e.validation)} (${pct(e.validation)})`;
      case 'no_advance': return 'no edit accepted: champion kept';
      case 'stage_failed': return `${e.stage} failed: ${e.error}`;
      case 'stopped': return `stopped: ${e.reason}`;
      case 'scored': return `${short(e.score.harness_id)} on ${e.score.split}: ${frac(e.score)} (${pct(e.score)})`;
      case 'ablated': return `${e.proposal}: ${(100 * e.effect).toFixed(1)} pp`;
      case 'finished': return `${e.reason} · ${num(e.evaluations)} evaluations, ${num(e.tokens)} tokens`;
      default: return '';
    }
  }
  function feed(seq, e) {
    const list = $('feed');
    let cls = e.type;
    if (e.type === 'evaluated') cls += ` ${e.evaluation.status}`;
    if (e.type === 'decided') cls += e.decision.accepted ? ' accepted' : ' rejected';
    const text = describe(e);
    list.prepend(el('li', { class: cls, 'data-seq': seq }, el('span', { class: 'seq' }, String(seq)),
      el('span', { class: 'kind' }, e.type.replace(/_/g, ' ')), el('span', { class: 'text', title: text }, text)));
    while (list.childElementCount > 250) list.lastElementChild.remove();
  }

  const source = new EventSource(`/runs/${encodeURIComponent(run)}/events`);
  let closed = false;
  function close(why) {
    closed = true;
    source.close();
    status = why;
    render();
  }
  function onEvent(m) {
    const seq = Number(m.lastEventId) || S.lastSeq + 1;
    if (seq <= S.lastSeq) return;
    let e;
    try { e = JSON.parse(m.data); } catch (err) { return; }
    S.lastSeq = seq;
    S.events++;
    fold(e);
    feed(seq, e);
    if (status !== 'running' && live) status = 'running';
    if (e.type === 'finished') close('finished');
    else if (seq >= until) close('paused');
    else if (!live && seq >= known) { status = 'incomplete'; schedule(); }
    else schedule();
  }
  for (const k of KINDS) source.addEventListener(k, onEvent);
  source.onmessage = onEvent;
  source.onopen = () => { if (!closed && live) { status = 'running'; schedule(); } };
  source.onerror = () => {
    if (closed) return;
    status = source.readyState === EventSource.CLOSED ? (S.finished ? 'finished' : 'incomplete') : 'reconnecting';
    schedule();
  };
  render();
})();

// The family's page: forms sent with the CSRF header, live refresh from server-sent events,
// and the shared vision editor. No build step, no dependencies. Licence: the project's.
(() => {
  'use strict';

  const meta = (n) => {
    const m = document.querySelector(`meta[name="${n}"]`);
    return m ? m.content : '';
  };
  // The session's CSRF token; asked for again when the page was signed in anew elsewhere.
  let csrf = meta('alliance-csrf');
  const aid = meta('alliance-id');
  const flash = document.getElementById('flash');

  function say(message, ok) {
    if (!flash) return;
    flash.textContent = message || '';
    flash.classList.toggle('error', !ok);
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  // ---- times, in the reader's own zone ----
  // The server writes each moment as <time datetime="...Z" data-local="datetime|date"> with
  // UTC words; here they are written out in this browser's time zone and language.
  const formats = {
    datetime: { year: 'numeric', month: 'short', day: 'numeric', hour: 'numeric', minute: '2-digit' },
    date: { year: 'numeric', month: 'short', day: 'numeric' },
  };
  function localTimes(root) {
    for (const t of (root || document).querySelectorAll('time[data-local]')) {
      const at = t.getAttribute('datetime');
      // A calendar day is that day wherever the reader is (not midnight UTC).
      const ymd = t.dataset.local === 'day' && /^(\d{4})-(\d{2})-(\d{2})$/.exec(at);
      const d = ymd ? new Date(+ymd[1], +ymd[2] - 1, +ymd[3]) : new Date(at);
      const f = formats[ymd ? 'date' : t.dataset.local];
      if (!f || isNaN(d.getTime())) continue;
      t.textContent = new Intl.DateTimeFormat(undefined, f).format(d);
    }
  }
  localTimes();

  // ---- focus, after a form is sent ----
  // Keyboard use: after a form is sent the focus goes back where the person was, so adding a
  // second need is typing it, not tabbing back through the page. A form outside the live
  // parts keeps its place: its first field gets the focus. A form inside a part is redrawn
  // with it: the focus goes to the same item's first control (or the item itself), else to
  // the part.
  let wantFocus = null;
  function firstField(root) {
    return root.querySelector('input:not([type=hidden]):not([disabled]), textarea:not([readonly]), select, button:not([disabled]), summary, a[href]');
  }
  function focusIn(el) {
    const target = firstField(el) || el;
    if (target === el && !el.hasAttribute('tabindex')) el.setAttribute('tabindex', '-1');
    target.focus();
  }

  // ---- the device: answering, or away ----
  // While this device does not answer (its app restarting, the laptop asleep), what the page
  // would send waits here and goes out when the device answers again: nothing typed is lost.
  const AWAY = 'Your device is not answering; your words are kept and will be saved when it is back.';
  const SIGNED_OUT = 'This page is no longer signed in to your device (it was not used for 12 hours). Your words are kept here: open the alliance app on this device again and they will be saved.';
  const link = { away: false, why: '', probing: false, waiters: [], onBack: [] };
  let leaving = false;
  window.addEventListener('pagehide', () => { leaving = true; });
  window.addEventListener('pageshow', () => { leaving = false; });

  function whenBack() {
    if (!link.away) return Promise.resolve();
    return new Promise((resolve) => link.waiters.push(resolve));
  }
  function lost(why) {
    if (leaving) return;
    link.away = true;
    link.why = why;
    document.documentElement.dataset.away = '1';
    say(why, false);
    probe();
  }
  function back() {
    if (!link.away) return;
    link.away = false;
    delete document.documentElement.dataset.away;
    if (flash && flash.textContent === link.why) say('', true);
    const waiters = link.waiters;
    link.waiters = [];
    for (const resolve of waiters) resolve();
    for (const f of link.onBack) f();
  }
  // Whether the device answers this page: 'ok' (and the session's CSRF token is current),
  // AWAY or SIGNED_OUT.
  async function ask() {
    let r;
    try { r = await fetch('/session', { credentials: 'same-origin', cache: 'no-store' }); } catch (_) { return AWAY; }
    if (r.status === 401) return SIGNED_OUT;
    if (!r.ok) return AWAY;
    try {
      const data = await r.json();
      if (data.csrf) csrf = data.csrf;
    } catch (_) { return AWAY; }
    return 'ok';
  }
  // Asks until the device answers (a quarter second at first, then up to every 3 seconds).
  async function probe() {
    if (link.probing) return;
    link.probing = true;
    let delay = 250;
    while (link.away) {
      await sleep(delay);
      delay = Math.min(delay * 2, 3000);
      const state = await ask();
      if (state === 'ok') back();
      else if (state !== link.why) lost(state);
    }
    link.probing = false;
  }

  // Sends a change; when the device does not answer, waits until it does and sends it then
  // (`waiting(why)` is told). Resolves with the device's answer.
  async function post(url, body, type, waiting) {
    for (;;) {
      if (link.away && waiting) waiting(link.why);
      await whenBack();
      let r;
      try {
        r = await fetch(url, {
          method: 'POST',
          headers: { 'X-Alliance-CSRF': csrf, 'Content-Type': type },
          body,
          credentials: 'same-origin',
        });
      } catch (_) {
        lost(AWAY);
        continue;
      }
      if (r.status === 401) { lost(SIGNED_OUT); continue; }
      if (r.status === 403) {
        // Signed in again from another tab: this page's token is the old session's.
        const used = csrf;
        const state = await ask();
        if (state !== 'ok') { lost(state); continue; }
        if (csrf !== used) continue;
      }
      let data = null;
      try { data = await r.json(); } catch (_) { data = null; }
      if (!data) {
        data = {
          ok: false,
          message: r.status === 413
            ? 'That is far too long; nothing was saved.'
            : 'That did not work and nothing was saved. Please reload the page.',
        };
      }
      return data;
    }
  }

  // ---- forms ----
  document.addEventListener('submit', async (ev) => {
    const form = ev.target.closest('form.act');
    if (!form) return;
    ev.preventDefault();
    const out = form.querySelector('.result');
    const button = form.querySelector('button[type=submit]');
    const inPart = form.closest('[data-part]');
    const item = form.closest('[id]');
    if (button) button.disabled = true;
    const body = new URLSearchParams(new FormData(form)).toString();
    const data = await post(form.action, body, 'application/x-www-form-urlencoded', (why) => {
      if (out) { out.textContent = why; out.classList.add('error'); }
    });
    if (button) button.disabled = false;
    if (out) {
      out.textContent = data.message || '';
      out.classList.toggle('error', !data.ok);
    }
    // A form inside a live part is redrawn with it: say it at the top instead.
    if (form.closest('[data-part]')) say(data.message, data.ok);
    if (!data.ok) return;
    if (data.go) { location.href = data.go; return; }
    if (data.html) {
      let box = form.nextElementSibling;
      if (!box || !box.classList.contains('answer')) {
        box = document.createElement('div');
        box.className = 'answer';
        form.after(box);
      }
      box.innerHTML = data.html;
      localTimes(box);
    }
    if (!inPart) {
      form.reset();
      const field = firstField(form);
      if (field) field.focus();
    } else {
      wantFocus = { item: item && inPart.contains(item) ? item.id : null, part: inPart.dataset.part, round };
    }
    refresh();
  });

  // ---- live parts ----
  const editing = (part) => {
    const a = document.activeElement;
    return a && part.contains(a) && /^(INPUT|TEXTAREA|SELECT)$/.test(a.tagName) && a.type !== 'hidden';
  };
  let busy = false;
  let again = false;
  // Each refresh is numbered: a focus wanted after a form's answer is given by a refresh that
  // started after that answer (one already on its way may hold the part as it was before).
  let round = 0;
  async function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    const mine = ++round;
    // A part inside a closed <details> is drawn when it is opened.
    const parts = [...document.querySelectorAll('[data-part]')]
      .filter((p) => !p.closest('details:not([open])'));
    await Promise.all(parts.map(async (part) => {
      if (editing(part)) { part.dataset.stale = '1'; return; }
      let r;
      try { r = await fetch(part.dataset.src, { credentials: 'same-origin' }); } catch (_) { return; }
      if (!r.ok) return;
      const html = await r.text();
      if (editing(part)) { part.dataset.stale = '1'; return; }
      // Open <details> stay open: each by its item's id and its place among the item's own.
      const open = [...part.querySelectorAll('details[open]')]
        .map((d) => {
          const item = d.parentElement && d.parentElement.closest('[id]');
          return item ? [item.id, [...item.querySelectorAll('details')].indexOf(d)] : null;
        }).filter(Boolean);
      const focused = part.contains(document.activeElement) ? document.activeElement : null;
      const focusKey = focused && focused.closest('form') ? focused.closest('form').action + '|' + (focused.closest('[id]') || {}).id : null;
      const focusItem = focused && focused.closest('[id]') && part.contains(focused.closest('[id]')) ? focused.closest('[id]').id : null;
      part.innerHTML = html;
      localTimes(part);
      delete part.dataset.stale;
      for (const [id, n] of open) {
        const d = document.getElementById(id);
        if (d && part.contains(d)) { const det = d.querySelectorAll('details')[n]; if (det) det.open = true; }
      }
      // The focus was in this part: it stays where it was (the same form's button, else the
      // same item, else the part), never dropped to the top of the page.
      if (focused) {
        const same = focusKey && [...part.querySelectorAll('form')].find((f) => f.action + '|' + (f.closest('[id]') || {}).id === focusKey);
        const button = same ? same.querySelector('button') : null;
        const item = focusItem && document.getElementById(focusItem);
        if (button) button.focus();
        else focusIn(item && part.contains(item) ? item : part);
      }
      if (wantFocus && wantFocus.part === part.dataset.part && mine > wantFocus.round) {
        const item = wantFocus.item && document.getElementById(wantFocus.item);
        wantFocus = null;
        focusIn(item && part.contains(item) ? item : part);
      }
    }));
    busy = false;
    if (again) { again = false; refresh(); }
  }
  document.addEventListener('toggle', (ev) => {
    if (ev.target.open && ev.target.querySelector('[data-part]')) refresh();
  }, true);
  document.addEventListener('focusout', (ev) => {
    const part = ev.target.closest && ev.target.closest('[data-part][data-stale]');
    if (part) setTimeout(() => { if (!editing(part)) refresh(); }, 0);
  });

  // ---- text diff and three-way merge, on arrays of code points ----
  // diff(a, b): hunks {s, e, t} (replace a[s..e) with the code points t), in order.
  function diff(a, b) {
    let pre = 0;
    while (pre < a.length && pre < b.length && a[pre] === b[pre]) pre++;
    let suf = 0;
    while (suf < a.length - pre && suf < b.length - pre && a[a.length - 1 - suf] === b[b.length - 1 - suf]) suf++;
    const A = a.slice(pre, a.length - suf);
    const B = b.slice(pre, b.length - suf);
    const N = A.length;
    const M = B.length;
    if (N === 0 && M === 0) return [];
    const whole = [{ s: pre, e: pre + N, t: B }];
    if (N === 0 || M === 0) return whole;
    const LIMIT = 400;
    const max = N + M;
    const v = new Map([[1, 0]]);
    const trace = [];
    let end = -1;
    for (let d = 0; d <= Math.min(max, LIMIT); d++) {
      trace.push(new Map(v));
      for (let k = -d; k <= d; k += 2) {
        let x = (k === -d || (k !== d && (v.get(k - 1) ?? -1) < (v.get(k + 1) ?? -1)))
          ? (v.get(k + 1) ?? 0) : (v.get(k - 1) ?? 0) + 1;
        let y = x - k;
        while (x < N && y < M && A[x] === B[y]) { x++; y++; }
        v.set(k, x);
        if (x >= N && y >= M) { end = d; break; }
      }
      if (end >= 0) break;
    }
    if (end < 0) return whole;
    const ops = [];
    let x = N;
    let y = M;
    for (let d = end; d > 0; d--) {
      const pv = trace[d];
      const k = x - y;
      const pk = (k === -d || (k !== d && (pv.get(k - 1) ?? -1) < (pv.get(k + 1) ?? -1))) ? k + 1 : k - 1;
      const px = pv.get(pk) ?? 0;
      const py = px - pk;
      while (x > px && y > py) { x--; y--; }
      if (pk === k + 1) ops.push({ ins: true, ax: px, ch: B[py] });
      else ops.push({ ins: false, ax: px });
      x = px;
      y = py;
    }
    ops.reverse();
    const hunks = [];
    for (const op of ops) {
      const h = hunks[hunks.length - 1];
      if (h && op.ax === h.e) {
        if (op.ins) h.t.push(op.ch); else h.e++;
      } else if (op.ins) {
        hunks.push({ s: op.ax, e: op.ax, t: [op.ch] });
      } else {
        hunks.push({ s: op.ax, e: op.ax + 1, t: [] });
      }
    }
    // Semantic cleanup (as diff-match-patch's): a run of unchanged characters no longer than
    // the edits on both sides of it is a coincidence ("forgive fast" -> "make up quickly"
    // keeps an "e" and a space), not text the person kept: the two edits become one, so a
    // rewording is sent as a rewording and never shares letters with someone else's.
    const size = (h) => Math.max(h.e - h.s, h.t.length);
    for (let i = 0; i + 1 < hunks.length;) {
      const [h, k] = [hunks[i], hunks[i + 1]];
      const gap = k.s - h.e;
      if (gap <= size(h) && gap <= size(k)) {
        hunks.splice(i, 2, { s: h.s, e: k.e, t: h.t.concat(A.slice(h.e, k.s), k.t) });
        if (i > 0) i--;
      } else {
        i++;
      }
    }
    for (const h of hunks) { h.s += pre; h.e += pre; }
    return hunks;
  }

  // merge(o, a, b): b's edits of o (the others') and a's edits of o (mine, not sent yet), both
  // kept. Returns the merged code points and map(i): where position i of a ends up.
  function merge(o, a, b) {
    const ha = diff(o, a).map((h) => ({ ...h, mine: true }));
    const hb = diff(o, b).map((h) => ({ ...h, mine: false }));
    // Group hunks that touch each other (one of each side at the same place) into regions.
    const all = ha.concat(hb).sort((p, q) => p.s - q.s || p.e - q.e);
    const regions = [];
    for (const h of all) {
      const r = regions[regions.length - 1];
      // Overlapping, or both inserting at one place.
      const touches = r && (h.s < r.e || (h.s === r.e && h.s === h.e && r.s === r.e));
      if (r && touches) { r.e = Math.max(r.e, h.e); r.hunks.push(h); } else regions.push({ s: h.s, e: h.e, hunks: [h] });
    }
    const out = [];
    const segs = []; // [aStart, aEnd, mStart, mEnd]
    let oi = 0;
    let ai = 0;
    const apply = (hs, s, e) => {
      const res = [];
      let i = s;
      for (const h of hs) { while (i < h.s) res.push(o[i++]); res.push(...h.t); i = h.e; }
      while (i < e) res.push(o[i++]);
      return res;
    };
    for (const r of regions) {
      const n = r.s - oi;
      segs.push([ai, ai + n, out.length, out.length + n]);
      for (let i = oi; i < r.s; i++) out.push(o[i]);
      ai += n;
      const mineH = r.hunks.filter((h) => h.mine);
      const theirs = r.hunks.filter((h) => !h.mine);
      const aSeg = apply(mineH, r.s, r.e);
      if (theirs.length === 0) {
        segs.push([ai, ai + aSeg.length, out.length, out.length + aSeg.length]);
        out.push(...aSeg);
      } else if (mineH.length === 0) {
        // Their edit where I did not type: my positions inside go to its start.
        segs.push([ai, ai + aSeg.length, out.length, out.length]);
        out.push(...apply(theirs, r.s, r.e));
      } else {
        // Both edited here: theirs, then whatever I typed (nothing of mine is lost).
        out.push(...apply(theirs, r.s, r.e));
        const mineText = [].concat(...mineH.map((h) => h.t));
        segs.push([ai, ai + aSeg.length, out.length, out.length + mineText.length]);
        out.push(...mineText);
      }
      ai += aSeg.length;
      oi = r.e;
    }
    const n = o.length - oi;
    segs.push([ai, ai + n, out.length, out.length + n]);
    for (let i = oi; i < o.length; i++) out.push(o[i]);
    // Segments are in order and contiguous in a: the first that reaches p holds it.
    const map = (p) => {
      for (const [as, ae, ms, me] of segs) {
        if (p <= ae) return Math.min(me, ms + Math.max(0, p - as));
      }
      return out.length;
    };
    return { text: out, map };
  }

  const cps = (s) => Array.from(s);
  const cpIndex = (s, u) => Array.from(s.slice(0, u)).length;
  const unitIndex = (arr, p) => arr.slice(0, p).join('').length;

  // ---- the shared vision ----
  // How long the keys of a burst are gathered before they are sent, and the shortest time
  // between two splices while typing goes on (ms).
  const GATHER = 40;
  const EVERY = 120;
  // Others' words are merged into the editor once my typing pauses this long (ms): while I
  // type, everything I send is made on my own version, so a rewording of the same words by
  // two people at once is two clean wordings (a text conflict), never a mix of letters.
  const PAUSE = 300;
  class Vision {
    constructor(ta) {
      this.ta = ta;
      this.base = ta.value;
      this.heads = (ta.dataset.heads || '').split(',').filter(Boolean);
      this.src = ta.dataset.src;
      this.splice = ta.dataset.splice;
      this.state = document.getElementById('vision-state');
      this.timer = null;
      this.inflight = false;
      this.pending = false;
      this.stale = false;
      this.pulling = false;
      ta.addEventListener('input', () => this.typed());
    }
    show(text, bad) {
      if (!this.state) return;
      this.state.textContent = text;
      this.state.classList.toggle('error', !!bad);
    }
    // Typing is coalesced and sent at a short interval: the keys of a burst (a word typed
    // fast, a paste) gathered for GATHER ms after the first of them go as one splice, and
    // while typing goes on, the next splice leaves EVERY ms after the last one left (never two
    // in flight). A person typing at a normal pace sends about a splice per key at most, as
    // the benchmark's text workload writes a change per key; a burst shows on the others'
    // pages about GATHER ms after it is typed, not after a pause.
    typed() {
      this.typedAt = performance.now();
      if (link.away) this.show(link.why, true); else this.show('Not sent yet…');
      if (this.timer) return;
      const since = performance.now() - (this.sentAt || 0);
      this.timer = setTimeout(() => { this.timer = null; this.send(); },
        Math.max(GATHER, EVERY - since));
    }
    async send() {
      if (this.inflight || this.pulling) { this.pending = true; return; }
      const local = this.ta.value;
      if (local === this.base) { this.show('Saved.'); if (this.stale) this.pull(); return; }
      const hunks = diff(cps(this.base), cps(local));
      const splices = hunks.map((h) => ({ pos: h.s, delete: h.e - h.s, insert: h.t.join('') }));
      this.inflight = true;
      this.sentAt = performance.now();
      this.show('Sending…');
      const data = await post(this.splice, JSON.stringify({ base: this.heads, splices }), 'application/json',
        (why) => this.show(why, true));
      this.inflight = false;
      if (data.ok) {
        // The answer is the vision as of my change (my own version, made beside whatever
        // others sent meanwhile): I go on typing from there, and fetch the merged vision
        // once everything I typed is sent.
        this.adopt(data.text, data.heads, local);
        if (data.behind) this.stale = true;
        this.show(this.ta.value === this.base ? 'Saved.' : 'Not sent yet…');
      } else {
        this.show(data.message || 'Not saved.', true);
        this.pending = false;
        // Start again from the text as it is now (the typing is kept, rebased onto it).
        this.pull(true);
        return;
      }
      if (this.pending || this.ta.value !== this.base) {
        this.pending = false;
        // Typed while this one was on its way: the next splice, at the interval.
        clearTimeout(this.timer);
        this.timer = null;
        this.typed();
      } else if (this.stale) {
        this.pull();
      }
    }
    // Fetches the vision as the device has it now. Typing not sent yet is never moved onto
    // others' text here: it is sent first, against the version it was typed on, so the
    // device merges it as it merges any concurrent edit (and a rewording of the same words
    // is a conflict with both wordings). Only `rebase` (after a refused send) merges it in.
    async pull(rebase) {
      if (this.inflight || this.pulling) { this.stale = true; return; }
      const typing = PAUSE - (performance.now() - (this.typedAt || -PAUSE));
      if (!rebase && typing > 0) {
        // Still typing: others' words come in at the pause.
        this.stale = true;
        clearTimeout(this.later);
        this.later = setTimeout(() => this.pull(), typing + 1);
        return;
      }
      if (!rebase && this.ta.value !== this.base) {
        this.stale = true;
        clearTimeout(this.timer);
        this.timer = null;
        this.send();
        return;
      }
      this.stale = false;
      this.pulling = true;
      let data = null;
      try {
        const r = await fetch(this.src, { credentials: 'same-origin' });
        data = await r.json();
      } catch (_) { data = null; }
      this.pulling = false;
      if (!rebase && this.ta.value !== this.base) {
        // Typed while fetching: send that first, then fetch again.
        this.stale = true;
        this.pending = false;
        this.send();
        return;
      }
      if (data && data.ok && data.heads.join(',') !== this.heads.join(',')) {
        this.adopt(data.text, data.heads, this.base);
      }
      if (this.pending) { this.pending = false; this.send(); }
      // A change announced while this fetch was on its way may not be in its answer: fetch
      // again (else the editor would stay behind until the next change).
      else if (this.stale) this.pull();
    }
    // The server's text (at heads) replaces `old`, from which the textarea's value was made:
    // keep my unsent typing, the caret and the selection.
    adopt(text, heads, old) {
      const ta = this.ta;
      const local = ta.value;
      this.base = text;
      this.heads = heads;
      if (text === old) return;
      const a = cps(local);
      const m = merge(cps(old), a, cps(text));
      const merged = m.text.join('');
      if (merged === local) return;
      const focused = document.activeElement === ta;
      const s = m.map(cpIndex(local, ta.selectionStart));
      const e = m.map(cpIndex(local, ta.selectionEnd));
      const dir = ta.selectionDirection;
      const top = ta.scrollTop;
      ta.value = merged;
      if (focused) ta.setSelectionRange(unitIndex(m.text, s), unitIndex(m.text, e), dir);
      ta.scrollTop = top;
    }
  }

  const ta = document.getElementById('vision');
  const vision = ta && ta.dataset.splice ? new Vision(ta) : null;
  // For the tests and the benchmark: the editor's merge, callable from outside.
  window.allianceMerge = (o, a, b) => merge(cps(o), cps(a), cps(b)).text.join('');

  // ---- server-sent events ----
  // `hello` opens each stream with the alliance's heads: when they are not the ones the page
  // was drawn at (a change landed before the stream listened, or while the device was away),
  // the page fetches what changed. A stream that drops makes the page ask whether the device
  // is away; when it is back, the stream is opened again.
  if (aid && window.EventSource) {
    let soon = null;
    const marker = document.getElementById('page-heads');
    let drawn = marker ? marker.dataset.heads : null;
    const update = () => {
      clearTimeout(soon);
      soon = setTimeout(() => { refresh(); if (vision) vision.pull(); }, 10);
    };
    let es = null;
    // A stream the browser gave up on while the device answers is opened again, after a pause
    // that grows (1 s, doubling, up to 30 s) until a stream is up.
    let pause = 1000;
    const connect = () => {
      const stream = new EventSource(`/a/${aid}/events`);
      es = stream;
      stream.addEventListener('change', () => { drawn = null; update(); });
      stream.addEventListener('hello', (ev) => {
        if (ev.data !== drawn) update();
        drawn = null;
        pause = 1000;
        document.documentElement.dataset.live = '1';
        back();
      });
      stream.addEventListener('error', async () => {
        if (es !== stream || leaving) return;
        delete document.documentElement.dataset.live;
        const state = await ask();
        if (es !== stream) return;
        if (state !== 'ok') { lost(state); return; }
        if (stream.readyState === EventSource.CLOSED) {
          await sleep(pause);
          pause = Math.min(pause * 2, 30000);
          if (es === stream) connect();
        }
      });
    };
    link.onBack.push(() => {
      if (es && es.readyState !== EventSource.OPEN) { es.close(); connect(); }
    });
    connect();
  }
})();

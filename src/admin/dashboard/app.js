// Queue mutex dashboard: plain DOM, no build step. Every user-provided string (names, reasons,
// repositories) is written with textContent, never parsed as HTML.
(function () {
  'use strict';

  var POLL_MS = 2000;
  var KEY_STORAGE = 'queue-mutex.apiKey';
  var PAGE = 500;
  var POOLS_PAGE = 100;

  var state = {
    key: null,
    me: null,
    resources: [],
    total: 0,
    pools: [],
    poolsTotal: 0,
    clockOffset: 0, // server time - local time, so countdowns follow the database clock
    selected: null, // {repository, resource}
    detail: null,
    events: [],
    eventsCursor: null,
    pollTimer: null,
    polling: false,
    again: false,
    lastOk: 0,
  };

  var $ = function (id) { return document.getElementById(id); };

  // ---- small DOM helpers -------------------------------------------------------------------

  /** An http(s) URL as a link that opens elsewhere; anything else (javascript:, data:…) stays text. */
  function safeLink(value) {
    try {
      var url = new URL(value);
      if (url.protocol === 'http:' || url.protocol === 'https:') {
        return el('a', { href: url.href, target: '_blank', rel: 'noopener noreferrer', text: value });
      }
    } catch (e) { /* not a URL */ }
    return el('span', { text: value });
  }

  /** A ticket's metadata (where it came from): the CI run as a link, then the other pairs. */
  function metadataView(metadata) {
    var keys = Object.keys(metadata || {});
    if (!keys.length) return null;
    keys.sort(function (a, b) { return a === 'ciUrl' ? -1 : b === 'ciUrl' ? 1 : a < b ? -1 : a > b ? 1 : 0; });
    return el('div', { className: 'metadata small' }, keys.map(function (k) {
      return el('span', { className: 'meta-pair' }, [el('span', { className: 'muted', text: k + ' ' }), safeLink(metadata[k])]);
    }));
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (name) {
        var value = attrs[name];
        if (value === null || value === undefined || value === false) return;
        if (name === 'text') node.textContent = String(value);
        else if (name === 'className') node.className = value;
        else if (name.indexOf('on') === 0) node.addEventListener(name.slice(2), value);
        else node.setAttribute(name, String(value));
      });
    }
    (children || []).forEach(function (child) {
      if (child === null || child === undefined) return;
      node.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
    });
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function now() { return Date.now() + state.clockOffset; }

  function duration(seconds) {
    if (seconds === null || seconds === undefined || isNaN(seconds)) return '–';
    var negative = seconds < 0;
    var s = Math.abs(Math.round(seconds));
    var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    var text = d ? d + 'd ' + h + 'h' : h ? h + 'h ' + pad(m) + 'm' : m ? m + 'm ' + pad(r) + 's' : r + 's';
    return negative ? '−' + text : text;
  }

  function pad(n) { return n < 10 ? '0' + n : String(n); }

  function secondsSince(iso) { return (now() - Date.parse(iso)) / 1000; }
  function secondsUntil(iso) { return (Date.parse(iso) - now()) / 1000; }

  function time(iso) {
    var d = new Date(iso);
    return el('time', { datetime: iso, title: d.toISOString(), text: d.toLocaleString(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' }) });
  }

  /**
   * What a holder or waiter asks for beside this resource: a set's other resources ("with
   * sf-core-src"), a pool ticket's pool (and how many members). Nothing for a single resource.
   */
  function scopeView(t, resource) {
    if (!t || t.kind === 'single') return null;
    var others = (t.resources || []).filter(function (name) { return name !== resource; });
    var parts = [];
    if (t.kind === 'pool') {
      parts.push(el('span', { className: 'kind-tag kind-pool', text: 'pool' }));
      parts.push(el('span', { className: 'pool-ref', text: t.pool || '' }));
      if (t.count > 1) parts.push(el('span', { className: 'muted', text: ' ×' + t.count }));
    } else {
      parts.push(el('span', { className: 'kind-tag kind-set', text: 'set' }));
    }
    if (others.length) parts.push(el('span', { className: 'with', text: ' with ' + others.join(', ') }));
    return el('div', { className: 'scope small', 'data-kind': t.kind }, parts);
  }

  function badge(stateName) {
    var labels = { free: 'Free', held: 'Held', stuck: 'Stuck' };
    return el('span', { className: 'badge ' + stateName, text: labels[stateName] || stateName });
  }

  // ---- API -------------------------------------------------------------------------------

  function api(method, path) {
    return fetch(path, { method: method, headers: { authorization: 'Bearer ' + state.key, accept: 'application/json' }, cache: 'no-store' })
      .then(function (res) {
        return res.text().then(function (text) {
          var body = null;
          try { body = text ? JSON.parse(text) : null; } catch (e) { body = { message: text }; }
          if (res.status === 401) {
            signOut('Your key is no longer accepted (expired or revoked). Sign in again.');
            throw new Error('unauthorised');
          }
          if (!res.ok) {
            var err = new Error((body && body.message) || res.status + ' ' + res.statusText);
            err.status = res.status;
            throw err;
          }
          return body;
        });
      });
  }

  var enc = encodeURIComponent;

  function canClear() {
    return !!state.me && (state.me.role === 'owner' || state.me.role === 'application');
  }

  // ---- session ---------------------------------------------------------------------------

  function storedKey() {
    try { return sessionStorage.getItem(KEY_STORAGE) || localStorage.getItem(KEY_STORAGE); } catch (e) { return null; }
  }

  function storeKey(key, remember) {
    try {
      sessionStorage.setItem(KEY_STORAGE, key);
      if (remember) localStorage.setItem(KEY_STORAGE, key);
      else localStorage.removeItem(KEY_STORAGE);
    } catch (e) { /* storage disabled: the key lives in memory for this page only */ }
  }

  function forgetKey() {
    try { sessionStorage.removeItem(KEY_STORAGE); localStorage.removeItem(KEY_STORAGE); } catch (e) { /* ignore */ }
  }

  function signIn(key, remember) {
    state.key = key;
    return api('GET', '/sfp/api/users/me').then(function (me) {
      state.me = me;
      storeKey(key, remember);
      $('me-name').textContent = me.name;
      $('me-role').textContent = me.role;
      $('me-role').className = 'role ' + me.role;
      $('signin').hidden = true;
      $('app').hidden = false;
      $('session').hidden = false;
      $('readonly-note').hidden = canClear();
      $('signin-error').hidden = true;
      $('api-key').value = '';
      refresh();
    });
  }

  function signOut(message) {
    forgetKey();
    clearTimeout(state.pollTimer);
    state.key = null;
    state.me = null;
    state.selected = null;
    state.resources = [];
    state.pools = [];
    $('app').hidden = true;
    $('session').hidden = true;
    $('detail').hidden = true;
    $('signin').hidden = false;
    clear($('rows'));
    clear($('pools'));
    var error = $('signin-error');
    error.hidden = !message;
    error.textContent = message || '';
  }

  // ---- polling ---------------------------------------------------------------------------

  function resourcesPath() {
    var params = ['limit=' + PAGE];
    var search = $('search').value.trim();
    if (search) params.push('contains=' + enc(search));
    if ($('only-active').checked) params.push('active=true');
    if ($('only-stuck').checked) params.push('stuck=true');
    return '/sfp/api/admin/resources?' + params.join('&');
  }

  function poolsPath() {
    var params = ['limit=' + POOLS_PAGE];
    var search = $('search').value.trim();
    if (search) params.push('contains=' + enc(search));
    if ($('only-active').checked) params.push('active=true');
    return '/sfp/api/admin/pools?' + params.join('&');
  }

  function refresh() {
    clearTimeout(state.pollTimer);
    if (!state.key) return;
    if (state.polling) {
      state.again = true; // a filter changed or a lock was cleared mid-poll: poll again at once
      return;
    }
    state.polling = true;
    state.again = false;
    var requests = [api('GET', resourcesPath()).then(function (page) {
      state.clockOffset = Date.parse(page.at) - Date.now();
      state.resources = page.items;
      state.total = page.total;
      renderResources();
    }), api('GET', poolsPath()).then(function (page) {
      state.pools = page.items;
      state.poolsTotal = page.total;
      renderPools();
    })];
    if (state.selected) requests.push(loadDetail(false));
    Promise.all(requests)
      .then(function () {
        state.lastOk = Date.now();
        setLive(true);
      })
      .catch(function (err) {
        if (err.message !== 'unauthorised') setLive(false, err.message);
      })
      .then(function () {
        state.polling = false;
        if (state.key) state.pollTimer = setTimeout(refresh, state.again ? 0 : POLL_MS);
      });
  }

  function setLive(ok, message) {
    $('live').className = ok ? 'live' : 'live down';
    $('live-text').textContent = ok ? 'Live' : 'Reconnecting…';
    $('live').title = ok ? 'Refreshes every 2 seconds' : 'Last error: ' + (message || 'unknown');
  }

  // ---- resources table -------------------------------------------------------------------

  /** Waiters that can use the lock: by name (alone or in a set), and its pools' waiting tickets. */
  function waiting(r) { return r.queueLength + (r.poolWaiters || 0); }

  function rank(r) {
    return r.state === 'stuck' ? 0 : r.holder && waiting(r) ? 1 : r.holder ? 2 : waiting(r) ? 3 : 4;
  }

  function sameLock(a, b) {
    return !!a && !!b && a.repository === b.repository && a.resource === b.resource;
  }

  function renderResources() {
    var rows = $('rows');
    clear(rows);
    var items = state.resources.slice().sort(function (a, b) {
      return rank(a) - rank(b) || (a.repository < b.repository ? -1 : a.repository > b.repository ? 1 : 0) ||
        (a.resource < b.resource ? -1 : a.resource > b.resource ? 1 : 0);
    });
    items.forEach(function (r) { rows.appendChild(resourceRow(r)); });
    $('empty').hidden = items.length > 0;
    var truncated = $('truncated');
    truncated.hidden = state.total <= items.length;
    truncated.textContent = 'Showing ' + items.length + ' of ' + state.total + ' locks. Narrow the list with the filter.';
    renderStats();
  }

  /** Waiting: the places in the locks' queues (a set's ticket once per resource it names) and the pools' queues. */
  function renderStats() {
    var held = 0, waiting = 0, stuck = 0;
    state.resources.forEach(function (r) {
      if (r.holder) held++;
      waiting += r.queueLength;
      if (r.stuck) stuck++;
    });
    state.pools.forEach(function (p) { waiting += p.queue.length; });
    $('stat-locks').textContent = String(state.total);
    $('stat-held').textContent = String(held);
    $('stat-waiting').textContent = String(waiting);
    $('stat-stuck').textContent = String(stuck);
  }

  // ---- pools ----------------------------------------------------------------------------

  function renderPools() {
    var box = $('pools');
    clear(box);
    $('pools-section').hidden = state.pools.length === 0;
    state.pools.forEach(function (p) { box.appendChild(poolCard(p)); });
    var truncated = $('pools-truncated');
    truncated.hidden = state.poolsTotal <= state.pools.length;
    truncated.textContent = 'Showing ' + state.pools.length + ' of ' + state.poolsTotal + ' pools. Narrow the list with the filter.';
    renderStats();
  }

  function poolCard(p) {
    var members = el('ul', { className: 'members' }, p.members.map(function (m) {
      var open = function () { selectLock({ repository: p.repository, resource: m.resource }); };
      return el('li', { className: 'member ' + m.state, 'data-member': m.resource, 'data-state': m.state }, [
        el('button', { type: 'button', className: 'link member-link', onclick: open, title: 'Show queue and audit trail' }, [
          el('span', { className: 'member-name', text: m.resource }),
        ]),
        badge(m.state),
        m.holder ? el('span', { className: 'holder-name', text: m.holder.requestedBy.name }) : null,
        // Held through this pool alone says nothing new; by a set or through another pool, it does.
        m.holder && !(m.holder.pool === p.name && m.holder.resources.length === 1) ? scopeView(holderScope(m.holder), m.resource) : null,
      ]);
    }));
    var queue = el('ol', { className: 'queue pool-queue' }, p.queue.length
      ? p.queue.map(function (t) {
          return el('li', { 'data-ticket': t.id }, [
            el('span', { className: 'waiter-name', text: t.requestedBy.name }),
            el('span', { className: 'muted small' }, [' wants ' + t.count + ' · waiting ', el('span', { 'data-since': t.createdAt, text: duration(secondsSince(t.createdAt)) })]),
            t.reason ? el('div', { className: 'reason', text: t.reason }) : null,
          ]);
        })
      : [el('li', { className: 'muted empty-item', text: 'Nobody is waiting.' })]);
    return el('article', { className: 'pool', 'data-repository': p.repository, 'data-pool': p.name }, [
      el('div', { className: 'pool-title' }, [
        el('span', { className: 'repo small muted', text: p.repository }),
        el('span', { className: 'pool-name', text: p.name }),
        el('span', { className: 'pool-free small', text: p.free + ' of ' + p.size + ' free' }),
      ]),
      p.description ? el('p', { className: 'muted small pool-description', text: p.description }) : null,
      members,
      el('h3', null, ['Queue ', el('span', { className: 'count', text: String(p.queue.length) })]),
      queue,
    ]);
  }

  /** A ticket (the lock API's form) as scopeView reads it. */
  function holderScope(t) {
    return { kind: t.pool ? 'pool' : t.resources.length > 1 ? 'set' : 'single', resources: t.resources, pool: t.pool, count: t.count };
  }

  function resourceRow(r) {
    var h = r.holder;
    var select = function () { selectLock(r); };
    var name = el('button', { type: 'button', className: 'link', onclick: select, title: 'Show queue and audit trail' }, [
      el('span', { className: 'repo', text: r.repository }),
      el('span', { className: 'res', text: r.resource }),
      r.pools && r.pools.length ? el('span', { className: 'in-pools small', text: 'in ' + r.pools.join(', ') }) : null,
    ]);
    var holderCell = h
      ? el('div', null, [
          el('div', { className: 'holder-name', text: h.requestedBy.name || '–' }),
          scopeView(h, r.resource),
          h.reason ? el('div', { className: 'reason', text: h.reason, title: h.reason }) : null,
          h.metadata && h.metadata.ciUrl ? el('div', { className: 'small' }, [safeLink(h.metadata.ciUrl)]) : null,
        ])
      : el('span', { className: 'muted', text: '—' });
    var queueCell = waiting(r)
      ? el('div', null, [
          el('div', { className: 'queue-count', text: r.queueLength + ' waiting' + (r.poolWaiters ? ' + ' + r.poolWaiters + ' via pool' : '') }),
          r.nextWaiter
            ? el('div', { className: 'muted small next-waiter' }, ['next: ', el('span', { className: 'waiter-name', text: r.nextWaiter.requestedBy.name }),
                ' · ', el('span', { 'data-since': r.nextWaiter.since, text: duration(secondsSince(r.nextWaiter.since)) }),
                scopeView(r.nextWaiter, r.resource)])
            : null,
        ])
      : el('span', { className: 'muted', text: 'empty' });
    var actions = el('td', { className: 'actions-col' });
    if (canClear() && (h || r.queueLength)) {
      actions.appendChild(el('button', {
        type: 'button',
        className: 'btn danger small',
        text: 'Force clear',
        title: 'End the holder\'s lease and remove every waiter',
        onclick: function (event) { event.stopPropagation(); forceClear(r); },
      }));
    }
    var row = el('tr', {
      className: (sameLock(r, state.selected) ? 'selected ' : '') + 'state-' + r.state,
      'data-repository': r.repository,
      'data-resource': r.resource,
      'data-state': r.state,
      onclick: select,
    }, [
      el('td', null, [name]),
      el('td', null, [badge(r.state), r.stuckReason ? el('div', { className: 'muted small', text: r.stuckReason === 'held_too_long' ? 'held > 2× lease' : 'lease overdue' }) : null]),
      el('td', null, [holderCell]),
      el('td', null, [h ? el('span', { 'data-since': h.since, text: duration(secondsSince(h.since)) }) : el('span', { className: 'muted', text: '—' })]),
      el('td', null, [h ? el('span', { className: 'countdown', 'data-until': h.leaseExpiresAt, text: duration(secondsUntil(h.leaseExpiresAt)) }) : el('span', { className: 'muted', text: '—' })]),
      el('td', { className: 'mono' }, [h ? String(h.fencingToken) : el('span', { className: 'muted', text: '—' })]),
      el('td', null, [queueCell]),
      actions,
    ]);
    return row;
  }

  // Countdowns and ages move every second between polls.
  function tick() {
    Array.prototype.forEach.call(document.querySelectorAll('[data-until]'), function (node) {
      var left = secondsUntil(node.getAttribute('data-until'));
      node.textContent = left <= 0 ? 'ending…' : duration(left);
      node.classList.toggle('soon', left < 60);
    });
    Array.prototype.forEach.call(document.querySelectorAll('[data-since]'), function (node) {
      node.textContent = duration(secondsSince(node.getAttribute('data-since')));
    });
  }

  function notice(text, kind) {
    var box = $('notice');
    box.textContent = text;
    box.className = 'notice ' + (kind || 'info');
    box.hidden = false;
    clearTimeout(notice.timer);
    notice.timer = setTimeout(function () { box.hidden = true; }, 6000);
  }

  function forceClear(r) {
    var who = r.holder ? 'held by ' + r.holder.requestedBy.name : 'not held';
    var message = 'Force clear ' + r.repository + ' / ' + r.resource + '?\n\n' +
      'It is ' + who + ' with ' + r.queueLength + ' waiting. The holder loses its lease and every waiter leaves the queue.' +
      (r.holder && r.holder.resources.length > 1 ? '\n\nThe holder\'s ticket also holds ' + r.holder.resources.filter(function (x) { return x !== r.resource; }).join(', ') + ': it loses them too.' : '');
    if (!window.confirm(message)) return;
    api('DELETE', '/sfp/api/locks/' + enc(r.repository) + '/' + enc(r.resource))
      .then(function (result) {
        notice('Cleared ' + r.repository + ' / ' + r.resource + ': ' + result.cleared + ' ticket(s) ended.', 'ok');
        refresh();
      })
      .catch(function (err) {
        if (err.message !== 'unauthorised') notice('Could not clear ' + r.repository + ' / ' + r.resource + ': ' + err.message, 'error');
      });
  }

  // ---- detail: queue and audit trail -----------------------------------------------------

  function selectLock(r) {
    state.selected = { repository: r.repository, resource: r.resource };
    state.detail = null;
    state.events = [];
    state.eventsCursor = null;
    $('detail').hidden = false;
    $('detail-repository').textContent = r.repository;
    $('detail-resource').textContent = r.resource;
    $('detail-pools').hidden = true;
    clear($('detail-holder'));
    clear($('detail-queue'));
    clear($('events'));
    renderResources();
    loadDetail(true).catch(function (err) { if (err.message !== 'unauthorised') notice(err.message, 'error'); });
  }

  function eventsPath(cursor) {
    var s = state.selected;
    return '/sfp/api/admin/events?limit=50&repository=' + enc(s.repository) + '&resource=' + enc(s.resource) + (cursor ? '&cursor=' + enc(cursor) : '');
  }

  function loadDetail(first) {
    var s = state.selected;
    var detail = api('GET', '/sfp/api/admin/resources/' + enc(s.repository) + '/' + enc(s.resource)).catch(function (err) {
      if (err.status === 404) return null;
      throw err;
    });
    return Promise.all([detail, api('GET', eventsPath(null))]).then(function (results) {
      if (!sameLock(s, state.selected)) return;
      state.detail = results[0];
      // Keep older pages already loaded: merge the newest page in front.
      var newest = results[1].items;
      var known = {};
      newest.forEach(function (e) { known[e.id] = true; });
      var older = state.events.filter(function (e) { return !known[e.id] && (!newest.length || e.id < newest[newest.length - 1].id); });
      state.events = newest.concat(older);
      if (first) state.eventsCursor = results[1].nextCursor;
      renderDetail();
    });
  }

  /** A set's or pool ticket's event names its other resources and its pool. */
  function eventScope(e) {
    var s = state.selected;
    var others = (e.resources || []).filter(function (name) { return !s || name !== s.resource; });
    if (!e.pool && !others.length) return null;
    return el('div', { className: 'scope small' }, [
      e.pool ? el('span', { className: 'pool-ref', text: 'pool ' + e.pool }) : null,
      others.length ? el('span', { className: 'with', text: (e.pool ? ' · ' : '') + 'with ' + others.join(', ') }) : null,
    ]);
  }

  function loadOlderEvents() {
    if (!state.eventsCursor) return;
    var s = state.selected;
    api('GET', eventsPath(state.eventsCursor)).then(function (page) {
      if (!sameLock(s, state.selected)) return;
      state.events = state.events.concat(page.items);
      state.eventsCursor = page.nextCursor;
      renderDetail();
    }).catch(function (err) { if (err.message !== 'unauthorised') notice(err.message, 'error'); });
  }

  function kv(list, label, value) {
    list.appendChild(el('dt', { text: label }));
    list.appendChild(el('dd', null, [value]));
  }

  function renderDetail() {
    var d = state.detail;
    var pools = $('detail-pools');
    pools.hidden = !(d && d.pools && d.pools.length);
    pools.textContent = d && d.pools && d.pools.length ? 'Member of pool ' + d.pools.join(', ') : '';
    var holder = $('detail-holder');
    clear(holder);
    if (!d || !d.holder) {
      kv(holder, 'State', badge(d ? d.state : 'free'));
      kv(holder, 'Holder', el('span', { className: 'muted', text: 'nobody' }));
    } else {
      var h = d.holder;
      kv(holder, 'State', badge(d.state));
      kv(holder, 'Holder', el('span', { className: 'holder-name', text: h.requestedBy.name }));
      if (h.kind !== 'single') kv(holder, h.kind === 'pool' ? 'Pool ticket' : 'Set of ' + h.count, scopeView(h, d.resource));
      kv(holder, 'Reason', h.reason ? el('span', { text: h.reason }) : el('span', { className: 'muted', text: '—' }));
      kv(holder, 'From', metadataView(h.metadata) || el('span', { className: 'muted', text: '—' }));
      kv(holder, 'Since', el('span', null, [time(h.since), ' (', el('span', { 'data-since': h.since, text: duration(secondsSince(h.since)) }), ')']));
      kv(holder, 'Lease ends', el('span', null, [time(h.leaseExpiresAt), ' (in ', el('span', { className: 'countdown', 'data-until': h.leaseExpiresAt, text: duration(secondsUntil(h.leaseExpiresAt)) }), ')']));
      kv(holder, 'Lease', el('span', { text: duration(h.leaseDurationSeconds) + (h.renewedAt ? ', renewed' : '') }));
      kv(holder, 'Fencing token', el('span', { className: 'mono', text: String(h.fencingToken) }));
      kv(holder, 'Ticket', el('span', { className: 'mono small', text: h.ticketId }));
    }
    var queue = $('detail-queue');
    clear(queue);
    var waiters = d ? d.queue : [];
    $('detail-queue-count').textContent = String(d ? waiting(d) : 0);
    if (!waiters.length) queue.appendChild(el('li', { className: 'muted empty-item', text: 'Nobody is waiting.' }));
    waiters.forEach(function (w) {
      queue.appendChild(el('li', { 'data-kind': w.kind }, [
        el('span', { className: 'waiter-name', text: w.requestedBy.name }),
        el('span', { className: 'muted small' }, [' waiting ', el('span', { 'data-since': w.since, text: duration(secondsSince(w.since)) })]),
        scopeView(w, d.resource),
        w.reason ? el('div', { className: 'reason', text: w.reason }) : null,
        metadataView(w.metadata),
      ]));
    });
    var events = $('events');
    clear(events);
    if (!state.events.length) events.appendChild(el('tr', null, [el('td', { colspan: 5, className: 'muted', text: 'No events.' })]));
    state.events.forEach(function (e) {
      events.appendChild(el('tr', { 'data-event': e.type }, [
        el('td', { className: 'nowrap' }, [time(e.at)]),
        el('td', null, [el('span', { className: 'event ' + e.type, text: e.type.replace('_', ' ') })]),
        el('td', { text: e.actor.name || '—' }),
        el('td', { className: 'mono', text: e.fencingToken === null ? '—' : String(e.fencingToken) }),
        el('td', { className: 'reason' }, [e.reason || '', eventScope(e), metadataView(e.metadata)]),
      ]));
    });
    $('events-more').hidden = !state.eventsCursor;
  }

  // ---- wiring ----------------------------------------------------------------------------

  document.addEventListener('DOMContentLoaded', function () {
    $('signin-form').addEventListener('submit', function (event) {
      event.preventDefault();
      var key = $('api-key').value.trim();
      if (!key) return;
      $('sign-in').disabled = true;
      signIn(key, $('remember').checked)
        .catch(function (err) {
          if (err.message === 'unauthorised') signOut('That key was not accepted.');
          else signOut('Could not sign in: ' + err.message);
        })
        .then(function () { $('sign-in').disabled = false; });
    });
    $('sign-out').addEventListener('click', function () { signOut(); });
    $('detail-close').addEventListener('click', function () {
      state.selected = null;
      $('detail').hidden = true;
      renderResources();
    });
    $('events-more').addEventListener('click', loadOlderEvents);
    var typing;
    $('search').addEventListener('input', function () {
      clearTimeout(typing);
      typing = setTimeout(refresh, 250);
    });
    $('only-active').addEventListener('change', refresh);
    $('only-stuck').addEventListener('change', refresh);
    setInterval(tick, 1000);

    var key = storedKey();
    var remembered = false;
    try { remembered = !!localStorage.getItem(KEY_STORAGE); } catch (e) { /* storage disabled */ }
    if (key) signIn(key, remembered).catch(function () { signOut('Your saved key was not accepted. Sign in again.'); });
  });
})();
